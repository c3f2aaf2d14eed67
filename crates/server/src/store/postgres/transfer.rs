//! Files in and out of the PostgreSQL store: the answers a batch brings from another tool,
//! and pages of a project's export (a page's answers in two queries).

use super::*;
use crate::store::attach_skips;

impl PostgresStore {
    /// Stores the answers a batch brought from another tool, each by its imported annotator
    /// (made on first sight): leased to them and pushed like any answer, so each counts alike.
    /// `imported` holds each task's id and its answers in file order; a second answer of one
    /// annotator to one task is their revision. Every answer is stored, or the upload fails.
    pub(super) async fn store_imported(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        imported: &[(i64, Vec<ImportedAnswer>)],
        now: DateTime<Utc>,
        method: &dyn ConsensusMethod,
    ) -> StoreResult<usize> {
        let mut people = HashMap::new();
        for name in imported_names(imported) {
            let id = imported_user(tx, &name, now).await?;
            let user = User {
                id,
                name: name.clone(),
                role: Role::Annotator,
            };
            people.insert(name, user);
        }
        let tasks: Vec<i64> = imported.iter().map(|(t, _)| *t).collect();
        let users: Vec<i64> = people.values().map(|u| u.id).collect();
        let latest: HashMap<(i64, i64), u32> = tx
            .cached_query(
                "SELECT task_id, annotator_id, MAX(revision) FROM answers
                 WHERE task_id = ANY($1) AND annotator_id = ANY($2) GROUP BY task_id, annotator_id",
                &[&tasks, &users],
            )
            .await?
            .iter()
            .map(|r| {
                let revision: i32 = r.get(2);
                ((r.get(0), r.get(1)), revision.max(0) as u32)
            })
            .collect();
        let mut stored = 0;
        for (user, answers) in imported_pushes(imported, &people, latest, now)? {
            let tasks: Vec<i64> = answers.iter().map(|a| a.task_id).collect();
            tx.cached_execute(
                "INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at)
                 SELECT t, $2, 'active', $3, $3 FROM UNNEST($1::bigint[]) AS t
                 ON CONFLICT (task_id, annotator_id) DO NOTHING",
                &[&tasks, &user.id, &now],
            )
            .await?;
            for result in self.push_in(tx, &user, &answers, now, method).await? {
                stored += imported_stored(&user, result)?;
            }
        }
        Ok(stored)
    }
}

/// The imported user named `name` (an annotator or reviewer of another tool or server), made
/// now if they are new; their id.
async fn imported_user(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    Ok(tx
        .cached_query_one(
            "INSERT INTO users (name, role, token_hash, created_at)
             VALUES ($1, 'annotator', $2, $3)
             ON CONFLICT (token_hash) DO UPDATE SET name = EXCLUDED.name
             RETURNING id",
            &[&name, &format!("{IMPORTED}{name}"), &now],
        )
        .await?
        .get(0))
}

/// Stores the reviewers' verdicts a batch brought (an earlier server's export), each by its
/// imported reviewer: the task's final label, as a verdict given here would be.
pub(super) async fn store_reviews(
    tx: &deadpool_postgres::Transaction<'_>,
    reviews: &[(i64, ImportedReview)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for (task_id, review) in reviews {
        let reviewer = imported_user(tx, &review.reviewer, now).await?;
        let at = imported_time(review.reviewed_at.as_deref(), now);
        tx.cached_execute(
            "UPDATE tasks SET review_labels = $2, reviewed_by = $3, reviewed_at = $4 WHERE id = $1",
            &[task_id, &Json(&review.labels), &reviewer, &at],
        )
        .await?;
    }
    Ok(())
}

/// The current (latest-revision, not skipped) answers to each of `task_ids`, one per
/// annotator — among the counted answers, or among those that arrived after the task was
/// cancelled — as the export shows them.
async fn exported_answers(
    c: &impl GenericClient,
    task_ids: &[i64],
    counted: bool,
    names: &HashMap<i64, String>,
) -> StoreResult<HashMap<i64, Vec<ExportAnswer>>> {
    let rows = c
        .cached_query(
            "SELECT * FROM (
                 SELECT DISTINCT ON (task_id, annotator_id) task_id, annotator_id, labels, revision,
                        skipped, answered_at, received_at, unsure, prediction_verdict, prediction_model
                 FROM answers WHERE task_id = ANY($1) AND counted = $2
                 ORDER BY task_id, annotator_id, revision DESC, seq DESC
             ) current WHERE NOT skipped ORDER BY task_id, annotator_id",
            &[&task_ids, &counted],
        )
        .await?;
    by_task(rows, names)
}

/// Each annotator's earlier counted revisions of their answers to `task_ids` (not skips, the
/// last push of each revision), oldest first.
async fn earlier_answers(
    c: &impl GenericClient,
    task_ids: &[i64],
    names: &HashMap<i64, String>,
) -> StoreResult<HashMap<i64, Vec<ExportAnswer>>> {
    let rows = c
        .cached_query(
            "SELECT * FROM (
                 SELECT DISTINCT ON (task_id, annotator_id, revision) task_id, annotator_id, labels,
                        revision, skipped, answered_at, received_at, unsure, prediction_verdict,
                        prediction_model, max(revision) OVER (PARTITION BY task_id, annotator_id) AS latest
                 FROM answers WHERE task_id = ANY($1) AND counted
                 ORDER BY task_id, annotator_id, revision, seq DESC
             ) earlier WHERE revision < latest AND NOT skipped
             ORDER BY task_id, annotator_id, revision",
            &[&task_ids],
        )
        .await?;
    by_task(rows, names)
}

/// Answer rows as exported answers, by task.
fn by_task(
    rows: Vec<tokio_postgres::Row>,
    names: &HashMap<i64, String>,
) -> StoreResult<HashMap<i64, Vec<ExportAnswer>>> {
    let mut out: HashMap<i64, Vec<ExportAnswer>> = HashMap::new();
    for a in rows {
        let task_id: i64 = a.try_get("task_id")?;
        let annotator: i64 = a.try_get("annotator_id")?;
        let Json(labels): Json<Vec<String>> = a.try_get("labels")?;
        let revision: i32 = a.try_get("revision")?;
        out.entry(task_id).or_default().push(ExportAnswer {
            annotator: names
                .get(&annotator)
                .cloned()
                .unwrap_or_else(|| annotator.to_string()),
            labels,
            revision: revision.max(0) as u32,
            answered_at: a.try_get("answered_at")?,
            received_at: a.try_get("received_at")?,
            unsure: a.try_get("unsure")?,
            prediction_verdict: a
                .try_get::<_, Option<i16>>("prediction_verdict")?
                .and_then(tessera_api::PredictionVerdict::from_code),
            prediction_model: a.try_get("prediction_model")?,
        });
    }
    Ok(out)
}

/// A page of a project's tasks as exported, each with its database id: up to `limit` after
/// `after`, in id order (upload order); with `review_only`, only those waiting for review.
pub(super) async fn export_tasks(
    c: &impl GenericClient,
    project_id: i64,
    review_only: bool,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(i64, ExportRecord)>> {
    project_row(c, project_id).await?;
    let names: HashMap<i64, String> = c
        .cached_query("SELECT id, name FROM users", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let name = |id: i64| names.get(&id).cloned().unwrap_or_else(|| id.to_string());
    let rows = c
        .cached_query(
            "SELECT id, external_id, data, prediction, consensus, confidence, consensus_method, complete, answer_count,
                    cancelled_at, needs_review, review_labels, reviewed_by, reviewed_at, gold, more_predictions, meta, image_width, image_height
             FROM tasks
             WHERE project_id = $1 AND id > $3 AND (NOT $2 OR (needs_review AND review_labels IS NULL))
             ORDER BY id LIMIT $4",
            &[&project_id, &review_only, &after, &i64::from(limit)],
        )
        .await?;
    // The page's answers in up to three queries, not one per task: only for the tasks that
    // have answers, and (after a cancellation) uncounted ones.
    let answered: Vec<i64> = rows
        .iter()
        .filter(|r| r.get::<_, i32>(8) > 0)
        .map(|r| r.get(0))
        .collect();
    let cancelled: Vec<i64> = rows
        .iter()
        .filter(|r| r.get::<_, Option<DateTime<Utc>>>(9).is_some())
        .map(|r| r.get(0))
        .collect();
    let (mut counted, mut earlier) = if answered.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        (
            exported_answers(c, &answered, true, &names).await?,
            earlier_answers(c, &answered, &names).await?,
        )
    };
    let mut uncounted = if cancelled.is_empty() {
        HashMap::new()
    } else {
        exported_answers(c, &cancelled, false, &names).await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let task_id: i64 = r.try_get(0)?;
        let cancelled_at: Option<DateTime<Utc>> = r.try_get(9)?;
        let answers = counted.remove(&task_id).unwrap_or_default();
        let earlier_answers = earlier.remove(&task_id).unwrap_or_default();
        let uncounted_answers = uncounted.remove(&task_id).unwrap_or_default();
        let consensus: Option<Json<Vec<String>>> = r.try_get(4)?;
        let confidence: Option<f64> = r.try_get(5)?;
        let consensus = match (consensus, confidence) {
            (Some(Json(labels)), Some(confidence)) => Some(ExportConsensus {
                label: labels.first().cloned(),
                labels,
                confidence,
                method: r.try_get::<_, Option<String>>(6)?.unwrap_or_default(),
            }),
            _ => None,
        };
        let review_labels: Option<Json<Vec<String>>> = r.try_get(11)?;
        let reviewer: Option<i64> = r.try_get(12)?;
        let reviewed_at: Option<DateTime<Utc>> = r.try_get(13)?;
        let review = match (review_labels, reviewer, reviewed_at) {
            (Some(Json(labels)), Some(reviewer), Some(reviewed_at)) => Some(ExportReview {
                labels,
                reviewer: name(reviewer),
                reviewed_at,
            }),
            _ => None,
        };
        let Json(data): Json<Map<String, Value>> = r.try_get(2)?;
        let prediction: Option<Json<Prediction>> = r.try_get(3)?;
        out.push((
            task_id,
            ExportRecord {
                task_id,
                external_id: r.try_get(1)?,
                data,
                prediction: prediction.map(|Json(p)| p),
                more_predictions: r
                    .try_get::<_, Option<Json<Vec<Prediction>>>>(15)?
                    .map(|Json(p)| p)
                    .unwrap_or_default(),
                meta: r
                    .try_get::<_, Option<Json<Map<String, Value>>>>(16)?
                    .map(|Json(m)| m),
                image_size: match (
                    r.try_get::<_, Option<i32>>(17)?,
                    r.try_get::<_, Option<i32>>(18)?,
                ) {
                    (Some(w), Some(h)) => u32::try_from(w)
                        .ok()
                        .zip(u32::try_from(h).ok())
                        .map(|(w, h)| [w, h]),
                    _ => None,
                },
                answers,
                skips: Vec::new(),
                earlier_answers,
                consensus,
                complete: r.try_get(7)?,
                cancelled_at,
                uncounted_answers,
                needs_review: r.try_get(10)?,
                review,
                gold: r
                    .try_get::<_, Option<Json<Vec<String>>>>(14)?
                    .map(|Json(g)| g),
            },
        ));
    }
    if let (Some((first, _)), Some((last, _))) = (out.first(), out.last()) {
        let mut latest = Vec::new();
        for r in c
            .query(
                "SELECT task_id, annotator_id, skipped, skip_reason, answered_at FROM answers
                 WHERE task_id BETWEEN $1 AND $2 AND counted
                 ORDER BY task_id, annotator_id, revision DESC, seq DESC",
                &[first, last],
            )
            .await?
        {
            latest.push((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            ));
        }
        attach_skips(&mut out, latest, name);
    }
    attach_model_predictions(c, &mut out).await?;
    Ok(out)
}

/// Adds each task's model predictions (ML backends', the built-in model's) to its other
/// predictions, after those of its upload.
async fn attach_model_predictions(
    c: &impl GenericClient,
    out: &mut [(i64, ExportRecord)],
) -> StoreResult<()> {
    let (Some(&(first, _)), Some(&(last, _))) = (out.first(), out.last()) else {
        return Ok(());
    };
    for r in c
        .cached_query(
            "SELECT task_id, labels, score, model_version FROM model_predictions
             WHERE task_id BETWEEN $1 AND $2 ORDER BY task_id, created_at, source",
            &[&first, &last],
        )
        .await?
    {
        let task_id: i64 = r.try_get(0)?;
        if let Ok(i) = out.binary_search_by_key(&task_id, |(id, _)| *id) {
            let Json(labels): Json<Vec<String>> = r.try_get(1)?;
            out[i].1.more_predictions.push(Prediction {
                labels,
                score: r.try_get(2)?,
                model_version: r.try_get(3)?,
            });
        }
    }
    Ok(())
}

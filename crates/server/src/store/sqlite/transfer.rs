//! Files in and out of the SQLite store: the answers a batch brings from another tool, and
//! pages of a project's export.

use super::push::{CurrentAnswer, current_answers, earlier_answers, push_all};
use super::*;
use crate::store::attach_skips;
use tessera_api::PredictionVerdict;

/// Stores the answers a batch brought from another tool, each by its imported annotator (made
/// on first sight): each is leased to them and pushed like any answer, so it counts alike.
/// `imported` holds each task's id and its answers, in file order; a second answer of one
/// annotator to one task is their revision. Every answer is stored, or the upload fails.
pub(super) fn store_imported(
    tx: &Connection,
    models: &ModelCache,
    imported: &[(i64, Vec<ImportedAnswer>)],
    now: DateTime<Utc>,
    method: &dyn ConsensusMethod,
) -> StoreResult<usize> {
    let now_ts = ts(now);
    let mut people = HashMap::new();
    for name in imported_names(imported) {
        let user = imported_user(tx, &name, &now_ts)?;
        people.insert(name, user);
    }
    let mut latest = HashMap::new();
    {
        let mut max = tx.prepare_cached(
            "SELECT MAX(revision) FROM answers WHERE task_id = ?1 AND annotator_id = ?2",
        )?;
        for (task_id, answers) in imported {
            for a in answers {
                if let Some(user) = people.get(&a.annotator)
                    && let Some(revision) =
                        max.query_row(params![task_id, user.id], |r| r.get::<_, Option<u32>>(0))?
                {
                    latest.insert((*task_id, user.id), revision);
                }
            }
        }
    }
    let mut stored = 0;
    for (user, answers) in imported_pushes(imported, &people, latest, now)? {
        let mut lease = tx.prepare_cached(
            "INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at)
             VALUES (?1, ?2, 'active', ?3, ?3)
             ON CONFLICT (task_id, annotator_id) DO NOTHING",
        )?;
        for a in &answers {
            lease.execute(params![a.task_id, user.id, now_ts])?;
        }
        for result in push_all(tx, models, &user, &answers, &now_ts, method)? {
            stored += imported_stored(&user, result)?;
        }
    }
    Ok(stored)
}

/// Stores the reviewers' verdicts a batch brought (an earlier server's export), each by its
/// imported reviewer: the task's final label, as a verdict given here would be.
pub(super) fn store_reviews(
    tx: &Connection,
    reviews: &[(i64, ImportedReview)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let now_ts = ts(now);
    let mut update = tx.prepare_cached(
        "UPDATE tasks SET review_labels = ?2, reviewed_by = ?3, reviewed_at = ?4 WHERE id = ?1",
    )?;
    for (task_id, review) in reviews {
        let reviewer = imported_user(tx, &review.reviewer, &now_ts)?;
        let at = imported_time(review.reviewed_at.as_deref(), now);
        update.execute(params![
            task_id,
            serde_json::to_string(&review.labels)?,
            reviewer.id,
            ts(at)
        ])?;
    }
    Ok(())
}

/// The imported annotator named `name`, made now if they are new.
fn imported_user(tx: &Connection, name: &str, now: &str) -> StoreResult<User> {
    let hash = format!("{IMPORTED}{name}");
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM users WHERE token_hash = ?1")?
        .query_row([&hash], |r| r.get(0))
        .optional()?;
    let id = match id {
        Some(id) => id,
        None => {
            tx.prepare_cached(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES (?1, 'annotator', ?2, ?3)",
            )?
            .execute(params![name, hash, now])?;
            tx.last_insert_rowid()
        }
    };
    Ok(User {
        id,
        name: name.to_owned(),
        role: Role::Annotator,
    })
}

/// A page of a project's tasks as exported, each with its database id: up to `limit` after
/// `after`, in id order (upload order); with `review_only`, only those waiting for review.
pub(super) fn export_tasks(
    c: &mut Connection,
    project_id: i64,
    review_only: bool,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(i64, ExportRecord)>> {
    project_row(c, project_id)?;
    let names: HashMap<i64, String> = c
        .prepare_cached("SELECT id, name FROM users")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let name = |id: i64| names.get(&id).cloned().unwrap_or_else(|| id.to_string());
    let mut stmt = c.prepare_cached(
        "SELECT id, external_id, data, prediction, consensus, confidence, consensus_method, complete, answer_count,
                cancelled_at, needs_review, review_labels, reviewed_by, reviewed_at, gold, more_predictions, meta, image_width, image_height
         FROM tasks
         WHERE project_id = ?1 AND id > ?3 AND (NOT ?2 OR (needs_review = 1 AND review_labels IS NULL))
         ORDER BY id LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![project_id, review_only, after, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let task_id: i64 = r.get(0)?;
        let answer_count: i64 = r.get(8)?;
        let cancelled_at = r
            .get::<_, Option<String>>(9)?
            .as_deref()
            .map(parse_ts)
            .transpose()?;
        let export = |answers: Vec<CurrentAnswer>| -> StoreResult<Vec<ExportAnswer>> {
            answers
                .into_iter()
                .map(|a| {
                    Ok(ExportAnswer {
                        annotator: name(a.annotator_id),
                        labels: a.labels,
                        revision: a.revision,
                        answered_at: parse_ts(&a.answered_at)?,
                        received_at: parse_ts(&a.received_at)?,
                        unsure: a.unsure,
                        prediction_verdict: a
                            .prediction_verdict
                            .and_then(PredictionVerdict::from_code),
                        prediction_model: a.prediction_model,
                    })
                })
                .collect()
        };
        let (answers, earlier_answers) = if answer_count == 0 {
            (Vec::new(), Vec::new())
        } else {
            (
                export(current_answers(c, task_id, true)?)?,
                export(earlier_answers(c, task_id)?)?,
            )
        };
        let uncounted_answers = if cancelled_at.is_some() {
            export(current_answers(c, task_id, false)?)?
        } else {
            Vec::new()
        };
        let consensus = match (r.get::<_, Option<String>>(4)?, r.get::<_, Option<f64>>(5)?) {
            (Some(labels), Some(confidence)) => {
                let labels: Vec<String> = serde_json::from_str(&labels)?;
                Some(ExportConsensus {
                    label: labels.first().cloned(),
                    labels,
                    confidence,
                    method: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                })
            }
            _ => None,
        };
        let review = match (
            r.get::<_, Option<String>>(11)?,
            r.get::<_, Option<i64>>(12)?,
            r.get::<_, Option<String>>(13)?,
        ) {
            (Some(labels), Some(reviewer), Some(at)) => Some(ExportReview {
                labels: serde_json::from_str(&labels)?,
                reviewer: name(reviewer),
                reviewed_at: parse_ts(&at)?,
            }),
            _ => None,
        };
        out.push((
            task_id,
            ExportRecord {
                task_id,
                external_id: r.get(1)?,
                data: json_map(&r.get::<_, String>(2)?)?,
                prediction: prediction(r.get(3)?)?,
                more_predictions: r
                    .get::<_, Option<String>>(15)?
                    .map(|p| serde_json::from_str(&p))
                    .transpose()?
                    .unwrap_or_default(),
                meta: r
                    .get::<_, Option<String>>(16)?
                    .as_deref()
                    .map(json_map)
                    .transpose()?,
                image_size: match (r.get::<_, Option<u32>>(17)?, r.get::<_, Option<u32>>(18)?) {
                    (Some(w), Some(h)) => Some([w, h]),
                    _ => None,
                },
                answers,
                skips: Vec::new(),
                earlier_answers,
                consensus,
                complete: r.get(7)?,
                cancelled_at,
                uncounted_answers,
                needs_review: r.get(10)?,
                review,
                gold: r
                    .get::<_, Option<String>>(14)?
                    .map(|g| serde_json::from_str(&g))
                    .transpose()?,
            },
        ));
    }
    if let (Some((first, _)), Some((last, _))) = (out.first(), out.last()) {
        let latest = c
            .prepare_cached(
                "SELECT task_id, annotator_id, skipped, skip_reason, answered_at FROM answers
                 WHERE task_id BETWEEN ?1 AND ?2 AND counted
                 ORDER BY task_id, annotator_id, revision DESC, seq DESC",
            )?
            .query_map(params![first, last], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<(i64, i64, bool, Option<String>, String)>, _>>()?
            .into_iter()
            .map(|(t, a, s, reason, at)| Ok((t, a, s, reason, parse_ts(&at)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        attach_skips(&mut out, latest, name);
    }
    attach_model_predictions(c, &mut out)?;
    Ok(out)
}

/// Adds each task's model predictions (ML backends', the built-in model's) to its other
/// predictions, after those of its upload.
fn attach_model_predictions(c: &Connection, out: &mut [(i64, ExportRecord)]) -> StoreResult<()> {
    let (Some(&(first, _)), Some(&(last, _))) = (out.first(), out.last()) else {
        return Ok(());
    };
    let mut stmt = c.prepare_cached(
        "SELECT task_id, labels, score, model_version FROM model_predictions
         WHERE task_id BETWEEN ?1 AND ?2 ORDER BY task_id, created_at, source",
    )?;
    let mut rows = stmt.query(params![first, last])?;
    while let Some(r) = rows.next()? {
        let task_id: i64 = r.get(0)?;
        if let Ok(i) = out.binary_search_by_key(&task_id, |(id, _)| *id) {
            out[i].1.more_predictions.push(Prediction {
                labels: serde_json::from_str(&r.get::<_, String>(1)?)?,
                score: r.get(2)?,
                model_version: r.get(3)?,
            });
        }
    }
    Ok(())
}

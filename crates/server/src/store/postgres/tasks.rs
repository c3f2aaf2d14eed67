//! The task browser on PostgreSQL: one statement per page, walking `tasks_browse` (upload
//! order) or `tasks_confidence` (confidence order) from the cursor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tessera_api::{ExportRecord, TaskOrder, TaskStatus, TaskSummary};
use tokio_postgres::types::{Json, ToSql};

use super::transfer::export_tasks;
use super::*;
use crate::store::tasks::{
    TaskFilter, TaskState, TaskStore, first_missing, preview, search_words, status_of,
};
use crate::store::{StoreResult, unknown_task};

/// What each listed row reads, from `tasks t`.
const SUMMARY_COLUMNS: &str = "t.id, t.external_id, t.batch_id, t.data::text, t.consensus,
     t.confidence, t.answer_count, t.priority, t.cancelled_at IS NOT NULL, t.gold IS NOT NULL,
     t.needs_review AND t.review_labels IS NULL, t.complete";

/// A WHERE clause and its parameters, numbered as they are added.
struct Clause {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Clause {
    fn new(project_id: i64) -> Self {
        Self {
            sql: "t.project_id = $1".to_owned(),
            params: vec![Box::new(project_id)],
        }
    }

    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn and(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }
}

fn summary(r: &Row) -> StoreResult<TaskSummary> {
    let data: String = r.try_get(3)?;
    let consensus: Option<Json<Vec<String>>> = r.try_get(4)?;
    Ok(TaskSummary {
        task_id: r.try_get(0)?,
        external_id: r.try_get(1)?,
        batch_id: r.try_get(2)?,
        status: status_of(r.try_get(8)?, r.try_get(9)?, r.try_get(10)?, r.try_get(11)?),
        preview: preview(&data),
        consensus: consensus.map(|Json(c)| c).unwrap_or_default(),
        confidence: r.try_get(5)?,
        answers: r.try_get::<_, i32>(6)?.max(0) as u32,
        priority: r.try_get(7)?,
    })
}

/// The tsquery of a search's words (see `TaskFilter::search`): whole words, the last also as
/// the start of one; none when it holds no word.
fn ts_query(search: &str) -> Option<String> {
    let words = search_words(search);
    let last = words.len().checked_sub(1)?;
    // Letters, digits and marks only, so each word is safe between quotes.
    Some(
        words
            .iter()
            .enumerate()
            .map(|(i, word)| format!("'{word}'{}", if i == last { ":*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" & "),
    )
}

/// Matches that a page lists from a list of ids; past this many the words are common, and
/// the page's walk checks each task's `words` instead.
const LISTED_MATCHES: i64 = 10_000;

/// How many tasks the planner's statistics say hold every one of `words` (see
/// `TaskFilter::search`): the rarest word's share of the table — a word missing from the most
/// common ones counts as none — times its rows; `None` before the table was ever analyzed.
async fn estimated_matches(c: &impl GenericClient, words: &[String]) -> StoreResult<Option<f64>> {
    let row = c
        .cached_query_opt(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples::float8
             FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename
             WHERE s.schemaname = current_schema() AND s.tablename = 'tasks' AND s.attname = 'words'
               AND c.relnamespace = to_regnamespace(current_schema())",
            &[],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let elems: Option<Vec<String>> = row.try_get(0)?;
    let freqs: Option<Vec<f32>> = row.try_get(1)?;
    let rows: f64 = row.try_get(2)?;
    let (elems, freqs) = (elems.unwrap_or_default(), freqs.unwrap_or_default());
    let share = |word: &str, start: bool| -> f64 {
        elems
            .iter()
            .zip(&freqs)
            .filter(|(e, _)| {
                if start {
                    e.starts_with(word)
                } else {
                    e.as_str() == word
                }
            })
            .map(|(_, f)| f64::from(*f))
            .sum::<f64>()
            .min(1.0)
    };
    let last = words.len().saturating_sub(1);
    let rarest = words
        .iter()
        .enumerate()
        .map(|(i, w)| share(w, i == last))
        .fold(1.0, f64::min);
    Ok(Some(rarest * rows.max(0.0)))
}

/// The project's tasks matching `query` when they are few — read through the GIN index
/// alone (a bitmap scan, which a rare word makes cheap) — or `None` when the statistics or
/// the read say they are more than [`LISTED_MATCHES`].
async fn listed_matches(
    c: &impl GenericClient,
    project_id: i64,
    words: &[String],
    query: &str,
) -> StoreResult<Option<Vec<i64>>> {
    if estimated_matches(c, words)
        .await?
        .is_some_and(|n| n > LISTED_MATCHES as f64)
    {
        return Ok(None);
    }
    // The settings hold for this transaction only; it ends whatever happens in it.
    c.batch_execute("BEGIN READ ONLY").await?;
    let rows = async {
        c.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
            .await?;
        c.cached_query(
            "SELECT id FROM tasks
             WHERE words @@ to_tsquery('simple', $1) AND project_id = $2 LIMIT $3",
            &[&query, &project_id, &(LISTED_MATCHES + 1)],
        )
        .await
    }
    .await;
    let end = c
        .batch_execute(if rows.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .await;
    let rows = rows?;
    end?;
    if rows.len() as i64 > LISTED_MATCHES {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?,
    ))
}

async fn browse(
    c: &impl GenericClient,
    project_id: i64,
    f: TaskFilter,
) -> StoreResult<Vec<TaskSummary>> {
    let mut w = Clause::new(project_id);
    const NOT_WITHDRAWN: &str = "t.cancelled_at IS NULL AND t.gold IS NULL";
    const WAITING: &str = "t.needs_review AND t.review_labels IS NULL";
    match f.status {
        None => {}
        Some(TaskStatus::Cancelled) => w.and("t.cancelled_at IS NOT NULL"),
        Some(TaskStatus::Gold) => w.and("t.gold IS NOT NULL AND t.cancelled_at IS NULL"),
        Some(TaskStatus::NeedsReview) => w.and(&format!("{WAITING} AND {NOT_WITHDRAWN}")),
        Some(TaskStatus::Complete) => w.and(&format!(
            "t.complete AND NOT ({WAITING}) AND {NOT_WITHDRAWN}"
        )),
        Some(TaskStatus::Open) => w.and(&format!("NOT t.complete AND {NOT_WITHDRAWN}")),
        Some(TaskStatus::Stuck) => {
            let stuck = w.param(f.stuck.clone());
            w.and(&format!(
                "t.id = ANY({stuck}) AND NOT t.complete AND {NOT_WITHDRAWN}"
            ));
        }
    }
    if let Some(max) = f.max_confidence {
        let max = w.param(max);
        w.and(&format!(
            "t.confidence IS NOT NULL AND t.confidence <= {max}"
        ));
    }
    if let Some(label) = f.label {
        let label = w.param(label);
        w.and(&format!(
            "t.confidence IS NOT NULL AND t.consensus ? {label}"
        ));
    }
    if let Some(annotator) = f.annotator {
        let annotator = w.param(annotator);
        w.and(&format!(
            "EXISTS (SELECT 1 FROM answers a WHERE a.task_id = t.id AND a.annotator_id = {annotator})"
        ));
    }
    if let Some(batch) = f.batch {
        let batch = w.param(batch);
        w.and(&format!("t.batch_id = {batch}"));
    }
    if let Some(search) = f.search {
        match ts_query(&search) {
            None => {
                let search = w.param(search);
                w.and(&format!("strpos(lower(t.data::text), {search}) > 0"));
            }
            Some(query) => {
                match listed_matches(c, project_id, &search_words(&search), &query).await? {
                    Some(ids) => {
                        let ids = w.param(ids);
                        w.and(&format!("t.id = ANY({ids})"));
                    }
                    None => {
                        let query = w.param(query);
                        w.and(&format!("t.words @@ to_tsquery('simple', {query})"));
                    }
                }
            }
        }
    }
    let order = match f.order {
        TaskOrder::Upload => {
            if let Some((_, id)) = f.after {
                let id = w.param(id);
                w.and(&format!("t.id > {id}"));
            }
            "t.id"
        }
        TaskOrder::Confidence => {
            w.and("t.confidence IS NOT NULL");
            if let Some((Some(confidence), id)) = f.after {
                let confidence = w.param(confidence);
                let id = w.param(id);
                w.and(&format!("(t.confidence, t.id) > ({confidence}, {id})"));
            }
            "t.confidence, t.id"
        }
    };
    let limit = w.param(i64::from(f.limit));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM tasks t WHERE {} ORDER BY {order} LIMIT {limit}",
        w.sql
    );
    let params: Vec<&(dyn ToSql + Sync)> = w
        .params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    c.cached_query(&sql, &params)
        .await?
        .iter()
        .map(summary)
        .collect()
}

async fn state(
    c: &impl GenericClient,
    project_id: i64,
    task_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<TaskState> {
    let row = c
        .cached_query_opt(
            "SELECT batch_id, priority, cancelled_at IS NOT NULL, gold IS NOT NULL,
                    needs_review AND review_labels IS NULL, complete,
                    ARRAY(SELECT annotator_id FROM leases WHERE task_id = t.id
                          AND state <> 'active' ORDER BY annotator_id),
                    (SELECT COUNT(*) FROM leases WHERE task_id = t.id AND state = 'active'
                     AND expires_at > $3)
             FROM tasks t WHERE id = $1 AND project_id = $2",
            &[&task_id, &project_id, &now],
        )
        .await?
        .ok_or_else(|| unknown_task(project_id, task_id))?;
    Ok(TaskState {
        batch_id: row.try_get(0)?,
        priority: row.try_get(1)?,
        status: status_of(
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
            row.try_get(5)?,
        ),
        finished: row.try_get(6)?,
        live_leases: row.try_get::<_, i64>(7)?.max(0) as u32,
    })
}

/// Open and leased to no one at `$2` (`$1` is the project).
const UNTAKEN: &str = "t.project_id = $1 AND NOT t.complete AND t.cancelled_at IS NULL
     AND t.gold IS NULL
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.state = 'active'
                     AND l.expires_at > $2)";

/// The ids among `task_ids` that are tasks of the project.
async fn of_project(
    c: &impl GenericClient,
    project_id: i64,
    task_ids: &[i64],
) -> StoreResult<Vec<i64>> {
    c.cached_query(
        "SELECT id FROM tasks WHERE id = ANY($1) AND project_id = $2",
        &[&task_ids, &project_id],
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

#[async_trait]
impl TaskStore for PostgresStore {
    async fn browse_tasks(
        &self,
        project_id: i64,
        filter: TaskFilter,
    ) -> StoreResult<Vec<TaskSummary>> {
        let c = self.pool.get().await?;
        browse(&c, project_id, filter).await
    }

    async fn task(
        &self,
        project_id: i64,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<(ExportRecord, TaskState)> {
        let c = self.pool.get().await?;
        let state = state(&c, project_id, task_id, now).await?;
        let record = export_tasks(&c, project_id, false, task_id - 1, 1)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .find(|r| r.task_id == task_id)
            .ok_or_else(|| unknown_task(project_id, task_id))?;
        Ok((record, state))
    }

    async fn send_to_review(&self, project_id: i64, task_ids: Vec<i64>) -> StoreResult<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        first_missing(
            project_id,
            &task_ids,
            &of_project(&tx, project_id, &task_ids).await?,
        )?;
        let changed = tx
            .cached_execute(
                "UPDATE tasks SET needs_review = TRUE
                 WHERE id = ANY($1) AND project_id = $2 AND cancelled_at IS NULL AND gold IS NULL
                   AND review_labels IS NULL AND NOT needs_review",
                &[&task_ids, &project_id],
            )
            .await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn set_task_priority(
        &self,
        project_id: i64,
        task_ids: Vec<i64>,
        priority: i32,
    ) -> StoreResult<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        first_missing(
            project_id,
            &task_ids,
            &of_project(&tx, project_id, &task_ids).await?,
        )?;
        let changed = tx
            .cached_execute(
                "UPDATE tasks SET priority = $3, full_until = NULL
                 WHERE id = ANY($1) AND project_id = $2 AND cancelled_at IS NULL
                   AND priority <> $3",
                &[&task_ids, &project_id, &priority],
            )
            .await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn stuck_tasks(
        &self,
        project_id: i64,
        eligible: Vec<i64>,
        now: DateTime<Utc>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<i64>> {
        let c = self.pool.get().await?;
        let limit = i64::from(limit);
        let rows = match eligible.first() {
            None => {
                c.cached_query(
                    &format!(
                        "SELECT t.id FROM tasks t WHERE {UNTAKEN} AND t.id > $4
                         ORDER BY t.id LIMIT $3"
                    ),
                    &[&project_id, &now, &limit, &after],
                )
                .await?
            }
            // A stuck task is among those any one eligible annotator finished: walk those.
            Some(first) => {
                c.cached_query(
                    &format!(
                        "SELECT t.id FROM leases l0 JOIN tasks t ON t.id = l0.task_id
                         WHERE l0.annotator_id = $3 AND l0.state <> 'active' AND {UNTAKEN}
                           AND t.id > $6
                           AND NOT EXISTS (SELECT 1 FROM unnest($4::bigint[]) e(id)
                               WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id
                                   AND l.annotator_id = e.id AND l.state <> 'active'))
                         ORDER BY t.id LIMIT $5"
                    ),
                    &[&project_id, &now, first, &eligible, &limit, &after],
                )
                .await?
            }
        };
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn project_annotators(&self, project_id: i64) -> StoreResult<Vec<i64>> {
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT u.id FROM users u
             WHERE u.role = 'annotator' AND u.revoked_at IS NULL
               AND u.token_hash NOT LIKE 'imported:%'
               AND CASE WHEN EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = $1
                                     AND m.role <> 'requester')
                          OR u.confined
                    THEN EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = $1
                                 AND m.user_id = u.id)
                    ELSE TRUE END
             ORDER BY u.id",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }
}

//! The task browser on SQLite: one statement per page, walking `tasks_browse` (upload order)
//! or `tasks_confidence` (confidence order) from the cursor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tessera_api::{ExportRecord, TaskOrder, TaskStatus, TaskSummary};

use super::transfer::export_tasks;
use super::*;
use crate::store::tasks::{
    TaskFilter, TaskState, TaskStore, first_missing, preview, search_words, status_of, words_match,
};
use crate::store::{StoreResult, ts, unknown_task};

/// What each listed row reads, from `tasks t`.
const SUMMARY_COLUMNS: &str = "t.id, t.external_id, t.batch_id, t.data, t.consensus, t.confidence,
     t.answer_count, t.priority, t.cancelled_at IS NOT NULL, t.gold IS NOT NULL,
     t.needs_review = 1 AND t.review_labels IS NULL, t.complete = 1";

/// A WHERE clause and its parameters, numbered as they are added.
struct Clause {
    sql: String,
    params: Vec<SqlValue>,
}

impl Clause {
    fn new(project_id: i64) -> Self {
        Self {
            sql: "t.project_id = ?1".to_owned(),
            params: vec![SqlValue::Integer(project_id)],
        }
    }

    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn and(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskSummary> {
    let data: String = r.get(3)?;
    let task_id = r.get(0)?;
    let consensus = r
        .get::<_, Option<String>>(4)?
        .map(|c| {
            serde_json::from_str(&c).unwrap_or_else(|e| {
                tracing::warn!(task_id, error = %e, "a stored consensus is not a list of labels");
                Vec::new()
            })
        })
        .unwrap_or_default();
    Ok(TaskSummary {
        task_id,
        external_id: r.get(1)?,
        batch_id: r.get(2)?,
        status: status_of(r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?),
        preview: preview(&data),
        consensus,
        confidence: r.get(5)?,
        answers: r.get::<_, i64>(6)?.max(0) as u32,
        priority: r.get(7)?,
    })
}

/// Matches in the text index that a page lists from a list of ids; past this many the words
/// are common in the project, and the page's walk checks each task it meets instead.
const LISTED_MATCHES: i64 = 10_000;

/// Narrows `w` to tasks whose words hold every word of `search` (see [`TaskFilter::search`]):
/// from the text index's matches when they are few, else by checking each task the page's
/// walk meets.
fn search_clause(c: &Connection, w: &mut Clause, project_id: i64, search: &str) -> StoreResult<()> {
    let words = search_words(search);
    if words.is_empty() {
        let search = w.param(SqlValue::Text(search.to_owned()));
        w.and(&format!("instr(lower(t.data), {search}) > 0"));
        return Ok(());
    }
    // Letters, digits and marks only, so each word is safe between quotes. Whole words are cheap
    // to look up; a word start merges every word it begins, so only the last is one.
    let last = words.len() - 1;
    let query = std::iter::once(format!("project : \"p{project_id}\""))
        .chain(words.iter().enumerate().map(|(i, word)| {
            let start = if i == last { "*" } else { "" };
            format!("words : \"{word}\"{start}")
        }))
        .collect::<Vec<_>>()
        .join(" AND ");
    // A word the index splits in two (a letter with a combining mark, in some scripts) is
    // a phrase, which this index cannot look up: such a search checks each task instead.
    let matches: Option<Vec<i64>> = c
        .prepare_cached("SELECT rowid FROM task_words WHERE task_words MATCH ?1 LIMIT ?2")?
        .query_map(params![query, LISTED_MATCHES + 1], |r| r.get(0))
        .and_then(|rows| rows.collect::<Result<_, _>>())
        .map_err(|e| tracing::debug!(error = %e, "the text index cannot look this search up"))
        .ok();
    if let Some(matches) = matches.filter(|m| m.len() as i64 <= LISTED_MATCHES) {
        let ids = w.param(SqlValue::Text(serde_json::to_string(&matches)?));
        w.and(&format!("t.id IN (SELECT value FROM json_each({ids}))"));
    } else {
        // Common words: the page's walk meets a match every few tasks, each checked here.
        let words = w.param(SqlValue::Text(serde_json::to_string(&words)?));
        w.and(&format!("task_words_match(t.data, {words})"));
    }
    Ok(())
}

/// Registers `task_words_match(data, words)`: whether a task's data holds every word of
/// the JSON list `words`, as the text index would find them (see [`words_match`]).
pub(super) fn register_search(c: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    c.create_scalar_function(
        "task_words_match",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let data: serde_json::Value = serde_json::from_str(ctx.get_raw(0).as_str()?)
                .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
            let words: Vec<String> = serde_json::from_str(ctx.get_raw(1).as_str()?)
                .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
            Ok(words_match(&data, &words))
        },
    )
}

fn browse(c: &Connection, project_id: i64, f: &TaskFilter) -> StoreResult<Vec<TaskSummary>> {
    let mut w = Clause::new(project_id);
    const NOT_WITHDRAWN: &str = "t.cancelled_at IS NULL AND t.gold IS NULL";
    const WAITING: &str = "t.needs_review = 1 AND t.review_labels IS NULL";
    match f.status {
        None => {}
        Some(TaskStatus::Cancelled) => w.and("t.cancelled_at IS NOT NULL"),
        Some(TaskStatus::Gold) => w.and("t.gold IS NOT NULL AND t.cancelled_at IS NULL"),
        Some(TaskStatus::NeedsReview) => w.and(&format!("{WAITING} AND {NOT_WITHDRAWN}")),
        Some(TaskStatus::Complete) => w.and(&format!(
            "t.complete = 1 AND NOT ({WAITING}) AND {NOT_WITHDRAWN}"
        )),
        Some(TaskStatus::Open) => w.and(&format!("t.complete = 0 AND {NOT_WITHDRAWN}")),
        Some(TaskStatus::Stuck) => {
            let stuck = w.param(SqlValue::Text(serde_json::to_string(&f.stuck)?));
            w.and(&format!(
                "t.id IN (SELECT value FROM json_each({stuck})) AND t.complete = 0 AND {NOT_WITHDRAWN}"
            ));
        }
    }
    if let Some(max) = f.max_confidence {
        let max = w.param(SqlValue::Real(max));
        w.and(&format!(
            "t.confidence IS NOT NULL AND t.confidence <= {max}"
        ));
    }
    if let Some(label) = &f.label {
        let label = w.param(SqlValue::Text(label.clone()));
        w.and(&format!(
            "t.confidence IS NOT NULL
             AND EXISTS (SELECT 1 FROM json_each(t.consensus) WHERE value = {label})"
        ));
    }
    if let Some(annotator) = f.annotator {
        let annotator = w.param(SqlValue::Integer(annotator));
        w.and(&format!(
            "EXISTS (SELECT 1 FROM answers a WHERE a.task_id = t.id AND a.annotator_id = {annotator})"
        ));
    }
    if let Some(batch) = f.batch {
        let batch = w.param(SqlValue::Integer(batch));
        w.and(&format!("t.batch_id = {batch}"));
    }
    if let Some(search) = &f.search {
        search_clause(c, &mut w, project_id, search)?;
    }
    let order = match (f.order, f.after) {
        (TaskOrder::Upload, after) => {
            if let Some((_, id)) = after {
                let id = w.param(SqlValue::Integer(id));
                w.and(&format!("t.id > {id}"));
            }
            "t.id"
        }
        (TaskOrder::Confidence, after) => {
            w.and("t.confidence IS NOT NULL");
            if let Some((Some(confidence), id)) = after {
                let confidence = w.param(SqlValue::Real(confidence));
                let id = w.param(SqlValue::Integer(id));
                w.and(&format!(
                    "t.confidence >= {confidence}
                     AND (t.confidence > {confidence} OR t.id > {id})"
                ));
            }
            "t.confidence, t.id"
        }
    };
    let limit = w.param(SqlValue::Integer(i64::from(f.limit)));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM tasks t WHERE {} ORDER BY {order} LIMIT {limit}",
        w.sql
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(w.params.iter()), summary)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn state(
    c: &Connection,
    project_id: i64,
    task_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<TaskState> {
    let (batch_id, priority, cancelled, gold, waiting, complete) = c
        .prepare_cached(
            "SELECT batch_id, priority, cancelled_at IS NOT NULL, gold IS NOT NULL,
                    needs_review = 1 AND review_labels IS NULL, complete = 1
             FROM tasks WHERE id = ?1 AND project_id = ?2",
        )?
        .query_row(params![task_id, project_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?
        .ok_or_else(|| unknown_task(project_id, task_id))?;
    let finished: Vec<i64> = c
        .prepare_cached(
            "SELECT annotator_id FROM leases WHERE task_id = ?1 AND state <> 'active' ORDER BY annotator_id",
        )?
        .query_map([task_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let live_leases: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM leases WHERE task_id = ?1 AND state = 'active' AND expires_at > ?2",
        )?
        .query_row(params![task_id, ts(now)], |r| r.get(0))?;
    Ok(TaskState {
        batch_id,
        priority,
        status: status_of(cancelled, gold, waiting, complete),
        finished,
        live_leases: live_leases.max(0) as u32,
    })
}

/// Open and leased to no one at `?2` (`?1` is the project).
const UNTAKEN: &str = "t.project_id = ?1 AND t.complete = 0 AND t.cancelled_at IS NULL
     AND t.gold IS NULL
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.state = 'active'
                     AND l.expires_at > ?2)";

fn stuck(
    c: &Connection,
    project_id: i64,
    eligible: &[i64],
    now: DateTime<Utc>,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<i64>> {
    let ids = match eligible.first() {
        None => c
            .prepare_cached(&format!(
                "SELECT t.id FROM tasks t WHERE {UNTAKEN} AND t.id > ?4 ORDER BY t.id LIMIT ?3"
            ))?
            .query_map(params![project_id, ts(now), limit, after], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        // A stuck task is among those any one eligible annotator finished: walk those.
        Some(first) => c
            .prepare_cached(&format!(
                "SELECT t.id FROM leases l0 JOIN tasks t ON t.id = l0.task_id
                 WHERE l0.annotator_id = ?3 AND l0.state <> 'active' AND {UNTAKEN} AND t.id > ?6
                   AND NOT EXISTS (SELECT 1 FROM json_each(?4) e WHERE NOT EXISTS (
                       SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = e.value
                       AND l.state <> 'active'))
                 ORDER BY t.id LIMIT ?5"
            ))?
            .query_map(
                params![
                    project_id,
                    ts(now),
                    first,
                    serde_json::to_string(eligible)?,
                    limit,
                    after
                ],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?,
    };
    Ok(ids)
}

/// The ids among `task_ids` that are tasks of the project.
fn of_project(c: &Connection, project_id: i64, task_ids: &[i64]) -> StoreResult<Vec<i64>> {
    let mut stmt = c.prepare_cached("SELECT id FROM tasks WHERE id = ?1 AND project_id = ?2")?;
    let mut found = Vec::new();
    for id in task_ids {
        if let Some(id) = stmt
            .query_row(params![id, project_id], |r| r.get(0))
            .optional()?
        {
            found.push(id);
        }
    }
    Ok(found)
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn browse_tasks(
        &self,
        project_id: i64,
        filter: TaskFilter,
    ) -> StoreResult<Vec<TaskSummary>> {
        self.read(move |c| browse(c, project_id, &filter)).await
    }

    async fn task(
        &self,
        project_id: i64,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<(ExportRecord, TaskState)> {
        self.read(move |c| {
            let state = state(c, project_id, task_id, now)?;
            let record = export_tasks(c, project_id, false, task_id - 1, 1)?
                .into_iter()
                .map(|(_, r)| r)
                .find(|r| r.task_id == task_id)
                .ok_or_else(|| unknown_task(project_id, task_id))?;
            Ok((record, state))
        })
        .await
    }

    async fn send_to_review(&self, project_id: i64, task_ids: Vec<i64>) -> StoreResult<u64> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            first_missing(
                project_id,
                &task_ids,
                &of_project(&tx, project_id, &task_ids)?,
            )?;
            let mut changed = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE tasks SET needs_review = 1
                     WHERE id = ?1 AND project_id = ?2 AND cancelled_at IS NULL AND gold IS NULL
                       AND review_labels IS NULL AND needs_review = 0",
                )?;
                for id in &task_ids {
                    changed += update.execute(params![id, project_id])? as u64;
                }
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    async fn set_task_priority(
        &self,
        project_id: i64,
        task_ids: Vec<i64>,
        priority: i32,
    ) -> StoreResult<u64> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            first_missing(
                project_id,
                &task_ids,
                &of_project(&tx, project_id, &task_ids)?,
            )?;
            let mut changed = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE tasks SET priority = ?3, full_until = NULL
                     WHERE id = ?1 AND project_id = ?2 AND cancelled_at IS NULL AND priority <> ?3",
                )?;
                for id in &task_ids {
                    changed += update.execute(params![id, project_id, priority])? as u64;
                }
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    async fn stuck_tasks(
        &self,
        project_id: i64,
        eligible: Vec<i64>,
        now: DateTime<Utc>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<i64>> {
        self.read(move |c| stuck(c, project_id, &eligible, now, after, limit))
            .await
    }

    async fn project_annotators(&self, project_id: i64) -> StoreResult<Vec<i64>> {
        self.read(move |c| {
            let ids = c
                .prepare_cached(
                    "SELECT u.id FROM users u
                     WHERE u.role = 'annotator' AND u.revoked_at IS NULL
                       AND u.token_hash NOT LIKE 'imported:%'
                       AND CASE WHEN EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = ?1
                                             AND m.role <> 'requester')
                                  OR u.confined <> 0
                            THEN EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = ?1
                                         AND m.user_id = u.id)
                            ELSE 1 END
                     ORDER BY u.id",
                )?
                .query_map([project_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }
}

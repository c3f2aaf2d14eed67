//! The device's local SQLite store: leased tasks, the answer outbox, the sync cursor.
//!
//! Durability (see `tessera-sqlite`): once [`LocalStore::record_answer`] returns, the
//! answer survives a kill or a power loss; only then does the UI move on.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value};
use tessera_api::{
    AnswerPush, Change, LeasedTask, PredictionVerdict, Project, PushResult, PushStatus,
};
use tessera_core::{LabelSchema, Prediction, SchemaError};
use uuid::Uuid;

mod refusals;

pub use refusals::RefusedAnswer;
use refusals::{ANSWER_AGAIN, REFUSED};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_local.sql"),
    include_str!("../migrations/0002_cancelled.sql"),
    include_str!("../migrations/0003_answer_flags.sql"),
    include_str!("../migrations/0004_refusals_and_order.sql"),
    include_str!("../migrations/0005_prediction_verdict.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("local database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("local database holds bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("task {0} is not in the local cache; check out tasks first")]
    UnknownTask(i64),
    #[error("project {0} is not in the local cache")]
    UnknownProject(i64),
    #[error("invalid answer: {0}")]
    InvalidAnswer(#[from] SchemaError),
}

pub type LocalResult<T> = Result<T, LocalError>;

/// A leased task as the device holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalTask {
    pub id: i64,
    pub project_id: i64,
    pub data: Map<String, Value>,
    pub prediction: Option<Prediction>,
    pub expires_at: DateTime<Utc>,
    pub state: String,
}

/// Counts for status displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LocalCounts {
    /// Answers not yet acknowledged by the server.
    pub pending: u32,
    /// Leased tasks still open on this device.
    pub leased: u32,
    /// Answers the server refused for good and not given again since (kept locally, listed
    /// by [`LocalStore::refused_answers`]).
    pub rejected: u32,
    /// Tasks answered on this device since UTC midnight.
    pub done_today: u32,
    /// Median seconds between consecutive answers today, breaks (over 10 minutes) left out.
    pub seconds_per_task: Option<f64>,
}

/// What the annotator said about an answer besides its labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerFlags {
    /// Unsure of the answer: the server sends the task to review once complete.
    pub unsure: bool,
    /// Why a task was skipped.
    pub skip_reason: Option<String>,
    /// The annotator said the prediction shown was wrong and answered by hand.
    pub rejected: bool,
}

/// What an answer with `labels` did with the task's `prediction`: rejected it (the annotator
/// said so), accepted it (the same labels) or corrected it (others); nothing for a skip or a
/// task shown without one. With the prediction's model version.
pub fn prediction_verdict(
    prediction: Option<&Prediction>,
    labels: &[String],
    skipped: bool,
    rejected: bool,
) -> (Option<PredictionVerdict>, Option<String>) {
    let Some(p) = prediction.filter(|_| !skipped) else {
        return (None, None);
    };
    let verdict = if rejected {
        PredictionVerdict::Rejected
    } else {
        let (mut given, mut suggested) = (labels.to_vec(), p.labels.clone());
        given.sort_unstable();
        suggested.sort_unstable();
        if given == suggested {
            PredictionVerdict::Accepted
        } else {
            PredictionVerdict::Corrected
        }
    };
    (Some(verdict), p.model_version.clone())
}

pub struct LocalStore {
    conn: Mutex<Connection>,
    /// This store's device id, made on first open; every answer recorded here carries it.
    device: Option<Uuid>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
}

impl LocalStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> LocalResult<Self> {
        let conn = tessera_sqlite::open(path, MIGRATIONS)?;
        // Two processes opening a new store at once agree: the first insert wins.
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('device_id', ?1)",
            [Uuid::now_v7().to_string()],
        )?;
        let device: String =
            conn.query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get(0)
            })?;
        let device = device.parse().ok();
        if device.is_none() {
            tracing::error!("unreadable device id in the local store; answers go without one");
        }
        Ok(Self {
            conn: Mutex::new(conn),
            device,
        })
    }

    /// This device's id (one per local store).
    pub fn device_id(&self) -> Option<Uuid> {
        self.device
    }

    fn with<R>(&self, f: impl FnOnce(&mut Connection) -> LocalResult<R>) -> LocalResult<R> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    pub fn meta(&self, key: &str) -> LocalResult<Option<String>> {
        self.with(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    pub fn set_meta(&self, key: &str, value: &str) -> LocalResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )?;
            Ok(())
        })
    }

    pub fn delete_meta(&self, key: &str) -> LocalResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM meta WHERE key = ?1", [key])?;
            Ok(())
        })
    }

    /// The change-feed cursor: the server sequence number of the last change applied.
    pub fn cursor(&self) -> LocalResult<i64> {
        Ok(self
            .meta("cursor")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    pub fn save_project(&self, project: &Project) -> LocalResult<()> {
        let schema = serde_json::to_string(&project.schema)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO projects (id, name, schema) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, schema = ?3",
                params![project.id, project.name, schema],
            )?;
            Ok(())
        })
    }

    pub fn has_project(&self, id: i64) -> LocalResult<bool> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT EXISTS(SELECT 1 FROM projects WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )?)
        })
    }

    pub fn schema(&self, project_id: i64) -> LocalResult<LabelSchema> {
        self.with(|c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT schema FROM projects WHERE id = ?1",
                    [project_id],
                    |r| r.get(0),
                )
                .optional()?;
            let s = s.ok_or(LocalError::UnknownProject(project_id))?;
            Ok(serde_json::from_str(&s)?)
        })
    }

    /// Stores leased tasks; a task already answered here keeps its state, its lease is renewed.
    pub fn save_leases(&self, tasks: &[LeasedTask], now: DateTime<Utc>) -> LocalResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (position, t) in tasks.iter().enumerate() {
                save_lease(&tx, t, now, position)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The next open task, in lease order, optionally of one project.
    pub fn next_task(&self, project_id: Option<i64>) -> LocalResult<Option<LocalTask>> {
        self.with(|c| {
            let id: Option<i64> = c
                .query_row(
                    "SELECT id FROM tasks WHERE state = 'open' AND NOT cancelled AND (?1 IS NULL OR project_id = ?1)
                     ORDER BY leased_at, position, id LIMIT 1",
                    [project_id],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|id| task(c, id)).transpose()
        })
    }

    pub fn task(&self, id: i64) -> LocalResult<LocalTask> {
        self.with(|c| task(c, id))
    }

    /// The open tasks of a project in the order [`Self::next_task`] hands them out, for
    /// prefetching.
    pub fn upcoming(&self, project_id: i64, limit: u32) -> LocalResult<Vec<LocalTask>> {
        self.with(|c| {
            let ids: Vec<i64> = c
                .prepare("SELECT id FROM tasks WHERE state = 'open' AND NOT cancelled AND project_id = ?1 ORDER BY leased_at, position, id LIMIT ?2")?
                .query_map(params![project_id, limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.into_iter().map(|id| task(c, id)).collect()
        })
    }

    /// Records an answer (or, with `skipped`, a skip) durably and returns what will be pushed.
    /// Answering a task again makes a new revision; the highest revision wins on the server.
    pub fn record_answer(
        &self,
        task_id: i64,
        labels: Vec<String>,
        skipped: bool,
        now: DateTime<Utc>,
    ) -> LocalResult<AnswerPush> {
        self.record_flagged(task_id, labels, skipped, AnswerFlags::default(), now)
    }

    /// [`Self::record_answer`] with the annotator's flags: unsure of an answer, or why a
    /// task was skipped.
    pub fn record_flagged(
        &self,
        task_id: i64,
        labels: Vec<String>,
        skipped: bool,
        flags: AnswerFlags,
        now: DateTime<Utc>,
    ) -> LocalResult<AnswerPush> {
        // Stored with microsecond precision; keep the returned value identical to what is stored.
        let now = now.trunc_subsecs(6);
        self.with(|c| {
            let tx = c.transaction()?;
            let (project_id, prediction): (i64, Option<String>) = tx
                .query_row(
                    "SELECT project_id, prediction FROM tasks WHERE id = ?1",
                    [task_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or(LocalError::UnknownTask(task_id))?;
            let prediction: Option<Prediction> =
                prediction.map(|p| serde_json::from_str(&p)).transpose()?;
            let (prediction_verdict, prediction_model) =
                prediction_verdict(prediction.as_ref(), &labels, skipped, flags.rejected);
            let schema: String = tx.query_row("SELECT schema FROM projects WHERE id = ?1", [project_id], |r| r.get(0))?;
            serde_json::from_str::<LabelSchema>(&schema)?.check_push(
                &labels,
                skipped,
                flags.unsure,
                flags.skip_reason.as_deref(),
            )?;
            let revision: u32 = tx.query_row(
                "SELECT COALESCE(MAX(revision), 0) + 1 FROM answers WHERE task_id = ?1",
                [task_id],
                |r| r.get(0),
            )?;
            let answer = AnswerPush {
                id: Uuid::now_v7(),
                task_id,
                revision,
                labels: if skipped { Vec::new() } else { labels },
                skipped,
                unsure: flags.unsure,
                skip_reason: flags.skip_reason,
                answered_at: now,
                device_id: self.device,
                prediction_verdict,
                prediction_model,
            };
            tx.execute(
                "INSERT INTO answers (id, task_id, revision, labels, skipped, answered_at, unsure, skip_reason,
                                      prediction_verdict, prediction_model)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    answer.id.to_string(),
                    task_id,
                    revision,
                    serde_json::to_string(&answer.labels)?,
                    skipped,
                    ts(now),
                    answer.unsure,
                    answer.skip_reason,
                    answer.prediction_verdict.map(|v| v.as_str()),
                    answer.prediction_model
                ],
            )?;
            tx.execute(
                "UPDATE tasks SET state = ?2 WHERE id = ?1",
                params![task_id, if skipped { "skipped" } else { "answered" }],
            )?;
            tx.commit()?;
            Ok(answer)
        })
    }

    /// The current (latest revision) answer to a task, if it was answered rather than skipped.
    pub fn current_answer(&self, task_id: i64) -> LocalResult<Option<Vec<String>>> {
        self.with(|c| {
            let row: Option<(String, bool)> = c
                .query_row(
                    "SELECT labels, skipped FROM answers WHERE task_id = ?1 ORDER BY revision DESC, local_seq DESC LIMIT 1",
                    [task_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match row {
                Some((labels, false)) => Ok(Some(serde_json::from_str(&labels)?)),
                _ => Ok(None),
            }
        })
    }

    /// The task answered (or skipped) just before `task_id` — or the last one when `None` —
    /// in the order this device answered them: what Backspace goes back to.
    pub fn answered_before(
        &self,
        project_id: i64,
        task_id: Option<i64>,
    ) -> LocalResult<Option<LocalTask>> {
        self.with(|c| {
            let order: Vec<i64> = c
                .prepare(
                    "SELECT a.task_id FROM answers a JOIN tasks t ON t.id = a.task_id
                     WHERE t.project_id = ?1 AND t.state <> 'open'
                     GROUP BY a.task_id ORDER BY MIN(a.local_seq) DESC LIMIT 1000",
                )?
                .query_map([project_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let next = match task_id {
                None => order.first().copied(),
                Some(id) => order
                    .iter()
                    .position(|&t| t == id)
                    .and_then(|i| order.get(i + 1).copied()),
            };
            next.map(|id| task(c, id)).transpose()
        })
    }

    /// Answers waiting for the server, oldest first.
    pub fn pending(&self, limit: u32) -> LocalResult<Vec<AnswerPush>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, task_id, revision, labels, skipped, answered_at, unsure, skip_reason,
                        prediction_verdict, prediction_model FROM answers
                 WHERE synced = 0 AND rejected IS NULL ORDER BY local_seq LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, String>(5)?,
                    AnswerFlags {
                        unsure: r.get(6)?,
                        skip_reason: r.get(7)?,
                        rejected: false,
                    },
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, task_id, revision, labels, skipped, answered_at, flags, verdict, model) =
                    row?;
                let Ok(id) = id.parse::<Uuid>() else {
                    tracing::error!(%id, "skipping an answer with an unreadable id");
                    continue;
                };
                out.push(AnswerPush {
                    id,
                    task_id,
                    revision,
                    labels: serde_json::from_str(&labels)?,
                    skipped,
                    unsure: flags.unsure,
                    skip_reason: flags.skip_reason,
                    answered_at: parse_ts(&answered_at),
                    device_id: self.device,
                    prediction_verdict: verdict.as_deref().and_then(PredictionVerdict::parse),
                    prediction_model: model,
                });
            }
            Ok(out)
        })
    }

    /// Applies the server's verdicts on pushed answers.
    pub fn mark_pushed(&self, results: &[PushResult]) -> LocalResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for r in results {
                let id = r.id.to_string();
                match r.status {
                    PushStatus::Accepted | PushStatus::Duplicate => {
                        if r.other_device {
                            tracing::warn!(
                                answer = %id,
                                "this task was also answered on another of your devices; the latest revision counts"
                            );
                        }
                        if r.task_cancelled {
                            tracing::info!(
                                answer = %id,
                                "the requester cancelled this task; the answer is kept but not counted"
                            );
                        }
                        tx.execute("UPDATE answers SET synced = 1 WHERE id = ?1", [&id])?;
                    }
                    PushStatus::Rejected => {
                        let (code, why) = r.error.as_ref().map_or_else(
                            || ("rejected".to_owned(), "refused by the server".to_owned()),
                            |e| (e.code.clone(), e.message.clone()),
                        );
                        tracing::warn!(answer = %id, %code, %why, "server refused an answer");
                        tx.execute(
                            "UPDATE answers SET rejected = ?2, rejected_code = ?3 WHERE id = ?1",
                            params![id, why, code],
                        )?;
                        // Back in hand when giving the answer again can help and nothing
                        // newer was said about the task since.
                        if ANSWER_AGAIN.contains(&code.as_str()) {
                            tx.execute(
                                "UPDATE tasks SET state = 'open' WHERE id = (SELECT task_id FROM answers WHERE id = ?1)
                                 AND NOT EXISTS (SELECT 1 FROM answers a JOIN answers b ON b.task_id = a.task_id
                                     AND b.local_seq > a.local_seq WHERE a.id = ?1)",
                                [&id],
                            )?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Applies one page of the change feed and advances the cursor, atomically.
    pub fn apply_changes(
        &self,
        changes: &[Change],
        cursor: i64,
        now: DateTime<Utc>,
    ) -> LocalResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for change in changes {
                match change {
                    Change::Lease { task, .. } => {
                        let known: bool =
                            tx.query_row("SELECT EXISTS(SELECT 1 FROM projects WHERE id = ?1)", [task.project_id], |r| r.get(0))?;
                        if known {
                            save_lease(&tx, task, now, 0)?;
                        }
                    }
                    Change::Cancel { task_id, .. } => {
                        tx.execute("UPDATE tasks SET cancelled = 1 WHERE id = ?1", [task_id])?;
                    }
                    Change::Answer { task_id, answer_id, revision, labels, skipped, .. } => {
                        let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM tasks WHERE id = ?1)", [task_id], |r| r.get(0))?;
                        if !exists {
                            continue;
                        }
                        // An answer made on another device: keep it, already synced.
                        let inserted = tx.execute(
                            "INSERT INTO answers (id, task_id, revision, labels, skipped, answered_at, synced)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1) ON CONFLICT (id) DO NOTHING",
                            params![answer_id.to_string(), task_id, revision, serde_json::to_string(labels)?, skipped, ts(now)],
                        )?;
                        if inserted > 0 {
                            tx.execute(
                                "UPDATE tasks SET state = CASE WHEN (SELECT skipped FROM answers WHERE task_id = ?1
                                     ORDER BY revision DESC, local_seq DESC LIMIT 1) THEN 'skipped' ELSE 'answered' END
                                 WHERE id = ?1",
                                [task_id],
                            )?;
                        }
                    }
                }
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('cursor', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
                [cursor.to_string()],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn counts(&self, project_id: Option<i64>, now: DateTime<Utc>) -> LocalResult<LocalCounts> {
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(now, |t| t.and_utc());
        self.with(|c| {
            let pending: u32 = c.query_row(
                "SELECT COUNT(*) FROM answers WHERE synced = 0 AND rejected IS NULL",
                [],
                |r| r.get(0),
            )?;
            let rejected: u32 =
                c.query_row(&format!("SELECT COUNT(*) FROM ({REFUSED})"), [], |r| r.get(0))?;
            let leased: u32 = c.query_row(
                "SELECT COUNT(*) FROM tasks WHERE state = 'open' AND NOT cancelled AND (?1 IS NULL OR project_id = ?1)",
                [project_id],
                |r| r.get(0),
            )?;
            let done_today: u32 = c.query_row(
                "SELECT COUNT(DISTINCT task_id) FROM answers WHERE skipped = 0 AND answered_at >= ?1",
                [ts(midnight)],
                |r| r.get(0),
            )?;
            let mut gaps: Vec<f64> = c
                .prepare_cached(
                    "SELECT gap FROM (
                         SELECT (julianday(answered_at) - julianday(LAG(answered_at) OVER (ORDER BY answered_at))) * 86400.0 AS gap
                         FROM answers WHERE answered_at >= ?1 AND revision = 1)
                     WHERE gap > 0 AND gap <= 600",
                )?
                .query_map([ts(midnight)], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            gaps.sort_by(f64::total_cmp);
            let seconds_per_task = (!gaps.is_empty()).then(|| gaps[gaps.len() / 2]);
            Ok(LocalCounts { pending, leased, rejected, done_today, seconds_per_task })
        })
    }
}

/// Keeps a leased task; `position` is its place in the reply that brought it, which orders
/// tasks leased at the same time.
fn save_lease(
    tx: &Connection,
    t: &LeasedTask,
    now: DateTime<Utc>,
    position: usize,
) -> LocalResult<()> {
    tx.execute(
        "INSERT INTO tasks (id, project_id, data, prediction, expires_at, leased_at, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET expires_at = ?5",
        params![
            t.task_id,
            t.project_id,
            serde_json::to_string(&t.data)?,
            t.prediction
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            ts(t.expires_at),
            ts(now),
            position as i64
        ],
    )?;
    Ok(())
}

fn task(c: &Connection, id: i64) -> LocalResult<LocalTask> {
    let row: Option<(i64, String, Option<String>, String, String)> = c
        .query_row(
            "SELECT project_id, data, prediction, expires_at, state FROM tasks WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let (project_id, data, prediction, expires_at, state) =
        row.ok_or(LocalError::UnknownTask(id))?;
    Ok(LocalTask {
        id,
        project_id,
        data: serde_json::from_str(&data)?,
        prediction: prediction.map(|p| serde_json::from_str(&p)).transpose()?,
        expires_at: parse_ts(&expires_at),
        state,
    })
}

#[cfg(test)]
mod tests;

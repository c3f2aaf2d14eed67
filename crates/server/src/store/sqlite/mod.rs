//! The embedded SQLite backend (rusqlite). One connection behind a mutex, used from blocking
//! threads: SQLite has one writer at a time anyway, and each request is one short transaction.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use tessera_api::{
    AnswerPush, Batch, CancelTasksRequest, CancelTasksResponse, Change, ChangesPage, ExportAnswer,
    ExportConsensus, ExportRecord, ExportReview, LeasedTask, Member, Project, ProjectRole,
    ProjectStatus, PushResult, PushStatus, ReviewRequest, Role, TokenInfo, UploadResponse,
};
use tessera_core::aggregate::FittedConsensus;
use tessera_core::{
    ConsensusMethod, EncodedTask, ImportedAnswer, ImportedReview, LabelSchema, Prediction, Vote,
};

use crate::quality::TimedAnswer;

use super::{
    ConsensusInputs, ConsensusUpdate, ExportPage, GoldAnswer, IMPORTED, LeaseQuery, ModelCache,
    ProjectCache, ProjectsOf, Store, StoreError, StoreResult, StoredAnswer, User, answers_by_task,
    creator_only, first_answers, imported_names, imported_pushes, imported_stored, imported_time,
    last_admin, last_requester, latest_answers, no_such_user, not_a_member, parse_ts, project_role,
    rejected, repeated, role_of, stored_key, ts, unknown_batch, unknown_external_id, unknown_task,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_devices.sql"),
    include_str!("../../../migrations/sqlite/0003_cancel_offline.sql"),
    include_str!("../../../migrations/sqlite/0004_queue_index.sql"),
    include_str!("../../../migrations/sqlite/0005_adaptive_overlap_review.sql"),
    include_str!("../../../migrations/sqlite/0006_gold.sql"),
    include_str!("../../../migrations/sqlite/0007_memberships.sql"),
    include_str!("../../../migrations/sqlite/0008_answer_flags.sql"),
    include_str!("../../../migrations/sqlite/0009_consensus_models.sql"),
    include_str!("../../../migrations/sqlite/0010_project_requesters.sql"),
    include_str!("../../../migrations/sqlite/0011_batch_priority.sql"),
    include_str!("../../../migrations/sqlite/0012_full_until.sql"),
    include_str!("../../../migrations/sqlite/0013_token_revocation.sql"),
    include_str!("../../../migrations/sqlite/0014_project_creator.sql"),
    include_str!("../../../migrations/sqlite/0015_task_id_key.sql"),
    include_str!("../../../migrations/sqlite/0016_imported_work.sql"),
    include_str!("../../../migrations/sqlite/0017_confined_users.sql"),
];

/// The next open tasks an annotator may lease, in queue order: higher-priority batches
/// first, then closest to completion, then oldest. `?1` project, `?2` annotator, `?3` now,
/// `?4` the overlap first asked, `?5` how many.
const LEASE_CANDIDATES: &str = "SELECT t.id FROM tasks t
     WHERE t.project_id = ?1 AND t.complete = 0 AND t.cancelled_at IS NULL
       AND (t.full_until IS NULL OR t.full_until <= ?3)
       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = ?2
                       AND (l.state <> 'active' OR l.expires_at > ?3))
       AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = t.id
            AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > ?3)))
           < COALESCE(t.wanted, ?4)
     ORDER BY t.priority DESC, t.answer_count DESC, t.id
     LIMIT ?5";

/// Sets task ?1's `full_until` hint (see migration 0012) after a lease at time ?2, if answers
/// and unexpired leases now fill its capacity (its `wanted`, else ?3): the earliest expiry
/// among its active leases. (A task with room has no hint: a lease only adds to its slots.)
const NOTE_FULL: &str = "UPDATE tasks SET full_until = (
         SELECT MIN(l.expires_at) FROM leases l
         WHERE l.task_id = tasks.id AND l.state = 'active' AND l.expires_at > ?2)
     WHERE id = ?1
       AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = tasks.id
            AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > ?2)))
           >= COALESCE(wanted, ?3)";

/// The ids of the projects [`ProjectsOf`] names (?1 its kind, ?2 the user), in id order.
const PROJECTS_OF: &str = "SELECT id FROM projects p WHERE ?1 = 0
     OR (?1 = 1 AND id IN (SELECT project_id FROM memberships WHERE user_id = ?2 AND role = 'requester'))
     OR (?1 = 2 AND (id IN (SELECT project_id FROM memberships WHERE user_id = ?2)
                     OR (NOT EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = p.id AND m.role <> 'requester')
                         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = ?2 AND u.confined <> 0))))
     ORDER BY id";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("bad JSON in database: {e}"))
    }
}

/// Writes go to one writer thread that commits them in groups: it takes every request
/// waiting, runs each in its own savepoint (a failing one undoes only itself) and commits
/// once. A second thread then syncs the write-ahead log to disk and only then replies, while
/// the writer already runs the next group: one fsync covers many requests, nothing is
/// acknowledged before it is durable, and the writer never waits on the disk. Reads use their
/// own connection (WAL lets it read beside the writer).
#[derive(Clone)]
pub struct SqliteStore {
    jobs: std::sync::mpsc::Sender<Job>,
    reader: Arc<Mutex<Connection>>,
    models: Arc<ModelCache>,
    projects: Arc<ProjectCache>,
}

/// A write to run inside the writer's open transaction; what it returns delivers its result
/// once the commit's outcome is known (`Some(error)` when the commit failed).
type Job = Box<dyn FnOnce(&mut Connection) -> Delivery + Send>;
type Delivery = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// Most requests one commit covers.
const MAX_GROUP: usize = 256;

impl SqliteStore {
    pub fn open(path: &str) -> StoreResult<Self> {
        let path = std::path::Path::new(path);
        let writer = tessera_sqlite::open(path, MIGRATIONS)?;
        let reader = tessera_sqlite::open(path, &[])?;
        // The writer's commits only write the log; the syncer makes each durable before its
        // requests hear back (see `write_loop`). NORMAL still syncs around checkpoints.
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        let wal = wal_path(&writer, path);
        // Every statement of the hot paths stays compiled (rusqlite keeps 16 by default).
        writer.set_prepared_statement_cache_capacity(128);
        reader.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("tessera-sqlite-writer".to_owned())
            .spawn(move || write_loop(writer, &queue, wal))
            .map_err(|e| StoreError::Backend(format!("cannot start the database writer: {e}")))?;
        Ok(Self {
            jobs,
            reader: Arc::new(Mutex::new(reader)),
            models: Arc::default(),
            projects: Arc::default(),
        })
    }

    /// Runs `f` in the writer's next group commit; returns once that commit is on disk.
    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    {
        let (reply, replied) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // Each write opens its own savepoint (`Connection::savepoint`), so a failure undoes
            // that write alone and the group's other writes still commit.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| {
                    Err(StoreError::Backend("a database write panicked".to_owned()))
                });
            Box::new(move |commit_error: Option<&StoreError>| {
                let outcome = match commit_error {
                    Some(e) => Err(StoreError::Backend(format!("commit failed: {e}"))),
                    None => result,
                };
                let _ = reply.send(outcome);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the database writer has stopped".to_owned()))?;
        replied
            .await
            .map_err(|_| StoreError::Backend("the database writer dropped a request".to_owned()))?
    }

    /// Runs `f` on the read connection.
    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    {
        let conn = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("database thread failed: {e}")))?
    }
}

/// The write-ahead log SQLite keeps beside the database `conn` has open at `path`.
fn wal_path(conn: &Connection, path: &std::path::Path) -> PathBuf {
    let db = conn
        .path()
        .map_or_else(|| path.to_path_buf(), std::path::PathBuf::from);
    let mut name = db.into_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// The writer thread: one transaction per group of waiting jobs, handed to the syncer once
/// committed.
fn write_loop(mut conn: Connection, queue: &std::sync::mpsc::Receiver<Job>, wal: PathBuf) {
    let (committed_groups, to_sync) = std::sync::mpsc::channel::<Vec<Delivery>>();
    let syncer = std::thread::Builder::new()
        .name("tessera-sqlite-syncer".to_owned())
        .spawn(move || sync_loop(&to_sync, &wal));
    if let Err(e) = syncer {
        // Without a syncer nothing could be acknowledged: every caller gets an error.
        tracing::error!(error = %e, "cannot start the database syncer");
        return;
    }
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // The group's jobs are dropped unrun: their callers get an error, nothing is written.
            tracing::error!(error = %e, "cannot begin a write transaction");
            continue;
        }
        let deliveries: Vec<Delivery> = group.into_iter().map(|job| job(&mut conn)).collect();
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                if let Err(unsynced) = committed_groups.send(deliveries) {
                    let e = StoreError::Backend("the database syncer has stopped".to_owned());
                    for deliver in unsynced.0 {
                        deliver(Some(&e));
                    }
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                let e = StoreError::from(e);
                for deliver in deliveries {
                    deliver(Some(&e));
                }
            }
        }
    }
}

/// The syncer thread: for every committed group waiting (however many), one fsync of the
/// write-ahead log, then their replies. The log's frames of a group were written before the
/// writer handed it over, so the fsync that follows covers them; a later group's frames being
/// written meanwhile are simply synced early.
fn sync_loop(to_sync: &std::sync::mpsc::Receiver<Vec<Delivery>>, wal: &std::path::Path) {
    while let Ok(first) = to_sync.recv() {
        let mut groups = vec![first];
        groups.extend(to_sync.try_iter());
        // Opened each time: the log file is SQLite's to create and reuse. On failure the
        // group's requests hear an error although their transactions committed, as when a
        // reply is lost; pushes are idempotent by answer id, so a retry stores nothing twice.
        let synced = std::fs::File::open(wal)
            .and_then(|f| f.sync_data())
            .map_err(|e| StoreError::Backend(format!("cannot sync {}: {e}", wal.display())));
        if let Err(e) = &synced {
            tracing::error!(error = %e, "write-ahead log sync failed");
        }
        for deliver in groups.into_iter().flatten() {
            deliver(synced.as_ref().err());
        }
    }
}

/// The creator of project `project_id` (none for projects made before creators were kept).
fn creator_of(c: &Connection, project_id: i64) -> StoreResult<Option<i64>> {
    Ok(c.query_row(
        "SELECT created_by FROM projects WHERE id = ?1",
        [project_id],
        |r| r.get(0),
    )?)
}

/// How many requesters the project has.
fn requesters(c: &Connection, project_id: i64) -> StoreResult<i64> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM memberships WHERE project_id = ?1 AND role = 'requester'",
        [project_id],
        |r| r.get(0),
    )?)
}

fn project_row(tx: &Connection, id: i64) -> StoreResult<Project> {
    let row = tx
        .prepare_cached("SELECT id, name, schema, created_at FROM projects WHERE id = ?1")?
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    let (id, name, schema, created_at) =
        row.ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    Ok(Project {
        id,
        name,
        schema: serde_json::from_str(&schema)?,
        created_at: parse_ts(&created_at)?,
    })
}

/// A `users` row (id, name, role, created_at, revoked_at) as the admin's token list shows it.
fn token_info(r: &rusqlite::Row<'_>) -> StoreResult<TokenInfo> {
    Ok(TokenInfo {
        user_id: r.get(0)?,
        name: r.get(1)?,
        role: role_of(&r.get::<_, String>(2)?)?,
        created_at: parse_ts(&r.get::<_, String>(3)?)?,
        revoked_at: r
            .get::<_, Option<String>>(4)?
            .map(|t| parse_ts(&t))
            .transpose()?,
    })
}

fn json_map(s: &str) -> StoreResult<Map<String, Value>> {
    Ok(serde_json::from_str(s)?)
}

fn prediction(s: Option<String>) -> StoreResult<Option<Prediction>> {
    Ok(match s {
        Some(s) => Some(serde_json::from_str(&s)?),
        None => None,
    })
}

/// The tasks `task_ids` as leased to the annotator, by id, in one statement (per-task lookups
/// joined with a bound id are recompiled on every call by SQLite).
fn leased_tasks(
    c: &Connection,
    task_ids: &[i64],
    annotator_id: i64,
) -> StoreResult<HashMap<i64, LeasedTask>> {
    if task_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = serde_json::to_string(task_ids)?;
    let mut stmt = c.prepare_cached(
        "SELECT t.id, t.project_id, t.data, t.prediction, l.expires_at
         FROM json_each(?1) j
         JOIN leases l ON l.task_id = j.value AND l.annotator_id = ?2
         JOIN tasks t ON t.id = j.value",
    )?;
    let mut rows = stmt.query(params![ids, annotator_id])?;
    let mut out = HashMap::with_capacity(task_ids.len());
    while let Some(r) = rows.next()? {
        let task_id: i64 = r.get(0)?;
        out.insert(
            task_id,
            LeasedTask {
                task_id,
                project_id: r.get(1)?,
                data: json_map(&r.get::<_, String>(2)?)?,
                prediction: prediction(r.get(3)?)?,
                expires_at: parse_ts(&r.get::<_, String>(4)?)?,
            },
        );
    }
    Ok(out)
}

/// [`leased_tasks`] in the order of `task_ids`; every one must be leased.
fn leased_in_order(
    c: &Connection,
    task_ids: &[i64],
    annotator_id: i64,
) -> StoreResult<Vec<LeasedTask>> {
    let mut by_id = leased_tasks(c, task_ids, annotator_id)?;
    task_ids
        .iter()
        .map(|id| {
            by_id.remove(id).ok_or_else(|| {
                StoreError::Backend(format!("task {id} is not leased to {annotator_id}"))
            })
        })
        .collect()
}

/// Stores one pushed answer inside the push's transaction.
fn push_one(
    tx: &Connection,
    annotator: &User,
    answer: &AnswerPush,
    now: &str,
    schemas: &mut HashMap<i64, LabelSchema>,
) -> StoreResult<Pushed> {
    let id = answer.id.to_string();
    let stored = tx
        .prepare_cached(
            "SELECT annotator_id, task_id, revision, labels, skipped, unsure, skip_reason
             FROM answers WHERE id = ?1",
        )?
        .query_row([&id], |r| {
            Ok((
                StoredAnswer {
                    annotator_id: r.get(0)?,
                    task_id: r.get(1)?,
                    revision: r.get(2)?,
                    labels: Vec::new(),
                    skipped: r.get(4)?,
                    unsure: r.get(5)?,
                    skip_reason: r.get(6)?,
                },
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    if let Some((mut stored, labels)) = stored {
        stored.labels = serde_json::from_str(&labels)?;
        return Ok(Pushed::refused(repeated(&stored, annotator.id, answer)));
    }
    let task: Option<(i64, bool)> = tx
        .prepare_cached("SELECT project_id, cancelled_at IS NOT NULL FROM tasks WHERE id = ?1")?
        .query_row([answer.task_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((project_id, cancelled)) = task else {
        return Ok(Pushed::refused(rejected(
            answer.id,
            "not_found",
            "this task does not exist".to_owned(),
        )));
    };
    let schema = match schemas.entry(project_id) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(project_row(tx, project_id)?.schema),
    };
    if let Err(e) = schema.check_push(
        &answer.labels,
        answer.skipped,
        answer.unsure,
        answer.skip_reason.as_deref(),
    ) {
        return Ok(Pushed::refused(rejected(
            answer.id,
            "invalid_answer",
            e.to_string(),
        )));
    }
    let leased: bool = tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM leases WHERE task_id = ?1 AND annotator_id = ?2)",
        )?
        .query_row(params![answer.task_id, annotator.id], |r| r.get(0))?;
    if !leased {
        return Ok(Pushed::refused(rejected(
            answer.id,
            "not_leased",
            "this task was never leased to you".to_owned(),
        )));
    }
    // Another device of this annotator answered the task at this revision or later, without
    // having seen this answer: both devices answered one lease.
    let device = answer.device_id.map(|d| d.to_string());
    let other_device: bool = match &device {
        Some(device) => tx
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM answers WHERE task_id = ?1 AND annotator_id = ?2
                 AND device_id IS NOT NULL AND device_id <> ?3 AND revision >= ?4)",
            )?
            .query_row(
                params![answer.task_id, annotator.id, device, answer.revision],
                |r| r.get(0),
            )?,
        None => false,
    };
    tx.prepare_cached("INSERT INTO answers (id, task_id, annotator_id, revision, labels, skipped, answered_at, received_at,
                              device_id, device_conflict, counted, unsure, skip_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?.execute(
        params![
            id,
            answer.task_id,
            annotator.id,
            answer.revision,
            serde_json::to_string(&answer.labels)?,
            answer.skipped,
            ts(answer.answered_at),
            now,
            device,
            other_device,
            !cancelled,
            answer.unsure,
            answer.skip_reason
        ],
    )?;
    tx.prepare_cached("INSERT INTO changes (annotator_id, kind, task_id, answer_id) VALUES (?1, 'answer', ?2, ?3)")?.execute(
        params![annotator.id, answer.task_id, id],
    )?;
    // The current answer decides the lease's state: a revision may turn a skip into an answer.
    tx.prepare_cached(
        "UPDATE leases SET state = CASE WHEN (SELECT skipped FROM answers
             WHERE task_id = ?1 AND annotator_id = ?2 ORDER BY revision DESC, seq DESC LIMIT 1)
             THEN 'skipped' ELSE 'answered' END
         WHERE task_id = ?1 AND annotator_id = ?2",
    )?
    .execute(params![answer.task_id, annotator.id])?;
    Ok(Pushed {
        reply: PushResult {
            id: answer.id,
            status: PushStatus::Accepted,
            error: None,
            other_device,
            task_cancelled: cancelled,
        },
        accepted_in: Some(project_id),
    })
}

/// One pushed answer's outcome; when it was stored, the project of its task.
struct Pushed {
    reply: PushResult,
    accepted_in: Option<i64>,
}

impl Pushed {
    fn refused(reply: PushResult) -> Self {
        Self {
            reply,
            accepted_in: None,
        }
    }
}

/// One annotator's current answer to a task, as stored.
struct CurrentAnswer {
    annotator_id: i64,
    labels: Vec<String>,
    revision: u32,
    answered_at: String,
    received_at: String,
    unsure: bool,
}

/// The current (latest-revision, not skipped) answers to a task, one per annotator: among the
/// counted answers, or among those that arrived after the task was cancelled.
fn current_answers(
    tx: &Connection,
    task_id: i64,
    counted: bool,
) -> StoreResult<Vec<CurrentAnswer>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.annotator_id, a.labels, a.revision, a.answered_at, a.received_at, a.skipped, a.unsure
         FROM answers a
         WHERE a.task_id = ?1 AND a.counted = ?2
         ORDER BY a.annotator_id, a.revision DESC, a.seq DESC",
    )?;
    let mut rows = stmt.query(params![task_id, counted])?;
    let mut out = Vec::new();
    let mut last = None;
    while let Some(r) = rows.next()? {
        let annotator: i64 = r.get(0)?;
        if last == Some(annotator) {
            continue;
        }
        last = Some(annotator);
        if r.get::<_, bool>(5)? {
            continue;
        }
        let labels: String = r.get(1)?;
        out.push(CurrentAnswer {
            annotator_id: annotator,
            labels: serde_json::from_str(&labels)?,
            revision: r.get(2)?,
            answered_at: r.get(3)?,
            received_at: r.get(4)?,
            unsure: r.get(6)?,
        });
    }
    Ok(out)
}

/// Each annotator's earlier counted revisions of their answer to `task_id` (not skips, the
/// last push of each revision), oldest first, annotator by annotator.
fn earlier_answers(tx: &Connection, task_id: i64) -> StoreResult<Vec<CurrentAnswer>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.annotator_id, a.labels, a.revision, a.answered_at, a.received_at, a.skipped, a.unsure
         FROM answers a
         WHERE a.task_id = ?1 AND a.counted = 1
         ORDER BY a.annotator_id, a.revision DESC, a.seq DESC",
    )?;
    let mut rows = stmt.query(params![task_id])?;
    let mut out = Vec::new();
    let mut last: Option<(i64, u32)> = None;
    let mut latest: Option<(i64, u32)> = None;
    while let Some(r) = rows.next()? {
        let annotator: i64 = r.get(0)?;
        let revision: u32 = r.get(2)?;
        if latest.is_none_or(|(a, _)| a != annotator) {
            latest = Some((annotator, revision));
        }
        if last == Some((annotator, revision)) {
            continue;
        }
        last = Some((annotator, revision));
        if latest == Some((annotator, revision)) || r.get::<_, bool>(5)? {
            continue;
        }
        let labels: String = r.get(1)?;
        out.push(CurrentAnswer {
            annotator_id: annotator,
            labels: serde_json::from_str(&labels)?,
            revision,
            answered_at: r.get(3)?,
            received_at: r.get(4)?,
            unsure: r.get(6)?,
        });
    }
    // Oldest first within each annotator.
    out.sort_by_key(|a| (a.annotator_id, a.revision));
    Ok(out)
}

/// The project's re-fitted consensus model, if it has one (see [`ModelCache`]).
fn fitted_model(
    tx: &Connection,
    models: &ModelCache,
    project_id: i64,
) -> StoreResult<Option<Arc<FittedConsensus>>> {
    let version: Option<i64> = tx
        .prepare_cached("SELECT version FROM consensus_models WHERE project_id = ?1")?
        .query_row([project_id], |r| r.get(0))
        .optional()?;
    let Some(version) = version else {
        return Ok(None);
    };
    if let Some(model) = models.get(project_id, version) {
        return Ok(Some(model));
    }
    let json: String = tx.query_row(
        "SELECT model FROM consensus_models WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    models.load(project_id, version, &json).map(Some)
}

/// Recomputes task `task_id`'s consensus and progress from its current answers. A task that
/// a skip `freed` a slot of, or that now wants more answers than before, loses its
/// `full_until` hint.
/// Stores `answers` of `annotator` (see [`Store::push_answers`]) and updates the consensus of
/// every task they touched, inside the caller's transaction.
fn push_all(
    tx: &Connection,
    models: &ModelCache,
    annotator: &User,
    answers: &[AnswerPush],
    now: &str,
    method: &dyn ConsensusMethod,
) -> StoreResult<Vec<PushResult>> {
    let mut schemas = HashMap::new();
    // Tasks whose answers changed, with their project; those a skip freed a slot of.
    let mut touched: Vec<(i64, i64)> = Vec::new();
    let mut skipped = HashSet::new();
    let mut results = Vec::with_capacity(answers.len());
    for answer in answers {
        let result = push_one(tx, annotator, answer, now, &mut schemas)?;
        if let Some(project_id) = result.accepted_in {
            if answer.skipped {
                skipped.insert(answer.task_id);
            }
            if !touched.iter().any(|&(t, _)| t == answer.task_id) {
                touched.push((answer.task_id, project_id));
            }
        }
        results.push(result.reply);
    }
    let mut fitted: HashMap<i64, Option<Arc<FittedConsensus>>> = HashMap::new();
    for (task_id, project_id) in touched {
        let model = match fitted.entry(project_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(fitted_model(tx, models, project_id)?),
        };
        let method: &dyn ConsensusMethod = match model.as_deref() {
            Some(m) => m,
            None => method,
        };
        update_consensus(
            tx,
            task_id,
            skipped.contains(&task_id),
            &schemas[&project_id],
            method,
        )?;
    }
    Ok(results)
}

fn update_consensus(
    tx: &Connection,
    task_id: i64,
    freed: bool,
    schema: &LabelSchema,
    method: &dyn ConsensusMethod,
) -> StoreResult<()> {
    let current = current_answers(tx, task_id, true)?;
    let flagged = current.iter().any(|a| a.unsure);
    let answers: Vec<Vote> = current
        .into_iter()
        .map(|a| (a.annotator_id, a.labels))
        .collect();
    let consensus = method.aggregate(schema, &answers);
    let progress = schema.progress(
        answers.len() as u32,
        consensus.as_ref().map(|c| c.confidence),
    );
    tx.prepare_cached(
        "UPDATE tasks SET answer_count = ?2, consensus = ?3, confidence = ?4, consensus_method = ?5,
             complete = (gold IS NOT NULL OR ?6), wanted = ?7, flagged = ?9,
             needs_review = (gold IS NULL AND (?8 OR (?6 AND ?9))),
             full_until = CASE WHEN ?11 OR ?7 > COALESCE(wanted, ?10) THEN NULL ELSE full_until END
         WHERE id = ?1",
    )?
    .execute(params![
        task_id,
        answers.len() as i64,
        consensus.as_ref().map(|c| serde_json::to_string(&c.labels)).transpose()?,
        consensus.as_ref().map(|c| c.confidence),
        consensus.as_ref().map(|_| method.name()),
        progress.complete,
        progress.wanted,
        progress.needs_review,
        flagged,
        schema.progress(0, None).wanted,
        freed
    ])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        self.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM users WHERE role = 'admin'")?
                .query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let (name, hash) = (name.to_owned(), token_hash.to_owned());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, role.as_str(), hash, ts(now)])?;
            Ok(User {
                id: c.last_insert_rowid(),
                name,
                role,
            })
        })
        .await
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT id, name, role FROM users WHERE token_hash = ?1 AND revoked_at IS NULL",
                    [hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)),
                )
                .optional()?;
            row.map(|(id, name, role)| {
                Ok(User {
                    id,
                    name,
                    role: role_of(&role)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, name, role, created_at, revoked_at FROM users ORDER BY id")?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(token_info(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn confine_user(&self, user_id: i64) -> StoreResult<()> {
        self.write(move |c| {
            c.execute("UPDATE users SET confined = 1 WHERE id = ?1", [user_id])?;
            Ok(())
        })
        .await
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let role: Option<String> = tx
                .query_row(
                    "SELECT role FROM users WHERE id = ?1 AND revoked_at IS NULL",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            if role.as_deref() == Some("admin") {
                let admins: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND revoked_at IS NULL",
                    [],
                    |r| r.get(0),
                )?;
                if admins <= 1 {
                    return Err(last_admin());
                }
            }
            tx.execute(
                "UPDATE users SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, ts(now)],
            )?;
            let info = tx
                .query_row(
                    "SELECT id, name, role, created_at, revoked_at FROM users WHERE id = ?1",
                    [id],
                    |r| Ok(token_info(r)),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("user {id}")))??;
            tx.commit()?;
            Ok(info)
        })
        .await
    }

    async fn create_project(
        &self,
        name: &str,
        schema: &LabelSchema,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Project> {
        let name = name.to_owned();
        let schema_json = serde_json::to_string(schema)?;
        self.write(move |c| {
            let now = ts(now);
            c.prepare_cached(
                "INSERT INTO projects (name, schema, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, schema_json, now, requester])?;
            let id = c.last_insert_rowid();
            if let Some(user) = requester {
                c.prepare_cached(
                    "INSERT INTO memberships (project_id, user_id, role, created_at)
                     VALUES (?1, ?2, 'requester', ?3)",
                )?
                .execute(params![id, user, now])?;
            }
            project_row(c, id)
        })
        .await
    }

    async fn projects(&self, who: ProjectsOf) -> StoreResult<Vec<Project>> {
        let (kind, user) = who.params();
        self.read(move |c| {
            let ids: Vec<i64> = c
                .prepare_cached(PROJECTS_OF)?
                .query_map(params![kind, user], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.into_iter().map(|id| project_row(c, id)).collect()
        })
        .await
    }

    async fn project(&self, id: i64) -> StoreResult<Project> {
        if let Some(project) = self.projects.get(id) {
            return Ok(project);
        }
        let project = self.read(move |c| project_row(c, id)).await?;
        Ok(self.projects.keep(project))
    }

    async fn task_id_key(&self, fresh: [u8; 16]) -> StoreResult<([u8; 16], i64)> {
        self.write(move |c| {
            c.execute(
                "UPDATE task_id_key SET key = ?1 WHERE id = 1 AND key IS NULL",
                [fresh.as_slice()],
            )?;
            let (key, plain_up_to): (Vec<u8>, i64) = c.query_row(
                "SELECT key, plain_up_to FROM task_id_key WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((stored_key(&key)?, plain_up_to))
        })
        .await
    }

    async fn insert_batch(
        &self,
        project_id: i64,
        tasks: Vec<EncodedTask>,
        priority: i32,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<UploadResponse> {
        let models = Arc::clone(&self.models);
        self.write(move |c| {
            let mut tasks = tasks;
            let mut imported = Vec::new();
            let mut reviews = Vec::new();
            let tx = c.savepoint()?;
            project_row(&tx, project_id)?;
            let now_time = now;
            let now = ts(now);
            tx.prepare_cached("INSERT INTO batches (project_id, task_count, priority, created_at) VALUES (?1, ?2, ?3, ?4)")?.execute(
                params![project_id, tasks.len() as i64, priority, now],
            )?;
            let batch_id = tx.last_insert_rowid();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO tasks (project_id, batch_id, external_id, data, prediction, created_at, gold, complete, priority, more_predictions, meta, image_width, image_height)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 IS NOT NULL, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for task in &mut tasks {
                    insert
                        .execute(params![
                            project_id,
                            batch_id,
                            task.external_id,
                            task.data,
                            task.prediction,
                            now,
                            task.gold,
                            priority,
                            task.more_predictions,
                            task.meta,
                            task.image_size.map(|s| s[0]),
                            task.image_size.map(|s| s[1])
                        ])
                        .map_err(|e| match e.sqlite_error_code() {
                            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(format!(
                                "task id {:?} already exists in this project",
                                task.external_id.as_deref().unwrap_or("")
                            )),
                            _ => e.into(),
                        })?;
                    if !task.answers.is_empty() {
                        imported.push((tx.last_insert_rowid(), std::mem::take(&mut task.answers)));
                    }
                    if let Some(review) = task.review.take() {
                        reviews.push((tx.last_insert_rowid(), review));
                    }
                }
            }
            let answers_added = store_imported(&tx, &models, &imported, now_time, method.as_ref())?;
            store_reviews(&tx, &reviews, now_time)?;
            tx.commit()?;
            Ok(UploadResponse {
                batch_id,
                tasks_added: tasks.len(),
                answers_added,
                ..UploadResponse::default()
            })
        })
        .await
    }

    async fn import_answers(
        &self,
        project_id: i64,
        answers: Vec<(String, ImportedAnswer)>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<usize> {
        let models = Arc::clone(&self.models);
        self.write(move |c| {
            let tx = c.savepoint()?;
            project_row(&tx, project_id)?;
            let mut ids = HashMap::new();
            {
                let mut find = tx.prepare_cached(
                    "SELECT id FROM tasks WHERE project_id = ?1 AND external_id = ?2",
                )?;
                for (external, _) in &answers {
                    if !ids.contains_key(external)
                        && let Some(id) = find
                            .query_row(params![project_id, external], |r| r.get::<_, i64>(0))
                            .optional()?
                    {
                        ids.insert(external.clone(), id);
                    }
                }
            }
            let by_task = answers_by_task(project_id, answers, &ids)?;
            let stored = store_imported(&tx, &models, &by_task, now, method.as_ref())?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn batches(&self, project_id: i64) -> StoreResult<Vec<Batch>> {
        self.read(move |c| {
            project_row(c, project_id)?;
            let mut rows = c.prepare_cached(
                "SELECT id, task_count, priority, created_at FROM batches WHERE project_id = ?1 ORDER BY id",
            )?;
            let batches = rows
                .query_map([project_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
                })?
                .map(|row| {
                    let (id, task_count, priority, created_at) = row?;
                    Ok(Batch { id, task_count, priority, created_at: parse_ts(&created_at)? })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(batches)
        })
        .await
    }

    async fn set_batch_priority(
        &self,
        project_id: i64,
        batch_id: i64,
        priority: i32,
    ) -> StoreResult<Batch> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let row = tx
                .prepare_cached(
                    "UPDATE batches SET priority = ?3 WHERE id = ?1 AND project_id = ?2
                     RETURNING task_count, created_at",
                )?
                .query_row(params![batch_id, project_id, priority], |r| {
                    Ok((r.get(0)?, r.get::<_, String>(1)?))
                })
                .optional()?;
            let (task_count, created_at) =
                row.ok_or_else(|| unknown_batch(project_id, batch_id))?;
            tx.prepare_cached("UPDATE tasks SET priority = ?2 WHERE batch_id = ?1")?
                .execute(params![batch_id, priority])?;
            tx.commit()?;
            Ok(Batch {
                id: batch_id,
                task_count,
                priority,
                created_at: parse_ts(&created_at)?,
            })
        })
        .await
    }

    async fn cancel_tasks(
        &self,
        project_id: i64,
        request: CancelTasksRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<CancelTasksResponse> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            project_row(&tx, project_id)?;
            // (task id, already cancelled) for every named task; an unknown one fails all.
            let mut named: Vec<(i64, bool)> = Vec::new();
            {
                let mut by_id = tx.prepare_cached(
                    "SELECT id, cancelled_at IS NOT NULL FROM tasks WHERE id = ?1 AND project_id = ?2",
                )?;
                for id in &request.task_ids {
                    let row = by_id
                        .query_row(params![id, project_id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    named.push(row.ok_or_else(|| unknown_task(project_id, *id))?);
                }
                let mut by_external = tx.prepare_cached(
                    "SELECT id, cancelled_at IS NOT NULL FROM tasks WHERE project_id = ?1 AND external_id = ?2",
                )?;
                for external in &request.external_ids {
                    let row = by_external
                        .query_row(params![project_id, external], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    named.push(row.ok_or_else(|| unknown_external_id(project_id, external))?);
                }
            }
            named.sort_unstable();
            named.dedup();
            let now = ts(now);
            let mut response = CancelTasksResponse { cancelled: 0, already_cancelled: 0 };
            for (id, already) in named {
                if already {
                    response.already_cancelled += 1;
                    continue;
                }
                tx.prepare_cached("UPDATE tasks SET cancelled_at = ?2 WHERE id = ?1")?.execute( params![id, now])?;
                // Whoever still holds it (even past its expiry, on a device that was away)
                // hears that it is withdrawn.
                tx.prepare_cached("INSERT INTO changes (annotator_id, kind, task_id)
                     SELECT annotator_id, 'cancel', task_id FROM leases
                     WHERE task_id = ?1 AND state = 'active' ORDER BY annotator_id")?.execute(
                    [id],
                )?;
                response.cancelled += 1;
            }
            tx.commit()?;
            Ok(response)
        })
        .await
    }

    async fn lease(&self, q: LeaseQuery) -> StoreResult<Vec<LeasedTask>> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            // A task's capacity: what its answers so far want, or the schema's first ask.
            let first_ask = project_row(&tx, q.project_id)?.schema.progress(0, None).wanted;
            let (now, expires) = (ts(q.now), ts(q.expires_at));
            // Leases this annotator still holds are handed out again (a lost response is
            // harmless) and extended; an offline checkout takes its offline ones first.
            let mut held: Vec<i64> = tx
                .prepare_cached(
                    "SELECT l.task_id FROM leases l JOIN tasks t ON t.id = l.task_id
                     WHERE l.annotator_id = ?1 AND t.project_id = ?2 AND l.state = 'active' AND l.expires_at > ?3
                       AND t.cancelled_at IS NULL
                     ORDER BY CASE WHEN ?5 THEN l.offline ELSE 0 END DESC, l.leased_at, l.task_id LIMIT ?4",
                )?
                .query_map(params![q.annotator_id, q.project_id, now, q.limit, q.offline], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in &held {
                tx.prepare_cached("UPDATE leases SET expires_at = MAX(expires_at, ?3), offline = offline OR ?4
                     WHERE task_id = ?1 AND annotator_id = ?2")?.execute(
                    params![id, q.annotator_id, expires, q.offline],
                )?;
            }
            let mut wanted = q.limit as usize - held.len().min(q.limit as usize);
            // Gold first (as many as the handler drew), drawn at random from those this
            // annotator never had: no two annotators meet the same gold in the same order.
            let gold: Vec<i64> = if q.gold_slots == 0 || wanted == 0 {
                Vec::new()
            } else {
                tx.prepare_cached(
                    "SELECT t.id FROM tasks t
                     WHERE t.project_id = ?1 AND t.gold IS NOT NULL AND t.cancelled_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = ?2)
                     ORDER BY random() LIMIT ?3",
                )?
                .query_map(
                    params![q.project_id, q.annotator_id, q.gold_slots.min(wanted as u32)],
                    |r| r.get(0),
                )?
                .collect::<Result<_, _>>()?
            };
            wanted -= gold.len();
            let mut fresh: Vec<i64> = if wanted == 0 {
                Vec::new()
            } else {
                tx.prepare_cached(LEASE_CANDIDATES)?
                .query_map(params![q.project_id, q.annotator_id, now, first_ask, wanted as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?
            };
            // The new leases in random order, in the reply and in the change feed: where gold
            // sits says nothing.
            fresh.extend(gold);
            rand::seq::SliceRandom::shuffle(fresh.as_mut_slice(), &mut rand::rng());
            for id in &fresh {
                tx.prepare_cached("INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at, offline)
                     VALUES (?1, ?2, 'active', ?3, ?4, ?5)
                     ON CONFLICT (task_id, annotator_id) DO UPDATE
                     SET state = 'active', expires_at = ?3, leased_at = ?4, offline = ?5")?.execute(
                    params![id, q.annotator_id, expires, now, q.offline],
                )?;
                tx.prepare_cached("INSERT INTO changes (annotator_id, kind, task_id) VALUES (?1, 'lease', ?2)")?.execute(
                    params![q.annotator_id, id],
                )?;
                tx.prepare_cached(NOTE_FULL)?.execute(params![id, now, first_ask])?;
            }
            held.extend(fresh);
            let tasks = leased_in_order(&tx, &held, q.annotator_id)?;
            tx.commit()?;
            Ok(tasks)
        })
        .await
    }

    async fn push_answers(
        &self,
        annotator: &User,
        answers: Vec<AnswerPush>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<Vec<PushResult>> {
        let annotator = annotator.clone();
        let models = Arc::clone(&self.models);
        self.write(move |c| {
            let tx = c.savepoint()?;
            let results = push_all(
                &tx,
                &models,
                &annotator,
                &answers,
                &ts(now),
                method.as_ref(),
            )?;
            tx.commit()?;
            Ok(results)
        })
        .await
    }

    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage> {
        self.read(move |c| {
            let rows: Vec<(i64, String, i64, Option<String>)> = c
                .prepare_cached(
                    "SELECT seq, kind, task_id, answer_id FROM changes
                     WHERE annotator_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?
                .query_map(params![annotator_id, since, limit as i64 + 1], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?;
            let has_more = rows.len() > limit as usize;
            let rows = &rows[..rows.len().min(limit as usize)];
            // The page's leased tasks in one statement.
            let lease_ids: Vec<i64> = rows
                .iter()
                .filter(|r| r.1 == "lease")
                .map(|r| r.2)
                .collect();
            let leased = leased_tasks(c, &lease_ids, annotator_id)?;
            let mut changes = Vec::with_capacity(rows.len());
            for (seq, kind, task_id, answer_id) in rows.iter().cloned() {
                let change = match (kind.as_str(), answer_id) {
                    ("lease", _) => Change::Lease {
                        seq,
                        task: leased.get(&task_id).cloned().ok_or_else(|| {
                            StoreError::Backend(format!("change {seq} names a task not leased"))
                        })?,
                    },
                    ("cancel", _) => Change::Cancel { seq, task_id },
                    ("answer", Some(answer_id)) => {
                        let (revision, labels, skipped): (u32, String, bool) = c
                            .prepare_cached(
                                "SELECT revision, labels, skipped FROM answers WHERE id = ?1",
                            )?
                            .query_row([&answer_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                        Change::Answer {
                            seq,
                            task_id,
                            answer_id: answer_id.parse().map_err(|e| {
                                StoreError::Backend(format!("bad answer id in database: {e}"))
                            })?,
                            revision,
                            labels: serde_json::from_str(&labels)?,
                            skipped,
                        }
                    }
                    (other, _) => {
                        return Err(StoreError::Backend(format!(
                            "unknown change kind {other:?}"
                        )));
                    }
                };
                changes.push(change);
            }
            let cursor = changes.last().map_or(since, Change::seq);
            Ok(ChangesPage {
                changes,
                cursor,
                has_more,
            })
        })
        .await
    }

    async fn status(&self, project_id: i64, now: DateTime<Utc>) -> StoreResult<ProjectStatus> {
        self.read(move |c| {
            project_row(c, project_id)?;
            let (tasks, answers, complete): (i64, i64, i64) = c.prepare_cached("SELECT COUNT(*), COALESCE(SUM(answer_count), 0), COALESCE(SUM(complete), 0) FROM tasks WHERE project_id = ?1")?.query_row(
                [project_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let leased: i64 = c.prepare_cached("SELECT COUNT(*) FROM leases l JOIN tasks t ON t.id = l.task_id
                 WHERE t.project_id = ?1 AND l.state = 'active' AND l.expires_at > ?2")?.query_row(
                params![project_id, ts(now)],
                |r| r.get(0),
            )?;
            let (annotators, device_conflicts, uncounted): (i64, i64, i64) = c.prepare_cached("SELECT COUNT(DISTINCT a.annotator_id), COALESCE(SUM(a.device_conflict), 0),
                        COALESCE(SUM(NOT a.counted), 0)
                 FROM answers a JOIN tasks t ON t.id = a.task_id WHERE t.project_id = ?1")?.query_row(
                [project_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let (cancelled, needs_review, reviewed): (i64, i64, i64) = c
                .prepare_cached(
                    "SELECT COUNT(cancelled_at), COALESCE(SUM(needs_review AND review_labels IS NULL), 0),
                            COUNT(review_labels)
                     FROM tasks WHERE project_id = ?1",
                )?
                .query_row([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let skips_by_reason = c
                .prepare_cached(
                    "SELECT COALESCE(a.skip_reason, ''), COUNT(*)
                     FROM answers a JOIN tasks t ON t.id = a.task_id
                     WHERE t.project_id = ?1 AND a.skipped GROUP BY 1",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?;
            let consensus_by_method = c
                .prepare_cached(
                    "SELECT consensus_method, COUNT(*) FROM tasks
                     WHERE project_id = ?1 AND consensus IS NOT NULL AND consensus_method IS NOT NULL
                     GROUP BY 1",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?;
            Ok(ProjectStatus {
                project_id,
                tasks: tasks as u64,
                answers: answers as u64,
                complete: complete as u64,
                leased: leased as u64,
                annotators: annotators as u64,
                device_conflicts: device_conflicts as u64,
                cancelled: cancelled as u64,
                uncounted_answers: uncounted as u64,
                needs_review: needs_review as u64,
                reviewed: reviewed as u64,
                skips_by_reason,
                consensus_by_method,
            })
        })
        .await
    }

    async fn export_page(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        self.read(move |c| {
            let records = export_tasks(c, project_id, false, after, limit)?;
            Ok(ExportPage::of(records, limit))
        })
        .await
    }

    async fn gold_answers(
        &self,
        project_id: i64,
        annotator_id: Option<i64>,
    ) -> StoreResult<Vec<GoldAnswer>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.annotator_id, t.id, t.gold, a.labels, a.skipped
                 FROM tasks t JOIN answers a ON a.task_id = t.id
                 WHERE t.project_id = ?1 AND t.gold IS NOT NULL AND (?2 IS NULL OR a.annotator_id = ?2)
                 ORDER BY a.annotator_id, t.id, a.revision DESC, a.seq DESC",
            )?;
            let mut rows = stmt.query(params![project_id, annotator_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(GoldAnswer {
                    annotator_id: r.get(0)?,
                    task_id: r.get(1)?,
                    gold: serde_json::from_str(&r.get::<_, String>(2)?)?,
                    labels: serde_json::from_str(&r.get::<_, String>(3)?)?,
                    skipped: r.get(4)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn consensus_inputs(&self, project_id: i64) -> StoreResult<ConsensusInputs> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.task_id, a.annotator_id, a.labels, a.skipped
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = ?1 AND a.counted = 1
                 ORDER BY a.task_id, a.annotator_id, a.revision DESC, a.seq DESC",
            )?;
            let mut rows = stmt.query([project_id])?;
            let mut raw = Vec::new();
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(2)?)?;
                raw.push((r.get(0)?, r.get(1)?, labels, r.get(3)?));
            }
            let mut gold = HashMap::new();
            let mut stmt = c.prepare_cached(
                "SELECT id, gold FROM tasks WHERE project_id = ?1 AND gold IS NOT NULL",
            )?;
            let mut rows = stmt.query([project_id])?;
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(1)?)?;
                if let Some(label) = labels.into_iter().next() {
                    gold.insert(r.get(0)?, label);
                }
            }
            Ok(ConsensusInputs {
                answers: latest_answers(raw),
                gold,
            })
        })
        .await
    }

    async fn save_consensus_model(&self, project_id: i64, model: String) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO consensus_models (project_id, version, model) VALUES (?1, 1, ?2)
                 ON CONFLICT (project_id) DO UPDATE SET version = version + 1, model = ?2",
                params![project_id, model],
            )?;
            Ok(())
        })
        .await
    }

    async fn write_consensus(
        &self,
        project_id: i64,
        updates: Vec<ConsensusUpdate>,
        method: &str,
    ) -> StoreResult<()> {
        let method = method.to_owned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE tasks SET consensus = ?3, confidence = ?4, consensus_method = ?5,
                         complete = (gold IS NOT NULL OR ?6), wanted = ?7, full_until = NULL,
                         needs_review = (gold IS NULL AND (?8 OR (?6 AND flagged)))
                     WHERE id = ?1 AND project_id = ?2 AND cancelled_at IS NULL",
                )?;
                for u in &updates {
                    update.execute(params![
                        u.task_id,
                        project_id,
                        serde_json::to_string(&u.labels)?,
                        u.confidence,
                        method,
                        u.complete,
                        u.wanted,
                        u.needs_review
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn answer_times(&self, project_id: i64) -> StoreResult<Vec<TimedAnswer>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.task_id, a.annotator_id, a.answered_at, a.labels, a.skipped
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = ?1 AND a.counted = 1
                 ORDER BY a.task_id, a.annotator_id, a.revision, a.seq",
            )?;
            let mut rows = stmt.query([project_id])?;
            let mut raw = Vec::new();
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(3)?)?;
                raw.push((
                    TimedAnswer {
                        task_id: r.get(0)?,
                        annotator_id: r.get(1)?,
                        answered_at: parse_ts(&r.get::<_, String>(2)?)?,
                        label: labels.into_iter().next().unwrap_or_default(),
                    },
                    r.get::<_, bool>(4)?,
                ));
            }
            Ok(first_answers(raw))
        })
        .await
    }

    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<(i64, String, u64)>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(
                    "SELECT u.id, u.name, COUNT(DISTINCT a.task_id)
                     FROM answers a JOIN tasks t ON t.id = a.task_id JOIN users u ON u.id = a.annotator_id
                     WHERE t.project_id = ?1 AND NOT a.skipped
                     GROUP BY u.id, u.name ORDER BY u.id",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let c = c.savepoint()?;
            project_row(&c, project_id)?;
            let creator = creator_of(&c, project_id)?;
            if creator == Some(user_id) && by != Some(user_id) {
                return Err(creator_only(project_id));
            }
            let role: Option<String> = c
                .query_row(
                    "DELETE FROM memberships WHERE project_id = ?1 AND user_id = ?2 RETURNING role",
                    params![project_id, user_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(role) = role else {
                return Err(not_a_member(project_id, user_id));
            };
            let requesters = requesters(&c, project_id)?;
            if role == "requester" && requesters == 0 {
                return Err(last_requester(project_id)); // the savepoint rolls back unused
            }
            c.commit()?;
            Ok(())
        })
        .await
    }

    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        name: Option<String>,
        role: ProjectRole,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let c = c.savepoint()?;
            project_row(&c, project_id)?;
            let known: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1 AND (?2 IS NULL OR name = ?2))",
                )?
                .query_row(params![user_id, name], |r| r.get(0))?;
            if !known {
                return Err(no_such_user(user_id, name.as_deref()));
            }
            let creator = creator_of(&c, project_id)?;
            if creator == Some(user_id) && by != Some(user_id) && role != ProjectRole::Requester {
                return Err(creator_only(project_id));
            }
            let was_requester: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = ?1 AND user_id = ?2 AND role = 'requester')",
                params![project_id, user_id],
                |r| r.get(0),
            )?;
            c.prepare_cached(
                "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = ?3",
            )?
            .execute(params![project_id, user_id, role.as_str(), ts(now)])?;
            let requesters = requesters(&c, project_id)?;
            if was_requester && requesters == 0 {
                return Err(last_requester(project_id)); // the savepoint rolls back unused
            }
            c.commit()?;
            Ok(())
        })
        .await
    }

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>> {
        self.read(move |c| {
            project_row(c, project_id)?;
            let rows: Vec<(i64, String, String)> = c
                .prepare_cached(
                    "SELECT m.user_id, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.project_id = ?1 ORDER BY m.user_id",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            rows.into_iter()
                .map(|(user_id, name, role)| {
                    Ok(Member {
                        user_id,
                        name,
                        role: project_role(&role)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)> {
        self.read(move |c| {
            let (closed, role): (bool, Option<String>) = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = ?1 AND role <> 'requester')
                              OR EXISTS(SELECT 1 FROM users WHERE id = ?2 AND confined <> 0),
                            (SELECT role FROM memberships WHERE project_id = ?1 AND user_id = ?2)",
                )?
                .query_row(params![project_id, user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((closed, role.as_deref().map(project_role).transpose()?))
        })
        .await
    }

    async fn review_queue(&self, project_id: i64, limit: u32) -> StoreResult<Vec<ExportRecord>> {
        self.read(move |c| {
            Ok(export_tasks(c, project_id, true, 0, limit)?
                .into_iter()
                .map(|(_, r)| r)
                .collect())
        })
        .await
    }

    async fn record_review(
        &self,
        project_id: i64,
        review: ReviewRequest,
        reviewer: &User,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let reviewer = reviewer.id;
        self.write(move |c| {
            let labels = serde_json::to_string(&review.labels)?;
            let updated = c
                .prepare_cached(
                    "UPDATE tasks SET review_labels = ?3, reviewed_by = ?4, reviewed_at = ?5
                     WHERE id = ?1 AND project_id = ?2",
                )?
                .execute(params![
                    review.task_id,
                    project_id,
                    labels,
                    reviewer,
                    ts(now)
                ])?;
            if updated == 0 {
                return Err(unknown_task(project_id, review.task_id));
            }
            Ok(())
        })
        .await
    }
}

mod transfer;

use transfer::{export_tasks, store_imported, store_reviews};

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one committed group of `n` requests through the syncer for the log at `wal` and
    /// returns what each request heard.
    fn replies_after_sync(wal: &std::path::Path, n: usize) -> Vec<Option<String>> {
        let (groups, to_sync) = std::sync::mpsc::channel::<Vec<Delivery>>();
        let (heard, replies) = std::sync::mpsc::channel();
        let group: Vec<Delivery> = (0..n)
            .map(|_| {
                let heard = heard.clone();
                Box::new(move |e: Option<&StoreError>| {
                    let _ = heard.send(e.map(ToString::to_string));
                }) as Delivery
            })
            .collect();
        groups.send(group).expect("send");
        drop(groups);
        sync_loop(&to_sync, wal);
        drop(heard);
        replies.iter().collect()
    }

    #[test]
    fn the_lease_queue_reads_its_index_in_order_without_sorting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.db");
        let conn = tessera_sqlite::open(&path, MIGRATIONS).expect("open");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {LEASE_CANDIDATES}"))
            .expect("explain")
            .query_map(params![1, 1, "now", 3, 10], |r| r.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX tasks_queue"), "{plan}");
        // A sort would read every open task of the project before the first lease.
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[tokio::test]
    async fn tasks_stored_before_the_upgrade_keep_their_ids_and_new_ones_are_enciphered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        // A database as the release before enciphered ids left it, with three tasks.
        let schema = tessera_core::LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["a", "b"]}"#,
        )
        .expect("schema");
        let old = tessera_sqlite::open(&path, &MIGRATIONS[..14]).expect("old schema");
        old.execute_batch(&format!(
            "INSERT INTO projects (id, name, schema, created_at) VALUES (1, 'p', '{}', '2026-01-01T00:00:00.000000Z');
             INSERT INTO batches (id, project_id, task_count, created_at) VALUES (1, 1, 3, '2026-01-01T00:00:00.000000Z');
             INSERT INTO tasks (project_id, batch_id, data, created_at)
                 SELECT 1, 1, '{{}}', '2026-01-01T00:00:00.000000Z' FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3);",
            serde_json::to_string(&schema).expect("json")
        ))
        .expect("old tasks");
        drop(old);
        let store = super::super::PublicIds::new(Box::new(
            SqliteStore::open(&path.display().to_string()).expect("open"),
        ))
        .await
        .expect("public ids");
        let task = |i: usize| EncodedTask {
            external_id: Some(format!("new{i}")),
            data: "{}".to_owned(),
            ..EncodedTask::default()
        };
        store
            .insert_batch(
                1,
                (0..50).map(task).collect(),
                0,
                Utc::now(),
                Arc::new(tessera_core::MajorityVote),
            )
            .await
            .expect("upload");
        let ids: Vec<i64> = store
            .export(1)
            .await
            .expect("export")
            .iter()
            .map(|r| r.task_id)
            .collect();
        assert_eq!(ids[..3], [1, 2, 3], "old tasks keep their ids");
        let new = &ids[3..];
        assert_eq!(new.len(), 50);
        assert!(
            new.iter()
                .all(|&id| id > 3 && id <= super::super::MAX_TASK_ID),
            "{new:?}"
        );
        let ups = new.windows(2).filter(|w| w[1] > w[0]).count();
        assert!((10..=39).contains(&ups), "{ups} of 49 steps up: {new:?}");
    }

    #[test]
    fn requests_hear_back_only_after_their_log_is_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = dir.path().join("t.db-wal");
        std::fs::write(&wal, b"frames").expect("write");
        assert_eq!(replies_after_sync(&wal, 3), vec![None, None, None]);
        // A log that cannot be synced acknowledges nothing: every request hears the error.
        let missing = dir.path().join("gone.db-wal");
        let replies = replies_after_sync(&missing, 2);
        assert_eq!(replies.len(), 2);
        for reply in replies {
            let e = reply.expect("an error, not an acknowledgement");
            assert!(e.contains("cannot sync"), "{e}");
        }
    }

    #[test]
    fn the_syncer_syncs_the_log_sqlite_writes_commits_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = tessera_sqlite::open(&path, &["CREATE TABLE probe (x INTEGER)"]).expect("open");
        let wal = wal_path(&conn, &path);
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = size(&wal);
        conn.execute("INSERT INTO probe VALUES (1)", [])
            .expect("commit");
        assert!(
            size(&wal) > before,
            "the commit's frames are not in {}",
            wal.display()
        );
    }
}

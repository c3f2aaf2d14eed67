//! The embedded SQLite backend (rusqlite). One connection behind a mutex, used from blocking
//! threads: SQLite has one writer at a time anyway, and each request is one short transaction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use tessera_api::{ExportAnswer, ExportConsensus, ExportRecord, ExportReview, Project, Role};
use tessera_core::{ConsensusMethod, ImportedAnswer, ImportedReview, Prediction};

use super::{
    IMPORTED, ModelCache, ProjectCache, StoreError, StoreResult, User, imported_names,
    imported_pushes, imported_stored, imported_time, parse_ts, ts,
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
    include_str!("../../../migrations/sqlite/0018_suspension_lifts.sql"),
    include_str!("../../../migrations/sqlite/0019_task_browser.sql"),
    include_str!("../../../migrations/sqlite/0020_project_archive.sql"),
    include_str!("../../../migrations/sqlite/0021_prediction_verdict.sql"),
    include_str!("../../../migrations/sqlite/0022_task_words.sql"),
    include_str!("../../../migrations/sqlite/0023_webhooks.sql"),
    include_str!("../../../migrations/sqlite/0024_models.sql"),
];

/// The ids of the projects [`ProjectsOf`] names (?1 its kind, ?2 the user), in id order.
const PROJECTS_OF: &str = "SELECT id FROM projects p WHERE ?1 = 0
     OR (?1 = 1 AND id IN (SELECT project_id FROM memberships WHERE user_id = ?2 AND role = 'requester'))
     OR (?1 = 2 AND p.archived_at IS NULL
         AND (id IN (SELECT project_id FROM memberships WHERE user_id = ?2)
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
        tasks::register_search(&writer)?;
        tasks::register_search(&reader)?;
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

fn project_row(tx: &Connection, id: i64) -> StoreResult<Project> {
    let row = tx
        .prepare_cached(
            "SELECT id, name, schema, created_at, archived_at FROM projects WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?;
    let (id, name, schema, created_at, archived_at) =
        row.ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    Ok(Project {
        id,
        name,
        schema: serde_json::from_str(&schema)?,
        created_at: parse_ts(&created_at)?,
        archived_at: archived_at.map(|t| parse_ts(&t)).transpose()?,
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

mod consensus;
mod lifecycle;
mod models;
mod people;
mod projects;
mod push;
mod queue;
mod tasks;
mod transfer;
mod webhooks;

use transfer::{export_tasks, store_imported, store_reviews};

#[cfg(test)]
mod tests {
    use super::queue::{LEASE_CANDIDATES, LEASE_UNCERTAIN};
    use super::*;
    use crate::store::ProjectStore;
    use tessera_core::EncodedTask;

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
    fn both_lease_orders_read_their_index_in_order_without_sorting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.db");
        let conn = tessera_sqlite::open(&path, MIGRATIONS).expect("open");
        for (query, index) in [
            (LEASE_CANDIDATES, "tasks_queue"),
            (LEASE_UNCERTAIN, "tasks_uncertain"),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .expect("explain")
                .query_map(params![1, 1, "now", 3, 10], |r| r.get(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            let plan = plan.join("\n");
            assert!(plan.contains(&format!("USING INDEX {index}")), "{plan}");
            // A sort would read every open task of the project before the first lease.
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
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

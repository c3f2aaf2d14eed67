//! The offline sync bench (issue 5): 10,000 answers made offline reach the server in one
//! `sync` on loopback — bar: ≤ 3 s. A real in-process server on a real socket (SQLite; also
//! PostgreSQL when `TESSERA_TEST_DATABASE_URL` is set), the device's real local store.
//!
//! ```text
//! cargo bench -p tessera-tests --bench offline_sync
//! ```
//!
//! Baseline, in the same process and on the same disk: the same 10,000 answers inserted by
//! plain rusqlite in one transaction (WAL, synchronous=FULL) — the floor any durable store
//! of them pays. Prints both times and the ratio.

use std::time::Instant;

use chrono::Utc;
use tessera_api::Role;
use tessera_client::LocalStore;
use tessera_client::sync::{checkout, sync_once};
use tessera_tests::{Backend, TestServer, answer_open_tasks, sentiment_project};

const ANSWERS: usize = 10_000;

/// Seconds for one device's `ANSWERS` offline answers to sync to a fresh server: the whole
/// sync, and its push part.
async fn sync_seconds(backend: Backend) -> (f64, f64) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&requester, "bench", ANSWERS).await;
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&home.path().join("local.db")).expect("local store");
    let leased = checkout(&annotator, &store, project, ANSWERS as u32, Some(86_400))
        .await
        .expect("checkout");
    assert_eq!(leased, ANSWERS, "the offline checkout");
    answer_open_tasks(&store, project, ANSWERS, 0);
    let start = Instant::now();
    let mut pushed_at = 0.0;
    let report = sync_once(&annotator, &store, |_, _| {
        pushed_at = start.elapsed().as_secs_f64();
    })
    .await
    .expect("sync");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!((report.pushed, report.rejected), (ANSWERS, 0));
    let status = requester.status(project).await.expect("status");
    assert_eq!(status.answers as usize, ANSWERS, "every answer arrived");
    (seconds, pushed_at)
}

/// Seconds to insert `ANSWERS` answer-shaped rows with plain rusqlite in one transaction.
fn baseline_seconds() -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = rusqlite::Connection::open(dir.path().join("baseline.db")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch(
        "CREATE TABLE answers (id TEXT PRIMARY KEY, task_id INTEGER, annotator_id INTEGER,
         revision INTEGER, labels TEXT, answered_at TEXT, received_at TEXT)",
    )
    .expect("table");
    let now = Utc::now().to_rfc3339();
    let start = Instant::now();
    let mut conn = conn;
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare("INSERT INTO answers VALUES (?1, ?2, 1, 1, ?3, ?4, ?4)")
            .expect("prepare");
        for i in 0..ANSWERS {
            insert
                .execute(rusqlite::params![
                    uuid::Uuid::now_v7().to_string(),
                    i as i64,
                    "[\"positive\"]",
                    now
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let baseline = baseline_seconds();
    println!("{ANSWERS} offline answers, one sync over loopback (bar: <= 3 s)");
    println!("baseline: plain rusqlite insert of the same rows: {baseline:.3} s");
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("TESSERA_TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let (seconds, push) = sync_seconds(backend).await;
        println!(
            "{backend:?}: sync {seconds:.3} s (push {push:.3} s, pull {:.3} s; {:.0} answers/s), \
             {:.1}x the baseline, bar {}",
            seconds - push,
            ANSWERS as f64 / seconds,
            seconds / baseline,
            if seconds <= 3.0 { "met" } else { "NOT met" }
        );
    }
}

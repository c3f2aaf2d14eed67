//! The upload bench (issue 4): one batch of 1,000,000 tasks (JSONL) uploaded to a real
//! in-process server on a real socket (SQLite; PostgreSQL too when `TESSERA_TEST_DATABASE_URL`
//! is set) — bar: at least half the rate of a plain rusqlite batched insert of the same rows.
//!
//! ```text
//! cargo bench -p tessera-tests --bench upload            # TESSERA_UPLOAD_TASKS=N to resize
//! ```
//!
//! Baseline, in the same process and on the same disk: the same rows (external id, data as
//! JSON text, created_at) inserted by plain rusqlite into the server's own schema (made by
//! opening a store on a fresh file), one prepared statement, one transaction, WAL with
//! synchronous=FULL. It parses nothing and checks nothing: the floor for storing the batch.

use std::time::Instant;

use tessera_api::Role;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, SENTIMENT_SCHEMA, TestServer};

fn tasks_wanted() -> usize {
    std::env::var("TESSERA_UPLOAD_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn task_data(i: usize) -> String {
    format!("{{\"text\":\"upload bench sentence number {i}, a little longer than a tweet\"}}")
}

fn jsonl(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"id\":\"u{i}\",\"data\":{}}}\n", task_data(i)))
        .collect()
}

/// Seconds for plain rusqlite to insert the batch's rows into the server's schema.
async fn baseline_seconds(n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("baseline.db");
    let path_str = path.display().to_string();
    // The server's own schema and indexes; the store is dropped before the timed part.
    drop(tessera_server::store::SqliteStore::open(&path_str).expect("schema"));
    let mut conn = tessera_sqlite::open(&path, &[]).expect("open");
    let now = chrono::Utc::now().to_rfc3339();
    conn.execute_batch(&format!(
        "INSERT INTO projects (id, name, schema, created_at) VALUES (1, 'b', '{{}}', '{now}');
         INSERT INTO batches (id, project_id, task_count, created_at) VALUES (1, 1, {n}, '{now}');"
    ))
    .expect("project");
    let rows: Vec<(String, String)> = (0..n).map(|i| (format!("u{i}"), task_data(i))).collect();
    let start = Instant::now();
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO tasks (project_id, batch_id, external_id, data, created_at)
                 VALUES (1, 1, ?1, ?2, ?3)",
            )
            .expect("prepare");
        for (id, data) in &rows {
            insert
                .execute(rusqlite::params![id, data, now])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    start.elapsed().as_secs_f64()
}

/// Seconds for the server to take the batch over HTTP, from the request to the reply.
async fn upload_seconds(backend: Backend, body: String, n: usize) -> f64 {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = requester
        .create_project(
            "upload bench",
            LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema"),
        )
        .await
        .expect("project");
    let start = Instant::now();
    let done = requester
        .upload(project.id, UploadFormat::Jsonl, body)
        .await
        .expect("upload");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(done.tasks_added, n);
    seconds
}

#[tokio::main]
async fn main() {
    let n = tasks_wanted();
    let body = jsonl(n);
    let baseline = baseline_seconds(n).await;
    println!(
        "{n} tasks, {:.0} MB of JSONL, one upload over loopback (bar: >= 50% of the baseline rate)",
        body.len() as f64 / 1e6
    );
    println!(
        "baseline: plain rusqlite insert of the same rows: {baseline:.2} s ({:.0} tasks/s)",
        n as f64 / baseline
    );
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("TESSERA_TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let seconds = upload_seconds(backend, body.clone(), n).await;
        let share = baseline / seconds;
        println!(
            "{backend:?}: upload {seconds:.2} s ({:.0} tasks/s), {:.0}% of the baseline rate, bar {}",
            n as f64 / seconds,
            share * 100.0,
            if share >= 0.5 { "met" } else { "NOT met" }
        );
    }
}

//! The export bench (issue 24): a project of 1,000,000 tasks (SQLite; PostgreSQL too when
//! `TESSERA_TEST_DATABASE_URL` is set) exported over a real socket as Tessera JSONL and as
//! Label Studio JSON — bar: under 10 s each, with memory flat in the project's size — and,
//! for the record, as the other formats a classification project has (JSON_MIN, Prodigy,
//! Toloka, spaCy).
//!
//! ```text
//! cargo bench -p tessera-tests --bench export            # TESSERA_EXPORT_TASKS=N to resize
//! ```
//!
//! Baseline, in the same process: the same number of export records, already in memory,
//! serialized as JSON lines into a sink — no database, no socket: the floor for writing them.
//! Memory: the process's peak resident size during the export (its high-water mark is reset
//! just before, through /proc/self/clear_refs) above its size when the export began.

use std::time::Instant;

use futures_util::StreamExt;
use tessera_api::{ExportRecord, Role};
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, SENTIMENT_SCHEMA, TestServer, sample_jsonl};

fn tasks_wanted() -> usize {
    std::env::var("TESSERA_EXPORT_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A /proc/self/status figure, in MiB.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN)
        / 1024.0
}

/// Seconds to serialize `n` records like the export's as JSON lines into a sink.
fn baseline_seconds(n: usize) -> f64 {
    let records: Vec<ExportRecord> = (0..n)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "task_id": 4_503_599_627_370_000_i64 + i as i64,
                "external_id": format!("t{i}"),
                "data": {"text": format!("sample sentence number {i}")},
                "prediction": {"labels": ["positive"], "score": 0.8, "model_version": "m1"},
                "answers": [], "consensus": null, "complete": false
            }))
            .expect("record")
        })
        .collect();
    let start = Instant::now();
    let mut sink = std::io::BufWriter::new(std::io::sink());
    for r in &records {
        serde_json::to_writer(&mut sink, r).expect("serialize");
        std::io::Write::write_all(&mut sink, b"\n").expect("write");
    }
    start.elapsed().as_secs_f64()
}

/// Seconds and bytes for one export, read to its end, and the peak memory above the start.
async fn export(http: &reqwest::Client, url: &str, token: &str) -> (f64, usize, f64) {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_mib("VmRSS:");
    let start = Instant::now();
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk.expect("chunk").len();
    }
    let seconds = start.elapsed().as_secs_f64();
    (seconds, bytes, status_mib("VmHWM:") - before)
}

#[tokio::main]
async fn main() {
    let n = tasks_wanted();
    let baseline = baseline_seconds(n);
    println!("{n} tasks; bar: each export under 10 s, memory flat");
    println!("baseline: the same records serialized from memory into a sink: {baseline:.2} s");
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("TESSERA_TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        let project = requester
            .create_project(
                "export bench",
                LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema"),
            )
            .await
            .expect("project");
        requester
            .upload(project.id, UploadFormat::Jsonl, sample_jsonl(n))
            .await
            .expect("upload");
        let http = reqwest::Client::new();
        for format in [
            "jsonl",
            "ls-json",
            "ls-json-min",
            "prodigy",
            "toloka",
            "spacy",
        ] {
            let url = format!(
                "{}/api/projects/{}/export?format={format}",
                server.url, project.id
            );
            let (seconds, bytes, peak) = export(&http, &url, &token).await;
            println!(
                "{backend:?} {format}: {seconds:.2} s for {:.0} MB ({:.1}x the baseline), peak memory +{peak:.0} MiB, bar {}",
                bytes as f64 / 1e6,
                seconds / baseline,
                if seconds < 10.0 { "met" } else { "NOT met" }
            );
        }
    }
}

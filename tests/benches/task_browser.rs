//! The task browser bench (issue 26): a project of 1,000,000 tasks on SQLite (and on
//! PostgreSQL when `TESSERA_TEST_DATABASE_URL` is set) — the last 200,000 answered twice
//! each by imported annotators, so they carry a consensus, a confidence and a label, and 2,000
//! of them sent to review — browsed over a real socket, 30 pages of 50 per query, each page
//! from the cursor the one before gave. Bar: p95 under 100 ms a page.
//!
//! ```text
//! cargo bench -p tessera-tests --bench task_browser     # TESSERA_BROWSE_TASKS=N to resize
//! ```
//!
//! Baseline, in the same run and over the same socket: `GET /api/projects/{id}` (an indexed
//! lookup of one row), so the ratio shows what a page costs beyond a request.

use std::time::Instant;

use tessera_api::{Role, TaskListQuery, TaskOrder, TaskStatus};
use tessera_client::ApiClient;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, SENTIMENT_SCHEMA, TestServer, sample_jsonl};

/// Pages timed per query.
const PAGES: usize = 30;

fn tasks_wanted() -> usize {
    std::env::var("TESSERA_BROWSE_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// p50 and p95 of `samples` (milliseconds).
fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Milliseconds for each of [`PAGES`] pages of `query`, cursor to cursor (from the first
/// page again when the tasks run out), and the distinct tasks they listed.
async fn pages(client: &ApiClient, project: i64, mut query: TaskListQuery) -> (Vec<f64>, usize) {
    query.limit = Some(50);
    let (mut ms, mut tasks) = (Vec::new(), std::collections::HashSet::new());
    for _ in 0..PAGES {
        let start = Instant::now();
        let page = client.tasks(project, &query).await.expect("page");
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        tasks.extend(page.tasks.iter().map(|t| t.task_id));
        query.cursor = page.next_cursor;
    }
    (ms, tasks.len())
}

/// Two answers to each of the last `answered` of `n` tasks: the first always the task's
/// "true" label, the second agreeing two times in three.
fn answers_csv(n: usize, answered: usize) -> String {
    let labels = ["positive", "negative", "neutral"];
    let mut csv = String::from("task,worker,label\n");
    for i in (n - answered + 1)..=n {
        let truth = labels[i % 3];
        let other = if i % 3 == 0 {
            labels[(i + 1) % 3]
        } else {
            truth
        };
        csv.push_str(&format!(
            "t{i},w{},{truth}\nt{i},w{},{other}\n",
            i % 7,
            7 + i % 5
        ));
    }
    csv
}

#[tokio::main]
async fn main() {
    let n = tasks_wanted();
    let answered = n / 5;
    println!(
        "{n} tasks, {answered} answered twice; {PAGES} pages of 50 a query; bar: p95 < 100 ms"
    );
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("TESSERA_TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let mut schema = LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
        schema.overlap = 2;
        let project = requester
            .create_project("browse bench", schema)
            .await
            .expect("project")
            .id;
        let start = Instant::now();
        let half = n / 2;
        let first = sample_jsonl(n);
        let cut = first
            .match_indices('\n')
            .nth(half - 1)
            .map_or(first.len(), |(i, _)| i + 1);
        requester
            .upload(project, UploadFormat::Jsonl, first[..cut].to_owned())
            .await
            .expect("upload");
        println!(
            "{backend:?}: first {half} tasks uploaded in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let second = requester
            .upload(project, UploadFormat::Jsonl, first[cut..].to_owned())
            .await
            .expect("upload")
            .batch_id;
        requester
            .import_answers(project, answers_csv(n, answered))
            .await
            .expect("import");
        let disputed = TaskListQuery {
            max_confidence: Some(0.6),
            limit: Some(2_000 / PAGES as u32),
            ..TaskListQuery::default()
        };
        let mut to_review = Vec::new();
        let mut query = disputed.clone();
        while to_review.len() < 2_000 {
            let page = requester.tasks(project, &query).await.expect("disputed");
            to_review.extend(page.tasks.iter().map(|t| t.task_id));
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        requester
            .review_tasks(project, to_review)
            .await
            .expect("to review");
        let worker = requester
            .annotators(project)
            .await
            .expect("annotators")
            .first()
            .map(|a| a.annotator_id)
            .expect("an imported annotator");
        println!(
            "{backend:?}: set up in {:.0} s",
            start.elapsed().as_secs_f64()
        );

        let mut baseline = Vec::new();
        for _ in 0..PAGES {
            let start = Instant::now();
            requester.project(project).await.expect("project");
            baseline.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let (_, base95) = percentiles(&mut baseline);
        let queries: Vec<(&str, TaskListQuery)> = vec![
            ("every task, upload order", TaskListQuery::default()),
            (
                "open",
                TaskListQuery {
                    status: Some(TaskStatus::Open),
                    ..TaskListQuery::default()
                },
            ),
            (
                "complete",
                TaskListQuery {
                    status: Some(TaskStatus::Complete),
                    ..TaskListQuery::default()
                },
            ),
            (
                "needs review",
                TaskListQuery {
                    status: Some(TaskStatus::NeedsReview),
                    ..TaskListQuery::default()
                },
            ),
            (
                "stuck",
                TaskListQuery {
                    status: Some(TaskStatus::Stuck),
                    ..TaskListQuery::default()
                },
            ),
            ("confidence ≤ 0.6", disputed),
            (
                "lowest confidence first",
                TaskListQuery {
                    order: Some(TaskOrder::Confidence),
                    ..TaskListQuery::default()
                },
            ),
            (
                "label negative",
                TaskListQuery {
                    label: Some("negative".to_owned()),
                    ..TaskListQuery::default()
                },
            ),
            (
                "one annotator's",
                TaskListQuery {
                    annotator: Some(worker),
                    ..TaskListQuery::default()
                },
            ),
            (
                "second batch",
                TaskListQuery {
                    batch: Some(second),
                    ..TaskListQuery::default()
                },
            ),
            (
                "text search (one match in 1M)",
                TaskListQuery {
                    search: Some(format!("number {}", n / 3)),
                    ..TaskListQuery::default()
                },
            ),
            (
                "text search (a word start, 11 matches)",
                TaskListQuery {
                    search: Some(format!("number {}", n / 30)),
                    ..TaskListQuery::default()
                },
            ),
            (
                "text search (a word in every task)",
                TaskListQuery {
                    search: Some("sample".to_owned()),
                    ..TaskListQuery::default()
                },
            ),
            (
                "text search (the start of a word in every task)",
                TaskListQuery {
                    search: Some("sam".to_owned()),
                    ..TaskListQuery::default()
                },
            ),
            (
                "text search, lowest confidence first (every task)",
                TaskListQuery {
                    search: Some("sentence".to_owned()),
                    order: Some(TaskOrder::Confidence),
                    ..TaskListQuery::default()
                },
            ),
        ];
        for (name, query) in queries {
            let (mut ms, tasks) = pages(&requester, project, query).await;
            let (p50, p95) = percentiles(&mut ms);
            println!(
                "{backend:?} {name}: {tasks} tasks in {} pages, p50 {p50:.1} ms, p95 {p95:.1} ms ({:.1}x the baseline's p95 {base95:.2} ms), bar {}",
                ms.len(),
                p95 / base95,
                if p95 < 100.0 { "met" } else { "NOT met" }
            );
        }
    }
}

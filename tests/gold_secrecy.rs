//! Gold stays secret from the people it measures: nothing an annotator receives depends on
//! which tasks are gold — not where gold sits in a lease reply or the change feed, not the
//! order of their ids, not how many tasks come, not the fields of a task, not the words of a
//! suspension — and revising answers, once scored, moves nothing. Run on both stores.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;
use tessera_api::Role;
use tessera_core::LabelSchema;
use tessera_tests::{Backend, TestServer, answer_push, api_error, project_with, sample_jsonl};

const LIMIT: usize = 8;
const ANNOTATORS: usize = 100;
const LEASES_EACH: usize = 10;
const GOLD_TASKS: usize = 60;

fn gold_jsonl(n: usize) -> String {
    (1..=n)
        .map(|i| {
            serde_json::json!({
                "id": format!("g{i}"),
                "data": {"text": format!("gold sentence number {i}")},
                "predictions": [{"model_version": "m1", "score": 0.8, "result": "neutral"}],
                "gold": "positive",
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Gold's ids are spread like the other tasks' ids, although gold came in a batch of its own
/// (the database numbers tasks in upload order), and ids do not follow upload order:
/// two-sample Kolmogorov–Smirnov over the id values, at p = 0.001, and the steps between
/// consecutive tasks of the export (upload order) as often down as up.
fn ids_alike(records: &[tessera_api::ExportRecord]) {
    let (mut gold, mut other): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    for r in records {
        if r.gold.is_some() {
            &mut gold
        } else {
            &mut other
        }
        .push(r.task_id);
    }
    gold.sort_unstable();
    other.sort_unstable();
    let (n, m) = (gold.len() as f64, other.len() as f64);
    let mut d: f64 = 0.0;
    for &x in gold.iter().chain(&other) {
        let below = |v: &[i64]| v.partition_point(|&y| y <= x) as f64;
        d = d.max((below(&gold) / n - below(&other) / m).abs());
    }
    let critical = 1.95 * ((n + m) / (n * m)).sqrt();
    assert!(
        d < critical,
        "gold ids stand apart: Kolmogorov-Smirnov D = {d:.3} (p = 0.001 at {critical:.3})"
    );
    let ids: Vec<i64> = records.iter().map(|r| r.task_id).collect();
    let ups = ids.windows(2).filter(|w| w[1] > w[0]).count() as f64;
    let steps = (ids.len() - 1) as f64;
    // Half up, within 5 standard deviations.
    assert!(
        (ups - steps / 2.0).abs() < 5.0 * (steps / 4.0).sqrt(),
        "{ups} of {steps} steps of upload order go up: ids follow it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_position_count_or_field_of_a_thousand_leases_tells_gold_apart() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        thousand_leases(backend).await;
    }
}

async fn thousand_leases(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = LabelSchema::from_json(tessera_tests::SENTIMENT_SCHEMA).expect("schema");
    schema.gold_rate = 0.25;
    // Ordinary tasks first, gold in a batch of its own after them.
    let batches = [sample_jsonl(2500), gold_jsonl(GOLD_TASKS)];
    let project = project_with(
        &requester,
        "gold secrecy",
        schema,
        &[&batches[0], &batches[1]],
    )
    .await;
    let records = tessera_tests::export_records(&requester, project).await;
    let gold_ids: HashSet<i64> = records
        .iter()
        .filter(|r| r.gold.is_some())
        .map(|r| r.task_id)
        .collect();
    assert_eq!(gold_ids.len(), GOLD_TASKS);
    ids_alike(&records);

    let http = reqwest::Client::new();
    // Expected and seen gold per position of a full reply.
    let mut expected = [0.0f64; LIMIT];
    let mut seen = [0u32; LIMIT];
    // The same, per place in the change feed (another device of the annotator reads it).
    let mut feed_expected = [0.0f64; LIMIT];
    let mut feed_seen = [0u32; LIMIT];
    let mut first_gold = BTreeSet::new();
    let mut gold_total = 0usize;
    for a in 0..ANNOTATORS {
        let (annotator, token) = server.user(Role::Annotator, &format!("a{a}")).await;
        let mut first = None;
        for _ in 0..LEASES_EACH {
            let raw: Value = http
                .post(format!("{}/api/projects/{project}/leases", server.url))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "limit": LIMIT }))
                .send()
                .await
                .expect("lease")
                .json()
                .await
                .expect("lease body");
            let tasks = raw["tasks"].as_array().expect("tasks");
            assert_eq!(
                tasks.len(),
                LIMIT,
                "every reply is full: its size says nothing"
            );
            let shape = |t: &Value| {
                let keys = |v: &Value| {
                    v.as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default()
                };
                (
                    keys(t),
                    keys(&t["data"]),
                    keys(&t["prediction"]),
                    t["expires_at"].clone(),
                )
            };
            let first_shape = shape(&tasks[0]);
            let mut answers = Vec::new();
            let g = tasks
                .iter()
                .filter(|t| gold_ids.contains(&t["task_id"].as_i64().unwrap_or(-1)))
                .count();
            for (position, task) in tasks.iter().enumerate() {
                assert_eq!(
                    shape(task),
                    first_shape,
                    "a task's fields and lease are like any other's"
                );
                let id = task["task_id"].as_i64().expect("task id");
                expected[position] += g as f64 / LIMIT as f64;
                if gold_ids.contains(&id) {
                    seen[position] += 1;
                    gold_total += 1;
                    first.get_or_insert(id);
                }
                answers.push(answer_push(id, &["neutral"]));
            }
            annotator.push(answers).await.expect("push");
        }
        if let Some(id) = first {
            first_gold.insert(id);
        }
        // Each lease request's new leases sit together in the feed, in its order.
        let feed: Value = http
            .get(format!("{}/api/changes?limit=1000", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("changes")
            .json()
            .await
            .expect("changes body");
        let leased: Vec<i64> = feed["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["kind"] == "lease")
            .filter_map(|c| c["task"]["task_id"].as_i64())
            .collect();
        assert_eq!(leased.len(), LIMIT * LEASES_EACH);
        for request in leased.chunks(LIMIT) {
            let g = request.iter().filter(|id| gold_ids.contains(id)).count();
            for (position, id) in request.iter().enumerate() {
                feed_expected[position] += g as f64 / LIMIT as f64;
                feed_seen[position] += u32::from(gold_ids.contains(id));
            }
        }
    }
    // Gold is mixed in at the project's rate...
    let leases = (ANNOTATORS * LEASES_EACH) as f64;
    let rate = gold_total as f64 / (leases * LIMIT as f64);
    assert!((0.2..0.3).contains(&rate), "gold rate {rate}");
    // ...at every place in a reply alike: Pearson's chi-square over the positions, against
    // where uniformly shuffled gold would fall (7 degrees of freedom; 24.3 is p = 0.001).
    for (what, expected, seen) in [
        ("reply", expected, seen),
        ("change feed", feed_expected, feed_seen),
    ] {
        let chi2: f64 = expected
            .iter()
            .zip(seen)
            .map(|(e, s)| (f64::from(s) - e).powi(2) / e)
            .sum();
        assert!(
            chi2 < 24.3,
            "gold positions in the {what} {seen:?} against {expected:?}: chi2 {chi2}"
        );
    }
    // ...and drawn at random for each person: their first gold tasks differ.
    assert!(
        first_gold.len() >= 20,
        "{ANNOTATORS} annotators met only {} distinct first gold tasks",
        first_gold.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_annotator_learns_nothing_by_revising() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        revising_teaches_nothing(backend).await;
    }
}

async fn revising_teaches_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = LabelSchema::from_json(tessera_tests::SENTIMENT_SCHEMA).expect("schema");
    schema.gold_rate = 1.0;
    schema.suspend_below = Some(0.5);
    // Suspension goes by the 95% bound of the gold record: 1 right of 8 is surely below
    // half (1 of 4 would not be).
    schema.gold_min_answers = 8;
    let batches = [gold_jsonl(8), sample_jsonl(20)];
    let project = project_with(
        &requester,
        "suspensions",
        schema,
        &[&batches[0], &batches[1]],
    )
    .await;
    // Two annotators suspended by different tallies: 0 of 8 right, and 1 of 8 right.
    let mut refusals = Vec::new();
    for (name, right) in [("none", 0), ("one", 1)] {
        let (annotator, _) = server.user(Role::Annotator, name).await;
        let tasks = annotator
            .lease(project, 8, None)
            .await
            .expect("lease")
            .tasks;
        assert_eq!(tasks.len(), 8, "eight gold tasks at rate 1");
        let answers = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                answer_push(
                    t.task_id,
                    &[if i < right { "positive" } else { "negative" }],
                )
            })
            .collect();
        annotator.push(answers).await.expect("push");
        let refusal = api_error(
            annotator
                .lease(project, 1, None)
                .await
                .expect_err("suspended"),
        );
        assert_eq!((refusal.0, refusal.1.code.as_str()), (403, "suspended"));
        refusals.push(refusal.1.message.clone());

        // Revising every gold answer to the right one, one at a time: each revision is taken
        // like any other, and the refusal stays word for word the same.
        for task in &tasks {
            let mut revision = answer_push(task.task_id, &["positive"]);
            revision.revision = 2;
            let reply = annotator.push(vec![revision]).await.expect("push");
            assert_eq!(reply.results[0].status, tessera_api::PushStatus::Accepted);
            let again = api_error(annotator.lease(project, 1, None).await.expect_err("still"));
            assert_eq!(again.1.message, refusal.1.message, "the refusal moved");
        }
    }
    assert_eq!(refusals[0], refusals[1], "the words depend on the tally");
    assert!(
        !refusals[0].chars().any(|c| c.is_ascii_digit()),
        "{}",
        refusals[0]
    );
    // The requester still sees the first answers scored.
    let skills = requester.annotators(project).await.expect("skills");
    let one = skills.iter().find(|s| s.annotator == "one").expect("one");
    assert_eq!(
        (one.gold_answers, one.gold_correct, one.suspended),
        (8, 1, true)
    );
}

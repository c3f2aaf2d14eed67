//! The built-in model and the uncertainty-first queue over a real socket, on both storage
//! backends: the model trains on the consensus as answers arrive, annotators see its
//! predictions (gold tasks too, so a missing prediction never marks gold), and its accuracy
//! on tasks it had not trained on is in the project's stats; the uncertainty-first queue
//! leases the least certain tasks first.

on_both_backends!(
    the_builtin_model_learns_from_the_consensus_and_predicts_open_tasks,
    training_blocks_no_lease_and_no_push,
    the_uncertainty_queue_leases_the_least_certain_first,
);

use std::time::{Duration, Instant};

use tessera_api::Role;
use tessera_core::{BuiltinModel, LabelSchema, QueueOrder};
use tessera_server::ServerConfig;
use tessera_tests::scenario::{answer, project_with};
use tessera_tests::{Backend, TestServer, eventually, on_both_backends};

const SPORT: [&str; 4] = [
    "the team won the match with a late goal",
    "a goal in the first minute of the match",
    "the referee stopped the match",
    "the striker scored and the team celebrated",
];
const FOOD: [&str; 4] = [
    "bake the bread with cheese",
    "a bowl of pasta with tomato sauce",
    "cheese and bread for lunch",
    "the soup needs more salt and pepper",
];

fn topic_of(text: &str) -> &'static str {
    if SPORT.iter().any(|s| text.starts_with(s)) {
        "sport"
    } else {
        "food"
    }
}

/// A single-choice sport/food project's schema with the built-in model on.
fn topics_schema() -> LabelSchema {
    let mut schema = LabelSchema::from_json(
        r#"{"kind": "classification", "labels": ["sport", "food"], "overlap": 1}"#,
    )
    .expect("schema");
    schema.model = Some(BuiltinModel::Builtin);
    schema
}

/// `n` tasks (JSONL), sport and food in turn, each text numbered.
fn topic_tasks(n: usize) -> String {
    (0..n)
        .map(|i| {
            let text = if i % 2 == 0 {
                SPORT[i % 4]
            } else {
                FOOD[i % 4]
            };
            serde_json::json!({"data": {"text": format!("{text} ({i})")}}).to_string() + "\n"
        })
        .collect()
}

async fn the_builtin_model_learns_from_the_consensus_and_predicts_open_tasks(backend: Backend) {
    let mut config = ServerConfig::default();
    config.models.tick = Duration::from_millis(200);
    config.models.training_every = Duration::from_millis(200);
    config.models.min_labels = 20;
    config.models.min_new_labels = 5;
    let server = TestServer::start_with(backend, config).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = topics_schema();
    schema.gold_rate = 1.0;
    let tasks = topic_tasks(40);
    let gold = concat!(
        r#"{"data": {"text": "a goal for the team"}, "gold": "sport"}"#,
        "\n",
        r#"{"data": {"text": "pasta and bread"}, "gold": "food"}"#,
        "\n",
    );
    let project = project_with(&requester, schema, &[&tasks, gold]).await;

    // 24 answered (and the 2 gold): the model's first run.
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let leased = ann.lease(project, 26, None).await.expect("lease").tasks;
    assert_eq!(leased.len(), 26);
    let answers = leased
        .iter()
        .map(|t| answer(t.task_id, topic_of(t.data["text"].as_str().unwrap_or(""))))
        .collect();
    ann.push(answers).await.expect("push");
    eventually(
        Duration::from_secs(30),
        "the first training run",
        || async {
            let stats = requester.stats(project).await.ok()?;
            (!stats.model_runs.is_empty()).then_some(())
        },
    )
    .await;

    // Another annotator meets the gold first (rate 1): it carries the model's prediction like
    // any task, and so do the open tasks, each right.
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let leased = eventually(
        Duration::from_secs(30),
        "predictions on leased tasks",
        || async {
            let leased = bob.lease(project, 18, None).await.ok()?.tasks;
            leased
                .iter()
                .all(|t| {
                    t.prediction
                        .as_ref()
                        .and_then(|p| p.model_version.as_deref())
                        == Some("tessera-builtin-1")
                })
                .then_some(leased)
        },
    )
    .await;
    assert_eq!(leased.len(), 18);
    for task in &leased {
        let text = task.data["text"].as_str().expect("text");
        let p = task.prediction.as_ref().expect("prediction");
        if text.contains('(') {
            assert_eq!(p.labels, vec![topic_of(text)], "{text}");
        }
        assert!(p.score.is_some_and(|s| s > 0.0 && s <= 1.0), "{p:?}");
    }

    // The rest answered: the second run scores the first model on them (it never trained on
    // them), and the stats say so.
    let answers = leased
        .iter()
        .filter(|t| t.data["text"].as_str().is_some_and(|s| s.contains('(')))
        .map(|t| answer(t.task_id, topic_of(t.data["text"].as_str().unwrap_or(""))))
        .collect::<Vec<_>>();
    assert_eq!(answers.len(), 16);
    bob.push(answers).await.expect("push");
    let runs = eventually(Duration::from_secs(30), "the second run", || async {
        let stats = requester.stats(project).await.ok()?;
        (stats.model_runs.len() >= 2).then_some(stats.model_runs)
    })
    .await;
    assert_eq!(runs[0].version, 1);
    assert_eq!(runs[0].trained_on, 24);
    assert_eq!(runs[1].trained_on, 40);
    assert_eq!(runs[1].held_out, 16, "{runs:?}");
    assert!(runs[1].correct >= 14, "{runs:?}");
}

/// A training run made to last seconds (thousands of passes over its set): leases and pushes
/// made meanwhile are answered at once.
async fn training_blocks_no_lease_and_no_push(backend: Backend) {
    let mut config = ServerConfig::default();
    config.models.tick = Duration::from_millis(100);
    config.models.training_every = Duration::from_millis(100);
    config.models.min_labels = 20;
    config.models.builtin.min_epoch = 20_000;
    config.models.builtin.max_epoch = 20_000;
    let server = TestServer::start_with(backend, config).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let schema = topics_schema();
    let tasks = topic_tasks(60);
    let project = project_with(&requester, schema, &[&tasks]).await;
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let leased = ann.lease(project, 20, None).await.expect("lease").tasks;
    let answers = leased
        .iter()
        .map(|t| answer(t.task_id, topic_of(t.data["text"].as_str().unwrap_or(""))))
        .collect();
    ann.push(answers).await.expect("push");
    // Training starts within a tick; meanwhile, ten leases and pushes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let one = Instant::now();
        let leased = bob.lease(project, 2, None).await.expect("lease").tasks;
        bob.push(
            leased
                .iter()
                .map(|t| answer(t.task_id, topic_of(t.data["text"].as_str().unwrap_or(""))))
                .collect(),
        )
        .await
        .expect("push");
        slowest = slowest.max(one.elapsed());
    }
    let ours = started.elapsed();
    let runs = eventually(Duration::from_secs(120), "the long run", || async {
        let stats = requester.stats(project).await.ok()?;
        (!stats.model_runs.is_empty()).then_some(stats.model_runs)
    })
    .await;
    // The run lasted longer than all our requests together: they were made while it ran.
    assert!(
        runs[0].seconds > ours.as_secs_f64() + 0.3,
        "the run took {} s, our requests {ours:?}",
        runs[0].seconds
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a lease and push took {slowest:?} during training"
    );
}

async fn the_uncertainty_queue_leases_the_least_certain_first(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let line = |id: &str, score: Option<f64>| {
        let mut task = serde_json::json!({"id": id, "data": {"text": id}});
        if let Some(score) = score {
            task["predictions"] =
                serde_json::json!([{"result": "positive", "score": score, "model_version": "m"}]);
        }
        task.to_string() + "\n"
    };
    let batch: String = [
        ("a", Some(0.9)),
        ("b", Some(0.3)),
        ("c", None),
        ("d", Some(0.6)),
        ("e", Some(0.1)),
    ]
    .iter()
    .map(|(id, score)| line(id, *score))
    .collect();
    let mut orders = Vec::new();
    for order in [QueueOrder::Uncertainty, QueueOrder::Default] {
        let mut schema = tessera_tests::scenario::schema(1);
        schema.order = order;
        let project = project_with(&requester, schema, &[&batch]).await;
        let (ann, _) = server
            .user(Role::Annotator, &format!("ann-{order:?}"))
            .await;
        let mut seen = Vec::new();
        for _ in 0..5 {
            let task = ann.lease(project, 1, None).await.expect("lease").tasks;
            let task = task.first().expect("a task");
            seen.push(task.data["text"].as_str().expect("text").to_owned());
            ann.push(vec![answer(task.task_id, "positive")])
                .await
                .expect("push");
        }
        orders.push(seen);
    }
    assert_eq!(orders[0], ["e", "b", "d", "a", "c"]);
    assert_eq!(orders[1], ["a", "b", "c", "d", "e"]);
}

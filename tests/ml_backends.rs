//! ML backends end to end: a real backend built on Label Studio's `label-studio-ml` package
//! predicts every task (new batches too), its predictions reach annotators beside the task,
//! it hears every answer and a training request; faulty backends (one that hangs, one that
//! errs, one that answers garbage) slow no lease and have their failures reported. On both
//! storage backends.

on_both_backends!(
    a_label_studio_ml_backend_predicts_every_task_and_hears_every_answer,
    faulty_backends_slow_nothing_and_their_failures_are_reported,
);

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_api::{
    CreateMlBackendRequest, CreateWebhookRequest, DeliveryQuery, EventType, MlBackend, Role,
    WebhookFormat,
};
use tessera_client::ApiClient;
use tessera_server::ServerConfig;
use tessera_tests::scenario::{answer, project_with, schema};
use tessera_tests::{
    Backend, TestServer, eventually, free_port, on_both_backends, peer_venv_program, wait_up_at,
};
use tokio::process::{Child, Command};

/// A server that checks backends every second and gives a call two seconds.
async fn server(backend: Backend) -> TestServer {
    let mut config = ServerConfig::default();
    config.models.health_every = Duration::from_secs(1);
    config.models.timeout = Duration::from_secs(2);
    config.models.tick = Duration::from_millis(200);
    TestServer::start_with(backend, config).await
}

fn python(script: &str, args: &[String]) -> Child {
    let script = tessera_tests::manifest_dir().join("peers").join(script);
    Command::new(peer_venv_program("TESSERA_ML_VENV", "venv-ml", "python"))
        .arg(script)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start a Python backend")
}

/// Starts `script` on a free port; its URL once `/health` answers.
async fn start(script: &str, extra: &[String]) -> (Child, String) {
    let port = free_port();
    let mut args = vec![port.to_string()];
    args.extend_from_slice(extra);
    let child = python(script, &args);
    let url = format!("http://127.0.0.1:{port}");
    wait_up_at(&format!("{url}/health")).await;
    (child, url)
}

async fn backend_state(requester: &ApiClient, project: i64, id: i64) -> MlBackend {
    requester
        .ml_backends(project)
        .await
        .expect("backends")
        .into_iter()
        .find(|b| b.id == id)
        .expect("the backend")
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn texts_jsonl(texts: &[&str]) -> String {
    texts
        .iter()
        .map(|t| serde_json::json!({"data": {"text": t}}).to_string() + "\n")
        .collect()
}

async fn a_label_studio_ml_backend_predicts_every_task_and_hears_every_answer(backend: Backend) {
    let server = server(backend).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let events_file = tmp.path().join("events.jsonl");
    let (_ml, url) = start(
        "ml_backend.py",
        &[
            events_file.display().to_string(),
            tmp.path().join("models").display().to_string(),
        ],
    )
    .await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let first = [
        "I love this phone",
        "awful battery, I hate it",
        "it is a phone",
    ];
    let project = project_with(&requester, schema(1), &[&texts_jsonl(&first)]).await;
    let made = requester
        .create_ml_backend(
            project,
            &CreateMlBackendRequest {
                url: url.clone(),
                name: Some("keywords".to_owned()),
            },
        )
        .await
        .expect("connect");
    assert_eq!(made.healthy, Some(true), "{made:?}");
    assert!(made.webhook_id.is_some());

    // Every task predicted, and a batch uploaded later too.
    eventually(
        Duration::from_secs(30),
        "the first batch predicted",
        || async {
            let b = backend_state(&requester, project, made.id).await;
            (b.predictions == 3 && b.queue == 0).then_some(())
        },
    )
    .await;
    let later = ["great screen", "terrible case"];
    requester
        .upload(
            project,
            tessera_core::UploadFormat::Jsonl,
            texts_jsonl(&later),
        )
        .await
        .expect("upload");
    let b = eventually(
        Duration::from_secs(30),
        "the later batch predicted",
        || async {
            let b = backend_state(&requester, project, made.id).await;
            (b.predictions == 5 && b.queue == 0).then_some(b)
        },
    )
    .await;
    assert!(b.set_up, "{b:?}");
    assert_eq!(b.model_version.as_deref(), Some("INITIAL"), "{b:?}");
    assert_eq!((b.failed, b.last_error.as_deref()), (0, None), "{b:?}");

    // Annotators see the backend's prediction beside each task.
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let leased = annotator
        .lease(project, 5, None)
        .await
        .expect("lease")
        .tasks;
    assert_eq!(leased.len(), 5);
    for task in &leased {
        let text = task.data["text"].as_str().expect("text");
        let expected = if text.contains("love") || text.contains("great") {
            ("positive", 0.9)
        } else if text.contains("hate") || text.contains("terrible") {
            ("negative", 0.8)
        } else {
            ("neutral", 0.4)
        };
        let p = task.prediction.as_ref().expect("a prediction");
        assert_eq!(p.labels, vec![expected.0], "{text}");
        assert_eq!(p.score, Some(expected.1), "{text}");
        assert_eq!(p.model_version.as_deref(), Some("keywords-1"));
    }

    // Each answer reaches the backend as Label Studio's ANNOTATION_CREATED.
    let answers = leased
        .iter()
        .map(|t| answer(t.task_id, "positive"))
        .collect();
    annotator.push(answers).await.expect("push");
    let heard = eventually(
        Duration::from_secs(30),
        "the backend to hear 5 answers",
        || async {
            let heard: Vec<Value> = events(&events_file)
                .into_iter()
                .filter(|e| e["event"] == "ANNOTATION_CREATED")
                .collect();
            (heard.len() >= 5).then_some(heard)
        },
    )
    .await;
    assert_eq!(heard.len(), 5);
    for e in &heard {
        let data = &e["data"];
        assert_eq!(
            data["annotation"]["result"][0]["value"]["choices"],
            serde_json::json!(["positive"])
        );
        assert!(data["task"]["data"]["text"].is_string(), "{data}");
        assert_eq!(data["project"]["id"], project);
    }
    // And a training request.
    let started = requester
        .train_ml_backend(project, made.id)
        .await
        .expect("train");
    assert_eq!(started.status, 201);
    assert!(started.reply["job_id"].is_string(), "{:?}", started.reply);
    eventually(Duration::from_secs(30), "START_TRAINING heard", || async {
        events(&events_file)
            .iter()
            .any(|e| e["event"] == "START_TRAINING")
            .then_some(())
    })
    .await;

    // Disconnected: its predictions and its webhook go with it.
    requester
        .delete_ml_backend(project, made.id)
        .await
        .expect("remove");
    assert!(
        requester
            .ml_backends(project)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(requester.webhooks(project).await.expect("list").is_empty());
}

async fn faulty_backends_slow_nothing_and_their_failures_are_reported(backend: Backend) {
    let server = server(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let texts: Vec<String> = (0..6).map(|i| format!("review number {i}")).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let project = project_with(&requester, schema(1), &[&texts_jsonl(&texts)]).await;
    // Failures are announced: a webhook wants them (nothing listens; the log shows them).
    requester
        .create_webhook(
            project,
            &CreateWebhookRequest {
                url: format!("http://127.0.0.1:{}/", free_port()),
                events: Some(vec![EventType::PredictionFailed]),
                format: WebhookFormat::Standard,
            },
        )
        .await
        .expect("webhook");
    let mut children = Vec::new();
    let mut ids = Vec::new();
    for mode in ["hang", "error", "garbage"] {
        let (child, url) = start("faulty_ml_backend.py", &[mode.to_owned()]).await;
        children.push(child);
        let made = requester
            .create_ml_backend(
                project,
                &CreateMlBackendRequest {
                    url,
                    name: Some(mode.to_owned()),
                },
            )
            .await
            .expect("connect");
        ids.push((mode, made.id));
    }
    // Leases, pushes and uploads go on as if no backend were there: each is answered well
    // within the hanging backend's timeout.
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    for round in 0..3 {
        let started = Instant::now();
        let leased = annotator
            .lease(project, 2, None)
            .await
            .expect("lease")
            .tasks;
        annotator
            .push(
                leased
                    .iter()
                    .map(|t| answer(t.task_id, "neutral"))
                    .collect(),
            )
            .await
            .expect("push");
        requester
            .upload(
                project,
                tessera_core::UploadFormat::Jsonl,
                texts_jsonl(&[&format!("late {round}")]),
            )
            .await
            .expect("upload");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "round {round} took {:?} with a hanging backend connected",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Each failure is recorded with its reason.
    for (mode, id) in &ids {
        let b = eventually(Duration::from_secs(30), "a recorded failure", || async {
            let b = backend_state(&requester, project, *id).await;
            b.last_error.is_some().then_some(b)
        })
        .await;
        let error = b.last_error.clone().unwrap_or_default();
        let why = match *mode {
            "hang" => "did not answer in time",
            "error" => "500",
            _ => "",
        };
        assert!(error.contains(why), "{mode}: {error}");
        assert_eq!(b.predictions, 0, "{mode}: {b:?}");
    }
    // Garbage is retried by the server's clock, then given up and announced, task by task.
    let garbage = ids[2].1;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        server.clock.advance(chrono::Duration::seconds(31));
    }
    let b = eventually(Duration::from_secs(30), "garbage given up", || async {
        let b = backend_state(&requester, project, garbage).await;
        (b.failed == 9 && b.queue == 0).then_some(b)
    })
    .await;
    assert!(
        b.last_error
            .as_deref()
            .is_some_and(|e| e.contains("does not fit") || e.contains("results for")),
        "{b:?}"
    );
    let log = requester
        .deliveries(
            project,
            &DeliveryQuery {
                limit: Some(1000),
                ..DeliveryQuery::default()
            },
        )
        .await
        .expect("deliveries");
    let announced = log
        .iter()
        .filter(|d| d.event == EventType::PredictionFailed)
        .count();
    // The garbage backend's 9 tasks, and those the others gave up on by then.
    assert!(announced >= 9, "{announced} prediction.failed events");
    // Nothing a faulty backend said reached an annotator.
    let (other, _) = server.user(Role::Annotator, "bob").await;
    for task in other.lease(project, 10, None).await.expect("lease").tasks {
        assert!(task.prediction.is_none(), "{task:?}");
    }
}

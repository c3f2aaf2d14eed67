//! Webhooks end to end: a scripted project sends exactly the events it should, each signed so
//! that the Standard Webhooks reference verifier (the `standardwebhooks` Python package)
//! accepts it; a receiver answering 500 gets the same message again; Label Studio's shape for
//! receivers written for it; a suspension announced once; and a `tessera serve` killed with
//! `kill -9` while a delivery waits for its retry delivers it after the restart.

on_both_backends!(
    a_scripted_project_sends_exactly_its_events_signed_and_retried,
    a_suspension_is_announced_once,
    a_killed_server_still_delivers_after_restart,
);

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tessera_api::{
    CreateWebhookRequest, DeliveryQuery, DeliveryState, EventType, ReviewRequest, Role,
    WebhookFormat,
};
use tessera_client::ApiClient;
use tessera_tests::scenario::{answer, project_with, schema};
use tessera_tests::{
    Backend, ServeProcess, TestServer, eventually, free_port, on_both_backends, peer_venv_program,
    sample_jsonl,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A receiver run by the reference verifier: its process, where it logs, and its URL.
struct Receiver {
    _process: Child,
    log: PathBuf,
    url: String,
}

/// What a receiver logged: one JSON object per request.
fn received(r: &Receiver) -> Vec<Value> {
    std::fs::read_to_string(&r.log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a log line"))
        .collect()
}

/// A webhook on `project` with the secret and the receiver now placed at its URL.
async fn subscribe(
    requester: &ApiClient,
    project: i64,
    dir: &Path,
    name: &str,
    fail_first: u32,
    events: Option<Vec<EventType>>,
    format: WebhookFormat,
) -> (i64, Receiver) {
    // The server makes the secret with the webhook: the receiver starts after it, on a port
    // chosen first.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let made = requester
        .create_webhook(
            project,
            &CreateWebhookRequest {
                url: url.clone(),
                events,
                format,
            },
        )
        .await
        .expect("webhook");
    assert!(made.secret.starts_with("whsec_"), "{}", made.secret);
    let r = receiver_on(dir, name, &made.secret, fail_first, port).await;
    assert_eq!(r.url, url);
    (made.webhook.id, r)
}

/// Starts `tests/peers/webhook_receiver.py` on `port` for `secret`, failing the first
/// `fail_first` verified requests with 500.
async fn receiver_on(dir: &Path, name: &str, secret: &str, fail_first: u32, port: u16) -> Receiver {
    let log = dir.join(format!("{name}.jsonl"));
    let script = tessera_tests::manifest_dir().join("peers/webhook_receiver.py");
    let mut process = Command::new(peer_venv_program("TESSERA_ML_VENV", "venv-ml", "python"))
        .arg(script)
        .arg(secret)
        .arg(&log)
        .arg(fail_first.to_string())
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the webhook receiver");
    let stdout = process.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("the receiver's port");
    Receiver {
        _process: process,
        log,
        url: format!("http://127.0.0.1:{}/hook", line.trim()),
    }
}

async fn a_scripted_project_sends_exactly_its_events_signed_and_retried(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = requester
        .create_project("webhooks", schema(2))
        .await
        .expect("project")
        .id;
    let (standard, every) = subscribe(
        &requester,
        project,
        tmp.path(),
        "standard",
        1,
        None,
        WebhookFormat::Standard,
    )
    .await;
    let (_, studio) = subscribe(
        &requester,
        project,
        tmp.path(),
        "label-studio",
        0,
        Some(vec![EventType::AnswerCreated]),
        WebhookFormat::LabelStudio,
    )
    .await;
    let hooks = requester.webhooks(project).await.expect("list");
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0].events, EventType::ALL.to_vec());

    // Three tasks, two annotators each answer all three: every task completes, so does the
    // batch; the requester then reviews one task.
    requester
        .upload(project, tessera_core::UploadFormat::Jsonl, sample_jsonl(3))
        .await
        .expect("upload");
    let mut task_ids = BTreeSet::new();
    for name in ["ann", "bob"] {
        let (annotator, _) = server.user(Role::Annotator, name).await;
        let leased = annotator
            .lease(project, 3, None)
            .await
            .expect("lease")
            .tasks;
        assert_eq!(leased.len(), 3);
        let answers = leased
            .iter()
            .map(|t| answer(t.task_id, "positive"))
            .collect();
        task_ids.extend(leased.iter().map(|t| t.task_id));
        annotator.push(answers).await.expect("push");
    }
    let reviewed = *task_ids.iter().next().expect("a task");
    requester
        .review(
            project,
            &ReviewRequest {
                task_id: reviewed,
                labels: vec!["negative".to_owned()],
            },
        )
        .await
        .expect("review");

    // The first request got a 500: its retry comes due 5 s after the server recorded the
    // failure, by the server's clock — which moves on only once the failure is in the log.
    eventually(
        Duration::from_secs(20),
        "the first attempt recorded",
        || async {
            let log = requester
                .deliveries(
                    project,
                    &DeliveryQuery {
                        webhook: Some(standard),
                        state: Some(DeliveryState::Pending),
                        ..DeliveryQuery::default()
                    },
                )
                .await
                .ok()?;
            log.iter()
                .any(|d| d.attempts == 1 && d.last_status == Some(500))
                .then_some(())
        },
    )
    .await;
    server.clock.advance(chrono::Duration::seconds(10));
    let lines = eventually(Duration::from_secs(30), "every event delivered", || async {
        let lines = received(&every);
        (lines.iter().filter(|l| l["status"] == 200).count() >= 11).then_some(lines)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lines = if received(&every).len() > lines.len() {
        received(&every)
    } else {
        lines
    };
    assert!(
        lines.iter().all(|l| l["verified"] == true),
        "the reference verifier refused a signature: {lines:#?}"
    );
    // Exactly the scripted events, each delivered once; the failed one sent again as it was.
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for l in &lines {
        by_id
            .entry(l["webhook_id"].as_str().expect("id").to_owned())
            .or_default()
            .push(l);
    }
    assert_eq!(by_id.len(), 11, "{lines:#?}");
    let retried: Vec<&Vec<&Value>> = by_id.values().filter(|v| v.len() > 1).collect();
    assert_eq!(retried.len(), 1, "{lines:#?}");
    assert_eq!(
        (
            retried[0][0]["status"].as_u64(),
            retried[0][1]["status"].as_u64()
        ),
        (Some(500), Some(200))
    );
    assert_eq!(retried[0][0]["body"], retried[0][1]["body"]);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for attempts in by_id.values() {
        let body = &attempts[0]["body"];
        *counts
            .entry(body["type"].as_str().expect("type").to_owned())
            .or_default() += 1;
        assert!(body["timestamp"].is_string(), "{body}");
        assert_eq!(body["data"]["project_id"], project, "{body}");
    }
    let expected: BTreeMap<String, usize> = [
        ("answer.created", 6),
        ("task.completed", 3),
        ("batch.completed", 1),
        ("review.created", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected);
    // Task ids are the API's (public) ones.
    let completed: BTreeSet<i64> = by_id
        .values()
        .map(|a| &a[0]["body"])
        .filter(|b| b["type"] == "task.completed")
        .map(|b| b["data"]["task_id"].as_i64().expect("task id"))
        .collect();
    assert_eq!(completed, task_ids);
    let review = by_id
        .values()
        .map(|a| &a[0]["body"])
        .find(|b| b["type"] == "review.created")
        .expect("review event");
    assert_eq!(review["data"]["task_id"], reviewed);
    assert_eq!(review["data"]["labels"], serde_json::json!(["negative"]));

    // Label Studio's shape: one ANNOTATION_CREATED per answer, with its choices.
    let studio_lines = eventually(Duration::from_secs(20), "Label Studio events", || async {
        let lines = received(&studio);
        (lines.len() >= 6).then_some(lines)
    })
    .await;
    assert_eq!(studio_lines.len(), 6, "{studio_lines:#?}");
    for l in &studio_lines {
        let body = &l["body"];
        assert_eq!(body["action"], "ANNOTATION_CREATED", "{body}");
        assert_eq!(
            body["annotation"]["result"][0]["value"]["choices"],
            serde_json::json!(["positive"])
        );
        assert!(body["task"]["data"]["text"].is_string(), "{body}");
        assert_eq!(body["annotation"]["task"], body["task"]["id"]);
        assert!(
            body["project"]["label_config"]
                .as_str()
                .is_some_and(|c| c.contains("<Choices")),
            "{body}"
        );
    }

    // The delivery log says the same.
    let log = eventually(Duration::from_secs(10), "the log to settle", || async {
        let log = requester
            .deliveries(
                project,
                &DeliveryQuery {
                    webhook: Some(standard),
                    ..DeliveryQuery::default()
                },
            )
            .await
            .expect("deliveries");
        log.iter()
            .all(|d| d.state == DeliveryState::Delivered)
            .then_some(log)
    })
    .await;
    assert_eq!(log.len(), 11);
    let twice: Vec<_> = log.iter().filter(|d| d.attempts == 2).collect();
    assert_eq!(twice.len(), 1, "{log:#?}");
    assert_eq!(twice[0].last_status, Some(200));
    assert!(
        log.iter()
            .all(|d| d.attempts >= 1 && d.next_attempt_at.is_none())
    );
    let hooks = requester.webhooks(project).await.expect("list");
    assert_eq!(
        (hooks[0].delivered, hooks[0].pending, hooks[0].failed),
        (11, 0, 0)
    );

    // Annotators may not see or make webhooks; a bad URL is refused with a reason.
    let (annotator, _) = server.user(Role::Annotator, "eve").await;
    let (status, _) = tessera_tests::api_error(annotator.webhooks(project).await.expect_err("403"));
    assert_eq!(status, 403);
    let (status, body) = tessera_tests::api_error(
        requester
            .create_webhook(
                project,
                &CreateWebhookRequest {
                    url: "file:///etc/passwd".to_owned(),
                    events: None,
                    format: WebhookFormat::Standard,
                },
            )
            .await
            .expect_err("400"),
    );
    assert_eq!(
        (status, body.code.as_str()),
        (400, "bad_request"),
        "{body:?}"
    );
    requester
        .delete_webhook(project, standard)
        .await
        .expect("remove");
    assert_eq!(requester.webhooks(project).await.expect("list").len(), 1);
}

async fn a_suspension_is_announced_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(1);
    schema.gold_rate = 1.0;
    schema.suspend_below = Some(0.6);
    schema.gold_min_answers = 2;
    let gold = concat!(
        r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}"#,
        "\n",
        r#"{"id":"g2","data":{"text":"I hate it"},"gold":"negative"}"#,
        "\n",
        r#"{"id":"g3","data":{"text":"Fine"},"gold":"neutral"}"#,
        "\n",
    );
    let project = project_with(&requester, schema, &[gold, &sample_jsonl(3)]).await;
    let (_, every) = subscribe(
        &requester,
        project,
        tmp.path(),
        "suspensions",
        0,
        Some(vec![EventType::AnnotatorSuspended]),
        WebhookFormat::Standard,
    )
    .await;
    let (careless, _) = server.user(Role::Annotator, "carl").await;
    let leased = careless.lease(project, 3, None).await.expect("lease").tasks;
    let wrong: Vec<_> = leased
        .iter()
        .map(|t| {
            let label = match t.data["text"].as_str() {
                Some("I love it") => "negative",
                _ => "positive",
            };
            answer(t.task_id, label)
        })
        .collect();
    careless.push(wrong).await.expect("push");
    let lines = eventually(Duration::from_secs(20), "the suspension", || async {
        let lines = received(&every);
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    // Seen again at every look, announced once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let lines = if received(&every).len() > lines.len() {
        received(&every)
    } else {
        lines
    };
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let body = &lines[0]["body"];
    assert_eq!(lines[0]["verified"], true);
    assert_eq!(body["type"], "annotator.suspended");
    let carl = careless.me().await.expect("me").user_id;
    assert_eq!(body["data"]["annotator_id"], carl);
    assert_eq!(body["data"]["gold_correct"], 0);
}

async fn a_killed_server_still_delivers_after_restart(backend: Backend) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut server = ServeProcess::start(backend).await;
    let requester = server.user(Role::Requester, "rita").await;
    let annotator = server.user(Role::Annotator, "ann").await;
    let project = tessera_tests::sentiment_project(&requester, "kill", 2).await;
    // Nothing listens at the webhook's URL yet: every attempt fails and is retried.
    let port = free_port();
    let made = requester
        .create_webhook(
            project,
            &CreateWebhookRequest {
                url: format!("http://127.0.0.1:{port}/hook"),
                events: Some(vec![EventType::AnswerCreated]),
                format: WebhookFormat::Standard,
            },
        )
        .await
        .expect("webhook");
    let leased = annotator
        .lease(project, 1, None)
        .await
        .expect("lease")
        .tasks;
    annotator
        .push(vec![answer(leased[0].task_id, "neutral")])
        .await
        .expect("push");
    let failed = eventually(Duration::from_secs(20), "a failed attempt", || async {
        let log = requester
            .deliveries(project, &DeliveryQuery::default())
            .await
            .ok()?;
        log.into_iter()
            .find(|d| d.attempts >= 1 && d.state == DeliveryState::Pending)
    })
    .await;
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("connect")),
        "{failed:?}"
    );
    // kill -9 while the delivery waits for its retry.
    server.kill().await;
    let every = receiver_on(tmp.path(), "after-kill", &made.secret, 0, port).await;
    server.restart().await;
    let lines = eventually(
        Duration::from_secs(60),
        "the delivery after restart",
        || async {
            let lines = received(&every);
            (!lines.is_empty()).then_some(lines)
        },
    )
    .await;
    assert_eq!(lines[0]["verified"], true, "{lines:#?}");
    assert_eq!(lines[0]["webhook_id"], failed.message_id);
    assert_eq!(lines[0]["body"]["data"]["task_id"], leased[0].task_id);
    assert_eq!(
        lines[0]["body"]["data"]["labels"],
        serde_json::json!(["neutral"])
    );
}

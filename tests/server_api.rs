//! Server conformance tests over a real socket, run against both storage backends: a
//! temporary SQLite file and a fresh PostgreSQL database.

/// Runs each scenario once per backend, as `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

on_both_backends!(
    upload_lease_push_status_export,
    concurrent_leases_never_over_assign,
    an_expired_lease_returns_the_task_and_a_late_answer_still_counts,
    a_bad_upload_names_the_line_and_stores_nothing,
    roles_are_enforced_with_json_errors,
    the_latest_revision_wins_and_every_revision_is_in_the_change_feed,
    one_lease_answered_on_two_devices_is_reported_and_counted_once
);

use chrono::{Duration, Utc};
use tessera_api::{AnswerPush, Change, PushStatus, Role};
use tessera_client::{ApiClient, ClientError};
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, SENTIMENT_SCHEMA, TestServer, export_records, sample_jsonl};
use uuid::Uuid;

fn schema(overlap: u32) -> LabelSchema {
    let mut s = LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
    s.overlap = overlap;
    s
}

fn answer(task_id: i64, label: &str) -> AnswerPush {
    AnswerPush {
        id: Uuid::now_v7(),
        task_id,
        revision: 1,
        labels: vec![label.to_owned()],
        skipped: false,
        answered_at: Utc::now(),
        device_id: None,
    }
}

async fn project_with_tasks(server: &TestServer, overlap: u32, n: usize) -> (ApiClient, i64) {
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = requester
        .create_project("sentiment", schema(overlap))
        .await
        .expect("project");
    let uploaded = requester
        .upload(project.id, UploadFormat::Jsonl, sample_jsonl(n))
        .await
        .expect("upload");
    assert_eq!(uploaded.tasks_added, n);
    (requester, project.id)
}

fn api_error(e: ClientError) -> (u16, tessera_api::ErrorBody) {
    match e {
        ClientError::Api { status, body } => (status, body),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn upload_lease_push_status_export(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 5).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let (carol, _) = server.user(Role::Annotator, "carol").await;

    let leased = alice.lease(project, 3, None).await.expect("lease");
    assert_eq!(leased.tasks.len(), 3);
    assert!(
        leased
            .tasks
            .iter()
            .all(|t| t.data["text"].is_string() && t.prediction.is_some())
    );
    let ids: Vec<i64> = leased.tasks.iter().map(|t| t.task_id).collect();

    // Leasing again hands back the same leases rather than new ones.
    let again = alice.lease(project, 3, None).await.expect("lease again");
    assert_eq!(
        again.tasks.iter().map(|t| t.task_id).collect::<Vec<_>>(),
        ids
    );

    let answers: Vec<AnswerPush> = ids.iter().map(|&id| answer(id, "positive")).collect();
    let pushed = alice.push(answers.clone()).await.expect("push");
    assert!(
        pushed
            .results
            .iter()
            .all(|r| r.status == PushStatus::Accepted),
        "{pushed:?}"
    );
    let before = requester.status(project).await.expect("status");
    assert_eq!((before.tasks, before.answers), (5, 3));

    // Re-pushing the same answers changes nothing.
    let repushed = alice.push(answers).await.expect("re-push");
    assert!(
        repushed
            .results
            .iter()
            .all(|r| r.status == PushStatus::Duplicate),
        "{repushed:?}"
    );
    assert_eq!(requester.status(project).await.expect("status"), before);

    // Bob answers all five; the three Alice answered reach overlap 2 and are complete.
    let bob_tasks = bob.lease(project, 10, None).await.expect("lease").tasks;
    assert_eq!(bob_tasks.len(), 5);
    let bob_answers = bob_tasks
        .iter()
        .map(|t| {
            answer(
                t.task_id,
                if t.task_id == ids[0] {
                    "negative"
                } else {
                    "positive"
                },
            )
        })
        .collect();
    bob.push(bob_answers).await.expect("push");
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        (
            status.answers,
            status.complete,
            status.leased,
            status.annotators
        ),
        (8, 3, 0, 2)
    );

    // Carol is offered only the two tasks still short of answers.
    let carol_tasks = carol.lease(project, 10, None).await.expect("lease").tasks;
    let mut carol_ids: Vec<i64> = carol_tasks.iter().map(|t| t.task_id).collect();
    carol_ids.sort_unstable();
    let mut open: Vec<i64> = bob_tasks
        .iter()
        .map(|t| t.task_id)
        .filter(|id| !ids.contains(id))
        .collect();
    open.sort_unstable();
    assert_eq!(carol_ids, open);

    let records = export_records(&requester, project).await;
    assert_eq!(records.len(), 5);
    let first = records
        .iter()
        .find(|r| r.task_id == ids[1])
        .expect("record");
    assert_eq!(
        first.external_id.as_deref().map(|s| s.starts_with('t')),
        Some(true)
    );
    let mut who: Vec<&str> = first.answers.iter().map(|a| a.annotator.as_str()).collect();
    who.sort_unstable();
    assert_eq!(who, ["alice", "bob"]);
    let consensus = first.consensus.as_ref().expect("consensus");
    assert_eq!(
        (consensus.label.as_deref(), consensus.confidence),
        (Some("positive"), 1.0)
    );
    // A 1–1 split: majority vote with a confidence of one half.
    let split = records
        .iter()
        .find(|r| r.task_id == ids[0])
        .and_then(|r| r.consensus.as_ref())
        .expect("consensus");
    assert_eq!(split.confidence, 0.5);
    assert!(records.iter().filter(|r| r.complete).count() == 3);

    let csv = requester
        .export(project, "csv")
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.starts_with("task_id,external_id,text"));
}

async fn an_expired_lease_returns_the_task_and_a_late_answer_still_counts(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 1, 2).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;

    let alice_tasks = alice
        .lease(project, 5, Some(60))
        .await
        .expect("lease")
        .tasks;
    assert_eq!(alice_tasks.len(), 2);
    assert!(
        bob.lease(project, 5, None)
            .await
            .expect("lease")
            .tasks
            .is_empty(),
        "over-assigned"
    );
    assert_eq!(requester.status(project).await.expect("status").leased, 2);

    server.clock.advance(Duration::seconds(61));
    assert_eq!(requester.status(project).await.expect("status").leased, 0);
    let bob_tasks = bob.lease(project, 5, None).await.expect("lease").tasks;
    assert_eq!(bob_tasks.len(), 2, "expired leases go back to the queue");

    // Alice was offline when her lease ran out; her answer is real work and is kept.
    let late = alice
        .push(vec![answer(alice_tasks[0].task_id, "neutral")])
        .await
        .expect("push");
    assert_eq!(late.results[0].status, PushStatus::Accepted);
    let status = requester.status(project).await.expect("status");
    assert_eq!((status.answers, status.complete), (1, 1));
}

async fn a_bad_upload_names_the_line_and_stores_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 3, 1).await;
    let mut jsonl = sample_jsonl(4);
    jsonl.push_str(
        "{\"data\": {\"text\": \"fine\"}, \"predictions\": [{\"result\": \"ecstatic\"}]}\n",
    );
    let e = requester
        .upload(project, UploadFormat::Jsonl, jsonl)
        .await
        .expect_err("must fail");
    let (status, body) = api_error(e);
    assert_eq!(
        (status, body.code.as_str(), body.line),
        (422, "invalid_upload", Some(5))
    );
    assert!(body.message.contains("ecstatic"), "{}", body.message);

    let csv = "text,prediction,prediction_score\nok,positive,0.5\nbad,negative,lots\n";
    let (status, body) = api_error(
        requester
            .upload(project, UploadFormat::Csv, csv)
            .await
            .expect_err("must fail"),
    );
    assert_eq!((status, body.line, body.column), (422, Some(3), Some(3)));

    // A repeated external id across batches is refused whole too.
    let (status, body) = api_error(
        requester
            .upload(project, UploadFormat::Jsonl, sample_jsonl(2))
            .await
            .expect_err("dup"),
    );
    assert_eq!((status, body.code.as_str()), (409, "conflict"));

    assert_eq!(requester.status(project).await.expect("status").tasks, 1);
}

async fn roles_are_enforced_with_json_errors(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 3, 2).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;

    let anonymous = ApiClient::new(&server.url, None).expect("client");
    let (status, body) = api_error(anonymous.projects().await.expect_err("401"));
    assert_eq!((status, body.code.as_str()), (401, "unauthenticated"));
    let forged = ApiClient::new(&server.url, Some("tsr_0000".into())).expect("client");
    assert_eq!(
        api_error(forged.me().await.expect_err("401")).1.code,
        "invalid_token"
    );

    let (status, body) = api_error(alice.create_project("x", schema(1)).await.expect_err("403"));
    assert_eq!((status, body.code.as_str()), (403, "forbidden"));
    assert_eq!(
        api_error(alice.export(project, "jsonl").await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(
            alice
                .create_token("eve", Role::Admin)
                .await
                .expect_err("403")
        )
        .0,
        403
    );
    assert_eq!(
        api_error(requester.lease(project, 1, None).await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(
            requester
                .create_token("eve", Role::Admin)
                .await
                .expect_err("403")
        )
        .0,
        403
    );

    // Answers to tasks never leased to you are refused, not stored.
    let pushed = alice.push(vec![answer(1, "positive")]).await.expect("push");
    assert_eq!(pushed.results[0].status, PushStatus::Rejected);
    assert_eq!(
        pushed.results[0].error.as_ref().map(|e| e.code.as_str()),
        Some("not_leased")
    );

    // Malformed JSON gets our error body, not plain text.
    let raw = reqwest::Client::new()
        .post(format!("{}/api/answers", server.url))
        .bearer_auth(server.user(Role::Annotator, "bob").await.1)
        .header("content-type", "application/json")
        .body("{\"answers\": [")
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), 400);
    let body: tessera_api::ErrorBody = raw.json().await.expect("json error body");
    assert_eq!(body.code, "invalid_json");

    // Bad paths, bad query strings, unknown routes and wrong methods: JSON bodies too.
    let http = reqwest::Client::new();
    let admin = &server.admin_token;
    for (method, path, status, code) in [
        (
            reqwest::Method::GET,
            "/api/projects/abc/status",
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/projects/1/export?format=xml",
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/projects/1/export?colour=red",
            400,
            "bad_request",
        ),
        (reqwest::Method::GET, "/api/nothing", 404, "not_found"),
        (
            reqwest::Method::DELETE,
            "/api/projects",
            405,
            "method_not_allowed",
        ),
    ] {
        let resp = http
            .request(method.clone(), format!("{}{path}", server.url))
            .bearer_auth(admin)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), status, "{method} {path}");
        let body: tessera_api::ErrorBody = resp.json().await.expect("json error body");
        assert_eq!(body.code, code, "{method} {path}: {}", body.message);
    }
}

async fn the_latest_revision_wins_and_every_revision_is_in_the_change_feed(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 3, 3).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let task = alice.lease(project, 1, None).await.expect("lease").tasks[0].task_id;

    let first = answer(task, "positive");
    let mut second = answer(task, "negative");
    second.revision = 2;
    // Pushed out of order: the revision number, not arrival, decides.
    alice.push(vec![second.clone()]).await.expect("push");
    alice.push(vec![first.clone()]).await.expect("push");

    let record = export_records(&requester, project)
        .await
        .into_iter()
        .find(|r| r.task_id == task)
        .expect("task");
    assert_eq!(record.answers.len(), 1);
    assert_eq!(record.answers[0].labels, ["negative"]);
    assert_eq!(record.answers[0].revision, 2);
    assert_eq!(
        record.consensus.and_then(|c| c.label).as_deref(),
        Some("negative")
    );
    assert_eq!(requester.status(project).await.expect("status").answers, 1);

    // One lease and two answers, in server order, readable one page at a time.
    let page = alice.changes(0, 2).await.expect("changes");
    assert!(page.has_more);
    assert!(matches!(page.changes[0], Change::Lease { .. }));
    let rest = alice.changes(page.cursor, 10).await.expect("changes");
    assert!(!rest.has_more);
    let answer_ids: Vec<Uuid> = page
        .changes
        .iter()
        .chain(&rest.changes)
        .filter_map(|c| match c {
            Change::Answer { answer_id, .. } => Some(*answer_id),
            Change::Lease { .. } => None,
        })
        .collect();
    assert_eq!(answer_ids, [second.id, first.id]);
}

async fn concurrent_leases_never_over_assign(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (_, project) = project_with_tasks(&server, 2, 20).await;
    let mut annotators = Vec::new();
    for i in 0..12 {
        annotators.push(server.user(Role::Annotator, &format!("a{i}")).await.0);
    }
    let annotators = std::sync::Arc::new(annotators);
    let handles: Vec<_> = (0..annotators.len())
        .map(|i| {
            let annotators = std::sync::Arc::clone(&annotators);
            tokio::spawn(async move {
                annotators[i]
                    .lease(project, 10, None)
                    .await
                    .expect("lease")
                    .tasks
            })
        })
        .collect();
    let mut per_task = std::collections::HashMap::<i64, usize>::new();
    for h in handles {
        for t in h.await.expect("join") {
            *per_task.entry(t.task_id).or_default() += 1;
        }
    }
    assert!(
        per_task.values().all(|&n| n <= 2),
        "over-assigned: {per_task:?}"
    );
    // Concurrent requests may skip rows another request holds locked and get fewer tasks than
    // asked; asking again, one at a time, fills every remaining slot.
    per_task.clear();
    for a in annotators.iter() {
        for t in a.lease(project, 10, None).await.expect("lease").tasks {
            *per_task.entry(t.task_id).or_default() += 1;
        }
    }
    assert!(
        per_task.values().all(|&n| n <= 2),
        "over-assigned: {per_task:?}"
    );
    // Leasing again returns the leases held, so after two rounds: 20 tasks × overlap 2 = 40
    // slots for 120 requested are all taken, none twice.
    assert_eq!(per_task.values().sum::<usize>(), 40, "{per_task:?}");
}

async fn one_lease_answered_on_two_devices_is_reported_and_counted_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 1).await;
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let leased = annotator.lease(project, 1, None).await.expect("lease");
    let task = leased.tasks[0].task_id;
    let (laptop, phone) = (Uuid::now_v7(), Uuid::now_v7());
    let on = |device: Uuid, revision: u32, label: &str| AnswerPush {
        revision,
        device_id: Some(device),
        ..answer(task, label)
    };
    let push = |a: AnswerPush| {
        let annotator = annotator.clone();
        async move {
            let result = annotator.push(vec![a]).await.expect("push").results;
            assert_eq!(result[0].status, PushStatus::Accepted, "{result:?}");
            result[0].other_device
        }
    };
    // Both devices held the lease offline and answered it, each at revision 1.
    assert!(!push(on(laptop, 1, "positive")).await);
    assert!(
        push(on(phone, 1, "negative")).await,
        "{backend:?}: the second device's answer is reported"
    );
    // The laptop, having pulled the phone's answer, revises it: no clash.
    assert!(!push(on(laptop, 2, "neutral")).await);
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        (status.answers, status.device_conflicts),
        (1, 1),
        "{backend:?}: counted once, one clash reported"
    );
}

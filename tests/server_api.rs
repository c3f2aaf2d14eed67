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
    an_upload_is_parsed_as_it_arrives_and_refused_early,
    higher_priority_batches_are_leased_first,
    roles_are_enforced_with_json_errors,
    the_latest_revision_wins_and_every_revision_is_in_the_change_feed,
    one_lease_answered_on_two_devices_is_reported_and_counted_once,
    a_cancelled_task_is_leased_no_more_and_late_answers_are_kept_not_counted,
    an_offline_checkout_is_capped_by_the_quota_and_holds_its_overlap_slots,
    metrics_count_leases_answers_and_errors,
    adaptive_overlap_stops_on_agreement_and_sends_doubt_to_review,
    gold_is_mixed_in_never_shown_and_suspends_the_careless,
    a_refit_weighs_annotators_and_clamps_gold,
    the_annotators_view_flags_a_one_label_clicker,
    members_close_a_project_and_reviewer_members_review,
    each_task_kind_checks_its_answers_and_merges_them,
    stats_chart_answers_completion_pace_and_agreement,
    unsure_answers_go_to_review_and_skips_say_why,
    a_full_task_returns_as_soon_as_a_slot_frees,
    after_a_refit_new_answers_are_scored_by_the_fitted_model
);

use chrono::{Duration, DurationRound, Utc};
use futures_util::StreamExt;
use tessera_api::{
    AnswerPush, CancelTasksRequest, Change, LeaseRequest, ProjectRole, PushStatus, ReviewRequest,
    Role,
};
use tessera_client::ApiClient;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_server::ServerConfig;
use tessera_server::clock::Clock;
use tessera_tests::{
    Backend, SENTIMENT_SCHEMA, TestServer, answer_push, api_error, export_records, sample_jsonl,
};
use uuid::Uuid;

fn schema(overlap: u32) -> LabelSchema {
    let mut s = LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
    s.overlap = overlap;
    s
}

fn answer(task_id: i64, label: &str) -> AnswerPush {
    answer_push(task_id, &[label])
}

async fn project_with_tasks(server: &TestServer, overlap: u32, n: usize) -> (ApiClient, i64) {
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = project_with(&requester, schema(overlap), &[&sample_jsonl(n)]).await;
    (requester, project)
}

/// A project with `schema`, and each JSONL batch uploaded into it in turn.
/// A test project of `schema` holding `batches`.
async fn project_with(requester: &ApiClient, schema: LabelSchema, batches: &[&str]) -> i64 {
    tessera_tests::project_with(requester, "test project", schema, batches).await
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
    // A reply's order is shuffled (gold sits anywhere in it): compare sets of tasks.
    let mut ids: Vec<i64> = leased.tasks.iter().map(|t| t.task_id).collect();
    ids.sort_unstable();

    // Leasing again hands back the same leases rather than new ones.
    let again = alice.lease(project, 3, None).await.expect("lease again");
    let mut again_ids: Vec<i64> = again.tasks.iter().map(|t| t.task_id).collect();
    again_ids.sort_unstable();
    assert_eq!(again_ids, ids);

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

    // Bytes that are not UTF-8 name their line too.
    let mut bytes = sample_jsonl(2).into_bytes();
    bytes.extend_from_slice(b"{\"data\": {\"text\": \"caf\xe9\"}}\n");
    let (status, body) = api_error(
        requester
            .upload(project, UploadFormat::Jsonl, bytes)
            .await
            .expect_err("must fail"),
    );
    assert_eq!((status, body.line), (422, Some(3)));
    assert!(body.message.contains("UTF-8"), "{}", body.message);

    // A repeated external id across batches is refused whole too.
    let (status, body) = api_error(
        requester
            .upload(project, UploadFormat::Jsonl, sample_jsonl(2))
            .await
            .expect_err("dup"),
    );
    assert_eq!((status, body.code.as_str()), (409, "conflict"));
    assert!(body.message.contains("\"t1\""), "names the id: {body:?}");

    assert_eq!(requester.status(project).await.expect("status").tasks, 1);
}

/// A body sent as `chunk`-byte pieces.
fn streamed(body: String, chunk: usize) -> reqwest::Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(chunk)
        .map(|c| Ok(c.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces))
}

async fn an_upload_is_parsed_as_it_arrives_and_refused_early(backend: Backend) {
    // Room for the 4 MB parse piece holding the bad line below, and the chunks queued
    // behind it, before the limit trips.
    let config = ServerConfig {
        max_upload_bytes: 16 << 20,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(backend, config).await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let project = project_with(&requester, schema(3), &[]).await;

    // Streamed in odd-sized chunks that split lines and characters.
    let uploaded = requester
        .upload(
            project,
            UploadFormat::Jsonl,
            streamed(sample_jsonl(3000).replace("sample", "sämple"), 997),
        )
        .await
        .expect("streamed upload");
    assert_eq!(uploaded.tasks_added, 3000);

    // A bad second line is refused while the client is still sending: this body never ends,
    // so a server that read all of it first would never answer.
    let mut head = sample_jsonl(1).replace("t1", "late1");
    head.push_str("{\"data\": {\"text\": \"x\"}, \"predictions\": [{\"result\": \"ecstatic\"}]}\n");
    let line = "{\"data\": {\"text\": \"one more line of a body that never ends\"}}\n";
    let endless = futures_util::stream::iter([head])
        .chain(futures_util::stream::repeat(line.repeat(1000)))
        .map(Ok::<_, std::io::Error>);
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        requester.upload(
            project,
            UploadFormat::Jsonl,
            reqwest::Body::wrap_stream(endless),
        ),
    )
    .await
    .expect("answered while the body was still coming")
    .expect_err("bad line");
    let (status, body) = api_error(refused);
    assert_eq!(
        (status, body.code.as_str(), body.line),
        (422, "invalid_upload", Some(2))
    );

    // A refusal after the whole body was read keeps the connection open for the next request.
    let refused = reqwest::Client::new()
        .post(format!("{}/api/projects/{project}/batches", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body("{\"data\": 5}\n")
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.headers().get("connection"), None);

    // Over the server's upload limit: refused with 413, nothing stored.
    let big = sample_jsonl(240_000).replace(r#""id":"t"#, r#""id":"big"#);
    assert!(big.len() > 16 << 20);
    let (status, body) = api_error(
        requester
            .upload(project, UploadFormat::Jsonl, streamed(big, 64 << 10))
            .await
            .expect_err("too big"),
    );
    assert_eq!((status, body.code.as_str()), (413, "payload_too_large"));
    assert!(body.message.contains("16777216"), "{}", body.message);

    assert_eq!(requester.status(project).await.expect("status").tasks, 3000);
}

/// Sends one POST over a raw socket, writing all of `body` before reading a byte of the
/// answer (as a simple client does), and returns the answer, or the error a write met.
async fn raw_post(
    url: &str,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: tessera\r\nauthorization: Bearer {token}\r\n\
         content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    for piece in body.chunks(256 << 10) {
        socket.write_all(piece).await?;
    }
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// A refusal that comes while the body is still arriving reaches a client that sends its
/// whole body before it reads, on any route: the server reads (and discards) the rest instead
/// of resetting the connection under the client's writes, which can also destroy the refusal
/// unread.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_refusal_reaches_a_client_still_sending() {
    let server = TestServer::start().await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let project = project_with(&requester, schema(3), &[]).await;
    let path = format!("/api/projects/{project}/batches");
    // Line 1 is bad and the body is four times the server's 4 MB parse piece.
    let mut body = b"{\"data\": 5}\n".to_vec();
    body.extend(b"{\"data\": {\"text\": \"more\"}}\n".repeat(600_000));

    let ndjson = "application/x-ndjson";
    let answer = raw_post(&server.url, &path, &token, ndjson, &body)
        .await
        .expect("every byte written, the answer read");
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(answer.contains("\"line\":1"), "{answer}");
    // Answered before the body was read, the connection closes. On a loaded machine the
    // parser's read-ahead may take the whole body before line 1's verdict: then the
    // connection may stay open, and the server's byte count says it read every byte.
    if !answer.contains("connection: close") {
        let metrics = reqwest::get(format!("{}/metrics", server.url))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics");
        let read: usize = metrics
            .lines()
            .find_map(|l| l.strip_prefix("tessera_upload_bytes_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the upload byte count");
        assert_eq!(
            read,
            body.len(),
            "kept alive with unread body bytes: {answer}"
        );
    }

    // Refused before the handler reads any of it: an unknown token.
    let answer = raw_post(&server.url, &path, "not-a-token", ndjson, &body)
        .await
        .expect("every byte written, the answer read");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(requester.status(project).await.expect("status").tasks, 0);

    // Any route: a page of answers over the 16 MiB JSON limit.
    let (_, annotator) = server.user(Role::Annotator, "alice").await;
    let mut page = b"[".to_vec();
    page.extend(b"{\"padding\": \"0123456789abcdef\"},".repeat(800_000));
    page.extend(b"{}]");
    assert!(page.len() > 16 << 20);
    let answer = raw_post(
        &server.url,
        "/api/answers",
        &annotator,
        "application/json",
        &page,
    )
    .await
    .expect("every byte written, the answer read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
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
    let task = export_records(&requester, project).await[0].task_id;
    let pushed = alice
        .push(vec![answer(task, "positive")])
        .await
        .expect("push");
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
            Change::Lease { .. } | Change::Cancel { .. } => None,
        })
        .collect();
    assert_eq!(answer_ids, [second.id, first.id]);
}

/// A JSONL batch of tasks whose ids and texts are `names`.
fn named_tasks(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{{\"id\": \"{n}\", \"data\": {{\"text\": \"{n}\"}}}}\n"))
        .collect()
}

/// The texts of a lease's tasks, sorted: a reply's own order is shuffled (so that where gold
/// sits in it says nothing), what the queue decides is which tasks come.
fn texts(leased: &tessera_api::LeaseResponse) -> Vec<&str> {
    let mut texts: Vec<&str> = leased
        .tasks
        .iter()
        .map(|t| t.data["text"].as_str().expect("text"))
        .collect();
    texts.sort_unstable();
    texts
}

async fn higher_priority_batches_are_leased_first(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = project_with(&requester, schema(2), &[]).await;
    let upload = |names: &'static [&'static str], priority| {
        let requester = requester.clone();
        async move {
            requester
                .upload_with_priority(project, UploadFormat::Jsonl, priority, named_tasks(names))
                .await
                .expect("upload")
                .batch_id
        }
    };
    let a = upload(&["a1", "a2", "a3"], 0).await;
    let b = upload(&["b1", "b2"], 5).await;
    let c = upload(&["c1"], -1).await;

    // The later, higher-priority batch comes first; the negative one last (each lease
    // returns what is held, topped up from the queue).
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let leased = alice.lease(project, 2, None).await.expect("lease");
    assert_eq!(texts(&leased), ["b1", "b2"]);
    let leased = alice.lease(project, 5, None).await.expect("lease");
    assert_eq!(texts(&leased), ["a1", "a2", "a3", "b1", "b2"]);
    let leased = alice.lease(project, 6, None).await.expect("lease");
    assert_eq!(texts(&leased), ["a1", "a2", "a3", "b1", "b2", "c1"]);

    // Raised above the others, batch a is served first from now on.
    let raised = requester
        .set_batch_priority(project, a, 10)
        .await
        .expect("set priority");
    assert_eq!((raised.id, raised.task_count, raised.priority), (a, 3, 10));
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let leased = bob.lease(project, 3, None).await.expect("lease");
    assert_eq!(texts(&leased), ["a1", "a2", "a3"]);
    let leased = bob.lease(project, 4, None).await.expect("lease");
    assert_eq!(texts(&leased), ["a1", "a2", "a3", "b1"]);

    let listed: Vec<(i64, i64, i32)> = requester
        .batches(project)
        .await
        .expect("batches")
        .iter()
        .map(|b| (b.id, b.task_count, b.priority))
        .collect();
    assert_eq!(listed, [(a, 3, 10), (b, 2, 5), (c, 1, -1)]);

    // Only the project's requesters may, and only on the project's own batches.
    let (status, body) = api_error(
        alice
            .set_batch_priority(project, b, 99)
            .await
            .expect_err("403"),
    );
    assert_eq!((status, body.code.as_str()), (403, "forbidden"));
    assert_eq!(
        api_error(alice.batches(project).await.expect_err("403")).0,
        403
    );
    let other = project_with(&requester, schema(2), &[&named_tasks(&["x"])]).await;
    let (status, body) = api_error(
        requester
            .set_batch_priority(other, b, 1)
            .await
            .expect_err("not this project's batch"),
    );
    assert_eq!((status, body.code.as_str()), (404, "not_found"));
    assert_eq!(
        requester.batches(project).await.expect("batches")[1].priority,
        5
    );
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

async fn a_cancelled_task_is_leased_no_more_and_late_answers_are_kept_not_counted(
    backend: Backend,
) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 3).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let (carol, _) = server.user(Role::Annotator, "carol").await;
    let held = alice.lease(project, 3, None).await.expect("lease").tasks;
    // In queue order, which is upload order, as the export lists them (ids tell no order, and
    // the reply's own order is shuffled).
    let ids: Vec<i64> = export_records(&requester, project)
        .await
        .iter()
        .map(|r| r.task_id)
        .collect();
    let mut held: Vec<i64> = held.iter().map(|t| t.task_id).collect();
    held.sort_unstable();
    let mut all = ids.clone();
    all.sort_unstable();
    assert_eq!(held, all);
    // Bob answers t1 before it is cancelled: that answer counts and stays the consensus.
    let bob_task = bob.lease(project, 1, None).await.expect("lease").tasks;
    assert_eq!(bob_task[0].task_id, ids[0]);
    let before = bob
        .push(vec![answer(ids[0], "positive")])
        .await
        .expect("push");
    assert!(!before.results[0].task_cancelled);

    let cancel = CancelTasksRequest {
        task_ids: vec![ids[1]],
        external_ids: vec!["t1".to_owned(), "t1".to_owned()],
    };
    let done = requester
        .cancel_tasks(project, &cancel)
        .await
        .expect("cancel");
    assert_eq!((done.cancelled, done.already_cancelled), (2, 0));
    let again = requester
        .cancel_tasks(project, &cancel)
        .await
        .expect("cancel twice");
    assert_eq!((again.cancelled, again.already_cancelled), (0, 2));

    // Nobody gets a cancelled task again, not even its holder.
    let carol_tasks = carol.lease(project, 3, None).await.expect("lease").tasks;
    assert_eq!(
        carol_tasks.iter().map(|t| t.task_id).collect::<Vec<_>>(),
        [ids[2]]
    );
    let alice_again = alice.lease(project, 3, None).await.expect("lease").tasks;
    assert_eq!(
        alice_again.iter().map(|t| t.task_id).collect::<Vec<_>>(),
        [ids[2]]
    );
    // Holders hear of it in their change feed; Bob, who answered t1, does not hold it.
    let cancelled_in_feed = |page: tessera_api::ChangesPage| -> Vec<i64> {
        page.changes
            .iter()
            .filter_map(|c| match c {
                Change::Cancel { task_id, .. } => Some(*task_id),
                _ => None,
            })
            .collect()
    };
    let mut alice_heard = cancelled_in_feed(alice.changes(0, 100).await.expect("changes"));
    alice_heard.sort_unstable();
    let mut cancelled = [ids[0], ids[1]];
    cancelled.sort_unstable();
    assert_eq!(alice_heard, cancelled);
    assert!(
        cancelled_in_feed(bob.changes(0, 100).await.expect("changes")).is_empty(),
        "Bob answered his task before it was cancelled"
    );

    // Alice was offline: her answers arrive after the cancel. Stored and reported, not counted.
    let late = alice
        .push(vec![
            answer(ids[0], "negative"),
            answer(ids[1], "neutral"),
            answer(ids[2], "neutral"),
        ])
        .await
        .expect("push");
    let flags: Vec<(PushStatus, bool)> = late
        .results
        .iter()
        .map(|r| (r.status, r.task_cancelled))
        .collect();
    assert_eq!(
        flags,
        [
            (PushStatus::Accepted, true),
            (PushStatus::Accepted, true),
            (PushStatus::Accepted, false)
        ]
    );
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        (status.cancelled, status.uncounted_answers, status.answers),
        (2, 2, 2)
    );
    let records = export_records(&requester, project).await;
    let t1 = records.iter().find(|r| r.task_id == ids[0]).expect("t1");
    assert!(t1.cancelled_at.is_some());
    assert_eq!(
        t1.consensus.as_ref().and_then(|c| c.label.as_deref()),
        Some("positive")
    );
    assert_eq!(t1.answers.len(), 1);
    assert_eq!(t1.uncounted_answers.len(), 1);
    assert_eq!(t1.uncounted_answers[0].annotator, "alice");
    assert_eq!(t1.uncounted_answers[0].labels, ["negative"]);
    let t2 = records.iter().find(|r| r.task_id == ids[1]).expect("t2");
    assert!(t2.consensus.is_none() && t2.answers.is_empty());
    let t3 = records.iter().find(|r| r.task_id == ids[2]).expect("t3");
    assert!(t3.cancelled_at.is_none() && t3.uncounted_answers.is_empty());
    assert_eq!(t3.answers.len(), 1);

    let csv = requester
        .export(project, "csv")
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    let header = csv.lines().next().expect("header");
    assert!(
        header.ends_with(",cancelled_at,uncounted_answers,needs_review,review,reviewer,gold"),
        "{header}"
    );
    let t1_row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{},t1,", ids[0])))
        .expect("t1 row");
    assert!(
        // Only Alice's uncounted answer names her; Bob's counted one is in `answers`.
        t1_row.contains("alice") && t1_row.contains("bob"),
        "{t1_row}"
    );

    // Unknown ids fail the whole request and cancel nothing; annotators may not cancel.
    let unknown = CancelTasksRequest {
        task_ids: vec![ids[2]],
        external_ids: vec!["no-such-task".to_owned()],
    };
    let (code, body) = api_error(
        requester
            .cancel_tasks(project, &unknown)
            .await
            .expect_err("404"),
    );
    assert_eq!((code, body.code.as_str()), (404, "not_found"));
    assert!(body.message.contains("no-such-task"), "{}", body.message);
    assert_eq!(
        requester.status(project).await.expect("status").cancelled,
        2
    );
    let (code, _) = api_error(alice.cancel_tasks(project, &cancel).await.expect_err("403"));
    assert_eq!(code, 403);
    let empty = CancelTasksRequest::default();
    let (code, _) = api_error(
        requester
            .cancel_tasks(project, &empty)
            .await
            .expect_err("400"),
    );
    assert_eq!(code, 400);
}

async fn an_offline_checkout_is_capped_by_the_quota_and_holds_its_overlap_slots(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(1);
    schema.offline_quota = 3;
    let project = project_with(&requester, schema, &[&sample_jsonl(5)]).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let offline = |limit| LeaseRequest {
        limit,
        ttl_seconds: None,
        offline: true,
    };

    let now = server.clock.now();
    let taken = alice
        .lease_with(project, &offline(10))
        .await
        .expect("checkout")
        .tasks;
    assert_eq!(taken.len(), 3, "capped by the offline quota");
    let mut offline_ids: Vec<i64> = taken.iter().map(|t| t.task_id).collect();
    offline_ids.sort_unstable();
    assert!(
        taken
            .iter()
            .all(|t| t.expires_at >= now + Duration::days(2)),
        "a long lease"
    );
    // Asking again hands out the same tasks: the quota caps what is held, not each request.
    let again = alice
        .lease_with(project, &offline(10))
        .await
        .expect("checkout")
        .tasks;
    let mut again_ids: Vec<i64> = again.iter().map(|t| t.task_id).collect();
    again_ids.sort_unstable();
    assert_eq!(again_ids, offline_ids);
    // An online lease afterwards neither shortens the offline leases nor adds to them.
    let online = alice
        .lease(project, 4, Some(60))
        .await
        .expect("lease")
        .tasks;
    assert_eq!(online.len(), 4);
    assert!(
        online
            .iter()
            .filter(|t| offline_ids.contains(&t.task_id))
            .all(|t| t.expires_at >= now + Duration::days(2))
    );
    // With overlap 1 the checked-out tasks are nobody else's while Alice is away.
    let bob_tasks = bob.lease(project, 10, None).await.expect("lease").tasks;
    assert_eq!(bob_tasks.len(), 1);
    assert!(!offline_ids.contains(&bob_tasks[0].task_id));

    // Once the offline leases run out, the tasks go back to the pool; Alice's late answer still counts.
    server.clock.advance(Duration::days(4));
    let bob_tasks = bob.lease(project, 10, None).await.expect("lease").tasks;
    assert_eq!(
        bob_tasks.len(),
        5,
        "every lease ran out, the offline ones too"
    );
    let late = alice
        .push(vec![answer(offline_ids[0], "positive")])
        .await
        .expect("push");
    assert_eq!(late.results[0].status, PushStatus::Accepted);
    assert_eq!(requester.status(project).await.expect("status").answers, 1);
}

async fn metrics_count_leases_answers_and_errors(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 4).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let leased = alice.lease(project, 3, None).await.expect("lease").tasks;
    let first = answer(leased[0].task_id, "positive");
    alice.push(vec![first.clone()]).await.expect("push");
    alice
        .push(vec![first, answer(leased[1].task_id, "banana")])
        .await
        .expect("push again");
    api_error(requester.lease(project, 1, None).await.expect_err("403"));

    let response = reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("body");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
            .parse()
            .expect("a number")
    };
    assert_eq!(value("tessera_tasks_uploaded_total"), 4.0);
    assert_eq!(
        value("tessera_upload_bytes_total"),
        sample_jsonl(4).len() as f64
    );
    assert_eq!(value("tessera_upload_duration_seconds_count"), 1.0);
    assert_eq!(value("tessera_tasks_leased_total"), 3.0);
    assert_eq!(value("tessera_answers_total{status=\"accepted\"}"), 1.0);
    assert_eq!(value("tessera_answers_total{status=\"duplicate\"}"), 1.0);
    assert_eq!(value("tessera_answers_total{status=\"rejected\"}"), 1.0);
    assert_eq!(value("tessera_lease_duration_seconds_count"), 1.0);
    assert_eq!(value("tessera_push_duration_seconds_count"), 2.0);
    assert_eq!(
        value("tessera_push_duration_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert!(value("tessera_http_errors_total{class=\"4xx\"}") >= 1.0);
    assert_eq!(value("tessera_http_errors_total{class=\"5xx\"}"), 0.0);
}

async fn adaptive_overlap_stops_on_agreement_and_sends_doubt_to_review(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(4);
    schema.min_overlap = Some(2);
    schema.confidence_target = Some(0.75);
    let project = project_with(&requester, schema, &[&sample_jsonl(2)]).await;
    let mut people = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        people.push(server.user(Role::Annotator, name).await.0);
    }
    let lease = |who: usize| {
        let client = people[who].clone();
        async move {
            let tasks = client.lease(project, 10, None).await.expect("lease").tasks;
            let mut ids = tasks.iter().map(|t| t.task_id).collect::<Vec<i64>>();
            ids.sort_unstable(); // a reply's own order is shuffled
            ids
        }
    };
    // Two annotators first, on both tasks; a third finds nothing yet.
    let both = lease(0).await;
    assert_eq!(both.len(), 2);
    assert_eq!(lease(1).await, both);
    assert!(
        lease(2).await.is_empty(),
        "only min_overlap annotators at first"
    );
    let (t1, t2) = (both[0], both[1]);
    people[0]
        .push(vec![answer(t1, "positive"), answer(t2, "positive")])
        .await
        .expect("push");
    people[1]
        .push(vec![answer(t1, "positive"), answer(t2, "negative")])
        .await
        .expect("push");
    // t1: two agree, done at two answers. t2: a split, one more annotator at a time.
    assert_eq!(lease(2).await, [t2]);
    assert!(lease(3).await.is_empty(), "one more at a time");
    people[2]
        .push(vec![answer(t2, "negative")])
        .await
        .expect("push");
    assert_eq!(lease(3).await, [t2], "2 of 3 is still below 0.75");
    people[3]
        .push(vec![answer(t2, "positive")])
        .await
        .expect("push");
    assert!(lease(4).await.is_empty(), "the maximum overlap is reached");
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        (status.complete, status.answers, status.needs_review),
        (2, 6, 1)
    );

    // The review queue shows every answer and the consensus; the verdict is the final label.
    let queue = requester.review_queue(project, 10).await.expect("queue");
    assert_eq!(queue.iter().map(|r| r.task_id).collect::<Vec<_>>(), [t2]);
    assert_eq!(queue[0].answers.len(), 4);
    assert!(queue[0].needs_review && queue[0].review.is_none());
    let verdict = ReviewRequest {
        task_id: t2,
        labels: vec!["neutral".to_owned()],
    };
    requester.review(project, &verdict).await.expect("review");
    assert!(
        requester
            .review_queue(project, 10)
            .await
            .expect("queue")
            .is_empty()
    );
    let status = requester.status(project).await.expect("status");
    assert_eq!((status.needs_review, status.reviewed), (0, 1));
    let records = export_records(&requester, project).await;
    let reviewed = records.iter().find(|r| r.task_id == t2).expect("t2");
    let review = reviewed.review.as_ref().expect("the verdict is exported");
    assert_eq!(
        (review.labels.as_slice(), review.reviewer.as_str()),
        (&["neutral".to_owned()][..], "rita")
    );
    assert!(
        reviewed.consensus.is_some(),
        "the crowd consensus is kept beside it"
    );
    let agreed = records.iter().find(|r| r.task_id == t1).expect("t1");
    assert!(agreed.complete && !agreed.needs_review && agreed.review.is_none());
    assert_eq!(agreed.answers.len(), 2);

    // Verdicts must fit the schema and name a task of the project; annotators may not review.
    let bad = ReviewRequest {
        task_id: t1,
        labels: vec!["banana".to_owned()],
    };
    assert_eq!(
        api_error(requester.review(project, &bad).await.expect_err("400")).0,
        400
    );
    let unknown = ReviewRequest {
        task_id: 999_999,
        labels: vec!["neutral".to_owned()],
    };
    assert_eq!(
        api_error(requester.review(project, &unknown).await.expect_err("404")).0,
        404
    );
    assert_eq!(
        api_error(people[0].review(project, &verdict).await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(people[0].review_queue(project, 5).await.expect_err("403")).0,
        403
    );
}

async fn gold_is_mixed_in_never_shown_and_suspends_the_careless(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(1);
    schema.gold_rate = 1.0;
    schema.suspend_below = Some(0.5);
    schema.gold_min_answers = 2;
    // Two gold tasks (no prediction, so nothing hints at the answer) and four ordinary ones.
    let gold = concat!(
        r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}"#,
        "\n",
        r#"{"id":"g2","data":{"text":"I hate it"},"gold":["negative"]}"#,
        "\n",
    );
    let project = project_with(&requester, schema, &[gold, &sample_jsonl(4)]).await;
    let bad_gold = r#"{"id":"g3","data":{"text":"x"},"gold":"banana"}"#;
    let (code, body) = api_error(
        requester
            .upload(project, UploadFormat::Jsonl, bad_gold)
            .await
            .expect_err("422"),
    );
    assert_eq!((code, body.line), (422, Some(1)));
    assert!(body.message.contains("gold"), "{}", body.message);

    let (careless, careless_token) = server.user(Role::Annotator, "carl").await;
    let (careful, _) = server.user(Role::Annotator, "cora").await;
    // At rate 1 every slot is gold while gold lasts: both gold tasks, then ordinary ones.
    let raw = reqwest::Client::new()
        .post(format!("{}/api/projects/{project}/leases", server.url))
        .bearer_auth(&careless_token)
        .json(&serde_json::json!({"limit": 3}))
        .send()
        .await
        .expect("lease")
        .text()
        .await
        .expect("body");
    assert!(!raw.contains("\"gold\":"), "{raw}");
    let leased: tessera_api::LeaseResponse = serde_json::from_str(&raw).expect("lease response");
    assert_eq!(leased.tasks.len(), 3);
    let texts: Vec<&str> = leased
        .tasks
        .iter()
        .filter_map(|t| t.data["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"I love it") && texts.contains(&"I hate it"),
        "{texts:?}"
    );
    let id_of = |text: &str| {
        leased
            .tasks
            .iter()
            .find(|t| t.data["text"] == text)
            .map(|t| t.task_id)
            .expect("task")
    };
    let (g1, g2) = (id_of("I love it"), id_of("I hate it"));
    for task in leased
        .tasks
        .iter()
        .filter(|t| [g1, g2].contains(&t.task_id))
    {
        assert!(
            task.prediction.is_none() && task.data.len() == 1,
            "{task:?}"
        );
    }
    // Gold tasks go to everyone, whatever the overlap (1 here).
    let cora_tasks = careful.lease(project, 2, None).await.expect("lease").tasks;
    assert!(
        cora_tasks.iter().any(|t| t.task_id == g1) && cora_tasks.iter().any(|t| t.task_id == g2)
    );

    careless
        .push(vec![answer(g1, "negative"), answer(g2, "positive")])
        .await
        .expect("push");
    careful
        .push(vec![answer(g1, "positive"), answer(g2, "negative")])
        .await
        .expect("push");
    let (code, body) = api_error(
        careless
            .lease(project, 1, None)
            .await
            .expect_err("suspended"),
    );
    assert_eq!((code, body.code.as_str()), (403, "suspended"));
    assert!(
        !careful
            .lease(project, 1, None)
            .await
            .expect("lease")
            .tasks
            .is_empty()
    );

    let skills = requester.annotators(project).await.expect("annotators");
    let of = |name: &str| {
        skills
            .iter()
            .find(|s| s.annotator == name)
            .expect("annotator")
            .clone()
    };
    let (carl, cora) = (of("carl"), of("cora"));
    assert_eq!(
        (carl.gold_answers, carl.gold_correct, carl.suspended),
        (2, 0, true)
    );
    assert_eq!(
        (cora.gold_answers, cora.gold_correct, cora.suspended),
        (2, 2, false)
    );
    assert_eq!(cora.gold_accuracy, Some(1.0));
    // The requester sees the gold answers in the export; annotators may not list skills.
    let records = export_records(&requester, project).await;
    let g1_record = records.iter().find(|r| r.task_id == g1).expect("g1");
    assert_eq!(
        g1_record.gold.as_deref(),
        Some(&["positive".to_owned()][..])
    );
    assert_eq!(
        api_error(careful.annotators(project).await.expect_err("403")).0,
        403
    );
}

async fn a_refit_weighs_annotators_and_clamps_gold(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(3);
    schema.gold_rate = 1.0;
    let gold = r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}"#;
    let project = project_with(&requester, schema, &[gold, &sample_jsonl(3)]).await;
    for (name, split) in [("a", "negative"), ("b", "negative"), ("c", "positive")] {
        let (annotator, _) = server.user(Role::Annotator, name).await;
        let tasks = annotator
            .lease(project, 4, None)
            .await
            .expect("lease")
            .tasks;
        assert_eq!(tasks.len(), 4);
        let pushes = tasks
            .iter()
            .map(|t| {
                let label = match t.data["text"].as_str() {
                    Some("I love it") => "negative", // everyone is wrong on the gold task
                    Some("sample sentence number 1") => "positive",
                    Some("sample sentence number 2") => "neutral",
                    _ => split,
                };
                answer(t.task_id, label)
            })
            .collect();
        annotator.push(pushes).await.expect("push");
    }
    let before = export_records(&requester, project).await;
    let majority = |records: &[tessera_api::ExportRecord], text: &str| {
        records
            .iter()
            .find(|r| r.data["text"] == text)
            .and_then(|r| r.consensus.clone())
            .expect("consensus")
    };
    assert_eq!(
        majority(&before, "I love it").label.as_deref(),
        Some("negative")
    );

    let status = requester.status(project).await.expect("status");
    assert_eq!(
        status.consensus_by_method.get("majority_vote"),
        Some(&4),
        "{status:?}"
    );
    let done = requester.refit(project).await.expect("refit");
    assert_eq!((done.tasks, done.method.as_str()), (4, "auto"));
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        status.consensus_by_method.into_iter().collect::<Vec<_>>(),
        [("auto".to_owned(), 4)],
        "the requester sees which method made each consensus"
    );
    let after = export_records(&requester, project).await;
    let gold_task = majority(&after, "I love it");
    assert_eq!(
        (gold_task.label.as_deref(), gold_task.method.as_str()),
        (Some("positive"), "auto")
    );
    assert_eq!(
        majority(&after, "sample sentence number 1")
            .label
            .as_deref(),
        Some("positive")
    );
    assert_eq!(
        majority(&after, "sample sentence number 2")
            .label
            .as_deref(),
        Some("neutral")
    );
    for record in &after {
        let c = record
            .consensus
            .as_ref()
            .expect("every answered task has a consensus");
        assert!(c.confidence > 0.0 && c.confidence <= 1.0, "{c:?}");
    }

    // Several labels per answer cannot be re-fitted; annotators may not ask.
    let mut multi = LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
    multi.multiple = true;
    let other = requester
        .create_project("multi", multi)
        .await
        .expect("project")
        .id;
    assert_eq!(
        api_error(requester.refit(other).await.expect_err("409")).0,
        409
    );
    let (annotator, _) = server.user(Role::Annotator, "d").await;
    assert_eq!(
        api_error(annotator.refit(project).await.expect_err("403")).0,
        403
    );
}

async fn the_annotators_view_flags_a_one_label_clicker(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 25).await;
    let labels = ["positive", "negative", "neutral"];
    let start = Utc::now() - Duration::hours(1);
    for (name, varied) in [("xena", false), ("yuri", true)] {
        let (annotator, _) = server.user(Role::Annotator, name).await;
        let tasks = annotator
            .lease(project, 25, None)
            .await
            .expect("lease")
            .tasks;
        assert_eq!(tasks.len(), 25);
        let pushes = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let label = if varied { labels[i % 3] } else { "positive" };
                let mut a = answer(t.task_id, label);
                a.answered_at = start + Duration::seconds(20 * i as i64);
                a
            })
            .collect();
        annotator.push(pushes).await.expect("push");
    }
    let skills = requester.annotators(project).await.expect("annotators");
    let of = |name: &str| {
        skills
            .iter()
            .find(|s| s.annotator == name)
            .expect("annotator")
            .clone()
    };
    let (xena, yuri) = (of("xena"), of("yuri"));
    assert_eq!(xena.flags, ["one_label"]);
    assert_eq!(xena.top_label_share, Some(1.0));
    assert!(yuri.flags.is_empty(), "{yuri:?}");
    assert_eq!((xena.median_seconds, xena.answers), (Some(20.0), 25));
}

/// The OpenAPI document is generated from the handlers: every endpoint the router serves is
/// in it with its method, and the wire types are in its components.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_endpoint() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/api/openapi.json", server.url))
        .await
        .expect("GET /api/openapi.json");
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.expect("JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let endpoints = [
        ("get", "/api/health"),
        ("get", "/api/me"),
        ("post", "/api/tokens"),
        ("get", "/api/tokens"),
        ("delete", "/api/tokens/{user_id}"),
        ("get", "/api/projects"),
        ("post", "/api/projects"),
        ("get", "/api/projects/{id}"),
        ("post", "/api/projects/{id}/batches"),
        ("get", "/api/projects/{id}/batches"),
        ("post", "/api/projects/{id}/answers/import"),
        ("patch", "/api/projects/{id}/batches/{batch_id}"),
        ("post", "/api/projects/{id}/leases"),
        ("post", "/api/projects/{id}/tasks/cancel"),
        ("get", "/api/projects/{id}/status"),
        ("get", "/api/projects/{id}/review"),
        ("post", "/api/projects/{id}/review"),
        ("post", "/api/projects/{id}/consensus/refit"),
        ("get", "/api/projects/{id}/annotators"),
        ("get", "/api/projects/{id}/stats"),
        ("get", "/api/projects/{id}/export"),
        ("post", "/api/answers"),
        ("get", "/api/changes"),
        ("get", "/metrics"),
        ("get", "/api/projects/{id}/members"),
        ("post", "/api/projects/{id}/members"),
        ("post", "/api/projects/{id}/invites"),
        ("delete", "/api/projects/{id}/members/{user_id}"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in endpoints {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        documented,
        endpoints.len(),
        "an endpoint is documented but not listed here"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ErrorBody",
        "LeaseRequest",
        "LeasedTask",
        "AnswerPush",
        "ExportRecord",
        "LabelSchema",
        "Change",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // Annotator-facing task shape carries no gold.
    assert!(schemas["LeasedTask"]["properties"].get("gold").is_none());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Who may call what: every endpoint × no token, annotator, requester and admin. Allowed
/// calls never answer 401/403; forbidden ones answer 403 with the JSON code `forbidden`;
/// without a token, 401 `unauthenticated`. And what annotators may read never carries a gold
/// answer or another annotator's answer.
#[tokio::test(flavor = "multi_thread")]
async fn the_role_endpoint_matrix_holds_and_annotators_see_no_gold_or_others_answers() {
    let server = TestServer::start().await;
    let (requester, requester_token) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(2);
    schema.gold_rate = 0.5;
    let gold = r#"{"id":"g1","data":{"text":"a gold sentence"},"gold":"neutral"}"#;
    let project = project_with(&requester, schema.clone(), &[gold, &sample_jsonl(6)]).await;
    let (ann, ann_token) = server.user(Role::Annotator, "ann").await;
    let (zed, _) = server.user(Role::Annotator, "zed").await;
    // Zed answers everything he holds; his answers must never reach Ann.
    let zed_tasks = zed.lease(project, 7, None).await.expect("lease").tasks;
    let zed_answers: Vec<AnswerPush> = zed_tasks
        .iter()
        .map(|t| answer(t.task_id, "negative"))
        .collect();
    let zed_ids: Vec<String> = zed_answers.iter().map(|a| a.id.to_string()).collect();
    zed.push(zed_answers).await.expect("push");
    let task = ann.lease(project, 7, None).await.expect("lease").tasks[0].task_id;
    let admin_token = server.admin_token.clone();
    // Another requester runs a project of her own and none of Rita's.
    let (other, other_token) = server.user(Role::Requester, "olga").await;
    let hers = project_with(&other, schema, &[&sample_jsonl(1)]).await;

    let p = format!("/api/projects/{project}");
    let batch = requester.batches(project).await.expect("batches")[0].id;
    let push = serde_json::json!({"answers": [{
        "id": Uuid::now_v7(), "task_id": task, "revision": 1, "labels": ["positive"],
        "answered_at": Utc::now()
    }]});
    let endpoints: Vec<(&str, String, Option<serde_json::Value>, &[Role])> = vec![
        (
            "GET",
            "/api/me".into(),
            None,
            &[Role::Annotator, Role::Requester],
        ),
        (
            "POST",
            "/api/tokens".into(),
            Some(serde_json::json!({"name": "n", "role": "annotator"})),
            &[],
        ),
        (
            "GET",
            "/api/projects".into(),
            None,
            &[Role::Annotator, Role::Requester],
        ),
        (
            "POST",
            "/api/projects".into(),
            Some(
                serde_json::json!({"name": "x", "schema": {"kind": "classification", "labels": ["a", "b"]}}),
            ),
            &[Role::Requester],
        ),
        ("GET", p.clone(), None, &[Role::Annotator, Role::Requester]),
        (
            "POST",
            format!("{p}/leases"),
            Some(serde_json::json!({"limit": 1})),
            &[Role::Annotator],
        ),
        (
            "POST",
            format!("{p}/tasks/cancel"),
            Some(serde_json::json!({"external_ids": ["t6"]})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/status"), None, &[Role::Requester]),
        ("GET", format!("{p}/batches"), None, &[Role::Requester]),
        (
            "POST",
            format!("{p}/answers/import"),
            Some(serde_json::json!("task,worker,label")),
            &[Role::Requester],
        ),
        (
            "PATCH",
            format!("{p}/batches/{batch}"),
            Some(serde_json::json!({"priority": 1})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/review"), None, &[Role::Requester]),
        (
            "POST",
            format!("{p}/review"),
            Some(serde_json::json!({"task_id": task, "labels": ["neutral"]})),
            &[Role::Requester],
        ),
        (
            "POST",
            format!("{p}/consensus/refit"),
            Some(serde_json::json!({})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/annotators"), None, &[Role::Requester]),
        ("GET", format!("{p}/stats"), None, &[Role::Requester]),
        ("GET", format!("{p}/members"), None, &[Role::Requester]),
        ("GET", format!("{p}/export"), None, &[Role::Requester]),
        (
            "POST",
            "/api/answers".into(),
            Some(push),
            &[Role::Annotator],
        ),
        ("GET", "/api/changes".into(), None, &[Role::Annotator]),
    ];
    let http = reqwest::Client::new();
    let callers = [
        (None, None, false),
        (Some(Role::Annotator), Some(ann_token.as_str()), false),
        (Some(Role::Requester), Some(requester_token.as_str()), false),
        (Some(Role::Requester), Some(other_token.as_str()), true),
        (Some(Role::Admin), Some(admin_token.as_str()), false),
    ];
    for (method, path, body, allowed) in &endpoints {
        for (role, token, outsider) in callers {
            // What an annotator may do, the other requester may do too; Rita's project's
            // requester endpoints, and the project itself, are closed to her.
            let outside = outsider
                && path.starts_with(&p)
                && (!allowed.contains(&Role::Annotator) || *path == p);
            let mut request = http.request(
                method.parse().expect("method"),
                format!("{}{path}", server.url),
            );
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            let who =
                format!("{method} {path} as {role:?} (outsider: {outsider}): {status} {text}");
            if outside {
                assert_eq!(status, 403, "{who}");
                assert!(
                    text.contains(&format!("not a requester of project {project}")),
                    "{who}"
                );
                continue;
            }
            match role {
                None => {
                    assert_eq!(status, 401, "{who}");
                    assert!(text.contains("\"code\":\"unauthenticated\""), "{who}");
                }
                Some(Role::Admin) => assert!(status != 401 && status != 403, "{who}"),
                Some(r) if allowed.contains(&r) => {
                    assert!(status != 401 && status != 403, "{who}");
                    if r == Role::Annotator {
                        assert!(!text.contains("\"gold\":"), "gold leaked: {who}");
                        for id in &zed_ids {
                            assert!(
                                !text.contains(id.as_str()),
                                "another annotator's answer: {who}"
                            );
                        }
                    }
                }
                Some(_) => {
                    assert_eq!(status, 403, "{who}");
                    assert!(text.contains("\"code\":\"forbidden\""), "{who}");
                }
            }
        }
    }
    // Each requester lists the projects they run (the matrix made one more for each); the
    // annotator and the admin see every one.
    let ids =
        |projects: Vec<tessera_api::Project>| projects.iter().map(|p| p.id).collect::<Vec<_>>();
    let ritas = ids(requester.projects().await.expect("list"));
    let olgas = ids(other.projects().await.expect("list"));
    assert!(
        ritas.contains(&project) && !ritas.contains(&hers),
        "{ritas:?}"
    );
    assert!(
        olgas.contains(&hers) && !olgas.contains(&project),
        "{olgas:?}"
    );
    assert!(
        ritas.iter().all(|p| !olgas.contains(p)),
        "{ritas:?} {olgas:?}"
    );
    for everyone in [ann.projects().await, server.admin().projects().await] {
        let all = ids(everyone.expect("list"));
        assert!(
            ritas.iter().chain(&olgas).all(|p| all.contains(p)),
            "{all:?}"
        );
    }
    // A requester member added by Rita runs her project from then on; she stays open to
    // every annotator (a requester member does not close a project).
    let olga = other.me().await.expect("me").user_id;
    requester
        .add_member(project, olga, Some("olga"), ProjectRole::Requester)
        .await
        .expect("add a requester");
    other
        .status(project)
        .await
        .expect("Olga now runs Rita's project");
    assert!(ids(other.projects().await.expect("list")).contains(&project));
    let (newcomer, _) = server.user(Role::Annotator, "nia").await;
    newcomer
        .lease(project, 1, None)
        .await
        .expect("a requester member leaves the project open to every annotator");
}

async fn members_close_a_project_and_reviewer_members_review(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 1, 4).await;
    let url = server.url.clone();
    let ids = |name: &str| {
        let admin = server.admin();
        let (name, url) = (name.to_owned(), url.clone());
        async move {
            let made = admin
                .create_token(&name, Role::Annotator)
                .await
                .expect("token");
            (
                ApiClient::new(&url, Some(made.token)).expect("client"),
                made.user_id,
            )
        }
    };
    let (member, member_id) = ids("mia").await;
    let (outsider, _) = ids("otto").await;
    let (reviewer, reviewer_id) = ids("rex").await;
    // Open until it has members.
    assert_eq!(
        outsider
            .lease(project, 1, None)
            .await
            .expect("open project")
            .tasks
            .len(),
        1
    );
    requester
        .add_member(project, member_id, Some("mia"), ProjectRole::Annotator)
        .await
        .expect("add");
    let members = requester
        .add_member(project, reviewer_id, Some("rex"), ProjectRole::Reviewer)
        .await
        .expect("add reviewer");
    let roles: Vec<(&str, ProjectRole)> =
        members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert_eq!(
        roles,
        [
            ("rita", ProjectRole::Requester),
            ("mia", ProjectRole::Annotator),
            ("rex", ProjectRole::Reviewer)
        ]
    );
    let (code, body) = api_error(outsider.lease(project, 1, None).await.expect_err("closed"));
    assert_eq!((code, body.code.as_str()), (403, "forbidden"));
    assert!(body.message.contains("members only"), "{}", body.message);
    let task = member
        .lease(project, 1, None)
        .await
        .expect("member leases")
        .tasks[0]
        .task_id;
    member
        .push(vec![answer(task, "positive")])
        .await
        .expect("push");

    // The reviewer member reads the review queue and gives a verdict; an annotator member may not.
    assert!(
        reviewer
            .review_queue(project, 10)
            .await
            .expect("queue")
            .is_empty()
    );
    let verdict = ReviewRequest {
        task_id: task,
        labels: vec!["negative".to_owned()],
    };
    reviewer.review(project, &verdict).await.expect("verdict");
    let record = export_records(&requester, project)
        .await
        .into_iter()
        .find(|r| r.task_id == task)
        .expect("task");
    assert_eq!(record.review.map(|r| r.reviewer), Some("rex".to_owned()));
    assert_eq!(
        api_error(member.review_queue(project, 10).await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(member.review(project, &verdict).await.expect_err("403")).0,
        403
    );
    // Only requesters manage members; unknown users are refused.
    assert_eq!(
        api_error(
            member
                .add_member(project, member_id, Some("mia"), ProjectRole::Reviewer)
                .await
                .expect_err("403")
        )
        .0,
        403
    );
    assert_eq!(
        api_error(
            requester
                .add_member(project, 987_654, Some("nobody"), ProjectRole::Annotator)
                .await
                .expect_err("404")
        )
        .0,
        404
    );
}

/// Free text and pairwise projects: uploads checked for the kind's fields, answers for the
/// kind's shape (rejected answers say why), free text merged on its normalised text, and a
/// re-fit refused where answers are not labels.
async fn each_task_kind_checks_its_answers_and_merges_them(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let (e_status, e_body) = api_error(
        requester
            .create_project(
                "labels on free text",
                serde_json::from_str(r#"{"kind":"text","labels":["a","b"]}"#).expect("parses"),
            )
            .await
            .expect_err("a text schema takes no labels"),
    );
    assert_eq!(e_status, 400);
    assert!(e_body.message.contains("no labels"), "{e_body:?}");

    let text = project_with(
        &requester,
        LabelSchema::from_json(r#"{"kind":"text","overlap":2}"#).expect("schema"),
        &["{\"data\":{\"text\":\"say cat\"}}\n{\"data\":{\"text\":\"say dog\"}}\n"],
    )
    .await;
    let pairs = requester
        .create_project(
            "pairs",
            LabelSchema::from_json(r#"{"kind":"pairwise","labels":["A","B","tie"],"overlap":1}"#)
                .expect("schema"),
        )
        .await
        .expect("project")
        .id;
    let (status, body) = api_error(
        requester
            .upload(
                pairs,
                UploadFormat::Jsonl,
                "{\"data\":{\"a\":\"x\",\"b\":\"y\"}}\n{\"data\":{\"a\":\"x\"}}\n".to_owned(),
            )
            .await
            .expect_err("the second task has no b"),
    );
    assert_eq!((status, body.line), (422, Some(2)), "{body:?}");
    requester
        .upload(
            pairs,
            UploadFormat::Jsonl,
            "{\"data\":{\"text\":\"kinder?\",\"a\":\"x\",\"b\":\"y\"}}\n".to_owned(),
        )
        .await
        .expect("upload");

    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let mine = alice.lease(text, 2, None).await.expect("lease").tasks;
    let theirs = bob.lease(text, 2, None).await.expect("lease").tasks;
    assert_eq!((mine.len(), theirs.len()), (2, 2));
    let by_text = |tasks: &[tessera_api::LeasedTask], t: &str| {
        tasks
            .iter()
            .find(|l| l.data["text"] == t)
            .expect("task")
            .task_id
    };
    let (cat, dog) = (by_text(&mine, "say cat"), by_text(&mine, "say dog"));
    let mut two_parts = answer(dog, "a");
    two_parts.labels.push("b".to_owned());
    let results = alice
        .push(vec![answer(cat, "the cat"), two_parts, answer(dog, "  ")])
        .await
        .expect("push")
        .results;
    let statuses: Vec<_> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            PushStatus::Accepted,
            PushStatus::Rejected,
            PushStatus::Rejected
        ]
    );
    let reasons: Vec<String> = results[1..]
        .iter()
        .map(|r| r.error.as_ref().expect("a reason").message.clone())
        .collect();
    assert!(reasons[0].contains("one string, got 2"), "{reasons:?}");
    assert!(reasons[1].contains("empty"), "{reasons:?}");
    bob.push(vec![answer(cat, "  the   cat\n")])
        .await
        .expect("push");
    let records = export_records(&requester, text).await;
    let record = records.iter().find(|r| r.task_id == cat).expect("cat");
    let consensus = record.consensus.as_ref().expect("consensus");
    assert_eq!(
        (consensus.label.as_deref(), consensus.confidence),
        (Some("the cat"), 1.0),
        "two spellings of one text agree"
    );
    assert!(record.complete);
    let (status, _) = api_error(requester.refit(text).await.expect_err("no labels to fit"));
    assert_eq!(status, 409);

    let leased = alice.lease(pairs, 1, None).await.expect("lease").tasks;
    assert_eq!(leased[0].data["a"], "x");
    let results = alice
        .push(vec![
            answer(leased[0].task_id, "C"),
            answer(leased[0].task_id, "tie"),
        ])
        .await
        .expect("push")
        .results;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [PushStatus::Rejected, PushStatus::Accepted]
    );

    // Spans: a list of start:end:label, possibly empty; a reversed span is rejected.
    let spans = project_with(
        &requester,
        LabelSchema::from_json(r#"{"kind":"spans","labels":["PER","ORG"],"overlap":1}"#)
            .expect("schema"),
        &["{\"data\":{\"text\":\"Ada met IBM\"}}\n{\"data\":{\"text\":\"nobody\"}}\n"],
    )
    .await;
    let leased = alice.lease(spans, 2, None).await.expect("lease").tasks;
    let by_text = |t: &str| {
        leased
            .iter()
            .find(|l| l.data["text"] == t)
            .expect("task")
            .task_id
    };
    let (ada, nobody) = (by_text("Ada met IBM"), by_text("nobody"));
    let mut marked = answer(ada, "0:3:PER");
    marked.labels.push("8:11:ORG".to_owned());
    let mut none = answer(nobody, "x");
    none.labels.clear();
    let results = alice
        .push(vec![answer(ada, "3:0:PER"), marked, none])
        .await
        .expect("push")
        .results;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [
            PushStatus::Rejected,
            PushStatus::Accepted,
            PushStatus::Accepted
        ]
    );
    let records = export_records(&requester, spans).await;
    let consensus = |id: i64| {
        records
            .iter()
            .find(|r| r.task_id == id)
            .and_then(|r| r.consensus.as_ref())
            .map(|c| c.labels.clone())
    };
    assert_eq!(
        consensus(ada),
        Some(vec!["0:3:PER".to_owned(), "8:11:ORG".to_owned()])
    );
    assert_eq!(consensus(nobody), Some(Vec::new()));
}

/// The dashboard's figures from real stored answers: per hour (the annotators' clocks),
/// completion, time per answer and agreement.
async fn stats_chart_answers_completion_pace_and_agreement(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 3).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let start = Utc::now()
        .duration_trunc(Duration::hours(1))
        .expect("an hour")
        - Duration::hours(3);
    // alice answers all three tasks in the first hour, 6 s apart; bob two of them two hours
    // later, agreeing on one.
    for (api, labels, hour) in [
        (&alice, ["positive", "negative", "neutral"].as_slice(), 0),
        (&bob, ["positive", "positive"].as_slice(), 2),
    ] {
        let leased = api.lease(project, 3, None).await.expect("lease").tasks;
        let mut ids: Vec<i64> = leased.iter().map(|t| t.task_id).collect();
        ids.sort();
        let answers = ids
            .iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (&id, label))| {
                let mut a = answer(id, label);
                a.answered_at = start + Duration::hours(hour) + Duration::seconds(6 * i as i64);
                a
            })
            .collect();
        api.push(answers).await.expect("push");
    }
    let stats = requester.stats(project).await.expect("stats");
    let counts = |v: &[tessera_api::HourCount]| v.iter().map(|h| h.count).collect::<Vec<_>>();
    assert_eq!(counts(&stats.answers_per_hour), [3, 0, 2], "{stats:?}");
    assert_eq!(stats.answers_per_hour[0].hour, start);
    assert_eq!(counts(&stats.complete_by_hour), [0, 0, 2]);
    assert_eq!(stats.median_seconds, Some(6.0));
    assert_eq!(
        stats
            .seconds_per_answer
            .iter()
            .map(|b| b.answers)
            .sum::<u64>(),
        3,
        "alice's two gaps and bob's one"
    );
    assert_eq!(stats.agreement_tasks, 2);
    assert_eq!(stats.percent_agreement, Some(0.5));
    assert!(stats.krippendorff_alpha.is_some());
    let (status, _) = api_error(alice.stats(project).await.expect_err("requesters only"));
    assert_eq!(status, 403);
}

/// The queue passes over a task while its overlap slots are all held, and takes it back the
/// moment one frees: a skip, or a lease running out; an answer keeps its slot.
async fn a_full_task_returns_as_soon_as_a_slot_frees(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 1).await;
    let mut crowd = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        crowd.push(server.user(Role::Annotator, name).await.0);
    }
    let [alice, bob, carol, dave] = &crowd[..] else {
        unreachable!()
    };
    let leased = |c: &ApiClient, ttl: Option<u32>| {
        let c = c.clone();
        async move {
            let tasks = c.lease(project, 5, ttl).await.expect("lease").tasks;
            tasks.iter().map(|t| t.task_id).collect::<Vec<_>>()
        }
    };
    let task = leased(alice, None).await;
    assert_eq!(task.len(), 1);
    assert_eq!(leased(bob, None).await, task);
    assert_eq!(leased(carol, None).await, [0i64; 0], "both slots are held");

    let mut skip = answer(task[0], "positive");
    skip.labels.clear();
    skip.skipped = true;
    bob.push(vec![skip]).await.expect("skip");
    assert_eq!(leased(carol, Some(60)).await, task, "the skip freed a slot");
    assert_eq!(leased(dave, None).await, [0i64; 0], "full again");

    alice
        .push(vec![answer(task[0], "positive")])
        .await
        .expect("answer");
    assert_eq!(
        leased(dave, None).await,
        [0i64; 0],
        "an answer keeps its slot"
    );

    server.clock.advance(Duration::seconds(61));
    assert_eq!(leased(dave, None).await, task, "carol's lease ran out");
    assert_eq!(requester.status(project).await.expect("status").leased, 1);
}

/// An answer flagged unsure sends its task to review once complete, even when the crowd
/// agrees; a skip's reason is counted in the status; flags in the wrong place are refused.
async fn unsure_answers_go_to_review_and_skips_say_why(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 2).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let mut tasks: Vec<i64> = alice
        .lease(project, 2, None)
        .await
        .expect("lease")
        .tasks
        .iter()
        .map(|t| t.task_id)
        .collect();
    tasks.sort();
    bob.lease(project, 2, None).await.expect("lease");
    let (agreed, skipped) = (tasks[0], tasks[1]);
    let mut unsure = answer(agreed, "positive");
    unsure.unsure = true;
    let mut skip = answer(skipped, "positive");
    skip.labels.clear();
    skip.skipped = true;
    skip.skip_reason = Some("unclear".to_owned());
    let mut misplaced = answer(skipped, "negative");
    misplaced.skip_reason = Some("unclear".to_owned());
    let results = alice
        .push(vec![unsure, skip, misplaced])
        .await
        .expect("push")
        .results;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [
            PushStatus::Accepted,
            PushStatus::Accepted,
            PushStatus::Rejected
        ]
    );
    bob.push(vec![
        answer(agreed, "positive"),
        answer(skipped, "negative"),
    ])
    .await
    .expect("push");

    let status = requester.status(project).await.expect("status");
    assert_eq!(status.needs_review, 1, "{status:?}");
    assert_eq!(
        status.skips_by_reason.get("unclear"),
        Some(&1),
        "{status:?}"
    );
    let queue = requester.review_queue(project, 10).await.expect("queue");
    assert_eq!(
        queue.iter().map(|r| r.task_id).collect::<Vec<_>>(),
        [agreed]
    );
    let record = &queue[0];
    assert_eq!(
        record.consensus.as_ref().map(|c| c.confidence),
        Some(1.0),
        "the crowd agreed; the flag alone sent it to review"
    );
    let flags: Vec<(String, bool)> = record
        .answers
        .iter()
        .map(|a| (a.annotator.clone(), a.unsure))
        .collect();
    assert_eq!(
        flags,
        [("alice".to_owned(), true), ("bob".to_owned(), false)]
    );
}

/// After a re-fit, each new answer updates its task through the fitted model: an annotator
/// who says one label to everything carries no weight against one with a track record,
/// where majority vote would call it a tie.
async fn after_a_refit_new_answers_are_scored_by_the_fitted_model(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let schema =
        LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"],"overlap":3}"#)
            .expect("schema");
    let tasks: String = (0..21)
        .map(|i| format!("{{\"id\":\"t{i}\",\"data\":{{\"text\":\"item {i}\"}}}}\n"))
        .collect();
    let project = project_with(&requester, schema, &[&tasks]).await;
    let mut crowd = Vec::new();
    for name in ["good1", "good2", "spammer"] {
        let (api, _) = server.user(Role::Annotator, name).await;
        let mut leased: Vec<(i64, String)> = api
            .lease(project, 21, None)
            .await
            .expect("lease")
            .tasks
            .into_iter()
            .map(|t| (t.task_id, t.data["text"].as_str().unwrap_or("").to_owned()))
            .collect();
        leased.sort();
        crowd.push((name, api, leased));
    }
    // Twenty tasks with a record: the good ones tell a from b, the spammer says "a".
    for (name, api, leased) in &crowd {
        let pushes = leased
            .iter()
            .filter(|(_, text)| text != "item 20")
            .map(|(id, text)| {
                let n: usize = text.trim_start_matches("item ").parse().expect("number");
                let label = if *name == "spammer" || n.is_multiple_of(2) {
                    "a"
                } else {
                    "b"
                };
                answer(*id, label)
            })
            .collect();
        api.push(pushes).await.expect("push");
    }
    let last = crowd[0]
        .2
        .iter()
        .find(|(_, t)| t == "item 20")
        .expect("task")
        .0;
    requester.refit(project).await.expect("refit");

    // The new task: the spammer says "a", good1 says "b".
    crowd[2]
        .1
        .push(vec![answer(last, "a")])
        .await
        .expect("push");
    crowd[0]
        .1
        .push(vec![answer(last, "b")])
        .await
        .expect("push");
    let records = export_records(&requester, project).await;
    let consensus = records
        .iter()
        .find(|r| r.task_id == last)
        .and_then(|r| r.consensus.clone())
        .expect("consensus");
    assert_eq!(
        (consensus.label.as_deref(), consensus.method.as_str()),
        (Some("b"), "dawid_skene_incremental"),
        "{consensus:?}"
    );
    assert!(consensus.confidence > 0.8, "{consensus:?}");
}

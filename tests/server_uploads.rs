//! Uploads over a real socket: what a batch stores, how a bad one is refused (early, naming
//! its line), batch priority and cancelling tasks, on both storage backends.

on_both_backends!(
    upload_lease_push_status_export,
    a_bad_upload_names_the_line_and_stores_nothing,
    an_upload_is_parsed_as_it_arrives_and_refused_early,
    higher_priority_batches_are_leased_first,
    a_cancelled_task_is_leased_no_more_and_late_answers_are_kept_not_counted,
);

use futures_util::StreamExt;
use tessera_api::{AnswerPush, CancelTasksRequest, Change, PushStatus, Role};
use tessera_core::UploadFormat;
use tessera_server::ServerConfig;
use tessera_tests::on_both_backends;
use tessera_tests::scenario::{answer, project_with, project_with_tasks, schema};
use tessera_tests::{Backend, TestServer, api_error, export_records, sample_jsonl};

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

//! Inputs one user could send to break things for others, each refused with its reason and
//! nothing else harmed: an answer id reused for other content, the nil id, device times
//! far outside any real clock, a CSV column named `Gold`. Run on both stores.

use serde_json::{Value, json};
use tessera_api::{PushStatus, Role};
use tessera_core::UploadFormat;
use tessera_tests::{Backend, TestServer, answer_push, sentiment_project};

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_answer_id_with_other_content_is_refused_never_dropped_as_a_duplicate() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = sentiment_project(&requester, "ids", 3).await;
        let (ann, _) = server.user(Role::Annotator, "ann").await;
        let tasks = ann.lease(project, 3, None).await.expect("lease").tasks;
        let first = answer_push(tasks[0].task_id, &["positive"]);
        let reply = ann.push(vec![first.clone()]).await.expect("push");
        assert_eq!(reply.results[0].status, PushStatus::Accepted);

        // The same answer again is a retry: a duplicate, harmless.
        let again = ann.push(vec![first.clone()]).await.expect("push");
        assert_eq!(again.results[0].status, PushStatus::Duplicate);

        // The same id with other labels, or on another task: refused with its own code.
        let mut relabelled = first.clone();
        relabelled.labels = vec!["negative".into()];
        let mut moved = first.clone();
        moved.task_id = tasks[1].task_id;
        let reply = ann.push(vec![relabelled, moved]).await.expect("push");
        for result in &reply.results {
            assert_eq!(result.status, PushStatus::Rejected, "{result:?}");
            let error = result.error.as_ref().expect("a reason");
            assert_eq!(error.code, "answer_id_conflict", "{error:?}");
        }
        // Twice in one page with different content: the first kept, the second refused.
        let fresh = answer_push(tasks[2].task_id, &["neutral"]);
        let mut twin = fresh.clone();
        twin.labels = vec!["positive".into()];
        let reply = ann.push(vec![fresh, twin]).await.expect("push");
        assert_eq!(reply.results[0].status, PushStatus::Accepted);
        assert_eq!(
            reply.results[1].error.as_ref().map(|e| e.code.as_str()),
            Some("answer_id_conflict")
        );

        // The nil id is no device's id.
        let mut nil = answer_push(tasks[1].task_id, &["positive"]);
        nil.id = uuid::Uuid::nil();
        let reply = ann.push(vec![nil]).await.expect("push");
        assert_eq!(
            reply.results[0].error.as_ref().map(|e| e.code.as_str()),
            Some("invalid_answer")
        );

        let records = tessera_tests::export_records(&requester, project).await;
        let labels: Vec<(i64, Vec<String>)> = records
            .iter()
            .flat_map(|r| r.answers.iter().map(|a| (r.task_id, a.labels.clone())))
            .collect();
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert!(labels.contains(&(tasks[0].task_id, vec!["positive".to_owned()])));
        assert!(labels.contains(&(tasks[2].task_id, vec!["neutral".to_owned()])));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn device_times_outside_any_real_clock_are_refused_and_reports_keep_working() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = sentiment_project(&requester, "clocks", 4).await;
        let (ann, token) = server.user(Role::Annotator, "ann").await;
        let tasks = ann.lease(project, 4, None).await.expect("lease").tasks;
        let http = reqwest::Client::new();
        let times = [
            "+10000-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2999-01-01T00:00:00Z",
        ];
        for (task, time) in tasks.iter().zip(times) {
            let answer = json!({
                "id": uuid::Uuid::now_v7(), "task_id": task.task_id, "revision": 1,
                "labels": ["positive"], "skipped": false, "answered_at": time,
            });
            let reply: Value = http
                .post(format!("{}/api/answers", server.url))
                .bearer_auth(&token)
                .json(&json!({ "answers": [answer] }))
                .send()
                .await
                .expect("push")
                .json()
                .await
                .expect("reply");
            let result = &reply["results"][0];
            assert_eq!(result["status"], "rejected", "{time}: {reply}");
            assert_eq!(result["error"]["code"], "invalid_time", "{time}: {reply}");
        }
        // A sane one is kept; every report still answers.
        ann.push(vec![answer_push(tasks[0].task_id, &["positive"])])
            .await
            .expect("push");
        requester.status(project).await.expect("status");
        requester.stats(project).await.expect("stats");
        requester.annotators(project).await.expect("annotators");
        let records = tessera_tests::export_records(&requester, project).await;
        assert_eq!(records.iter().map(|r| r.answers.len()).sum::<usize>(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_csv_gold_column_in_any_case_is_never_shown_to_annotators() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let mut schema =
            tessera_core::LabelSchema::from_json(tessera_tests::SENTIMENT_SCHEMA).expect("schema");
        schema.gold_rate = 1.0;
        let project = requester
            .create_project("csv gold", schema)
            .await
            .expect("project")
            .id;
        requester
            .upload(
                project,
                UploadFormat::Csv,
                "ID,text,Gold\ng1,I love it,positive\nt1,fine,\n".to_owned(),
            )
            .await
            .expect("upload");
        let (ann, _) = server.user(Role::Annotator, "ann").await;
        let tasks = ann.lease(project, 2, None).await.expect("lease").tasks;
        assert_eq!(tasks.len(), 2);
        for task in &tasks {
            assert_eq!(
                task.data.keys().collect::<Vec<_>>(),
                ["text"],
                "the gold answer shown as data: {task:?}"
            );
        }
        let records = tessera_tests::export_records(&requester, project).await;
        let gold: Vec<_> = records.iter().filter_map(|r| r.gold.clone()).collect();
        assert_eq!(gold, [vec!["positive".to_owned()]]);
    }
}

/// A task's data nested `levels` deep (the data object is level 1), as one JSONL line.
fn nested_task(id: &str, levels: usize) -> String {
    let mut inner = json!("deep");
    for _ in 1..levels {
        inner = json!({ "x": inner });
    }
    json!({ "id": id, "data": { "text": "nested", "extra": inner } }).to_string() + "\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_as_deep_as_the_server_takes_syncs_and_a_deeper_one_is_refused() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = sentiment_project(&requester, "depth", 1).await;
        let deepest = tessera_core::task::MAX_DATA_DEPTH;
        let too_deep = format!(
            "{}{}",
            nested_task("ok", 2),
            nested_task("deep", deepest + 1)
        );
        let e = requester
            .upload(project, UploadFormat::Jsonl, too_deep)
            .await
            .expect_err("too deep");
        let (status, body) = tessera_tests::api_error(e);
        assert_eq!((status, body.line), (422, Some(2)), "{}", body.message);
        assert!(body.message.contains("levels deep"), "{}", body.message);
        requester
            .upload(project, UploadFormat::Jsonl, nested_task("edge", deepest))
            .await
            .expect("as deep as allowed");

        // The client reads the lease and the change feed holding it.
        let (ann, _) = server.user(Role::Annotator, "ann").await;
        let home = tempfile::tempdir().expect("tempdir");
        let store =
            tessera_client::LocalStore::open(&home.path().join("client.db")).expect("store");
        let held = tessera_client::sync::checkout(&ann, &store, project, 5, None)
            .await
            .expect("a lease holding the deepest task parses");
        assert_eq!(held, 2);
        tessera_client::sync::sync_once(&ann, &store, |_, _| {})
            .await
            .expect("the change feed holding it parses");
    }
}

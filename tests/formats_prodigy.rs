//! Prodigy datasets come in as they are (real files from Explosion's prodigy-recipes,
//! tests/corpus/prodigy): each line is one annotator's answer to a question, lines asking the
//! same question (`_task_hash`) become one task with all their answers, `ignore` is a skip, a
//! rejected binary label is the project's other label, spans without an answer are a
//! suggestion (a prediction). Counted here from the files themselves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tessera_api::Role;
use tessera_client::ApiClient;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, TestServer, api_error, export_records};

fn corpus(name: &str) -> String {
    std::fs::read_to_string(tessera_tests::corpus("prodigy", name)).expect("corpus file")
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect()
}

async fn project(requester: &ApiClient, schema: &str) -> i64 {
    requester
        .create_project("prodigy", LabelSchema::from_json(schema).expect("schema"))
        .await
        .expect("project")
        .id
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_two_annotators_binary_answers_on_both_stores() {
    let text = corpus("binary-42-annotators.jsonl");
    let file = lines(&text);
    // Each annotator's last word on each question; what is not a skip is an answer.
    let mut last: BTreeMap<(String, String), String> = BTreeMap::new();
    for l in &file {
        last.insert(
            (
                l["_task_hash"].to_string(),
                l["_annotator_id"].as_str().expect("annotator").to_owned(),
            ),
            l["answer"].as_str().expect("answer").to_owned(),
        );
    }
    let questions: BTreeSet<String> = file.iter().map(|l| l["_task_hash"].to_string()).collect();
    let answered = last.values().filter(|a| *a != "ignore").count();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let p = project(
            &requester,
            r#"{"kind": "classification", "labels": ["new-dataset", "not new-dataset"], "overlap": 50}"#,
        )
        .await;
        let format =
            UploadFormat::detect("binary-42-annotators.jsonl", text.as_bytes()).expect("format");
        let reply = requester
            .upload_batch(p, format, 0, false, text.clone())
            .await
            .expect("upload");
        assert_eq!(
            reply.tasks_added,
            questions.len(),
            "{backend:?}: one task per question"
        );
        assert_eq!(
            reply.answers_added,
            file.len(),
            "{backend:?}: every line an answer"
        );
        let records = export_records(&requester, p).await;
        assert_eq!(
            records.iter().map(|r| r.answers.len()).sum::<usize>(),
            answered,
            "{backend:?}"
        );
        let people: BTreeSet<&str> = records
            .iter()
            .flat_map(|r| &r.answers)
            .map(|a| a.annotator.as_str())
            .collect();
        let in_file: BTreeSet<&str> = last
            .iter()
            .filter(|(_, a)| *a != "ignore")
            .map(|((_, who), _)| who.as_str())
            .collect();
        assert_eq!(people, in_file, "{backend:?}");
        // What each annotator said, in the project's words.
        for r in &records {
            let hash = r.external_id.clone().expect("id");
            for a in &r.answers {
                let said = &last[&(hash.clone(), a.annotator.clone())];
                let expected = if said == "accept" {
                    "new-dataset"
                } else {
                    "not new-dataset"
                };
                assert_eq!(
                    a.labels,
                    [expected],
                    "{backend:?}: task {hash}, {}",
                    a.annotator
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_annotator_textcat_and_suggested_spans() {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;

    let text = corpus("binary-textcat.jsonl");
    let file = lines(&text);
    let p = project(
        &requester,
        r#"{"kind": "classification", "labels": ["DOCUMENTATION", "not DOCUMENTATION"]}"#,
    )
    .await;
    let reply = requester
        .upload(p, UploadFormat::Jsonl, text)
        .await
        .expect("upload");
    assert_eq!(
        (reply.tasks_added, reply.answers_added),
        (file.len(), file.len())
    );
    assert_eq!(
        reply.ignored_keys.get("priority"),
        Some(&(file.len() as u64))
    );
    let records = export_records(&requester, p).await;
    for (line, r) in file.iter().zip(&records) {
        assert_eq!(
            r.meta.as_ref().map(|m| &m["url"]),
            Some(&line["meta"]["url"])
        );
        let labels: Vec<&str> = r
            .answers
            .iter()
            .flat_map(|a| a.labels.iter().map(String::as_str))
            .collect();
        let expected: &[&str] = match line["answer"].as_str() {
            Some("accept") => &["DOCUMENTATION"],
            Some("reject") => &["not DOCUMENTATION"],
            _ => &[],
        };
        assert_eq!(labels, expected);
    }

    let text = corpus("spans-suggested.jsonl");
    let file = lines(&text);
    let p = project(&requester, r#"{"kind": "spans", "labels": ["GGP"]}"#).await;
    let reply = requester
        .upload(p, UploadFormat::Jsonl, text)
        .await
        .expect("upload");
    assert_eq!((reply.tasks_added, reply.answers_added), (file.len(), 0));
    let records = export_records(&requester, p).await;
    for (line, r) in file.iter().zip(&records) {
        let spans = line["spans"].as_array().map_or(0, Vec::len);
        assert_eq!(r.prediction.as_ref().map_or(0, |p| p.labels.len()), spans);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_the_project_lacks_is_refused_at_its_line() {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let p = project(
        &requester,
        r#"{"kind": "classification", "labels": ["DOCUMENTATION", "not DOCUMENTATION"]}"#,
    )
    .await;
    let text = corpus("binary-textcat.jsonl");
    let mut damaged: Vec<&str> = text.lines().collect();
    let changed = damaged[6].replace("\"DOCUMENTATION\"", "\"SPAM\"");
    damaged[6] = &changed;
    let (status, body) = api_error(
        requester
            .upload(p, UploadFormat::Jsonl, damaged.join("\n"))
            .await
            .expect_err("an unknown label"),
    );
    assert_eq!((status, body.line), (422, Some(7)), "{body:?}");
    assert!(body.message.contains("SPAM"), "{body:?}");
    assert_eq!(requester.status(p).await.expect("status").tasks, 0);
}

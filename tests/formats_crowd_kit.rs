//! A crowd-kit answers file (`task,worker,label`) comes in as answers to a project's tasks,
//! named by their ids from the upload: a real crowd with gold (snow_temp, from the development
//! datasets beside the checkout, ../shared/data/truth) through `tessera upload` on both
//! stores, every answer counted; the same header aliases (`performer`, `output`, `question`,
//! `answer`) work for `tessera aggregate`; a bad row or an unknown task is refused at its
//! line with nothing stored.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use tessera_api::Role;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, TestServer, api_error, cli_upload, export_records, tessera_ok};

fn snow_temp() -> PathBuf {
    let dir = tessera_tests::manifest_dir().join("../../shared/data/truth/snow_temp");
    assert!(
        dir.exists(),
        "the shared datasets are expected beside the checkout at {}",
        dir.display()
    );
    dir
}

/// The rows of a CSV file after its header.
fn rows(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crowd_kit_file_becomes_answers_to_the_projects_tasks_on_both_stores() {
    let answers_file = snow_temp().join("answers.csv");
    let answers = rows(&answers_file);
    let tasks: BTreeSet<&str> = answers.iter().map(|r| r[0].as_str()).collect();
    let pairs: BTreeSet<(&str, &str)> = answers
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let gold: HashMap<String, String> = rows(&snow_temp().join("gold.csv"))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        let schema = LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["1", "2"], "overlap": 10}"#,
        )
        .expect("schema");
        let project = requester
            .create_project("snow", schema)
            .await
            .expect("project")
            .id;
        let tasks_csv: String = std::iter::once("id,text".to_owned())
            .chain(
                tasks
                    .iter()
                    .map(|t| format!("{t},which event came first in {t}?")),
            )
            .collect::<Vec<_>>()
            .join("\n");
        requester
            .upload(project, UploadFormat::Csv, tasks_csv)
            .await
            .expect("tasks");
        let out = cli_upload(&server, &token, project, &answers_file, &[]);
        assert!(
            out.contains(&format!("added {} answers", answers.len())),
            "{backend:?}: {out}"
        );
        let records = export_records(&requester, project).await;
        let exported: usize = records.iter().map(|r| r.answers.len()).sum();
        assert_eq!(
            exported,
            pairs.len(),
            "{backend:?}: one current answer per task and worker"
        );
        // Exported for crowd-kit, each worker's last word on each task, as in the file.
        let exported = requester
            .export(project, "crowdkit")
            .await
            .expect("export")
            .text()
            .await
            .expect("body");
        let mut last: HashMap<(&str, &str), &str> = HashMap::new();
        for r in &answers {
            last.insert((r[0].as_str(), r[1].as_str()), r[2].as_str());
        }
        let mut expected: Vec<String> = last
            .iter()
            .map(|((t, w), l)| format!("{t},{w},{l}"))
            .collect();
        let mut got: Vec<String> = exported.lines().skip(1).map(str::to_owned).collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{backend:?}");
        // The consensus, worked out from them, agrees with the gold about as majority vote
        // does on this crowd (0.9394 in ../shared/data/truth/README.md).
        let right = records
            .iter()
            .filter(|r| {
                let id = r.external_id.as_deref().unwrap_or("");
                r.consensus.as_ref().and_then(|c| c.label.as_deref())
                    == gold.get(id).map(String::as_str)
            })
            .count();
        let accuracy = right as f64 / records.len() as f64;
        assert!(accuracy > 0.9, "{backend:?}: consensus accuracy {accuracy}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_row_or_an_unknown_task_is_refused_at_its_line() {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let schema = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["1", "2"]}"#)
        .expect("schema");
    let project = requester
        .create_project("p", schema)
        .await
        .expect("project")
        .id;
    requester
        .upload(
            project,
            UploadFormat::Csv,
            "id,text\nt1,one\nt2,two\n".to_owned(),
        )
        .await
        .expect("tasks");
    for (file, line, says) in [
        ("performer,task,output\nw1,t1,1\nw2,t2,3\n", 3, "\"3\""),
        (
            "question,worker,answer\nt1,w1,1\nt9,w1,2\n",
            3,
            "no task \"t9\"",
        ),
    ] {
        let (status, body) = api_error(
            requester
                .import_answers(project, file.to_owned())
                .await
                .expect_err(file),
        );
        assert_eq!((status, body.line), (422, Some(line)), "{body:?}");
        assert!(body.message.contains(says), "{body:?}");
    }
    assert_eq!(
        requester.status(project).await.expect("status").answers,
        0,
        "nothing stored"
    );
}

#[test]
fn aggregate_reads_the_same_header_aliases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("toloka.csv");
    std::fs::write(
        &file,
        "question,performer,output\nq1,w1,a\nq1,w2,a\nq1,w3,b\nq2,w1,b\n",
    )
    .expect("write");
    let out = tessera_ok::<&str>(
        &["aggregate", file.to_str().expect("path"), "--method", "mv"],
        &[],
    );
    let labels: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(labels, ["a", "b"], "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_imported_again_revises_the_stored_one_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let schema = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["a", "b"]}"#)
            .expect("schema");
        let project = requester
            .create_project("revised", schema)
            .await
            .expect("project")
            .id;
        requester
            .upload(project, UploadFormat::Csv, "id,text\nt1,first\n".to_owned())
            .await
            .expect("upload");
        for label in ["a", "b"] {
            requester
                .import_answers(project, format!("task,worker,label\nt1,w1,{label}\n"))
                .await
                .expect("import");
        }
        let record = export_records(&requester, project).await.remove(0);
        let current: Vec<(Vec<String>, u32)> = record
            .answers
            .iter()
            .map(|a| (a.labels.clone(), a.revision))
            .collect();
        assert_eq!(
            current,
            [(vec!["b".to_owned()], 2)],
            "{backend:?}: the later import is w1's answer"
        );
        let earlier: Vec<Vec<String>> = record
            .earlier_answers
            .iter()
            .map(|a| a.labels.clone())
            .collect();
        assert_eq!(
            earlier,
            [vec!["a".to_owned()]],
            "{backend:?}: the first is kept as a revision"
        );
    }
}

//! Label Studio files come in as they are: real exports from Label Studio's own repositories
//! (tests/corpus/label-studio, sources in its README), uploaded through a real server on both
//! stores. What each file holds is counted here from the file itself — tasks, annotations,
//! predictions — and must all be in the project: annotations as answers of imported
//! annotators, every prediction, `meta`; bookkeeping keys ignored and counted; what a project
//! cannot keep refused with its line, or left out and listed when the upload is lenient.

use std::path::PathBuf;

use serde_json::Value;
use tessera_api::{ExportRecord, Role};
use tessera_client::ApiClient;
use tessera_core::{LabelSchema, UploadFormat, schema_from_label_config};
use tessera_tests::{Backend, TestServer, api_error, cli_upload, export_records, tessera_ok};

fn corpus(name: &str) -> PathBuf {
    tessera_tests::corpus("label-studio", name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(corpus(name)).expect("corpus file")
}

/// The file's tasks, as the test reads them (a document is an array or one task).
fn tasks_of(text: &str) -> Vec<Value> {
    match serde_json::from_str(text).expect("corpus JSON") {
        Value::Array(tasks) => tasks,
        one => vec![one],
    }
}

fn annotations(task: &Value) -> &[Value] {
    task.get("annotations")
        .or_else(|| task.get("completions"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn predictions(task: &Value) -> usize {
    task.get("predictions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn schema(json: &str) -> LabelSchema {
    LabelSchema::from_json(json).expect("schema")
}

async fn upload(
    requester: &ApiClient,
    project: i64,
    name: &str,
    text: String,
    lenient: bool,
) -> Result<tessera_api::UploadResponse, tessera_client::ClientError> {
    let format = UploadFormat::detect(name, text.as_bytes()).expect("format");
    requester
        .upload_batch(project, format, 0, lenient, text)
        .await
}

/// Uploads a corpus file into a new project of `schema` and checks that every task, answer
/// and prediction the file holds is in the export; returns the export.
async fn imports_whole(
    requester: &ApiClient,
    name: &str,
    schema: LabelSchema,
    lenient: bool,
) -> (tessera_api::UploadResponse, Vec<ExportRecord>) {
    let project = requester
        .create_project(name, schema)
        .await
        .expect("project")
        .id;
    let text = read(name);
    let file = tasks_of(&text);
    let reply = upload(requester, project, name, text, lenient)
        .await
        .expect(name);
    assert_eq!(reply.tasks_added, file.len(), "{name}: tasks");
    let answers: usize = file.iter().map(|t| annotations(t).len()).sum();
    assert_eq!(reply.answers_added, answers, "{name}: answers");
    let records = export_records(requester, project).await;
    assert_eq!(records.len(), file.len(), "{name}: exported tasks");
    for (task, record) in file.iter().zip(&records) {
        let expected_id = task["id"].to_string();
        assert_eq!(
            record.external_id.as_deref(),
            Some(expected_id.as_str()),
            "{name}"
        );
        assert_eq!(
            record.answers.len(),
            annotations(task).len(),
            "{name}: task {expected_id}"
        );
        let kept = usize::from(record.prediction.is_some()) + record.more_predictions.len();
        assert_eq!(
            kept,
            predictions(task),
            "{name}: predictions of task {expected_id}"
        );
        assert_eq!(
            record.data,
            task["data"].as_object().cloned().unwrap_or_default(),
            "{name}"
        );
    }
    (reply, records)
}

#[tokio::test(flavor = "multi_thread")]
async fn label_studio_exports_import_whole_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        label_studio_exports(backend).await;
    }
}

async fn label_studio_exports(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;

    // Sentiment with one annotator, named by email.
    let (reply, records) = imports_whole(
        &requester,
        "choices-history.json",
        schema(r#"{"kind": "classification", "labels": ["Positive", "Negative", "Neutral"]}"#),
        false,
    )
    .await;
    let answer = &records[0].answers[0];
    assert_eq!(
        (answer.annotator.as_str(), answer.labels.as_slice()),
        ("sergei@heartex.test", &["Positive".to_owned()][..])
    );
    assert_eq!(
        answer.answered_at.to_rfc3339(),
        "2024-05-15T12:09:16.789563+00:00"
    );
    assert_eq!(
        records[0]
            .consensus
            .as_ref()
            .and_then(|c| c.label.as_deref()),
        Some("Positive")
    );
    for key in [
        "agreement",
        "inner_id",
        "annotations.history",
        "annotations.lead_time",
    ] {
        assert!(
            reply.ignored_keys.contains_key(key),
            "{key} not reported: {:?}",
            reply.ignored_keys
        );
    }

    // Boxes with a model's predictions; one box reaches past the image's corner.
    let (reply, records) = imports_whole(
        &requester,
        "boxes-predictions.json",
        schema(r#"{"kind": "boxes", "labels": ["Car"]}"#),
        false,
    )
    .await;
    // The same box is in the second task's answer and in its prediction.
    assert_eq!(reply.clamped_boxes, 2);
    let p = records[0].prediction.as_ref().expect("prediction");
    assert_eq!(
        (p.model_version.as_deref(), p.score),
        (Some("model 0"), Some(0.7212843313260696))
    );
    // Every digit of a coordinate is kept (percent of the image, as a share of it).
    assert!(
        records[0].answers[0].labels[0]
            .starts_with("0.04857412088705009,0.1169068212824011,0.9251,0.7176:Car"),
        "{:?}",
        records[0].answers[0].labels
    );
    // The box past the corner now ends at it.
    let cut: Vec<tessera_core::BoundingBox> = records[1].answers[0]
        .labels
        .iter()
        .filter_map(|b| tessera_core::BoundingBox::parse(b))
        .collect();
    assert!(
        cut.iter().any(|b| (b.x - 0.9293).abs() < 1e-12
            && (b.x + b.w - 1.0).abs() < 1e-12
            && (b.y + b.h - 1.0).abs() < 1e-12),
        "{cut:?}"
    );

    // Label Studio 0.x: one task object, its answers under "completions", no annotator.
    let (_, records) = imports_whole(
        &requester,
        "ner-completions-0x.json",
        schema(r#"{"kind": "spans", "labels": ["INGREDIENT"]}"#),
        false,
    )
    .await;
    let spans = &records[0].answers[0].labels;
    assert_eq!(spans.len(), 38);
    assert!(
        spans.contains(&"121:155:INGREDIENT".to_owned()),
        "{spans:?}"
    );
    assert_eq!(
        records[0].answers[0].annotator,
        "label-studio:annotation-348001"
    );

    // Two annotators on the first image, into a project made from the file's own config.
    let config =
        schema_from_label_config(&read("boxes-two-annotators.config.xml")).expect("config");
    let (_, records) = imports_whole(
        &requester,
        "boxes-two-annotators.json",
        config.clone(),
        false,
    )
    .await;
    let mut who: Vec<&str> = records[0]
        .answers
        .iter()
        .map(|a| a.annotator.as_str())
        .collect();
    who.sort_unstable();
    assert_eq!(who, ["label-studio:1", "label-studio:2"]);

    // The same with a per-region classification no Tessera project keeps: its config is
    // refused by name, its regions refused by line — or left out and listed when lenient.
    let e = schema_from_label_config(&read("boxes-region-choices.config.xml"))
        .expect_err("two controls");
    assert!(e.to_string().contains("<Choices name=\"choices\">"), "{e}");
    let project = requester
        .create_project("strict", config.clone())
        .await
        .expect("project")
        .id;
    let e = upload(
        &requester,
        project,
        "boxes-region-choices.json",
        read("boxes-region-choices.json"),
        false,
    )
    .await
    .expect_err("choices on a box");
    let (status, body) = api_error(e);
    assert_eq!(status, 422);
    assert!(
        body.line == Some(2) && body.message.contains("\"choices\" region"),
        "{body:?}"
    );
    assert_eq!(
        requester.status(project).await.expect("status").tasks,
        0,
        "nothing stored"
    );
    let (reply, records) =
        imports_whole(&requester, "boxes-region-choices.json", config, true).await;
    assert_eq!(reply.left_out.len(), 2, "{:?}", reply.left_out);
    assert!(
        reply
            .left_out
            .iter()
            .all(|l| l.reason.contains("\"choices\" region"))
    );
    assert_eq!(
        records[0]
            .answers
            .iter()
            .map(|a| a.labels.len())
            .sum::<usize>(),
        4
    );

    // Rectangle, polygon and key points in one annotation: the box is kept, the rest listed.
    let (reply, records) = imports_whole(
        &requester,
        "boxes-polygons-keypoints.json",
        schema(r#"{"kind": "boxes", "labels": ["rectangle_label", "other"]}"#),
        true,
    )
    .await;
    let left: Vec<&str> = reply.left_out.iter().map(|l| l.reason.as_str()).collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left[0].contains("polygonlabels") && left[1].contains("keypointlabels"),
        "{left:?}"
    );
    assert_eq!(records[0].answers[0].labels.len(), 1);
    // No annotator in this file but the last to touch it.
    assert_eq!(records[0].answers[0].annotator, "label-studio:308");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_export_is_refused_at_its_line_and_stores_nothing() {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = requester
        .create_project(
            "damaged",
            schema(r#"{"kind": "classification", "labels": ["Positive", "Negative"]}"#),
        )
        .await
        .expect("project")
        .id;
    let text = read("choices-history.json");
    let line_of = |needle: &str| {
        1 + text[..text.find(needle).expect(needle)]
            .matches('\n')
            .count()
    };
    let cases = [
        // A comma lost after the task's id.
        (
            text.replacen("\"id\": 6141,", "\"id\": 6141", 1),
            line_of("\"annotations\""),
            "invalid JSON",
        ),
        // A label the project does not have.
        (
            text.replacen("\"Positive\"", "\"Ecstatic\"", 1),
            line_of("{"),
            "\"Ecstatic\"",
        ),
        // The array never closed.
        (
            text.trim_end().trim_end_matches(']').to_owned(),
            text.trim_end().matches('\n').count() + 1,
            "not closed",
        ),
    ];
    for (damaged, line, says) in cases {
        let (status, body) = api_error(
            upload(&requester, project, "damaged.json", damaged, false)
                .await
                .expect_err("damaged"),
        );
        assert_eq!(status, 422, "{}", body.message);
        assert!(
            body.line == Some(line),
            "expected line {line}: {}",
            body.message
        );
        assert!(body.message.contains(says), "{}", body.message);
    }
    assert_eq!(requester.status(project).await.expect("status").tasks, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_moves_a_label_studio_project_in_as_it_comes() {
    let server = TestServer::start().await;
    let (_, token) = server.user(Role::Requester, "rita").await;
    let env = [
        ("TESSERA_SERVER", server.url.as_str()),
        ("TESSERA_TOKEN", token.as_str()),
    ];
    let config = corpus("boxes-two-annotators.config.xml");
    let project = tessera_ok(
        &[
            "project",
            "create",
            "parasites",
            "--schema",
            config.to_str().expect("path"),
        ],
        &env,
    );
    // The export renamed .jsonl: its content says it is one JSON document.
    let dir = tempfile::tempdir().expect("tempdir");
    let renamed = dir.path().join("export.jsonl");
    std::fs::copy(corpus("boxes-region-choices.json"), &renamed).expect("copy");
    let project: i64 = project.trim().parse().expect("project id");
    let out = cli_upload(&server, &token, project, &renamed, &["--lenient"]);
    assert!(out.contains("added 2 tasks"), "{out}");
    assert!(out.contains("added 3 answers made before"), "{out}");
    assert!(
        out.contains("left out 2 items") && out.contains("\"choices\" region"),
        "{out}"
    );
}

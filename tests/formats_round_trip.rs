//! What Tessera exports goes somewhere: its own JSONL uploads back into a new project with the
//! same tasks, answers, predictions, gold and `meta` (moving a project between servers, on
//! both stores); its Label Studio JSON reads back; and Label Studio's own converter (the
//! `label-studio-sdk` package, in the venv scripts/test.sh makes) turns it into COCO, YOLO,
//! VOC, CoNLL-2003 and CSV without error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tessera_api::{ExportRecord, Role};
use tessera_client::ApiClient;
use tessera_core::{BoundingBox, LabelSchema, UploadFormat};
use tessera_tests::{Backend, TestServer, export_records};

fn corpus(name: &str) -> PathBuf {
    tessera_tests::corpus("label-studio", name)
}

fn schema(json: &str) -> LabelSchema {
    LabelSchema::from_json(json).expect("schema")
}

const BOXES: &str = r#"{"kind": "boxes", "labels": ["parasites", "white", "Car"]}"#;
const SPANS: &str = r#"{"kind": "spans", "labels": ["INGREDIENT"]}"#;
const CHOICES: &str =
    r#"{"kind": "classification", "labels": ["Positive", "Negative", "Neutral"]}"#;

/// A new project of `schema` holding the corpus files, uploaded as they are.
async fn project_of(requester: &ApiClient, schema_json: &str, files: &[&str]) -> i64 {
    let project = requester
        .create_project("from label studio", schema(schema_json))
        .await
        .expect("project")
        .id;
    for name in files {
        let text = std::fs::read_to_string(corpus(name)).expect("corpus");
        let format = UploadFormat::detect(name, text.as_bytes()).expect("format");
        requester
            .upload_batch(project, format, 0, false, text)
            .await
            .expect(name);
    }
    project
}

async fn export_text(requester: &ApiClient, project: i64, format: &str) -> String {
    requester
        .export(project, format)
        .await
        .expect("export")
        .text()
        .await
        .expect("body")
}

/// Each task's answers as (annotator, labels, unsure), sorted.
fn answers(r: &ExportRecord) -> Vec<(String, Vec<String>, bool)> {
    let mut out: Vec<_> = r
        .answers
        .iter()
        .map(|a| (a.annotator.clone(), a.labels.clone(), a.unsure))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tessera_export_uploads_back_whole_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        // (Two Label Studio exports number their tasks alike: one project each.)
        let two_annotators = project_of(&requester, BOXES, &["boxes-two-annotators.json"]).await;
        let predictions = project_of(&requester, BOXES, &["boxes-predictions.json"]).await;
        let gold = requester
            .create_project("gold", schema(CHOICES))
            .await
            .expect("project")
            .id;
        requester
            .upload(
                gold,
                UploadFormat::Jsonl,
                concat!(
                    r#"{"id": "g1", "data": {"text": "fine"}, "gold": "Positive", "meta": {"batch": 7}}"#,
                    "\n",
                    r#"{"id": "r1", "data": {"text": "so-so"}, "annotations": [{"completed_by": {"email": "ann@x.org"}, "updated_at": "2026-11-01T10:00:00Z", "result": [{"type": "choices", "value": {"choices": ["Neutral"]}}]}, {"completed_by": {"email": "ann@x.org"}, "updated_at": "2026-11-01T10:05:00Z", "result": [{"type": "choices", "value": {"choices": ["Positive"]}}]}]}"#
                )
                .to_owned(),
            )
            .await
            .expect("gold");
        // A reviewer's verdict moves with the project, and so does each revision (ann answered
        // r1 twice).
        let reviewed = export_records(&requester, gold)
            .await
            .into_iter()
            .find(|r| r.external_id.as_deref() == Some("r1"))
            .expect("r1")
            .task_id;
        requester
            .review(
                gold,
                &tessera_api::ReviewRequest {
                    task_id: reviewed,
                    labels: vec!["Negative".to_owned()],
                },
            )
            .await
            .expect("review");
        for (project, schema_json) in [
            (two_annotators, BOXES),
            (predictions, BOXES),
            (gold, CHOICES),
        ] {
            let before = export_records(&requester, project).await;
            if project == gold {
                let r1 = before
                    .iter()
                    .find(|r| r.external_id.as_deref() == Some("r1"));
                assert_eq!(
                    r1.map(|r| (r.answers[0].revision, r.earlier_answers.len())),
                    Some((2, 1)),
                    "{backend:?}: r1 holds ann's revision and the answer it revised"
                );
            }
            let jsonl = export_text(&requester, project, "jsonl").await;
            let copy = requester
                .create_project("moved", schema(schema_json))
                .await
                .expect("project")
                .id;
            let reply = requester
                .upload(copy, UploadFormat::Jsonl, jsonl)
                .await
                .expect("the export uploads back");
            assert_eq!(reply.tasks_added, before.len(), "{backend:?}");
            let after = export_records(&requester, copy).await;
            for (b, a) in before.iter().zip(&after) {
                let origin = b
                    .external_id
                    .clone()
                    .unwrap_or_else(|| b.task_id.to_string());
                assert_eq!(
                    a.external_id.as_deref(),
                    Some(origin.as_str()),
                    "{backend:?}"
                );
                assert_eq!(
                    (
                        &a.data,
                        &a.prediction,
                        &a.more_predictions,
                        &a.meta,
                        &a.gold,
                        a.image_size
                    ),
                    (
                        &b.data,
                        &b.prediction,
                        &b.more_predictions,
                        &b.meta,
                        &b.gold,
                        b.image_size
                    ),
                    "{backend:?}: task {origin}"
                );
                assert_eq!(answers(a), answers(b), "{backend:?}: task {origin}");
                let revisions = |r: &ExportRecord| -> Vec<(String, Vec<String>, u32)> {
                    r.answers
                        .iter()
                        .chain(&r.earlier_answers)
                        .map(|x| (x.annotator.clone(), x.labels.clone(), x.revision))
                        .collect()
                };
                assert_eq!(
                    revisions(a),
                    revisions(b),
                    "{backend:?}: revisions of {origin}"
                );
                assert_eq!(
                    a.review
                        .as_ref()
                        .map(|r| (&r.labels, &r.reviewer, r.reviewed_at)),
                    b.review
                        .as_ref()
                        .map(|r| (&r.labels, &r.reviewer, r.reviewed_at)),
                    "{backend:?}: the review of {origin}"
                );
                let times = |r: &ExportRecord| {
                    let mut t: Vec<_> = r.answers.iter().map(|x| x.answered_at).collect();
                    t.sort();
                    t
                };
                assert_eq!(times(a), times(b), "{backend:?}: answer times of {origin}");
                assert_eq!(
                    a.consensus.as_ref().map(|c| &c.labels),
                    b.consensus.as_ref().map(|c| &c.labels),
                    "{backend:?}: the consensus comes out the same"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_studio_export_of_tessera_reads_back() {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    for (schema_json, files) in [
        (BOXES, &["boxes-two-annotators.json"][..]),
        (BOXES, &["boxes-predictions.json"][..]),
        (SPANS, &["ner-completions-0x.json"][..]),
        (CHOICES, &["choices-history.json"][..]),
    ] {
        let first = project_of(&requester, schema_json, files).await;
        let ls = export_text(&requester, first, "ls-json").await;
        let copy = requester
            .create_project("back", schema(schema_json))
            .await
            .expect("project")
            .id;
        requester
            .upload(copy, UploadFormat::Json, ls)
            .await
            .expect("reads back");
        let (before, after) = (
            export_records(&requester, first).await,
            export_records(&requester, copy).await,
        );
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            // Label Studio names people by email: other names come back as `….invalid` ones.
            // Boxes travel in percent: the same box within a trillionth of the image.
            let labels = |r: &ExportRecord| {
                let mut l: Vec<Vec<String>> = r.answers.iter().map(|x| x.labels.clone()).collect();
                l.sort();
                l
            };
            let (la, lb) = (labels(a), labels(b));
            assert_eq!(la.len(), lb.len(), "{files:?}");
            for (x, y) in la.iter().flatten().zip(lb.iter().flatten()) {
                match (BoundingBox::parse(x), BoundingBox::parse(y)) {
                    (Some(p), Some(q)) => assert!(
                        p.label == q.label
                            && [p.x - q.x, p.y - q.y, p.w - q.w, p.h - q.h]
                                .iter()
                                .all(|d| d.abs() < 1e-12),
                        "{files:?}: {x} came back as {y}"
                    ),
                    _ => assert_eq!(x, y, "{files:?}"),
                }
            }
            assert_eq!(a.data, b.data);
            assert_eq!(a.image_size, b.image_size);
            let versions = |r: &ExportRecord| {
                r.prediction
                    .iter()
                    .chain(&r.more_predictions)
                    .map(|p| p.model_version.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(versions(a), versions(b));
        }
    }
}

/// Label Studio's converter (label-studio-sdk), in the venv scripts/test.sh makes.
fn label_studio_converter() -> PathBuf {
    tessera_tests::peer_venv_program(
        "TESSERA_LABEL_STUDIO_VENV",
        "venv-label-studio",
        "label-studio-converter",
    )
}

/// Runs Label Studio's converter on an export and its config; the output folder.
fn convert(dir: &Path, name: &str, json: &str, config: &str, format: &str) -> PathBuf {
    let input = dir.join(format!("{name}.json"));
    let config_path = dir.join(format!("{name}.xml"));
    std::fs::write(&input, json).expect("write export");
    std::fs::write(&config_path, config).expect("write config");
    let out = dir.join(format!("{name}-{format}"));
    let run = Command::new(label_studio_converter())
        .arg("export")
        .arg("-i")
        .arg(&input)
        .arg("-c")
        .arg(&config_path)
        .arg("-o")
        .arg(&out)
        .args(["-f", format, "--heartex-format"])
        .output()
        .expect("run label-studio-converter");
    assert!(
        run.status.success(),
        "label-studio-converter -f {format}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn label_studios_converter_takes_what_tessera_exports() {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let dir = tempfile::tempdir().expect("tempdir");

    // Boxes: every box of every answer in COCO, with the image sizes the upload carried.
    let boxes = project_of(&requester, BOXES, &["boxes-two-annotators.json"]).await;
    let records = export_records(&requester, boxes).await;
    let (json, config) = (
        export_text(&requester, boxes, "ls-json").await,
        export_text(&requester, boxes, "ls-config").await,
    );
    let coco: Value = serde_json::from_str(
        &std::fs::read_to_string(
            convert(dir.path(), "boxes", &json, &config, "COCO").join("result.json"),
        )
        .expect("COCO result"),
    )
    .expect("COCO JSON");
    let boxes_in_answers: usize = records
        .iter()
        .flat_map(|r| &r.answers)
        .map(|a| a.labels.len())
        .sum();
    assert_eq!(
        coco["annotations"].as_array().map(Vec::len),
        Some(boxes_in_answers)
    );
    assert!(
        coco["images"]
            .as_array()
            .expect("images")
            .iter()
            .all(|i| i["width"] == 2800 && i["height"] == 2800)
    );
    let mut names: Vec<String> = coco["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names, ["Car", "parasites", "white"]);
    // YOLO: a label file per image, five numbers a line, class in range, coordinates in [0, 1].
    let yolo = convert(dir.path(), "boxes", &json, &config, "YOLO").join("labels");
    let files: Vec<_> = std::fs::read_dir(&yolo).expect("labels").collect();
    assert_eq!(files.len(), records.len());
    for file in files {
        let text = std::fs::read_to_string(file.expect("entry").path()).expect("label file");
        assert!(!text.trim().is_empty());
        for line in text.lines() {
            let fields: Vec<f64> = line
                .split(' ')
                .map(|f| f.parse().expect("number"))
                .collect();
            assert_eq!(fields.len(), 5, "{line}");
            assert!(
                fields[0] < 3.0 && fields[1..].iter().all(|v| (0.0..=1.0).contains(v)),
                "{line}"
            );
        }
    }
    let voc = convert(dir.path(), "boxes", &json, &config, "VOC").join("Annotations");
    assert_eq!(std::fs::read_dir(voc).expect("VOC").count(), records.len());

    // Spans: CoNLL-2003 tags each of the 38 ingredients' first token B-INGREDIENT.
    let ner = project_of(&requester, SPANS, &["ner-completions-0x.json"]).await;
    let conll = convert(
        dir.path(),
        "ner",
        &export_text(&requester, ner, "ls-json").await,
        &export_text(&requester, ner, "ls-config").await,
        "CONLL2003",
    );
    let text = std::fs::read_to_string(conll.join("result.conll")).expect("CoNLL result");
    assert_eq!(text.matches("B-INGREDIENT").count(), 38);

    // Choices: Label Studio's CSV, the answer and its annotator.
    let choices = project_of(&requester, CHOICES, &["choices-history.json"]).await;
    let csv_dir = convert(
        dir.path(),
        "choices",
        &export_text(&requester, choices, "ls-json").await,
        &export_text(&requester, choices, "ls-config").await,
        "CSV",
    );
    let csv_file = std::fs::read_dir(&csv_dir)
        .expect("CSV dir")
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "csv"))
        .expect("a CSV file");
    let mut reader = csv::Reader::from_path(csv_file.path()).expect("CSV");
    let header = reader.headers().expect("header").clone();
    let row: BTreeMap<String, String> = header
        .iter()
        .map(str::to_owned)
        .zip(
            reader
                .records()
                .next()
                .expect("a row")
                .expect("row")
                .iter()
                .map(str::to_owned),
        )
        .collect();
    assert_eq!(row["label"], "Positive");
    assert_eq!(row["annotator"], "sergei@heartex.test");
    // And Label Studio's CSV uploads back: the answer, by its annotator.
    let copy = requester
        .create_project("from csv", schema(CHOICES))
        .await
        .expect("project")
        .id;
    requester
        .upload(
            copy,
            UploadFormat::Csv,
            std::fs::read(csv_file.path()).expect("CSV"),
        )
        .await
        .expect("Label Studio's CSV uploads");
    let back = export_records(&requester, copy).await;
    assert_eq!(
        answers(&back[0]),
        [(
            "sergei@heartex.test".to_owned(),
            vec!["Positive".to_owned()],
            false
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_big_export_streams_every_task_once_in_upload_order_on_both_stores() {
    // More than two pages of the export's stream.
    let n = 2 * tessera_server::store::EXPORT_PAGE as usize + 500;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = tessera_tests::project_with(
            &requester,
            "big",
            schema(tessera_tests::SENTIMENT_SCHEMA),
            &[&tessera_tests::sample_jsonl(n)],
        )
        .await;
        let jsonl = export_text(&requester, project, "jsonl").await;
        let ids: Vec<String> = jsonl
            .lines()
            .map(|l| {
                let r: ExportRecord = serde_json::from_str(l).expect("record");
                r.external_id.expect("id")
            })
            .collect();
        let uploaded: Vec<String> = tessera_tests::sample_jsonl(n)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("line")["id"]
                    .as_str()
                    .expect("id")
                    .to_owned()
            })
            .collect();
        assert_eq!(
            ids, uploaded,
            "{backend:?}: every task once, in upload order"
        );
        let ls: Vec<Value> =
            serde_json::from_str(&export_text(&requester, project, "ls-json").await)
                .expect("one JSON array");
        assert_eq!(ls.len(), n, "{backend:?}");
        let csv_text = export_text(&requester, project, "csv").await;
        assert_eq!(
            csv::Reader::from_reader(csv_text.as_bytes())
                .records()
                .count(),
            n,
            "{backend:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_coco_file_comes_in_and_goes_out_as_coco_through_label_studio_on_both_stores() {
    let path = tessera_tests::corpus("coco", "instances.json");
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("corpus")).expect("COCO");
    let names: Vec<String> = original["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        let schema = serde_json::json!({"kind": "boxes", "labels": names});
        let project = requester
            .create_project(
                "coco",
                LabelSchema::from_json(&schema.to_string()).expect("schema"),
            )
            .await
            .expect("project")
            .id;
        let out = tessera_tests::cli_upload(&server, &token, project, &path, &[]);
        assert!(
            out.contains("added 2 tasks") && out.contains("added 2 answers"),
            "{out}"
        );
        assert!(
            out.contains("annotations.segmentation"),
            "the polygons are reported: {out}"
        );
        let records = export_records(&requester, project).await;
        assert_eq!(
            records.iter().map(|r| r.image_size).collect::<Vec<_>>(),
            [Some([4022, 6033]), Some([7050, 4702])]
        );
        // Out through Label Studio's converter: the same boxes, in pixels.
        let coco_dir = convert(
            dir.path(),
            &format!("coco-{backend:?}"),
            &export_text(&requester, project, "ls-json").await,
            &export_text(&requester, project, "ls-config").await,
            "COCO",
        );
        let back: Value = serde_json::from_str(
            &std::fs::read_to_string(coco_dir.join("result.json")).expect("result"),
        )
        .expect("COCO");
        let bboxes = |doc: &Value| -> Vec<Vec<f64>> {
            let mut b: Vec<Vec<f64>> = doc["annotations"]
                .as_array()
                .expect("annotations")
                .iter()
                .map(|a| {
                    a["bbox"]
                        .as_array()
                        .expect("bbox")
                        .iter()
                        .filter_map(Value::as_f64)
                        .collect()
                })
                .collect();
            b.sort_by(|x, y| x.partial_cmp(y).expect("numbers"));
            b
        };
        let (want, got) = (bboxes(&original), bboxes(&back));
        assert_eq!(want.len(), got.len(), "{backend:?}");
        for (w, g) in want.iter().zip(&got) {
            assert!(
                w.iter().zip(g).all(|(a, b)| (a - b).abs() < 1e-6),
                "{backend:?}: {w:?} came back as {g:?}"
            );
        }
    }
}

//! Every export format goes out and comes back in: a project exported as Prodigy, Toloka,
//! Label Studio JSON_MIN, spaCy, COCO, YOLO or VOC and uploaded into a new project gives the
//! same tasks and labels — every answer with its annotator where the format keeps who
//! answered (`--label answers`), the final label where it keeps one — on both stores. Label
//! Studio's own converter (the `label-studio-sdk` package) reads Tessera's COCO and YOLO
//! exports, and what it writes (JSON_MIN, YOLO, VOC) uploads into Tessera.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tessera_api::{ExportRecord, Role};
use tessera_client::ApiClient;
use tessera_core::{BoundingBox, LabelSchema, UploadFormat};
use tessera_tests::{Backend, TestServer, api_error, cli_upload, export_records};

const CHOICES: &str = r#"{"kind": "classification", "labels": ["pos", "neg", "neutral"]}"#;
const SPANS: &str = r#"{"kind": "spans", "labels": ["INGREDIENT"]}"#;
const BOXES: &str = r#"{"kind": "boxes", "labels": ["parasites", "white", "Car"]}"#;

async fn new_project(requester: &ApiClient, schema: &str) -> i64 {
    requester
        .create_project("formats", LabelSchema::from_json(schema).expect("schema"))
        .await
        .expect("project")
        .id
}

/// A new project of `schema` holding a Label Studio corpus file, uploaded as it is.
async fn project_holding(requester: &ApiClient, schema: &str, file: &str) -> i64 {
    let project = new_project(requester, schema).await;
    let path = tessera_tests::corpus("label-studio", file);
    requester
        .upload(
            project,
            UploadFormat::Json,
            std::fs::read(path).expect("corpus"),
        )
        .await
        .expect("upload");
    project
}

async fn export(requester: &ApiClient, project: i64, format: &str, label: &str) -> Vec<u8> {
    requester
        .export_labels(project, format, Some(label))
        .await
        .expect("export")
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

/// A classification project: three texts answered by two or three annotators each (one
/// split), and a gold task.
async fn choices_project(requester: &ApiClient) -> i64 {
    let project = new_project(requester, CHOICES).await;
    let answer = |who: &str, label: &str| {
        serde_json::json!({"completed_by": {"email": who}, "updated_at": "2026-11-02T10:00:00Z",
                           "result": [{"type": "choices", "value": {"choices": [label]}}]})
    };
    let tasks = [
        serde_json::json!({"id": "t1", "data": {"text": "lovely"}, "annotations": [answer("ann@x.org", "pos"), answer("bob@x.org", "pos")]}),
        serde_json::json!({"id": "t2", "data": {"text": "awful"}, "annotations": [answer("ann@x.org", "neg"), answer("bob@x.org", "neg"), answer("cy@x.org", "neutral")]}),
        serde_json::json!({"id": "t3", "data": {"text": "meh"}, "annotations": [answer("ann@x.org", "neutral"), answer("cy@x.org", "neutral")]}),
        serde_json::json!({"id": "g1", "data": {"text": "superb"}, "gold": "pos"}),
    ];
    let body: Vec<String> = tasks.iter().map(Value::to_string).collect();
    requester
        .upload(project, UploadFormat::Jsonl, body.join("\n"))
        .await
        .expect("upload");
    project
}

/// What tells a task apart across projects: its text or its image.
fn task_key(r: &ExportRecord) -> String {
    ["text", "image"]
        .iter()
        .find_map(|k| r.data.get(*k).and_then(Value::as_str))
        .expect("text or image")
        .to_owned()
}

/// Each task (by its text or image) with its answers as (annotator, labels), sorted.
fn answers_by_task(records: &[ExportRecord]) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    records
        .iter()
        .map(|r| {
            let key = task_key(r);
            let mut answers: Vec<(String, Vec<String>)> = r
                .answers
                .iter()
                .map(|a| {
                    let mut labels = a.labels.clone();
                    labels.sort();
                    (a.annotator.clone(), labels)
                })
                .collect();
            answers.sort();
            (key, answers)
        })
        .collect()
}

/// Each task's final label: what `--label review` exports.
fn final_labels(records: &[ExportRecord]) -> BTreeMap<String, Vec<String>> {
    records
        .iter()
        .map(|r| {
            let key = task_key(r);
            let mut labels = match (&r.review, &r.gold, &r.consensus) {
                (Some(v), _, _) => v.labels.clone(),
                (None, Some(g), _) => g.clone(),
                (None, None, Some(c)) => c.labels.clone(),
                _ => Vec::new(),
            };
            labels.sort();
            (key, labels)
        })
        .collect()
}

/// Uploads `body` as `format` into a new project of `schema`; the new project's records.
async fn back_in(
    requester: &ApiClient,
    schema: &str,
    format: UploadFormat,
    body: Vec<u8>,
) -> Vec<ExportRecord> {
    let copy = new_project(requester, schema).await;
    requester
        .upload(copy, format, body)
        .await
        .expect("the export uploads back");
    export_records(requester, copy).await
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_go_out_and_come_back_with_who_gave_them_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = choices_project(&requester).await;
        let before = export_records(&requester, project).await;
        let want = answers_by_task(&before);
        for (format, upload) in [
            ("prodigy", UploadFormat::Jsonl),
            ("toloka", UploadFormat::Tsv),
            ("ls-json-min", UploadFormat::Json),
        ] {
            let body = export(&requester, project, format, "answers").await;
            let after = back_in(&requester, CHOICES, upload, body).await;
            assert_eq!(answers_by_task(&after), want, "{backend:?} {format}");
            if format == "toloka" {
                // Toloka keeps the gold answer beside the answers.
                let gold: Vec<_> = after.iter().filter_map(|r| r.gold.clone()).collect();
                assert_eq!(gold, [vec!["pos".to_owned()]], "{backend:?}");
            }
        }
        // spaCy keeps one label a text: the final one comes back as the answer of `spacy`.
        let body = export(&requester, project, "spacy", "review").await;
        let after = back_in(&requester, CHOICES, UploadFormat::Jsonl, body).await;
        let got: BTreeMap<String, Vec<String>> = answers_by_task(&after)
            .into_iter()
            .map(|(k, a)| (k, a.into_iter().flat_map(|(_, l)| l).collect()))
            .collect();
        assert_eq!(got, final_labels(&before), "{backend:?} spacy");
        // The consensus alone, as Toloka rows by `consensus`.
        let body = String::from_utf8(export(&requester, project, "toloka", "consensus").await)
            .expect("UTF-8");
        let rows: Vec<&str> = body.lines().skip(1).collect();
        assert_eq!(rows.len(), before.len());
        assert!(
            rows.iter()
                .any(|r| r.contains("\tneg\t") && r.contains("\tconsensus\t")),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_go_out_as_spacy_and_prodigy_and_come_back() {
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = project_holding(&requester, SPANS, "ner-completions-0x.json").await;
    let before = export_records(&requester, project).await;
    let body = export(&requester, project, "prodigy", "answers").await;
    let after = back_in(&requester, SPANS, UploadFormat::Jsonl, body).await;
    assert_eq!(answers_by_task(&after), answers_by_task(&before));
    let body = export(&requester, project, "spacy", "review").await;
    let after = back_in(&requester, SPANS, UploadFormat::Jsonl, body).await;
    let spans: Vec<String> = after
        .iter()
        .flat_map(|r| r.answers[0].labels.clone())
        .collect();
    let mut want: Vec<String> = final_labels(&before).into_values().flatten().collect();
    let mut got = spans;
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 38, "the file's 38 ingredients");
}

/// Boxes compared to a millionth of the image (pixels and back, centres and back).
fn boxes_by_task(labels: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    labels
        .into_iter()
        .map(|(k, boxes)| {
            let mut rounded: Vec<String> = boxes
                .iter()
                .map(|b| {
                    let b = BoundingBox::parse(b).expect("box");
                    let r = |v: f64| (v * 1e6).round() as i64;
                    format!("{} {} {} {} {}", r(b.x), r(b.y), r(b.w), r(b.h), b.label)
                })
                .collect();
            rounded.sort();
            (k, rounded)
        })
        .collect()
}

fn single_answers(records: &[ExportRecord]) -> BTreeMap<String, Vec<String>> {
    answers_by_task(records)
        .into_iter()
        .map(|(k, a)| (k, a.into_iter().flat_map(|(_, l)| l).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn boxes_go_out_as_coco_yolo_and_voc_and_come_back_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = project_holding(&requester, BOXES, "boxes-two-annotators.json").await;
        let before = export_records(&requester, project).await;
        let want = boxes_by_task(final_labels(&before));
        for (format, upload, who) in [
            ("coco", UploadFormat::Json, "coco"),
            ("yolo", UploadFormat::Zip, "yolo"),
            ("voc", UploadFormat::Zip, "voc"),
        ] {
            let body = export(&requester, project, format, "review").await;
            let after = back_in(&requester, BOXES, upload, body).await;
            assert!(
                after
                    .iter()
                    .all(|r| r.answers.iter().all(|a| a.annotator == who))
            );
            let mut got = boxes_by_task(single_answers(&after));
            if format == "yolo" {
                // Without its images, a YOLO set names each image by its label file.
                assert!(after.iter().all(|r| r.image_size.is_none()));
                let by_file: BTreeMap<String, Vec<String>> = got
                    .into_iter()
                    .map(|(k, v)| (k.rsplit('/').next().unwrap_or("").to_owned(), v))
                    .collect();
                got = by_file;
                let mut stems = BTreeMap::new();
                for (k, v) in &want {
                    let name = k.rsplit('/').next().unwrap_or("");
                    stems.insert(
                        name.rsplit_once('.').map_or(name, |(s, _)| s).to_owned(),
                        v.clone(),
                    );
                }
                assert_eq!(got, stems, "{backend:?} yolo");
            } else {
                assert!(
                    after.iter().all(|r| r.image_size == Some([2800, 2800])),
                    "{format}"
                );
                // VOC names its image by its file name.
                let want: BTreeMap<String, Vec<String>> = want
                    .iter()
                    .map(|(k, v)| {
                        let key = if format == "voc" {
                            k.rsplit('/').next().unwrap_or("")
                        } else {
                            k
                        };
                        (key.to_owned(), v.clone())
                    })
                    .collect();
                assert_eq!(got, want, "{backend:?} {format}");
            }
        }
        // Every answer's boxes, each with its annotator, in COCO.
        let coco: Value =
            serde_json::from_slice(&export(&requester, project, "coco", "answers").await)
                .expect("COCO JSON");
        let boxes: usize = before
            .iter()
            .flat_map(|r| &r.answers)
            .map(|a| a.labels.len())
            .sum();
        let annotations = coco["annotations"].as_array().expect("annotations");
        assert_eq!(annotations.len(), boxes);
        assert!(annotations.iter().all(|a| a["annotator"].is_string()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_format_that_cannot_hold_a_project_says_why() {
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let choices = choices_project(&requester).await;
    for (format, label, why) in [
        ("coco", "review", "boxes"),
        ("conll", "review", "tagged tokens"),
        ("prodigy", "nonsense", "label choice"),
    ] {
        let e = requester
            .export_labels(choices, format, Some(label))
            .await
            .expect_err(format);
        let (status, body) = api_error(e);
        assert_eq!(status, 400, "{format}");
        assert!(body.message.contains(why), "{format}: {body:?}");
    }
    // Boxes without a known image size cannot be given in pixels.
    let boxes = new_project(&requester, BOXES).await;
    requester
        .upload(
            boxes,
            UploadFormat::Jsonl,
            r#"{"data": {"image": "a.jpg"}, "gold": ["0.1,0.1,0.5,0.5:Car"]}"#.to_owned(),
        )
        .await
        .expect("upload");
    let e = requester
        .export_labels(boxes, "voc", None)
        .await
        .expect_err("no size");
    let (status, body) = api_error(e);
    assert_eq!(
        (status, body.code.as_str()),
        (422, "image_sizes_unknown"),
        "{body:?}"
    );
    let e = requester
        .export_labels(boxes, "yolo", Some("answers"))
        .await
        .expect_err("answers");
    assert!(api_error(e).1.message.contains("who answered"));
    // YOLO needs no size: shares of the image.
    let zip = export(&requester, boxes, "yolo", "review").await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
    let mut label = String::new();
    archive
        .by_name("labels/a.txt")
        .expect("labels/a.txt")
        .read_to_string(&mut label)
        .expect("text");
    assert_eq!(label.trim(), "2 0.35 0.35 0.5 0.5");
}

/// Label Studio's converter (label-studio-sdk), in the venv scripts/test.sh makes.
fn label_studio_converter() -> PathBuf {
    tessera_tests::peer_venv_program(
        "TESSERA_LABEL_STUDIO_VENV",
        "venv-label-studio",
        "label-studio-converter",
    )
}

fn run_converter(args: &[&Path]) {
    let run = Command::new(label_studio_converter())
        .args(args)
        .output()
        .expect("run label-studio-converter (scripts/test.sh installs it)");
    assert!(
        run.status.success(),
        "label-studio-converter {args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn label_studios_converter_reads_tessera_coco_and_yolo_and_its_files_come_back() {
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let project = project_holding(&requester, BOXES, "boxes-two-annotators.json").await;
    let before = export_records(&requester, project).await;
    let final_boxes: usize = final_labels(&before).values().map(Vec::len).sum();

    // Tessera's COCO, imported by Label Studio's converter: every box a rectangle.
    let coco = dir.path().join("tessera-coco.json");
    std::fs::write(&coco, export(&requester, project, "coco", "review").await).expect("write");
    let ls = dir.path().join("from-coco.json");
    run_converter(&[
        Path::new("import"),
        Path::new("coco"),
        Path::new("-i"),
        &coco,
        Path::new("-o"),
        &ls,
    ]);
    let tasks: Value =
        serde_json::from_str(&std::fs::read_to_string(&ls).expect("tasks")).expect("JSON");
    let regions: usize = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .flat_map(|t| {
            t["predictions"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(t["annotations"].as_array().into_iter().flatten())
        })
        .flat_map(|a| a["result"].as_array().into_iter().flatten())
        .filter(|r| r["type"] == "rectanglelabels")
        .count();
    assert_eq!(regions, final_boxes);

    // Tessera's YOLO, unpacked by the CLI and imported by the converter.
    let yolo = dir.path().join("tessera-yolo");
    tessera_tests::tessera_ok(
        &[
            "export",
            &project.to_string(),
            "--format",
            "yolo",
            "-o",
            yolo.to_str().expect("path"),
        ],
        &[
            ("TESSERA_SERVER", server.url.as_str()),
            ("TESSERA_TOKEN", token.as_str()),
        ],
    );
    let lines: usize = std::fs::read_dir(yolo.join("labels"))
        .expect("labels")
        .map(|e| {
            std::fs::read_to_string(e.expect("entry").path())
                .expect("text")
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, final_boxes);

    // Label Studio's JSON_MIN, YOLO and VOC of the same project upload back into Tessera.
    let config = dir.path().join("config.xml");
    std::fs::write(
        &config,
        export(&requester, project, "ls-config", "review").await,
    )
    .expect("write");
    let json = dir.path().join("ls.json");
    std::fs::write(
        &json,
        export(&requester, project, "ls-json", "review").await,
    )
    .expect("write");
    let answers: usize = before.iter().map(|r| r.answers.len()).sum();
    for (format, what) in [("JSON_MIN", "result.json"), ("YOLO", ""), ("VOC", "")] {
        let out = dir.path().join(format!("ls-{format}"));
        if format == "JSON_MIN" {
            // The converter's command line does not offer JSON_MIN; its Python API does.
            let script = "import sys\nfrom label_studio_sdk.converter import Converter\nConverter(config=open(sys.argv[1]).read(), project_dir=None).convert_to_json_min(sys.argv[2], sys.argv[3], is_dir=False)\n";
            let python = label_studio_converter().with_file_name("python");
            let run = Command::new(python)
                .args(["-c", script])
                .args([&config, &json, &out])
                .output()
                .expect("python");
            assert!(
                run.status.success(),
                "{}",
                String::from_utf8_lossy(&run.stderr)
            );
        } else {
            run_converter(&[
                Path::new("export"),
                Path::new("-i"),
                &json,
                Path::new("-c"),
                &config,
                Path::new("-o"),
                &out,
                Path::new("-f"),
                Path::new(format),
                Path::new("--heartex-format"),
            ]);
        }
        let copy = new_project(&requester, BOXES).await;
        let target = if what.is_empty() {
            out.clone()
        } else {
            out.join(what)
        };
        let printed = cli_upload(&server, &token, copy, &target, &[]);
        let after = export_records(&requester, copy).await;
        let boxes: usize = after
            .iter()
            .flat_map(|r| &r.answers)
            .map(|a| a.labels.len())
            .sum();
        match format {
            // A row per annotation: every answer with its boxes.
            "JSON_MIN" => {
                assert_eq!(
                    after.iter().map(|r| r.answers.len()).sum::<usize>(),
                    answers,
                    "{printed}"
                );
                assert_eq!(
                    boxes,
                    before
                        .iter()
                        .flat_map(|r| &r.answers)
                        .map(|a| a.labels.len())
                        .sum::<usize>()
                );
            }
            // One annotation an image (Label Studio's converter takes the latest).
            _ => assert_eq!(after.len(), before.len(), "{format}: {printed}"),
        }
    }
}

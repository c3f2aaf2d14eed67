//! Image datasets — YOLO sets, Pascal VOC files and COCO files (real ones from
//! label-studio-sdk's and Datumaro's tests, tests/corpus/{yolo,voc,coco}) — come in as boxes
//! tasks, an image each, their boxes an answer by the imported annotator `yolo`, `voc` or
//! `coco`: folders through `tessera upload`, zips through the API, on both stores. Every box the files hold is
//! in the export, counted from the files; a damaged copy is refused naming its file and line,
//! with nothing stored.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use tessera_api::Role;
use tessera_client::ApiClient;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, TestServer, api_error, cli_upload, export_records};

/// Every file under `root`, by its path inside it.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let inside = path.strip_prefix(root).expect("inside");
                let inside = inside.to_str().expect("UTF-8").replace('\\', "/");
                out.push((inside, std::fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(bytes).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8")
}

/// What a YOLO set holds, read here from its files: its classes, images and box lines.
fn yolo_counts(files: &[(String, Vec<u8>)]) -> (Vec<String>, usize, usize) {
    let names = files
        .iter()
        .find(|(p, _)| p.ends_with("classes.txt") || p.ends_with(".names"))
        .map(|(_, b)| text(b).lines().map(str::to_owned).collect::<Vec<_>>())
        .expect("a class list");
    let images = files
        .iter()
        .filter(|(p, _)| p.ends_with(".jpg") || p.ends_with(".png"))
        .count();
    let boxes = files
        .iter()
        .filter(|(p, _)| p.ends_with(".txt") && !p.ends_with("classes.txt"))
        .flat_map(|(_, b)| text(b).lines())
        .filter(|l| l.split_whitespace().count() == 5)
        .count();
    (names, images, boxes)
}

/// What VOC files hold: each object's first `<name>` (its label; a `<part>` names a body part).
fn voc_objects(files: &[(String, Vec<u8>)]) -> (usize, Vec<String>) {
    let xml: Vec<&str> = files
        .iter()
        .filter(|(p, _)| p.ends_with(".xml"))
        .map(|(_, b)| text(b))
        .collect();
    let labels = xml
        .iter()
        .flat_map(|x| x.split("<object>").skip(1))
        .map(|o| {
            let start = o.find("<name>").expect("a name") + "<name>".len();
            o[start..start + o[start..].find("</name>").expect("closed")].to_owned()
        })
        .collect();
    (xml.len(), labels)
}

async fn boxes_project(requester: &ApiClient, name: &str, labels: &[String]) -> i64 {
    let labels: BTreeSet<&String> = labels.iter().collect();
    let schema = serde_json::json!({"kind": "boxes", "labels": labels});
    let schema = LabelSchema::from_json(&schema.to_string()).expect("schema");
    requester
        .create_project(name, schema)
        .await
        .expect("project")
        .id
}

/// Boxes of the export's answers, all by `annotator`.
async fn exported_boxes(requester: &ApiClient, project: i64, annotator: &str) -> Vec<String> {
    let records = export_records(requester, project).await;
    for r in &records {
        assert!(r.answers.iter().all(|a| a.annotator == annotator), "{r:?}");
    }
    records
        .into_iter()
        .flat_map(|r| r.answers)
        .flat_map(|a| a.labels)
        .collect()
}

fn corpus(tool: &str, name: &str) -> PathBuf {
    tessera_tests::corpus(tool, name)
}

#[tokio::test(flavor = "multi_thread")]
async fn yolo_sets_come_in_as_folders_and_zips_with_every_box_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        let mut sdk_project = None;
        for set in [
            "label-studio-sdk",
            "datumaro-darknet",
            "datumaro-ultralytics",
            "datumaro-annotations",
        ] {
            let root = corpus("yolo", set);
            let all = files(&root);
            let (classes, images, boxes) = yolo_counts(&all);
            // A folder, read by the CLI.
            let project = boxes_project(&requester, set, &classes).await;
            sdk_project.get_or_insert(project);
            let out = cli_upload(&server, &token, project, &root, &[]);
            assert!(
                out.contains(&format!("added {images} tasks")),
                "{set}: {out}"
            );
            let from_folder = exported_boxes(&requester, project, "yolo").await;
            assert_eq!(from_folder.len(), boxes, "{backend:?} {set}");
            // The same set as a zip, read by the server: the same boxes.
            let project = boxes_project(&requester, set, &classes).await;
            let reply = requester
                .upload(project, UploadFormat::Zip, zip_of(&all))
                .await
                .expect("zip upload");
            assert_eq!(reply.tasks_added, images, "{set}");
            let mut from_zip = exported_boxes(&requester, project, "yolo").await;
            let mut from_folder = from_folder;
            from_zip.sort();
            from_folder.sort();
            assert_eq!(from_zip, from_folder, "{backend:?} {set}");
        }
        // A box of label-studio-sdk's first image, worked out here: the centre less half the
        // size; the image's size read from the JPEG.
        let records = export_records(&requester, sdk_project.expect("first set")).await;
        let first = records
            .iter()
            .find(|r| r.data["image"] == "images/img_1.jpg")
            .expect("img_1");
        let b = tessera_core::BoundingBox::parse(&first.answers[0].labels[0]).expect("a box");
        assert_eq!(b.label, "bus");
        assert!(
            (b.x - (0.49765625 - 0.9640625 / 2.0)).abs() < 1e-12,
            "{b:?}"
        );
        assert!(first.image_size.is_some_and(|[w, h]| w > 0 && h > 0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_yolo_label_files_are_refused_naming_file_and_line() {
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut all = files(&corpus("yolo", "label-studio-sdk"));
    let (classes, _, _) = yolo_counts(&all);
    let project = boxes_project(&requester, "damaged", &classes).await;
    let label = all
        .iter_mut()
        .find(|(p, _)| p == "labels/img_2.txt")
        .expect("img_2");
    label.1.extend(b"9 0.5 0.5 0.1 0.1\n");
    let lines = text(&label.1).lines().count();
    let e = requester
        .upload(project, UploadFormat::Zip, zip_of(&all))
        .await
        .expect_err("class 9 of 4");
    let (status, body) = api_error(e);
    assert_eq!(status, 422);
    assert!(
        body.line == Some(lines) && body.message.contains("labels/img_2.txt"),
        "{body:?}"
    );
    assert!(export_records(&requester, project).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn voc_files_come_in_as_boxes_tasks_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        for set in ["datumaro-voc1", "datumaro-voc3"] {
            let root = corpus("voc", set);
            let all = files(&root);
            let (xml_files, labels) = voc_objects(&all);
            let project = boxes_project(&requester, set, &labels).await;
            let out = cli_upload(&server, &token, project, &root, &[]);
            assert!(
                out.contains(&format!("added {xml_files} tasks")),
                "{set}: {out}"
            );
            assert!(
                out.contains("files not read in ImageSets/Main/"),
                "{set}: {out}"
            );
            let mut boxes: Vec<String> = exported_boxes(&requester, project, "voc")
                .await
                .iter()
                .map(|b| tessera_core::BoundingBox::parse(b).expect("box").label)
                .collect();
            let mut expected = labels.clone();
            boxes.sort();
            expected.sort();
            assert_eq!(boxes, expected, "{backend:?} {set}");
            // One file alone uploads too.
            let project = boxes_project(&requester, set, &labels).await;
            let xml = root.join("Annotations/2007_000001.xml");
            let out = cli_upload(&server, &token, project, &xml, &[]);
            assert!(out.contains("added 1 tasks"), "{out}");
            let records = export_records(&requester, project).await;
            assert_eq!(records[0].image_size, Some([20, 10]), "<size> is kept");
        }
        // Datumaro's second set gives no image sizes and holds no images: a pixel box cannot
        // become a share of an image of unknown size. Refused, or with --lenient left out and
        // listed.
        let root = corpus("voc", "datumaro-voc2-no-sizes");
        let all = files(&root);
        let (xml_files, labels) = voc_objects(&all);
        let project = boxes_project(&requester, "voc2", &labels).await;
        let e = requester
            .upload(project, UploadFormat::Zip, zip_of(&all))
            .await
            .expect_err("no sizes");
        let (status, body) = api_error(e);
        assert_eq!(status, 422);
        assert!(body.message.contains("size is not given"), "{body:?}");
        let out = cli_upload(&server, &token, project, &root, &["--lenient"]);
        assert!(out.contains(&format!("added {xml_files} tasks")), "{out}");
        assert!(
            out.contains(&format!("left out {} items", labels.len())),
            "{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_voc_file_is_refused_at_its_line() {
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let xml = std::fs::read_to_string(corpus("voc", "datumaro-voc1/Annotations/2007_000001.xml"))
        .expect("xml");
    let (_, labels) = voc_objects(&[("a.xml".to_owned(), xml.clone().into_bytes())]);
    let project = boxes_project(&requester, "damaged", &labels).await;
    // An unknown label on the second object.
    let damaged = xml.replacen("<name>person</name>", "<name>unicorn</name>", 1);
    let line = damaged
        .lines()
        .position(|l| l.contains("unicorn"))
        .expect("the line");
    let e = requester
        .upload(project, UploadFormat::Voc, damaged)
        .await
        .expect_err("unicorn");
    let (status, body) = api_error(e);
    assert_eq!(status, 422);
    assert!(body.message.contains("unicorn"), "{body:?}");
    // The error names the object's opening line, which is just before its name.
    assert_eq!(body.line, Some(line), "{body:?}");
    // Cut short: the XML error's line and column.
    let cut = &xml[..xml.len() / 2];
    let e = requester
        .upload(project, UploadFormat::Voc, cut.to_owned())
        .await
        .expect_err("cut");
    let (_, body) = api_error(e);
    assert!(body.line.is_some() && body.column.is_some(), "{body:?}");
    assert!(export_records(&requester, project).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn coco_files_come_in_with_every_box_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        for name in [
            "instances.json",
            "datumaro-instances-train.json",
            "datumaro-instances-val.json",
        ] {
            let path = corpus("coco", name);
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("corpus"))
                    .expect("COCO");
            let list = |k: &str| doc[k].as_array().cloned().unwrap_or_default();
            let names: Vec<String> = list("categories")
                .iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect();
            let project = boxes_project(&requester, name, &names).await;
            let out = cli_upload(&server, &token, project, &path, &[]);
            assert!(
                out.contains(&format!("added {} tasks", list("images").len())),
                "{name}: {out}"
            );
            let boxes = exported_boxes(&requester, project, "coco").await;
            assert_eq!(boxes.len(), list("annotations").len(), "{backend:?} {name}");
            let sizes: Vec<Option<[u32; 2]>> = export_records(&requester, project)
                .await
                .iter()
                .map(|r| r.image_size)
                .collect();
            assert!(sizes.iter().all(Option::is_some), "{name}: {sizes:?}");
        }
    }
}

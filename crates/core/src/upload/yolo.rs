//! A YOLO dataset: a label file per image (`labels/…/a.txt` beside `images/…/a.jpg`, or side
//! by side), each line `class x_center y_center width height` in shares of the image, and the
//! class names in `data.yaml` (`names`), `classes.txt`, `obj.names` or Label Studio's
//! `notes.json`. Each image is a boxes task; its label file's boxes are an answer by the
//! imported annotator `yolo` — an image with no label file is one with no objects, as YOLO
//! has it.

use std::collections::BTreeMap;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::dataset::{Dataset, file_name, image_task, report_unread, require_boxes, stem_path};
use super::task_object::Reading;
use super::{UploadError, UploadReport, err};
use crate::bbox::BoundingBox;
use crate::schema::LabelSchema;
use crate::task::TaskInput;

/// The annotator a YOLO set's boxes are imported as.
pub const YOLO_ANNOTATOR: &str = "yolo";

/// Files that may name a YOLO set's classes, in the order they are believed.
fn is_class_file(path: &str) -> bool {
    let name = file_name(path).to_ascii_lowercase();
    name == "classes.txt"
        || name.ends_with(".names")
        || name == "notes.json"
        || name.ends_with(".yaml")
        || name.ends_with(".yml")
}

/// The class names of a YOLO set, or `None` when the dataset has no class list (it is not a
/// YOLO set). A YAML file without `names` is not a class list.
pub(super) fn class_list(dataset: &Dataset) -> Result<Option<Vec<String>>, String> {
    let mut found: Vec<(u8, &String, Vec<String>)> = Vec::new();
    for (path, text) in &dataset.texts {
        if !is_class_file(path) {
            continue;
        }
        let name = file_name(path).to_ascii_lowercase();
        let (rank, names) = if name.ends_with(".yaml") || name.ends_with(".yml") {
            match yaml_names(text).map_err(|m| format!("{path}: {m}"))? {
                Some(names) => (0, names),
                None => continue,
            }
        } else if name == "notes.json" {
            match notes_names(text) {
                Some(names) => (3, names),
                None => continue,
            }
        } else {
            let names: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            (if name == "classes.txt" { 1 } else { 2 }, names)
        };
        found.push((rank, path, names));
    }
    found.sort_by_key(|(rank, path, _)| (*rank, path.len()));
    Ok(found.into_iter().next().map(|(_, _, names)| names))
}

/// `names` of an Ultralytics `data.yaml`: a list, or a map from class number to name.
fn yaml_names(text: &str) -> Result<Option<Vec<String>>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let Some(names) = docs.first().map(|d| &d["names"]) else {
        return Ok(None);
    };
    let as_name = |y: &Yaml| match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        _ => None,
    };
    match names {
        Yaml::Array(items) => items
            .iter()
            .map(|y| as_name(y).ok_or_else(|| "a class name must be text".to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Yaml::Hash(map) => {
            let mut numbered = BTreeMap::new();
            for (k, v) in map {
                let k = k
                    .as_i64()
                    .ok_or("\"names\" must map class numbers to names")?;
                numbered.insert(k, as_name(v).ok_or("a class name must be text")?);
            }
            if numbered.keys().copied().ne(0..numbered.len() as i64) {
                return Err("\"names\" must number the classes 0, 1, 2, …".to_owned());
            }
            Ok(Some(numbered.into_values().collect()))
        }
        _ => Ok(None),
    }
}

/// The categories of Label Studio's `notes.json`, in id order.
fn notes_names(text: &str) -> Option<Vec<String>> {
    let notes: Value = serde_json::from_str(text).ok()?;
    let mut categories: Vec<(i64, String)> = notes
        .get("categories")?
        .as_array()?
        .iter()
        .filter_map(|c| Some((c.get("id")?.as_i64()?, c.get("name")?.as_str()?.to_owned())))
        .collect();
    categories.sort();
    Some(categories.into_iter().map(|(_, n)| n).collect())
}

/// The key an image and its label file share: the path without its extension, the folder
/// `images` read as `labels`.
fn pair_key(path: &str) -> String {
    stem_path(path)
        .split('/')
        .map(|part| if part == "images" { "labels" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) fn parse(
    dataset: &Dataset,
    classes: &[String],
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<TaskInput>, UploadReport), UploadError> {
    require_boxes(schema, "a YOLO set")?;
    let images: BTreeMap<String, &String> = dataset
        .images
        .keys()
        .map(|path| (pair_key(path), path))
        .collect();
    // The image of a label file: the one its path pairs with, else the only one of its name.
    let image_of = |label: &str| -> Option<&String> {
        images.get(&pair_key(label)).copied().or_else(|| {
            let stem = file_name(stem_path(label));
            let mut named = dataset
                .images
                .keys()
                .filter(|p| file_name(stem_path(p)) == stem);
            match (named.next(), named.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
    };
    let label_files: Vec<(&String, &String)> = dataset
        .texts
        .iter()
        .filter(|(path, text)| {
            path.ends_with(".txt")
                && !is_class_file(path)
                && (path.split('/').any(|p| p == "labels")
                    || images.contains_key(&pair_key(path))
                    || looks_like_labels(text))
        })
        .collect();
    let unread = dataset
        .texts
        .keys()
        .filter(|p| !is_class_file(p) && label_files.iter().all(|(l, _)| l != p));
    let mut cx = Reading::new(lenient);
    report_unread(&mut cx.report, unread);
    let mut by_image: BTreeMap<String, TaskInput> = BTreeMap::new();
    for (path, text) in &label_files {
        let (image, size) = match image_of(path) {
            Some(image) => (image.clone(), dataset.images[image]),
            None => {
                // Label Studio's YOLO export leaves the images out when it could not reach
                // them: the task names its image by the label file's stem, and says so.
                cx.report.ignore("labels without their image");
                (pair_key(path).replacen("labels/", "images/", 1), None)
            }
        };
        let mut labels = Vec::new();
        for (n, line) in text.lines().enumerate() {
            cx.line = n + 1;
            if line.trim().is_empty() {
                continue;
            }
            match read_line(line, classes, &mut cx.report) {
                Ok(b) => {
                    let b = vec![b];
                    match schema.check_answer(&b) {
                        Ok(()) => labels.extend(b),
                        Err(e) if cx.leave_out(path.to_string(), &e.to_string()) => {}
                        Err(e) => return Err(err(n + 1, None, format!("{path}: {e}"))),
                    }
                }
                Err(m) if cx.leave_out(path.to_string(), &m) => {}
                Err(m) => return Err(err(n + 1, None, format!("{path}: {m}"))),
            }
        }
        let task = image_task(&image, size, YOLO_ANNOTATOR, labels, schema)
            .map_err(|m| err(1, None, format!("{image}: {m}")))?;
        by_image.insert(image.clone(), task);
    }
    // Images with no label file hold no objects.
    for image in images.values() {
        if !by_image.contains_key(*image) {
            let task = image_task(
                image,
                dataset.images[*image],
                YOLO_ANNOTATOR,
                Vec::new(),
                schema,
            )
            .map_err(|m| err(1, None, format!("{image}: {m}")))?;
            by_image.insert((*image).clone(), task);
        }
    }
    Ok((by_image.into_values().collect(), cx.report))
}

/// Whether a text reads as YOLO labels: every line a class number and four or more numbers.
fn looks_like_labels(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some()
        && lines.all(|l| {
            let mut fields = l.split_whitespace();
            fields.next().is_some_and(|c| c.parse::<usize>().is_ok())
                && fields.clone().count() >= 4
                && fields.all(|f| f.parse::<f64>().is_ok())
        })
}

/// One line of a label file: `class x_center y_center width height`. More numbers are a
/// polygon (YOLO segmentation) or a detection's confidence, which a boxes answer cannot keep.
fn read_line(line: &str, classes: &[String], report: &mut UploadReport) -> Result<String, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{} values where a box has 5 (class x_center y_center width height){}",
            fields.len(),
            if fields.len() > 6 {
                ": a polygon cannot be kept (boxes are rectangles)"
            } else {
                ""
            }
        ));
    }
    let class: usize = fields[0]
        .parse()
        .map_err(|_| format!("class {:?} is not a class number", fields[0]))?;
    let label = classes.get(class).ok_or(format!(
        "class {class}, but the class list has {}",
        classes.len()
    ))?;
    let mut numbers = [0f64; 4];
    for (slot, field) in numbers.iter_mut().zip(&fields[1..]) {
        *slot = field
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or(format!("{field:?} is not a number"))?;
    }
    let [xc, yc, w, h] = numbers;
    let (b, cut) = BoundingBox::within_image(xc - w / 2.0, yc - h / 2.0, w, h, label).ok_or(
        format!("box at {xc}, {yc}, {w} by {h} lies outside the image"),
    )?;
    if cut {
        report.clamped_boxes += 1;
    }
    Ok(b.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["cat", "dog"]}"#).expect("schema")
    }

    #[test]
    fn class_names_come_from_data_yaml_or_a_names_file() {
        let mut ds = Dataset::new();
        ds.add_text("obj.names", "cat\ndog\n".into());
        assert_eq!(
            class_list(&ds).expect("names"),
            Some(vec!["cat".into(), "dog".into()])
        );
        ds.add_text("data.yaml", "path: .\nnames:\n  0: dog\n  1: cat\n".into());
        assert_eq!(
            class_list(&ds).expect("yaml"),
            Some(vec!["dog".into(), "cat".into()])
        );
        let mut ds = Dataset::new();
        ds.add_text(
            "data.yaml",
            "train: images/train\nnames: ['cat', dog]\n".into(),
        );
        assert_eq!(
            class_list(&ds).expect("list"),
            Some(vec!["cat".into(), "dog".into()])
        );
        let mut ds = Dataset::new();
        ds.add_text("other.yaml", "a: 1\n".into());
        assert_eq!(class_list(&ds).expect("not a class list"), None);
        ds.add_text("data.yaml", "names: {0: a, 2: b}\n".into());
        assert!(class_list(&ds).is_err(), "a gap in the class numbers");
    }

    #[test]
    fn each_image_is_a_task_and_its_label_file_an_answer() {
        let mut ds = Dataset::new();
        ds.add_text("classes.txt", "cat\ndog\n".into());
        ds.add_image("images/train/a.jpg", Some([200, 100]));
        ds.add_image("images/train/b.jpg", None);
        ds.add_text(
            "labels/train/a.txt",
            "1 0.5 0.5 0.5 0.5\n0 0.05 0.5 0.2 0.2\n".into(),
        );
        let (tasks, report) =
            parse(&ds, &["cat".into(), "dog".into()], &schema(), false).expect("yolo");
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].data["image"], "images/train/a.jpg");
        assert_eq!(tasks[0].image_size, Some([200, 100]));
        let labels = &tasks[0].answers[0].labels;
        assert_eq!(labels[0], "0.25,0.25,0.5,0.5:dog");
        assert!(
            labels[1].starts_with("0,0.4,") && labels[1].ends_with(":cat"),
            "{labels:?}"
        );
        assert_eq!(
            report.clamped_boxes, 1,
            "the second box runs past the left edge"
        );
        assert!(
            tasks[1].answers[0].labels.is_empty(),
            "no label file: no objects"
        );
    }

    #[test]
    fn a_bad_line_is_refused_naming_its_file_and_line_or_left_out() {
        let mut ds = Dataset::new();
        ds.add_image("images/a.jpg", None);
        ds.add_text(
            "labels/a.txt",
            "0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n".into(),
        );
        let classes = ["cat".to_owned()];
        let e = parse(&ds, &classes, &schema(), false).expect_err("class 7");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("labels/a.txt: class 7"), "{e}");
        let (tasks, report) = parse(&ds, &classes, &schema(), true).expect("lenient");
        assert_eq!(tasks[0].answers[0].labels.len(), 1);
        assert_eq!(report.left_out[0].line, 2);
        ds.add_text("labels/a.txt", "0 0.1 0.1 0.2 0.1 0.3 0.3 0.1\n".into());
        let e = parse(&ds, &classes, &schema(), false).expect_err("polygon");
        assert!(e.message.contains("polygon"), "{e}");
    }
}

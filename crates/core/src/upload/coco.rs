//! A COCO instances file (`images`, `annotations`, `categories`): each image becomes a boxes
//! task (`image` is its `file_name`), with its size, and its objects' boxes an answer by the
//! imported annotator `coco` (an image with no objects, an answer of none). A box is the
//! object's `bbox` (`x, y, width, height` in pixels), kept as a share of the image (cut at
//! its edge when it strays past, and counted); masks (`segmentation` polygons or RLE), the
//! crowd flag and `attributes` are not kept (a boxes project has boxes) and are counted.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::task_object::Reading;
use super::{UploadError, UploadReport, err};
use crate::bbox::BoundingBox;
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ImportedAnswer, TaskInput, check_data};

/// The annotator a COCO file's objects are imported as.
pub const COCO_ANNOTATOR: &str = "coco";

/// Whether a JSON document is a COCO instances file.
pub(super) fn is_coco(doc: &Value) -> bool {
    ["images", "annotations", "categories"]
        .iter()
        .all(|k| doc.get(k).is_some_and(Value::is_array))
}

fn number(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Reads a COCO file: one task per image, in the file's order.
pub(super) fn parse(
    doc: Value,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<TaskInput>, Vec<usize>, UploadReport), UploadError> {
    if schema.kind != SchemaKind::Boxes {
        return Err(err(
            1,
            None,
            "a COCO file holds boxes: upload it to a boxes project",
        ));
    }
    let mut cx = Reading::new(lenient);
    let list = |key: &str| {
        doc.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let categories: HashMap<i64, String> = list("categories")
        .iter()
        .filter_map(|c| Some((c.get("id")?.as_i64()?, c.get("name")?.as_str()?.to_owned())))
        .collect();
    let mut boxes: HashMap<i64, Vec<String>> = HashMap::new();
    let images = list("images");
    let sizes: HashMap<i64, (f64, f64)> = images
        .iter()
        .filter_map(|i| {
            Some((
                i.get("id")?.as_i64()?,
                (number(i, "width")?, number(i, "height")?),
            ))
        })
        .collect();
    for (n, a) in list("annotations").iter().enumerate() {
        cx.line = 1;
        let item = format!("annotations[{n}]");
        let read = (|| -> Result<(i64, String), String> {
            let image = a
                .get("image_id")
                .and_then(Value::as_i64)
                .ok_or("no \"image_id\"")?;
            let (w, h) = *sizes
                .get(&image)
                .ok_or(format!("image {image} has no width and height"))?;
            let category = a
                .get("category_id")
                .and_then(Value::as_i64)
                .ok_or("no \"category_id\"")?;
            let label = categories
                .get(&category)
                .ok_or(format!("no category {category}"))?;
            let bbox: Vec<f64> = a
                .get("bbox")
                .and_then(Value::as_array)
                .map(|b| b.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let [x, y, bw, bh] = bbox[..] else {
                return Err("\"bbox\" must be [x, y, width, height]".to_owned());
            };
            // Masks (polygons or RLE), crowd flags and attributes are not kept: counted.
            if a.get("segmentation")
                .is_some_and(|s| s.as_array().is_some_and(|p| !p.is_empty()) || s.is_object())
            {
                cx.report.ignore("annotations.segmentation");
            }
            if a.get("iscrowd").and_then(Value::as_i64) == Some(1) {
                cx.report.ignore("annotations.iscrowd");
            }
            if a.get("attributes")
                .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
            {
                cx.report.ignore("annotations.attributes");
            }
            let (b, cut) = BoundingBox::within_image(x / w, y / h, bw / w, bh / h, label).ok_or(
                format!("box {x},{y} {bw} by {bh} lies outside the {w} by {h} image"),
            )?;
            if cut {
                cx.report.clamped_boxes += 1;
            }
            let labels = vec![b.to_string()];
            schema.check_answer(&labels).map_err(|e| e.to_string())?;
            Ok((image, labels.into_iter().next().unwrap_or_default()))
        })();
        match read {
            Ok((image, b)) => boxes.entry(image).or_default().push(b),
            Err(reason) if cx.leave_out(item.clone(), &reason) => {}
            Err(reason) => return Err(err(1, None, format!("{item}: {reason}"))),
        }
    }
    let mut tasks = Vec::with_capacity(images.len());
    for (n, image) in images.iter().enumerate() {
        let file = image
            .get("file_name")
            .and_then(Value::as_str)
            .ok_or_else(|| err(1, None, format!("images[{n}] has no \"file_name\"")))?;
        let id = image.get("id").and_then(Value::as_i64);
        let mut data = Map::new();
        data.insert("image".to_owned(), file.into());
        check_data(&data, schema.kind).map_err(|m| err(1, None, format!("images[{n}]: {m}")))?;
        let size = id.and_then(|id| sizes.get(&id)).and_then(|&(w, h)| {
            Some([u32::try_from(w as u64).ok()?, u32::try_from(h as u64).ok()?])
        });
        tasks.push(TaskInput {
            external_id: id.map(|id| id.to_string()),
            data,
            answers: vec![ImportedAnswer {
                annotator: COCO_ANNOTATOR.to_owned(),
                labels: id.and_then(|id| boxes.remove(&id)).unwrap_or_default(),
                skipped: false,
                answered_at: None,
                unsure: false,
            }],
            image_size: size,
            ..TaskInput::default()
        });
    }
    let lines = vec![1; tasks.len()];
    Ok((tasks, lines, cx.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["cat", "dog"]}"#).expect("schema")
    }

    fn coco() -> Value {
        serde_json::json!({
            "images": [{"id": 7, "file_name": "a.jpg", "width": 200, "height": 100},
                       {"id": 8, "file_name": "b.jpg", "width": 10, "height": 10}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [20, 10, 50, 25],
                             "segmentation": [[20, 10, 70, 10, 70, 35]]}],
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
        })
    }

    #[test]
    fn each_image_is_a_task_and_its_boxes_an_answer() {
        assert!(is_coco(&coco()));
        let (tasks, _, report) = parse(coco(), &schema(), false).expect("coco");
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].data["image"], "a.jpg");
        assert_eq!(tasks[0].image_size, Some([200, 100]));
        assert_eq!(tasks[0].answers[0].labels, ["0.1,0.1,0.25,0.25:cat"]);
        assert!(
            tasks[1].answers[0].labels.is_empty(),
            "an image with no objects"
        );
        assert_eq!(
            report.ignored_keys.get("annotations.segmentation"),
            Some(&1)
        );
    }

    #[test]
    fn an_unknown_category_is_refused_or_left_out() {
        let mut doc = coco();
        doc["annotations"][0]["category_id"] = 9.into();
        let e = parse(doc.clone(), &schema(), false).expect_err("unknown category");
        assert!(e.message.contains("annotations[0]: no category 9"), "{e}");
        let (tasks, _, report) = parse(doc, &schema(), true).expect("lenient");
        assert!(tasks[0].answers[0].labels.is_empty());
        assert_eq!(report.left_out.len(), 1);
    }
}

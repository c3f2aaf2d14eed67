//! A COCO instances file for a boxes project: `categories` (the schema's labels, numbered from
//! 0), `images` (each task: its image as `file_name`, its size), and `annotations` (each box in
//! pixels, `[x, y, width, height]`, with its area). The images and the annotations are two
//! arrays, so the export reads the project twice — a page at a time both times — and memory
//! stays flat. With `--label answers`, each box carries its `annotator`.

use serde_json::{Value, json};
use tessera_api::ExportRecord;
use tessera_core::{BoundingBox, LabelSchema};

use super::labels::{LabelChoice, labelings};

/// What comes before the first image.
pub fn start(schema: &LabelSchema) -> String {
    let categories: Vec<Value> = schema
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"id": i, "name": l, "supercategory": ""}))
        .collect();
    format!(
        "{{\"info\":{{\"description\":\"exported by Tessera\"}},\"categories\":{},\"images\":[",
        Value::Array(categories)
    )
}

/// Between the images and the annotations.
pub const BETWEEN: &str = "],\"annotations\":[";

/// After the last annotation.
pub const END: &str = "]}";

/// The image entries of `records`; `first` when none was written before.
pub fn images(records: &[ExportRecord], first: &mut bool) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for r in records {
        let [w, h] = r.image_size.unwrap_or([0, 0]);
        let image = json!({"id": r.task_id, "file_name": r.data.get("image").and_then(Value::as_str).unwrap_or(""),
                           "width": w, "height": h});
        if !std::mem::take(first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &image)?;
    }
    Ok(out)
}

/// The annotations of `records`, numbered on from `next_id`.
pub fn annotations(
    schema: &LabelSchema,
    records: &[ExportRecord],
    choice: LabelChoice,
    next_id: &mut u64,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for r in records {
        let Some([w, h]) = r.image_size else {
            continue;
        };
        let (w, h) = (f64::from(w), f64::from(h));
        for l in labelings(r, choice) {
            for b in l.labels.iter().filter_map(|b| BoundingBox::parse(b)) {
                let Some(category) = schema.labels.iter().position(|c| *c == b.label) else {
                    continue;
                };
                let (bw, bh) = (b.w * w, b.h * h);
                let mut a = json!({"id": *next_id, "image_id": r.task_id, "category_id": category,
                    "bbox": [b.x * w, b.y * h, bw, bh], "area": bw * bh, "iscrowd": 0,
                    "segmentation": []});
                if choice == LabelChoice::Answers {
                    a["annotator"] = json!(l.by);
                }
                if *next_id > 0 {
                    out.push(b',');
                }
                *next_id += 1;
                serde_json::to_writer(&mut out, &a)?;
            }
        }
    }
    Ok(out)
}

//! A project as Label Studio reads it: its tasks as a Label Studio JSON export (every answer an
//! annotation, every prediction a prediction, gold a ground-truth annotation), and the
//! labeling config that matches them. The control is named `label` and the object `text` or
//! `image` (`a`/`b` for pairwise), as the config says.

use serde_json::{Map, Value, json};
use tessera_api::{ExportAnswer, ExportRecord};

use super::labels::{LabelChoice, labelings};
use tessera_core::bbox::shift_decimal;
use tessera_core::{BoundingBox, LabelSchema, Prediction, SchemaKind, Span};

/// The object tag a schema's answers are about.
fn object(schema: &LabelSchema) -> &'static str {
    match schema.kind {
        SchemaKind::Boxes => "image",
        SchemaKind::Pairwise => "a",
        _ => "text",
    }
}

/// The labeling config for a schema: import it in Label Studio before the tasks.
pub fn label_config(schema: &LabelSchema) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let labels = |tag: &str| -> String {
        schema
            .labels
            .iter()
            .map(|l| format!("    <{tag} value=\"{}\"/>\n", escape(l)))
            .collect()
    };
    let header = schema
        .instructions
        .as_deref()
        .map(|i| format!("  <Header value=\"{}\"/>\n", escape(i)))
        .unwrap_or_default();
    let body = match schema.kind {
        SchemaKind::Classification => format!(
            "  <Text name=\"text\" value=\"$text\"/>\n  <Choices name=\"label\" toName=\"text\" choice=\"{}\">\n{}  </Choices>\n",
            if schema.multiple { "multiple" } else { "single" },
            labels("Choice")
        ),
        SchemaKind::Rating => format!(
            "  <Text name=\"text\" value=\"$text\"/>\n  <Rating name=\"label\" toName=\"text\" maxRating=\"{}\"/>\n",
            schema.labels.len()
        ),
        SchemaKind::Pairwise => "  <Text name=\"a\" value=\"$a\"/>\n  <Text name=\"b\" value=\"$b\"/>\n  <Pairwise name=\"label\" toName=\"a,b\"/>\n".to_owned(),
        SchemaKind::Text => "  <Text name=\"text\" value=\"$text\"/>\n  <TextArea name=\"label\" toName=\"text\"/>\n".to_owned(),
        SchemaKind::Spans => format!(
            "  <Labels name=\"label\" toName=\"text\">\n{}  </Labels>\n  <Text name=\"text\" value=\"$text\"/>\n",
            labels("Label")
        ),
        SchemaKind::Boxes => format!(
            "  <Image name=\"image\" value=\"$image\"/>\n  <RectangleLabels name=\"label\" toName=\"image\">\n{}  </RectangleLabels>\n",
            labels("Label")
        ),
    };
    format!("<View>\n{header}{body}</View>\n")
}

/// What a task's answers are read against: its text (for span excerpts) and its image size
/// (boxes carry it, as Label Studio's COCO, YOLO and VOC converters need).
#[derive(Clone, Copy)]
struct Context<'a> {
    text: Option<&'a str>,
    image_size: Option<[u32; 2]>,
}

/// Label Studio result regions for one answer's labels. Pairwise ties have no Label Studio
/// form and give no region.
fn regions(schema: &LabelSchema, labels: &[String], cx: Context<'_>) -> Vec<Value> {
    let text = cx.text;
    let region = |kind: &str, value: Value| {
        let mut r =
            json!({"type": kind, "from_name": "label", "to_name": object(schema), "value": value});
        if let (SchemaKind::Boxes, Some([w, h])) = (schema.kind, cx.image_size) {
            r["original_width"] = json!(w);
            r["original_height"] = json!(h);
            r["image_rotation"] = json!(0);
        }
        r
    };
    match schema.kind {
        SchemaKind::Classification => vec![region("choices", json!({"choices": labels}))],
        SchemaKind::Rating => labels
            .iter()
            .filter_map(|l| schema.labels.iter().position(|p| p == l))
            .map(|i| region("rating", json!({"rating": i + 1})))
            .collect(),
        SchemaKind::Pairwise => labels
            .iter()
            .filter_map(|l| match schema.labels.iter().position(|p| p == l) {
                Some(0) => Some("left"),
                Some(1) => Some("right"),
                _ => None,
            })
            .map(|side| region("pairwise", json!({"selected": side})))
            .collect(),
        SchemaKind::Text => vec![region("textarea", json!({"text": labels}))],
        SchemaKind::Spans => labels
            .iter()
            .filter_map(|l| Span::parse(l))
            .map(|s| {
                let excerpt = text.and_then(|t| s.excerpt(t)).unwrap_or_default();
                region(
                    "labels",
                    json!({"start": s.start, "end": s.end, "text": excerpt, "labels": [s.label]}),
                )
            })
            .collect(),
        SchemaKind::Boxes => labels
            .iter()
            .filter_map(|l| BoundingBox::parse(l))
            .map(|b| {
                region(
                    "rectanglelabels",
                    json!({"x": percent(b.x), "y": percent(b.y), "width": percent(b.w),
                           "height": percent(b.h), "rotation": 0, "rectanglelabels": [b.label]}),
                )
            })
            .collect(),
    }
}

/// Label Studio result regions for `labels` given to task `r` (an answer's or a prediction's).
pub(crate) fn result(schema: &LabelSchema, r: &ExportRecord, labels: &[String]) -> Vec<Value> {
    let cx = Context {
        text: r.data.get("text").and_then(Value::as_str),
        image_size: r.image_size,
    };
    regions(schema, labels, cx)
}

/// A share of the image as Label Studio's percent of it, digit for digit.
fn percent(share: f64) -> f64 {
    shift_decimal(share, 2)
}

/// Who made an answer, as Label Studio's importer takes a user: by email. A name that is not
/// one becomes an address of the reserved `.invalid` domain, so it can never reach anyone.
fn completed_by(annotator: &str) -> Value {
    if annotator.contains('@') {
        json!({"email": annotator})
    } else {
        let local: String = annotator
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        json!({"email": format!("{local}@tessera.invalid")})
    }
}

fn annotation(schema: &LabelSchema, a: &ExportAnswer, cx: Context<'_>) -> Value {
    json!({
        "completed_by": completed_by(&a.annotator),
        "result": regions(schema, &a.labels, cx),
        "was_cancelled": false,
        "ground_truth": false,
        "created_at": a.answered_at,
        "updated_at": a.received_at,
    })
}

fn prediction(schema: &LabelSchema, p: &Prediction, cx: Context<'_>) -> Value {
    let mut out = json!({"result": regions(schema, &p.labels, cx)});
    if let Some(score) = p.score {
        out["score"] = json!(score);
    }
    if let Some(version) = &p.model_version {
        out["model_version"] = json!(version);
    }
    out
}

/// One task as a Label Studio task with its annotations and predictions, serialized from the
/// record as it is (its data and `meta` are not copied).
#[derive(serde::Serialize)]
pub struct Task<'a> {
    id: i64,
    data: &'a Map<String, Value>,
    annotations: Vec<Value>,
    predictions: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a Map<String, Value>>,
}

pub fn task<'a>(schema: &LabelSchema, r: &'a ExportRecord) -> Task<'a> {
    let cx = Context {
        text: r.data.get("text").and_then(Value::as_str),
        image_size: r.image_size,
    };
    let mut annotations: Vec<Value> = r
        .answers
        .iter()
        .map(|a| annotation(schema, a, cx))
        .collect();
    if let Some(gold) = &r.gold {
        annotations.push(json!({
            "completed_by": completed_by("gold"),
            "result": regions(schema, gold, cx),
            "was_cancelled": false,
            "ground_truth": true,
        }));
    }
    let predictions: Vec<Value> = r
        .prediction
        .iter()
        .chain(&r.more_predictions)
        .map(|p| prediction(schema, p, cx))
        .collect();
    Task {
        id: r.task_id,
        data: &r.data,
        annotations,
        predictions,
        meta: r.meta.as_ref(),
    }
}

/// Rows of Label Studio's JSON_MIN export for one task: its data fields at the top level, its
/// `id`, and for each labeling the control's results in JSON_MIN's short form (one choice as
/// its label, regions without their type, a box's image size inside it) with who made it and
/// when. A task with no label yet is a row of its data alone.
pub fn min_rows(schema: &LabelSchema, r: &ExportRecord, choice: LabelChoice) -> Vec<Value> {
    let cx = Context {
        text: r.data.get("text").and_then(Value::as_str),
        image_size: r.image_size,
    };
    let id = r
        .external_id
        .as_ref()
        .map_or_else(|| json!(r.task_id), |e| json!(e));
    let row = |labels: Option<&[String]>, by: Option<&str>, at: Option<String>| {
        let mut row: Map<String, Value> = r.data.clone();
        row.insert("id".into(), id.clone());
        if let Some(labels) = labels {
            let values: Vec<Value> = regions(schema, labels, cx)
                .into_iter()
                .map(|mut region| {
                    let mut value = region["value"].take();
                    for size in ["original_width", "original_height"] {
                        if let Some(v) = region.get(size) {
                            value[size] = v.clone();
                        }
                    }
                    value
                })
                .collect();
            let short = match (schema.kind, values.as_slice()) {
                (SchemaKind::Classification, [one])
                    if one["choices"].as_array().is_some_and(|c| c.len() == 1) =>
                {
                    one["choices"][0].clone()
                }
                (SchemaKind::Text, [one])
                    if one["text"].as_array().is_some_and(|t| t.len() == 1) =>
                {
                    one["text"][0].clone()
                }
                _ => Value::Array(values),
            };
            row.insert("label".into(), short);
        }
        row.insert(
            "annotator".into(),
            by.map_or(Value::Null, |b| completed_by(b)["email"].clone()),
        );
        row.insert("annotation_id".into(), Value::Null);
        row.insert("created_at".into(), json!(at));
        row.insert("updated_at".into(), json!(at));
        row.insert("lead_time".into(), Value::Null);
        Value::Object(row)
    };
    let labelings = labelings(r, choice);
    if labelings.is_empty() {
        return vec![row(None, None, None)];
    }
    labelings
        .iter()
        .map(|l| row(Some(l.labels), Some(l.by), l.at.map(|t| t.to_rfc3339())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_go_out_in_percent_and_come_back() {
        let schema =
            LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["car"]}"#).expect("schema");
        let cx = Context {
            text: None,
            image_size: Some([640, 480]),
        };
        let out = regions(&schema, &["0.25,0.5,0.125,0.25:car".to_owned()], cx);
        assert_eq!(
            (
                out[0]["original_width"].clone(),
                out[0]["original_height"].clone()
            ),
            (json!(640), json!(480))
        );
        assert_eq!(out[0]["value"]["x"], 25.0);
        assert_eq!(out[0]["value"]["height"], 25.0);
        assert_eq!(out[0]["value"]["rectanglelabels"][0], "car");
        let config = label_config(&schema);
        let back = tessera_core::schema_from_label_config(&config).expect("config reads back");
        assert_eq!((back.kind, back.labels), (schema.kind, schema.labels));
    }

    #[test]
    fn every_kind_has_a_config_that_reads_back() {
        for json in [
            r#"{"kind": "classification", "labels": ["a & b", "<c>"], "multiple": true, "instructions": "Say \"why\""}"#,
            r#"{"kind": "rating", "labels": ["1", "2", "3"]}"#,
            r#"{"kind": "pairwise", "labels": ["A", "B"]}"#,
            r#"{"kind": "text"}"#,
            r#"{"kind": "spans", "labels": ["PER", "ORG"]}"#,
        ] {
            let schema = LabelSchema::from_json(json).expect("schema");
            let back = tessera_core::schema_from_label_config(&label_config(&schema))
                .unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(
                (back.kind, back.labels, back.multiple, back.instructions),
                (
                    schema.kind,
                    schema.labels,
                    schema.multiple,
                    schema.instructions
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn people_are_named_by_email_and_other_names_reach_no_one() {
        assert_eq!(completed_by("ann@example.com")["email"], "ann@example.com");
        assert_eq!(
            completed_by("label-studio:4")["email"],
            "label-studio-4@tessera.invalid"
        );
    }
}

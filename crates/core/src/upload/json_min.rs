//! A row of Label Studio's JSON_MIN export: the task's data fields at the top level beside
//! one annotation's results, each under its control's name in a short form (a single choice
//! as its label, regions without their `type`), and who made it (`annotator`: an email or a
//! user id), when (`created_at`, `updated_at`) and Label Studio's bookkeeping
//! (`annotation_id`, `lead_time`, `agreement`). A task annotated twice is two rows with the
//! same `id`; the upload merges them. A row is turned back into a Label Studio task and read
//! as one.

use serde_json::{Map, Value, json};

use super::task_object::guess_type;
use crate::schema::{LabelSchema, SchemaKind};

/// Keys of a row that are not data and not results.
const ROW_KEYS: &[&str] = &[
    "annotator",
    "annotation_id",
    "created_at",
    "updated_at",
    "lead_time",
    "agreement",
    "id",
];

/// Whether a task object is a JSON_MIN row.
pub(super) fn is_json_min(obj: &Map<String, Value>) -> bool {
    !obj.contains_key("data")
        && !obj.contains_key("annotations")
        && obj.contains_key("annotator")
        && (obj.contains_key("annotation_id") || obj.contains_key("lead_time"))
}

/// Whether a value is a control's results: regions, or (in a classification project) a
/// label or labels of the schema.
fn is_result(key: &str, value: &Value, schema: &LabelSchema) -> bool {
    let label = |v: &Value| {
        v.as_str()
            .is_some_and(|s| schema.labels.iter().any(|l| l == s))
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            items
                .iter()
                .all(|i| i.as_object().and_then(guess_type).is_some())
                || (schema.kind == SchemaKind::Classification
                    && key != "text"
                    && items.iter().all(label))
        }
        Value::String(_) => {
            schema.kind == SchemaKind::Classification && key != "text" && label(value)
        }
        _ => false,
    }
}

/// The Label Studio task a row stands for, and the keys of Label Studio's bookkeeping it held.
pub(super) fn as_task(mut row: Map<String, Value>, schema: &LabelSchema) -> (Value, Vec<String>) {
    let mut ignored = Vec::new();
    let id = row.remove("id");
    let annotator = row.remove("annotator").unwrap_or(Value::Null);
    let created_at = row.remove("created_at").unwrap_or(Value::Null);
    let updated_at = row.remove("updated_at").unwrap_or(Value::Null);
    for key in ROW_KEYS {
        if row.remove(*key).is_some_and(|v| !v.is_null()) {
            ignored.push((*key).to_owned());
        }
    }
    let outputs: Vec<String> = row
        .iter()
        .filter(|(k, v)| is_result(k, v, schema))
        .map(|(k, _)| k.clone())
        .collect();
    let mut result = Vec::new();
    for key in outputs {
        let value = row.remove(&key).unwrap_or(Value::Null);
        match value {
            Value::String(label) => result
                .push(json!({"from_name": key, "type": "choices", "value": {"choices": [label]}})),
            Value::Array(items) if items.iter().all(Value::is_string) => result
                .push(json!({"from_name": key, "type": "choices", "value": {"choices": items}})),
            Value::Array(items) => {
                for item in items {
                    let Value::Object(mut value) = item else {
                        continue;
                    };
                    let kind = guess_type(&value).unwrap_or("choices");
                    let mut region = json!({"from_name": key, "type": kind});
                    // Label Studio keeps the image's size beside the value; JSON_MIN inside it.
                    for size in ["original_width", "original_height"] {
                        if let Some(v) = value.remove(size) {
                            region[size] = v;
                        }
                    }
                    region["value"] = Value::Object(value);
                    result.push(region);
                }
            }
            _ => {}
        }
    }
    let mut task = json!({"data": row});
    if let Some(id) = id.filter(|v| !v.is_null()) {
        task["id"] = id;
    }
    if !annotator.is_null() || !result.is_empty() {
        task["annotations"] = json!([{"completed_by": annotator, "result": result,
                                      "created_at": created_at, "updated_at": updated_at}]);
    }
    (task, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_its_data_and_one_annotation() {
        let schema = LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["Positive", "Negative"]}"#,
        )
        .expect("schema");
        let Value::Object(row) = json!({"text": "good", "id": 3, "sentiment": "Positive", "annotator": 1,
            "annotation_id": 9, "created_at": "2024-01-01T00:00:00Z", "updated_at": null, "lead_time": 2.5})
        else {
            unreachable!()
        };
        assert!(is_json_min(&row));
        let (task, ignored) = as_task(row, &schema);
        assert_eq!(task["data"], json!({"text": "good"}));
        assert_eq!(
            task["annotations"][0]["result"][0]["value"]["choices"][0],
            "Positive"
        );
        assert_eq!(task["annotations"][0]["completed_by"], 1);
        assert_eq!(ignored, ["annotation_id", "lead_time"]);
    }

    #[test]
    fn boxes_keep_their_image_size_beside_the_value() {
        let schema =
            LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["car"]}"#).expect("schema");
        let Value::Object(row) = json!({"image": "a.jpg", "label": [{"x": 1, "y": 2, "width": 3, "height": 4,
            "rotation": 0, "rectanglelabels": ["car"], "original_width": 640, "original_height": 480}],
            "annotator": "a@b.c", "annotation_id": 1})
        else {
            unreachable!()
        };
        let (task, _) = as_task(row, &schema);
        let region = &task["annotations"][0]["result"][0];
        assert_eq!(
            (region["type"].clone(), region["original_width"].clone()),
            (json!("rectanglelabels"), json!(640))
        );
        assert!(region["value"].get("original_width").is_none());
    }
}

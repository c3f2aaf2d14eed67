//! A line of a Prodigy dataset (`prodigy db-out`): the input (`text` or `image`), and, once
//! annotated, the annotator's `answer` — `accept`, `reject` or `ignore` — to the question the
//! line asks: a `label` (binary classification), `options` with the `accept`ed ids (choice),
//! or `spans` (manual NER). Each line is one annotator's answer; lines asking the same
//! question (`_task_hash`) are one task with several answers (the upload merges them).
//! Spans on a line with no answer are a suggestion: they come in as a prediction.

use serde_json::{Map, Value};

use super::task_object::Reading;
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ImportedAnswer, Prediction, TaskInput, check_data};

/// Keys Prodigy writes that a task does not keep.
const BOOKKEEPING: &[&str] = &[
    "_input_hash",
    "_view_id",
    "_session_id",
    "_is_binary",
    "priority",
    "score",
    "tokens",
    "html",
    "config",
    "pattern",
];

/// Keys read into the task or its answer.
const USED: &[&str] = &[
    "_task_hash",
    "id",
    "label",
    "options",
    "accept",
    "spans",
    "_annotator_id",
    "_timestamp",
];

/// Whether a task object is a Prodigy line.
pub(super) fn is_prodigy(obj: &Map<String, Value>) -> bool {
    !obj.contains_key("data")
        && (obj.contains_key("_input_hash")
            || (obj.contains_key("text") && obj.get("spans").is_some_and(Value::is_array))
            || obj.contains_key("_task_hash")
            || obj
                .get("answer")
                .is_some_and(|a| matches!(a.as_str(), Some("accept" | "reject" | "ignore"))))
}

pub(super) fn task(
    mut obj: Map<String, Value>,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<TaskInput, String> {
    let hash = |v: Option<&Value>| {
        v.filter(|v| !v.is_null()).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    // Lines asking the same question share their task hash: that is the task's id.
    let external_id = hash(obj.get("_task_hash"))
        .or_else(|| hash(obj.get("_input_hash")))
        .or_else(|| hash(obj.get("id")));
    let mut data = Map::new();
    for field in ["text", "image"] {
        if let Some(v) = obj.remove(field) {
            data.insert(field.to_owned(), v);
        }
    }
    check_data(&data, schema.kind)?;
    let meta = match obj.remove("meta") {
        Some(Value::Object(m)) if !m.is_empty() => Some(m),
        _ => None,
    };
    let answer = obj.remove("answer");
    let labels = labels(&obj, schema)?;
    let mut answers = Vec::new();
    let mut predictions = Vec::new();
    match answer.as_ref().and_then(Value::as_str) {
        None if schema.kind == SchemaKind::Spans && !labels.is_empty() => {
            predictions.push(Prediction {
                labels,
                score: None,
                model_version: Some("prodigy".to_owned()),
            });
        }
        None => {}
        Some(verdict) => {
            let skipped = verdict == "ignore";
            let labels =
                match (verdict, schema.kind) {
                    ("ignore", _) => Vec::new(),
                    ("reject", SchemaKind::Classification) if obj.contains_key("label") => {
                        rejected(&labels, schema)?
                    }
                    ("reject", _) => return Err(
                        "a rejected answer is kept only for a binary label (a two-label project)"
                            .to_owned(),
                    ),
                    ("accept", _) => labels,
                    (other, _) => return Err(format!("unknown answer {other:?}")),
                };
            if !skipped {
                schema.check_answer(&labels).map_err(|e| e.to_string())?;
            }
            let annotator = ["_annotator_id", "_session_id"]
                .iter()
                .find_map(|k| {
                    obj.get(*k)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                })
                .unwrap_or("prodigy")
                .to_owned();
            let answered_at = obj
                .get("_timestamp")
                .and_then(Value::as_i64)
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.to_rfc3339());
            answers.push(ImportedAnswer {
                annotator,
                labels,
                skipped,
                answered_at,
                unsure: false,
            });
        }
    }
    for (key, value) in obj {
        if USED.contains(&key.as_str()) {
            continue;
        }
        if BOOKKEEPING.contains(&key.as_str()) || key.starts_with('_') {
            cx.report.ignore(&key);
        } else {
            // Another field of the input: task data.
            data.insert(key, value);
        }
    }
    Ok(TaskInput {
        external_id,
        data,
        predictions,
        meta,
        answers,
        ..TaskInput::default()
    })
}

/// What the line proposes: its `label`, its `accept`ed options, or its spans.
fn labels(obj: &Map<String, Value>, schema: &LabelSchema) -> Result<Vec<String>, String> {
    if let Some(label) = obj.get("label").and_then(Value::as_str) {
        return Ok(vec![label.to_owned()]);
    }
    if let Some(Value::Array(options)) = obj.get("options") {
        let accepted: Vec<&Value> = obj
            .get("accept")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        // An option is named by its id, or by its text when the project's labels are texts.
        return Ok(accepted
            .iter()
            .map(|id| {
                let id_text = match id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if schema.labels.contains(&id_text) {
                    return id_text;
                }
                options
                    .iter()
                    .find(|o| o.get("id") == Some(id))
                    .and_then(|o| o.get("text").and_then(Value::as_str))
                    .map_or(id_text, str::to_owned)
            })
            .collect());
    }
    if let Some(Value::Array(spans)) = obj.get("spans") {
        return spans
            .iter()
            .map(|s| {
                let (start, end, label) = (
                    s.get("start").and_then(Value::as_u64),
                    s.get("end").and_then(Value::as_u64),
                    s.get("label").and_then(Value::as_str),
                );
                match (start, end, label) {
                    (Some(start), Some(end), Some(label)) => Ok(format!("{start}:{end}:{label}")),
                    _ => Err("a span needs \"start\", \"end\" and \"label\"".to_owned()),
                }
            })
            .collect();
    }
    Ok(Vec::new())
}

/// A binary label rejected: the project's other label.
fn rejected(labels: &[String], schema: &LabelSchema) -> Result<Vec<String>, String> {
    match (labels, schema.labels.as_slice()) {
        ([label], [a, b]) if label == a => Ok(vec![b.clone()]),
        ([label], [a, b]) if label == b => Ok(vec![a.clone()]),
        _ => Err(format!(
            "a rejected {labels:?} is kept only in a project of two labels, one of them {labels:?} (the other meaning no)"
        )),
    }
}

//! A line of Tessera's own JSONL export, read back: a project moves to another server (or a
//! new project) with its data, predictions, gold, `meta`, every annotator's answer with its
//! earlier revisions, and the reviewer's verdict. What the new project works out again — consensus, completion,
//! review need — is not read; what it cannot take over (a cancellation and the answers that
//! came after it) is counted in the report.

use serde_json::{Map, Value};

use super::task_object::Reading;
use crate::schema::LabelSchema;
use crate::task::{ImportedAnswer, ImportedReview, Prediction, TaskInput, check_data};

/// Keys the new project works out again from the answers.
const DERIVED: &[&str] = &["consensus", "complete", "needs_review"];

/// Whether a task object is a line of Tessera's export.
pub(super) fn is_export_record(obj: &Map<String, Value>) -> bool {
    obj.contains_key("task_id") && obj.contains_key("answers")
}

pub(super) fn record(
    mut obj: Map<String, Value>,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<TaskInput, String> {
    let task_id = obj.remove("task_id");
    let external_id = match obj.remove("external_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        None | Some(Value::Null) => task_id.as_ref().map(|id| match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Some(_) => return Err("\"external_id\" must be a string".to_owned()),
    };
    let data = match obj.remove("data") {
        Some(Value::Object(data)) => data,
        _ => return Err("missing \"data\" object".to_owned()),
    };
    check_data(&data, schema.kind)?;
    let mut predictions = Vec::new();
    if let Some(p) = obj.remove("prediction").filter(|p| !p.is_null()) {
        predictions.push(prediction(p, schema).map_err(|m| format!("prediction: {m}"))?);
    }
    if let Some(more) = obj.remove("more_predictions").filter(|p| !p.is_null()) {
        let Value::Array(more) = more else {
            return Err("\"more_predictions\" must be an array".to_owned());
        };
        for (i, p) in more.into_iter().enumerate() {
            predictions
                .push(prediction(p, schema).map_err(|m| format!("more_predictions[{i}]: {m}"))?);
        }
    }
    let gold = match obj.remove("gold") {
        None | Some(Value::Null) => None,
        Some(g) => {
            let labels: Vec<String> =
                serde_json::from_value(g).map_err(|e| format!("gold: {e}"))?;
            schema
                .check_answer(&labels)
                .map_err(|e| format!("gold: {e}"))?;
            Some(labels)
        }
    };
    let meta = match obj.remove("meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err("\"meta\" must be an object".to_owned()),
    };
    let image_size = match obj.remove("image_size") {
        None | Some(Value::Null) => None,
        Some(size) => {
            Some(serde_json::from_value::<[u32; 2]>(size).map_err(|e| format!("image_size: {e}"))?)
        }
    };
    let review = match obj.remove("review") {
        None | Some(Value::Null) => None,
        Some(v) => Some(review(v, schema).map_err(|m| format!("review: {m}"))?),
    };
    // Earlier revisions first: an annotator's later answer to a task is their revision.
    let mut answers = Vec::new();
    for key in ["earlier_answers", "answers"] {
        if let Some(Value::Array(items)) = obj.remove(key) {
            for (i, a) in items.into_iter().enumerate() {
                answers.push(answer(a, schema).map_err(|m| format!("{key}[{i}]: {m}"))?);
            }
        }
    }
    if let Some(Value::Array(items)) = obj.remove("skips") {
        for (i, s) in items.into_iter().enumerate() {
            answers.push(skip(s).map_err(|m| format!("skips[{i}]: {m}"))?);
        }
    }
    for (key, value) in obj {
        let empty = match &value {
            Value::Null | Value::Bool(false) => true,
            Value::Array(items) => items.is_empty(),
            _ => false,
        };
        if !DERIVED.contains(&key.as_str()) && !empty {
            cx.report.ignore(&key);
        }
    }
    Ok(TaskInput {
        external_id,
        data,
        predictions,
        gold,
        meta,
        answers,
        image_size,
        review,
    })
}

/// A reviewer's verdict: `labels`, `reviewer`, `reviewed_at`.
fn review(value: Value, schema: &LabelSchema) -> Result<ImportedReview, String> {
    let Value::Object(v) = value else {
        return Err("a review must be an object".to_owned());
    };
    let reviewer = v
        .get("reviewer")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or("a review needs its \"reviewer\"")?
        .to_owned();
    let labels: Vec<String> =
        serde_json::from_value(v.get("labels").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("labels: {e}"))?;
    schema.check_answer(&labels).map_err(|e| e.to_string())?;
    Ok(ImportedReview {
        reviewer,
        labels,
        reviewed_at: v
            .get("reviewed_at")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// A task as a line of Tessera's JSONL export, which [`record`] reads back: how a task read
/// elsewhere (the CLI reads a dataset folder itself) travels to the server whole, its
/// imported answers and image size with it.
pub fn task_line(task: &TaskInput, line: usize) -> Value {
    let mut out = Map::new();
    out.insert("task_id".into(), line.into());
    if let Some(id) = &task.external_id {
        out.insert("external_id".into(), id.clone().into());
    }
    out.insert("data".into(), Value::Object(task.data.clone()));
    let mut predictions = task.predictions.iter();
    if let Some(first) = predictions.next() {
        out.insert("prediction".into(), serde_json::json!(first));
        let more: Vec<&Prediction> = predictions.collect();
        if !more.is_empty() {
            out.insert("more_predictions".into(), serde_json::json!(more));
        }
    }
    if let Some(gold) = &task.gold {
        out.insert("gold".into(), serde_json::json!(gold));
    }
    if let Some(meta) = &task.meta {
        out.insert("meta".into(), Value::Object(meta.clone()));
    }
    if let Some(size) = task.image_size {
        out.insert("image_size".into(), serde_json::json!(size));
    }
    let answers: Vec<Value> = task
        .answers
        .iter()
        .map(|a| {
            serde_json::json!({"annotator": a.annotator, "labels": a.labels, "skipped": a.skipped,
                               "answered_at": a.answered_at, "unsure": a.unsure})
        })
        .collect();
    out.insert("answers".into(), Value::Array(answers));
    if let Some(r) = &task.review {
        out.insert(
            "review".into(),
            serde_json::json!({"reviewer": r.reviewer, "labels": r.labels, "reviewed_at": r.reviewed_at}),
        );
    }
    Value::Object(out)
}

fn prediction(value: Value, schema: &LabelSchema) -> Result<Prediction, String> {
    let p: Prediction = serde_json::from_value(value).map_err(|e| e.to_string())?;
    schema.check_answer(&p.labels).map_err(|e| e.to_string())?;
    Ok(p)
}

/// A skip: `annotator`, `skipped_at` (its reason is the annotator's, not carried over).
fn skip(value: Value) -> Result<ImportedAnswer, String> {
    let Value::Object(s) = value else {
        return Err("a skip must be an object".to_owned());
    };
    let annotator = s
        .get("annotator")
        .and_then(Value::as_str)
        .filter(|a| !a.trim().is_empty())
        .ok_or("a skip needs its \"annotator\"")?
        .to_owned();
    Ok(ImportedAnswer {
        annotator,
        labels: Vec::new(),
        skipped: true,
        answered_at: s
            .get("skipped_at")
            .and_then(Value::as_str)
            .map(str::to_owned),
        unsure: false,
    })
}

fn answer(value: Value, schema: &LabelSchema) -> Result<ImportedAnswer, String> {
    let Value::Object(a) = value else {
        return Err("an answer must be an object".to_owned());
    };
    let annotator = a
        .get("annotator")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or("an answer needs its \"annotator\"")?
        .to_owned();
    let labels: Vec<String> =
        serde_json::from_value(a.get("labels").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("labels: {e}"))?;
    let skipped = a.get("skipped").and_then(Value::as_bool).unwrap_or(false);
    if !skipped {
        schema.check_answer(&labels).map_err(|e| e.to_string())?;
    }
    Ok(ImportedAnswer {
        annotator,
        labels,
        skipped,
        answered_at: a
            .get("answered_at")
            .and_then(Value::as_str)
            .map(str::to_owned),
        unsure: a.get("unsure").and_then(Value::as_bool).unwrap_or(false),
    })
}

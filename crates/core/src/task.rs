//! Tasks as a requester uploads them: data fields plus an optional machine prediction.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::SchemaKind;

/// A machine's suggested answer for a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prediction {
    /// Suggested label(s), each one of the schema's labels.
    pub labels: Vec<String>,
    /// The model's confidence in [0, 1], when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

/// One task of an upload, validated against the project's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInput {
    /// The requester's own id for the task, kept for export.
    pub external_id: Option<String>,
    /// The task's data fields: at least `text` or `image`.
    pub data: Map<String, Value>,
    pub prediction: Option<Prediction>,
    /// The known answer of a gold task: mixed into annotators' streams to measure them,
    /// never shown to them.
    pub gold: Option<Vec<String>>,
}

/// A task of an upload as the store writes it: its fields as compact JSON text. Encoded
/// where the upload is parsed (on all cores, piece by piece), it is what a big upload holds
/// in memory until it is stored, at a fraction of the parsed values' size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedTask {
    pub external_id: Option<String>,
    /// The data object.
    pub data: String,
    /// The [`Prediction`], when there is one.
    pub prediction: Option<String>,
    /// The gold labels (a JSON array of strings), when the task is gold.
    pub gold: Option<String>,
}

/// What an upload's parse keeps of each task: the task itself, or its encoding.
pub trait ParsedTask: Send + Sized {
    /// What to keep of a task the parse checked; an error names why it cannot be kept.
    fn from_input(task: TaskInput) -> Result<Self, String>;
    fn external_id(&self) -> Option<&str>;
}

impl ParsedTask for TaskInput {
    fn from_input(task: TaskInput) -> Result<Self, String> {
        Ok(task)
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
}

impl ParsedTask for EncodedTask {
    fn from_input(task: TaskInput) -> Result<Self, String> {
        let prediction = task
            .prediction
            .map(|p| serde_json::to_string(&p))
            .transpose()
            .map_err(|e| format!("cannot encode the prediction: {e}"))?;
        Ok(Self {
            // Values print as JSON infallibly.
            data: Value::Object(task.data).to_string(),
            prediction,
            gold: task.gold.map(|g| Value::from(g).to_string()),
            external_id: task.external_id,
        })
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
}

/// The data fields a task may show: one of `text` and `image` is needed, except in a
/// pairwise comparison, which needs both of `a` and `b` (and may add a `text` prompt).
pub const DISPLAY_FIELDS: [&str; 4] = ["text", "image", "a", "b"];

/// Checks a task's data for its project's kind: the fields it shows must be non-empty
/// strings, and the ones the kind needs must be there.
pub fn check_data(data: &Map<String, Value>, kind: SchemaKind) -> Result<(), String> {
    let mut shown = Vec::new();
    for field in DISPLAY_FIELDS {
        match data.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.trim().is_empty() => shown.push(field),
            Some(Value::String(_)) => return Err(format!("data field {field:?} is empty")),
            Some(_) => return Err(format!("data field {field:?} must be a string")),
        }
    }
    match kind {
        SchemaKind::Pairwise if !(shown.contains(&"a") && shown.contains(&"b")) => Err(
            "a pairwise task needs the two items to compare as \"a\" and \"b\" fields".to_owned(),
        ),
        SchemaKind::Pairwise => Ok(()),
        SchemaKind::Spans if !shown.contains(&"text") => {
            Err("a spans task needs the \"text\" to mark".to_owned())
        }
        SchemaKind::Boxes if !shown.contains(&"image") => {
            Err("a boxes task needs the \"image\" to draw on".to_owned())
        }
        _ if !shown.contains(&"text") && !shown.contains(&"image") => {
            Err("task data needs a \"text\" or an \"image\" field".to_owned())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn data_needs_text_or_image() {
        let check = |v| check_data(&map(v), SchemaKind::Classification);
        assert!(check(json!({"text": "hi"})).is_ok());
        assert!(check(json!({"image": "https://x/y.png", "meta": 3})).is_ok());
        assert!(check(json!({"title": "hi"})).is_err());
        assert!(check(json!({"a": "x", "b": "y"})).is_err());
        assert!(check(json!({"text": ""})).is_err());
        assert!(check(json!({"text": 5})).is_err());
    }

    #[test]
    fn a_pairwise_task_needs_both_items() {
        let check = |v| check_data(&map(v), SchemaKind::Pairwise);
        assert!(check(json!({"a": "x", "b": "y", "text": "which is kinder?"})).is_ok());
        assert!(check(json!({"a": "x", "b": "y"})).is_ok());
        let missing = check(json!({"a": "x", "text": "prompt"})).expect_err("no b");
        assert!(missing.contains("\"a\" and \"b\""), "{missing}");
        assert!(check(json!({"a": "x", "b": 2})).is_err());
    }
}

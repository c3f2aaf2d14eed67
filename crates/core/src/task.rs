//! Tasks as a requester uploads them: data fields plus an optional machine prediction.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// The data fields a classification task may show.
pub const DISPLAY_FIELDS: [&str; 2] = ["text", "image"];

/// Checks a task's data: it must carry a non-empty `text` or `image` string.
pub fn check_data(data: &Map<String, Value>) -> Result<(), String> {
    let mut shown = 0;
    for field in DISPLAY_FIELDS {
        match data.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.trim().is_empty() => shown += 1,
            Some(Value::String(_)) => return Err(format!("data field {field:?} is empty")),
            Some(_) => return Err(format!("data field {field:?} must be a string")),
        }
    }
    if shown == 0 {
        return Err("task data needs a \"text\" or an \"image\" field".to_owned());
    }
    Ok(())
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
        assert!(check_data(&map(json!({"text": "hi"}))).is_ok());
        assert!(check_data(&map(json!({"image": "https://x/y.png", "meta": 3}))).is_ok());
        assert!(check_data(&map(json!({"title": "hi"}))).is_err());
        assert!(check_data(&map(json!({"text": ""}))).is_err());
        assert!(check_data(&map(json!({"text": 5}))).is_err());
    }
}

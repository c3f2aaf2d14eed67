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

/// An answer made before the task came to Tessera (in Label Studio, Prodigy, Toloka, or an
/// earlier Tessera server), imported with its task: it counts like any answer, made by an
/// imported annotator of that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAnswer {
    /// Who made it, named after the source (`label-studio:17`, an email, a worker id).
    pub annotator: String,
    pub labels: Vec<String>,
    pub skipped: bool,
    /// When it was made, as the source recorded it (RFC 3339), if it did.
    pub answered_at: Option<String>,
    /// Its maker flagged it as unsure.
    pub unsure: bool,
}

/// A reviewer's verdict made before the task came to Tessera (an earlier Tessera server's
/// export): the task's final label, kept beside the crowd's consensus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedReview {
    /// Who gave it; stored as an imported user of that name.
    pub reviewer: String,
    pub labels: Vec<String>,
    /// When, as the source recorded it (RFC 3339), if it did.
    pub reviewed_at: Option<String>,
}

/// One task of an upload, validated against the project's schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskInput {
    /// The requester's own id for the task, kept for export.
    pub external_id: Option<String>,
    /// The task's data fields: at least `text` or `image`.
    pub data: Map<String, Value>,
    /// Every machine prediction the file holds, the one annotators see first.
    pub predictions: Vec<Prediction>,
    /// The known answer of a gold task: mixed into annotators' streams to measure them,
    /// never shown to them.
    pub gold: Option<Vec<String>>,
    /// The source's own notes on the task (Label Studio's and Prodigy's `meta`): kept and
    /// exported, never shown to annotators.
    pub meta: Option<Map<String, Value>>,
    pub answers: Vec<ImportedAnswer>,
    /// The task image's width and height in pixels, when the source knew them (Label Studio
    /// keeps them on each box): what COCO, YOLO and VOC files need.
    pub image_size: Option<[u32; 2]>,
    /// A reviewer's verdict the file carries.
    pub review: Option<ImportedReview>,
}

/// A task of an upload as the store writes it: its fields as compact JSON text. Encoded
/// where the upload is parsed (on all cores, piece by piece), it is what a big upload holds
/// in memory until it is stored, at a fraction of the parsed values' size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedTask {
    pub external_id: Option<String>,
    /// The data object.
    pub data: String,
    /// The [`Prediction`] annotators see, when there is one.
    pub prediction: Option<String>,
    /// The other predictions (a JSON array), when there are more.
    pub more_predictions: Option<String>,
    /// The gold labels (a JSON array of strings), when the task is gold.
    pub gold: Option<String>,
    /// The `meta` object, when there is one.
    pub meta: Option<String>,
    pub answers: Vec<ImportedAnswer>,
    pub image_size: Option<[u32; 2]>,
    pub review: Option<ImportedReview>,
}

/// What an upload's parse keeps of each task: the task itself, or its encoding.
pub trait ParsedTask: Send + Sized + Default {
    /// What to keep of a task the parse checked; an error names why it cannot be kept.
    fn from_input(task: TaskInput) -> Result<Self, String>;
    fn external_id(&self) -> Option<&str>;
    /// Whether `other` shows the same data: a repeat of this task (a Prodigy dataset has a
    /// line per annotator), not another task under the same id.
    fn same_data(&self, other: &Self) -> bool;
    /// Takes in a repeat of this task: its answers are this task's too.
    fn absorb(&mut self, repeat: Self);
}

impl ParsedTask for TaskInput {
    fn from_input(task: TaskInput) -> Result<Self, String> {
        Ok(task)
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    fn same_data(&self, other: &Self) -> bool {
        self.data == other.data
    }

    fn absorb(&mut self, repeat: Self) {
        self.answers.extend(repeat.answers);
    }
}

impl ParsedTask for EncodedTask {
    fn from_input(task: TaskInput) -> Result<Self, String> {
        let meta = task.meta.map(|m| Value::Object(m).to_string());
        if let Some(meta) = &meta
            && meta.len() > MAX_TASK_BYTES
        {
            return Err(format!(
                "the task's meta is {} bytes of JSON; at most {MAX_TASK_BYTES} are allowed",
                meta.len()
            ));
        }
        let mut predictions = task.predictions.into_iter();
        let encode = |what: &str, p: Result<String, serde_json::Error>| {
            p.map_err(|e| format!("cannot encode the {what}: {e}"))
        };
        let prediction = predictions
            .next()
            .map(|p| encode("prediction", serde_json::to_string(&p)))
            .transpose()?;
        let more: Vec<Prediction> = predictions.collect();
        let more_predictions = (!more.is_empty())
            .then(|| encode("predictions", serde_json::to_string(&more)))
            .transpose()?;
        // Values print as JSON infallibly.
        let data = Value::Object(task.data).to_string();
        if data.len() > MAX_TASK_BYTES {
            return Err(too_big(data.len()));
        }
        Ok(Self {
            data,
            prediction,
            more_predictions,
            gold: task.gold.map(|g| Value::from(g).to_string()),
            meta,
            external_id: task.external_id,
            answers: task.answers,
            image_size: task.image_size,
            review: task.review,
        })
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    fn same_data(&self, other: &Self) -> bool {
        // Both printed from a sorted map: the same data prints the same.
        self.data == other.data
    }

    fn absorb(&mut self, repeat: Self) {
        self.answers.extend(repeat.answers);
    }
}

/// Deepest nesting a task's data may have (the data object itself is depth 1). Every lease and
/// change feed wraps it a few levels deeper, and JSON readers stop at 128 levels: a task
/// nested 125 deep was stored and then broke the sync of everyone it was leased to.
pub const MAX_DATA_DEPTH: usize = 32;

/// Largest a task's data may be, as compact JSON: it is sent with every lease of the task.
/// Media go by URL; a long document fits.
pub const MAX_TASK_BYTES: usize = 1024 * 1024;

fn too_big(bytes: usize) -> String {
    format!(
        "the task's data is {bytes} bytes of JSON; at most {MAX_TASK_BYTES} are allowed \
         (give media by URL)"
    )
}

/// How deeply `value` nests: a scalar is 0, an empty or flat object or array 1.
fn depth(value: &Value) -> usize {
    // Iterative: a value is already bounded by its parser, but a check should never be the
    // thing that overflows the stack.
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(d + 1);
                stack.extend(map.values().map(|i| (i, d + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The data fields a task may show: one of `text` and `image` is needed, except in a
/// pairwise comparison, which needs both of `a` and `b` (and may add a `text` prompt).
pub const DISPLAY_FIELDS: [&str; 4] = ["text", "image", "a", "b"];

/// Checks a task's data for its project's kind: the fields it shows must be non-empty
/// strings, and the ones the kind needs must be there.
pub fn check_data(data: &Map<String, Value>, kind: SchemaKind) -> Result<(), String> {
    let nested = 1 + data.values().map(depth).max().unwrap_or(0);
    if nested > MAX_DATA_DEPTH {
        return Err(format!(
            "the task's data nests {nested} levels deep; at most {MAX_DATA_DEPTH} are allowed"
        ));
    }
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

    fn nested(levels: usize) -> Map<String, Value> {
        let mut inner = Value::from("deep");
        for _ in 1..levels {
            inner = serde_json::json!({ "x": inner });
        }
        let mut data = map(serde_json::json!({ "text": "t" }));
        data.insert("extra".into(), inner);
        data
    }

    #[test]
    fn data_may_nest_to_the_limit_and_no_deeper() {
        // data (1) + `extra` object chain (levels - 1 objects): depth `levels`.
        assert!(check_data(&nested(MAX_DATA_DEPTH), SchemaKind::Classification).is_ok());
        let e = check_data(&nested(MAX_DATA_DEPTH + 1), SchemaKind::Classification)
            .expect_err("too deep");
        assert!(e.contains("nests 33 levels"), "{e}");
        assert_eq!(depth(&serde_json::json!([[1], {"a": []}])), 3);
        assert_eq!(depth(&Value::from(1)), 0);
    }

    #[test]
    fn a_task_too_big_to_send_with_every_lease_is_refused() {
        let mut data = map(serde_json::json!({ "text": "t" }));
        data.insert("blob".into(), Value::from("x".repeat(MAX_TASK_BYTES)));
        let task = TaskInput {
            data,
            ..TaskInput::default()
        };
        let e = EncodedTask::from_input(task.clone()).expect_err("too big");
        assert!(e.contains("at most 1048576"), "{e}");
        let mut small = task;
        small.data.insert("blob".into(), Value::from("x"));
        assert!(EncodedTask::from_input(small).is_ok());
    }

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

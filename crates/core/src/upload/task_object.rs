//! One task as a JSON object: Tessera's own JSONL line, or a task of a Label Studio export
//! (JSON or JSONL; also Label Studio 0.x, whose answers were `completions`), with its
//! predictions, `meta` and annotations — which come in as answers by imported annotators.

use serde_json::{Map, Value};

use super::{LeftOut, UploadReport, export_record, json_min, prodigy, spacy};
use crate::bbox::{BoundingBox, shift_decimal};
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ImportedAnswer, Prediction, TaskInput, check_data};

/// Keys of a Label Studio task or annotation that only Label Studio's own bookkeeping needs:
/// ignored, and counted in the upload report.
const BOOKKEEPING: &[&str] = &[
    "agreement",
    "annotations_ids",
    "annotations_results",
    "annotators",
    "annotators_count",
    "avg_lead_time",
    "cancelled_annotations",
    "comment_authors",
    "comment_count",
    "comments",
    "completed_at",
    "created_at",
    "draft_exists",
    "drafts",
    "file_upload",
    "inner_id",
    "is_labeled",
    "last_comment_updated_at",
    "overlap",
    "predictions_model_versions",
    "predictions_results",
    "predictions_score",
    "project",
    "reviewed",
    "reviewers",
    "reviews_accepted",
    "reviews_rejected",
    "storage_filename",
    "total_annotations",
    "total_predictions",
    "unresolved_comment_count",
    "updated_at",
    "updated_by",
];

/// What reading a file's tasks carries from one task to the next.
pub(super) struct Reading {
    /// Leave out what cannot be kept (a region of a kind the project lacks, an answer or a
    /// prediction with a label it lacks), reporting each, instead of refusing the upload.
    pub lenient: bool,
    /// The line of the task being read.
    pub line: usize,
    pub report: UploadReport,
    /// The image size the task's boxes gave (`original_width`, `original_height`).
    image_size: Option<[u32; 2]>,
}

impl Reading {
    pub fn new(lenient: bool) -> Self {
        Self {
            lenient,
            line: 0,
            report: UploadReport::default(),
            image_size: None,
        }
    }

    /// In a lenient read, reports `item` left out for `reason` and says so; else says it
    /// must be refused.
    pub(super) fn leave_out(&mut self, item: String, reason: &str) -> bool {
        if self.lenient {
            self.report.left_out.push(LeftOut {
                line: self.line,
                item,
                reason: reason.to_owned(),
            });
        }
        self.lenient
    }
}

/// The keys of a Label Studio annotation an imported answer keeps (who, when, skipped or not,
/// ground truth): any other is counted in the report as ignored.
const ANNOTATION_KEPT: &[&str] = &[
    "id",
    "completed_by",
    "updated_by",
    "last_created_by",
    "was_cancelled",
    "ground_truth",
    "created_at",
    "updated_at",
];

/// Reads one task object. Without a `data` object, every key but the task-level ones is data
/// (Label Studio's import takes such tasks too).
pub(super) fn task(
    value: Value,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<TaskInput, String> {
    let Value::Object(mut obj) = value else {
        return Err("a task must be a JSON object".to_owned());
    };
    if export_record::is_export_record(&obj) {
        return export_record::record(obj, schema, cx);
    }
    if prodigy::is_prodigy(&obj) {
        return prodigy::task(obj, schema, cx);
    }
    if spacy::is_spacy_line(&obj) {
        return spacy::line(obj, schema, cx);
    }
    if json_min::is_json_min(&obj) {
        let (task_value, ignored) = json_min::as_task(obj, schema);
        for key in ignored {
            cx.report.ignore(&key);
        }
        return task(task_value, schema, cx);
    }
    cx.image_size = None;
    let external_id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("\"id\" must be a non-empty string or a number".to_owned()),
    };
    let predictions = obj.remove("predictions");
    let gold = obj.remove("gold");
    let meta = match obj.remove("meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err("\"meta\" must be an object".to_owned()),
    };
    let annotations = match (obj.remove("annotations"), obj.remove("completions")) {
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(
                "a task holds either \"annotations\" or \"completions\", not both".to_owned(),
            );
        }
    };
    let data = match obj.remove("data") {
        Some(Value::Object(data)) => {
            for key in obj.keys() {
                if BOOKKEEPING.contains(&key.as_str()) {
                    cx.report.ignore(key);
                } else {
                    return Err(format!(
                        "unknown field {key:?} (a task holds \"id\", \"data\", \"predictions\", \"annotations\", \"gold\" and \"meta\")"
                    ));
                }
            }
            data
        }
        Some(_) => return Err("\"data\" must be an object".to_owned()),
        None => obj,
    };
    check_data(&data, schema.kind)?;
    let predictions = match predictions {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut kept = Vec::with_capacity(items.len());
            for (i, p) in items.into_iter().enumerate() {
                match prediction(p, schema, cx) {
                    Ok(p) => kept.push(p),
                    Err(m) if cx.leave_out(format!("predictions[{i}]"), &m) => {}
                    Err(m) => return Err(format!("predictions[{i}]: {m}")),
                }
            }
            kept
        }
        Some(_) => return Err("\"predictions\" must be an array".to_owned()),
    };
    let mut gold = match gold {
        None | Some(Value::Null) => None,
        Some(value) => {
            let labels = result_labels(value, schema, cx).map_err(|m| format!("gold: {m}"))?;
            schema
                .check_answer(&labels)
                .map_err(|e| format!("gold: {e}"))?;
            Some(labels)
        }
    };
    let mut answers = Vec::new();
    match annotations {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, a) in items.into_iter().enumerate() {
                let (answer, ground_truth) = match annotation(a, i, schema, cx) {
                    Ok(read) => read,
                    Err(m) if cx.leave_out(format!("annotations[{i}]"), &m) => continue,
                    Err(m) => return Err(format!("annotations[{i}]: {m}")),
                };
                if ground_truth && !answer.skipped {
                    match &gold {
                        Some(g) if *g != answer.labels => {
                            return Err(format!(
                                "annotations[{i}] is marked ground truth but differs from the task's gold"
                            ));
                        }
                        Some(_) => {}
                        None => gold = Some(answer.labels.clone()),
                    }
                }
                answers.push(answer);
            }
        }
        Some(_) => return Err("\"annotations\" must be an array".to_owned()),
    }
    Ok(TaskInput {
        external_id,
        data,
        predictions,
        gold,
        meta,
        answers,
        image_size: cx.image_size,
        review: None,
    })
}

/// A prediction in Label Studio's shape (`{"result": [regions], "score", "model_version"}`,
/// as an ML backend's `/predict` returns them) read for `schema`; why not, when it does not fit.
pub fn label_studio_prediction(value: Value, schema: &LabelSchema) -> Result<Prediction, String> {
    prediction(value, schema, &mut Reading::new(false))
}

fn prediction(value: Value, schema: &LabelSchema, cx: &mut Reading) -> Result<Prediction, String> {
    let Value::Object(mut p) = value else {
        return Err("a prediction must be an object".to_owned());
    };
    let score = match p.remove("score") {
        None | Some(Value::Null) => None,
        Some(v) => Some(check_score(
            v.as_f64().ok_or("\"score\" must be a number")?,
        )?),
    };
    let model_version = match p.remove("model_version") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(v) => Some(v.to_string()),
    };
    let result = p.remove("result").ok_or("missing \"result\"")?;
    for key in p.keys() {
        cx.report.ignore(&format!("predictions.{key}"));
    }
    let labels = result_labels(result, schema, cx)?;
    schema
        .check_answer(&labels)
        .map_err(|e| format!("result: {e}"))?;
    Ok(Prediction {
        labels,
        score,
        model_version,
    })
}

/// A Label Studio annotation as an imported answer, and whether it is marked ground truth.
fn annotation(
    value: Value,
    index: usize,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<(ImportedAnswer, bool), String> {
    let Value::Object(mut a) = value else {
        return Err("an annotation must be an object".to_owned());
    };
    let annotator = annotator(&a).unwrap_or_else(|| match a.get("id") {
        Some(Value::Number(n)) => format!("label-studio:annotation-{n}"),
        _ => format!("label-studio:annotation-{index}"),
    });
    let cancelled = a
        .get("was_cancelled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ground_truth = a
        .get("ground_truth")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let answered_at = ["updated_at", "created_at"]
        .iter()
        .find_map(|k| a.get(*k).and_then(Value::as_str))
        .map(str::to_owned);
    let labels = match a.remove("result") {
        None | Some(Value::Null) => Vec::new(),
        Some(result) => result_labels(result, schema, cx)?,
    };
    for key in a.keys() {
        if !ANNOTATION_KEPT.contains(&key.as_str()) {
            cx.report.ignore(&format!("annotations.{key}"));
        }
    }
    // Nothing chosen where a choice is needed: Label Studio keeps such an empty submission;
    // here it is what it means, a skip.
    let empty = labels.is_empty() && !matches!(schema.kind, SchemaKind::Spans | SchemaKind::Boxes);
    let skipped = cancelled || empty;
    if empty && !cancelled {
        cx.report.empty_answers += 1;
    }
    if !skipped {
        schema
            .check_answer(&labels)
            .map_err(|e| format!("result: {e}"))?;
    }
    Ok((
        ImportedAnswer {
            annotator,
            labels: if skipped { Vec::new() } else { labels },
            skipped,
            answered_at,
            unsure: false,
        },
        ground_truth,
    ))
}

/// Who made a Label Studio annotation: `completed_by` as a user id, an object with an email
/// (or an id), or a name; else the last user to touch it.
fn annotator(a: &Map<String, Value>) -> Option<String> {
    let named = |v: &Value| match v {
        Value::Number(n) => Some(format!("label-studio:{n}")),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Object(o) => match (o.get("email").and_then(Value::as_str), o.get("id")) {
            (Some(email), _) if !email.is_empty() => Some(email.to_owned()),
            (_, Some(Value::Number(n))) => Some(format!("label-studio:{n}")),
            _ => None,
        },
        _ => None,
    };
    ["completed_by", "updated_by", "last_created_by"]
        .iter()
        .find_map(|k| a.get(*k).and_then(named))
}

/// A result as labels: a label, a list of labels, or Label Studio result regions, each read
/// by its `type` for the project's kind.
fn result_labels(
    result: Value,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<Vec<String>, String> {
    match result {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()),
        Value::Array(regions) => {
            let mut labels = Vec::new();
            for (i, region) in regions.iter().enumerate() {
                // A label the project lacks fails the region (so a lenient read leaves out
                // that region alone, not the whole answer).
                let read = region_labels(region, schema, cx).and_then(|l| {
                    schema.check_answer(&l).map_err(|e| e.to_string())?;
                    Ok(l)
                });
                match read {
                    Ok(l) => labels.extend(l),
                    Err(m) if cx.leave_out(format!("result[{i}]"), &m) => {}
                    Err(m) => return Err(format!("result[{i}]: {m}")),
                }
            }
            Ok(labels)
        }
        Value::Object(_) => region_labels(&result, schema, cx),
        _ => Err(
            "\"result\" must be a label, a list of labels or Label Studio result regions"
                .to_owned(),
        ),
    }
}

/// The labels of one Label Studio result region.
fn region_labels(
    region: &Value,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<Vec<String>, String> {
    let value = region
        .get("value")
        .and_then(Value::as_object)
        .ok_or("a result region needs a \"value\" object")?;
    let kind = region
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .or_else(|| guess_type(value).map(str::to_owned))
        .ok_or("a result region needs a \"type\"")?;
    let strings = |key: &str| -> Result<Vec<String>, String> {
        value
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("a {kind:?} region needs \"{key}\" in its value"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("\"{key}\" must hold strings"))
            })
            .collect()
    };
    let number = |key: &str| -> Result<f64, String> {
        value
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("a {kind:?} region needs a number \"{key}\""))
    };
    match (schema.kind, kind.as_str()) {
        (SchemaKind::Classification, "choices") => strings("choices"),
        (SchemaKind::Rating, "rating") => {
            let rating = number("rating")?;
            Ok(vec![if rating.fract() == 0.0 {
                format!("{rating:.0}")
            } else {
                rating.to_string()
            }])
        }
        (SchemaKind::Rating, "choices") | (SchemaKind::Pairwise, "choices") => strings("choices"),
        (SchemaKind::Pairwise, "pairwise") => {
            let side = match value.get("selected").and_then(Value::as_str) {
                Some("left") => 0,
                Some("right") => 1,
                _ => {
                    return Err(
                        "a pairwise region's \"selected\" must be \"left\" or \"right\"".to_owned(),
                    );
                }
            };
            schema
                .labels
                .get(side)
                .map(|l| vec![l.clone()])
                .ok_or_else(|| "the schema names no verdict for that side".to_owned())
        }
        (SchemaKind::Text, "textarea") => Ok(vec![strings("text")?.join("\n")]),
        (SchemaKind::Spans, "labels") => {
            let (start, end) = (number("start")?, number("end")?);
            if start < 0.0 || end <= start || start.fract() != 0.0 || end.fract() != 0.0 {
                return Err(format!("span {start}..{end} is not a stretch of the text"));
            }
            Ok(strings("labels")?
                .into_iter()
                .map(|l| format!("{start:.0}:{end:.0}:{l}"))
                .collect())
        }
        (SchemaKind::Boxes, "rectanglelabels") => {
            let pixels = |key: &str| {
                region
                    .get(key)
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n > 0)
            };
            if let (Some(w), Some(h)) = (pixels("original_width"), pixels("original_height")) {
                cx.image_size.get_or_insert([w, h]);
            }
            let (x, y, w, h) = (
                number("x")?,
                number("y")?,
                number("width")?,
                number("height")?,
            );
            if value
                .get("rotation")
                .and_then(Value::as_f64)
                .is_some_and(|r| r % 360.0 != 0.0)
            {
                return Err("a rotated box cannot be kept (boxes are upright)".to_owned());
            }
            // Percent of the image; a box a little past an edge (rounding, a drag past the
            // border) is cut at the edge and counted.
            let (x0, y0) = (x.max(0.0), y.max(0.0));
            let (x1, y1) = ((x + w).min(100.0), (y + h).min(100.0));
            if x1 <= x0 || y1 <= y0 {
                return Err(format!(
                    "box at x {x}, y {y}, {w} by {h} (percent) lies outside the image"
                ));
            }
            if (x0, y0, x1, y1) != (x, y, x + w, y + h) {
                cx.report.clamped_boxes += 1;
            }
            Ok(strings("rectanglelabels")?
                .into_iter()
                .map(|label| {
                    BoundingBox {
                        x: share(x0),
                        y: share(y0),
                        // Width and height as the file gave them unless cut at an edge.
                        w: share(if x < 0.0 || x + w > 100.0 { x1 - x0 } else { w }),
                        h: share(if y < 0.0 || y + h > 100.0 { y1 - y0 } else { h }),
                        label,
                    }
                    .to_string()
                })
                .collect())
        }
        (kind_here, other) => Err(format!(
            "a {other:?} region cannot be kept in a {} project",
            kind_here.as_str()
        )),
    }
}

/// Percent of the image as a share of it, digit for digit.
fn share(percent: f64) -> f64 {
    shift_decimal(percent, -2)
}

/// The type of a region written without one (Tessera's older JSONL and hand-made files).
pub(super) fn guess_type(value: &Map<String, Value>) -> Option<&'static str> {
    ["choices", "rectanglelabels", "labels", "rating"]
        .into_iter()
        .find(|k| value.contains_key(*k))
        .or_else(|| value.contains_key("selected").then_some("pairwise"))
        .or_else(|| value.contains_key("text").then_some("textarea"))
}

pub(super) fn check_score(score: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&score) {
        Ok(score)
    } else {
        Err(format!("score {score} is outside [0, 1]"))
    }
}

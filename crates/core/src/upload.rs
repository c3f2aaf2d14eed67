//! Parsing a batch upload (JSONL in Label Studio's task shape, or CSV) into validated tasks.
//!
//! An upload is all-or-nothing: the first bad line stops the parse with its line number, the
//! column when one is known, and the reason.

use std::fmt;

use serde_json::{Map, Value};

use crate::bbox::BoundingBox;
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{Prediction, TaskInput, check_data};

/// The formats a batch may be uploaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFormat {
    /// One JSON task per line: `{"id"?, "data": {...}, "predictions"?: [...]}`.
    Jsonl,
    /// A header row, one column per data field, plus optional `id`, `prediction`,
    /// `prediction_score` and `prediction_model` columns.
    Csv,
}

impl UploadFormat {
    /// Guesses the format from a file name's extension.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Self::Jsonl)
        } else if lower.ends_with(".csv") {
            Some(Self::Csv)
        } else {
            None
        }
    }

    /// The HTTP media type used to upload this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::Csv => "text/csv",
        }
    }

    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => {
                Some(Self::Jsonl)
            }
            "text/csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// Why an upload was refused: the 1-based line, the column when known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UploadError {
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {}: {}", self.line, c, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

fn err(line: usize, column: Option<usize>, message: impl Into<String>) -> UploadError {
    UploadError {
        line,
        column,
        message: message.into(),
    }
}

/// Parses a whole upload. Empty input is an error: a batch holds at least one task.
pub fn parse_upload(
    text: &str,
    format: UploadFormat,
    schema: &LabelSchema,
) -> Result<Vec<TaskInput>, UploadError> {
    let tasks = match format {
        UploadFormat::Jsonl => parse_jsonl(text, schema)?,
        UploadFormat::Csv => parse_csv(text, schema)?,
    };
    if tasks.is_empty() {
        return Err(err(1, None, "the upload holds no tasks"));
    }
    Ok(tasks)
}

/// Fails on the first line (in file order) whose task id an earlier line already used, naming
/// both lines. `lines[i]` is the line of `tasks[i]`. Sorting references instead of hashing
/// copies keeps this cheap for million-task batches.
fn check_unique_ids(tasks: &[TaskInput], lines: &[usize]) -> Result<(), UploadError> {
    let mut ids: Vec<(&str, usize)> = tasks
        .iter()
        .zip(lines)
        .filter_map(|(t, &line)| t.external_id.as_deref().map(|id| (id, line)))
        .collect();
    ids.sort_unstable();
    // Sorted by id then line, the second entry of each run of one id is that id's first
    // repeat; the earliest of those is the first bad line, and its run's head the first use.
    let mut first_repeat: Option<(usize, usize, &str)> = None;
    for pair in ids.windows(2) {
        let ((id, _), (next, line)) = (pair[0], pair[1]);
        if id == next && first_repeat.is_none_or(|(l, _, _)| line < l) {
            let first = ids
                .partition_point(|&(other, _)| other < id)
                .min(ids.len() - 1);
            first_repeat = Some((line, ids[first].1, id));
        }
    }
    match first_repeat {
        None => Ok(()),
        Some((line, first, id)) => Err(err(
            line,
            None,
            format!("task id {id:?} was already used on line {first}"),
        )),
    }
}

/// One piece's tasks and the line of each, or its first bad line.
type ParsedPiece = Result<(Vec<TaskInput>, Vec<usize>), UploadError>;

/// JSONL bodies above this size are parsed on all cores, in line-aligned pieces.
const PARALLEL_JSONL_BYTES: usize = 4 << 20;

fn parse_jsonl(text: &str, schema: &LabelSchema) -> Result<Vec<TaskInput>, UploadError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let pieces = if text.len() >= PARALLEL_JSONL_BYTES && threads > 1 {
        line_aligned_pieces(text, threads)
    } else {
        vec![(text, 1)]
    };
    let parsed: Vec<ParsedPiece> = if pieces.len() == 1 {
        vec![parse_jsonl_piece(text, 1, schema)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|&(piece, first_line)| {
                    scope.spawn(move || parse_jsonl_piece(piece, first_line, schema))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(err(1, None, "the upload parser failed")))
                })
                .collect()
        })
    };
    // Pieces are in file order, so the first error met is the first bad line.
    let mut tasks = Vec::new();
    let mut lines = Vec::new();
    for piece in parsed {
        let (t, l) = piece?;
        tasks.extend(t);
        lines.extend(l);
    }
    check_unique_ids(&tasks, &lines)?;
    Ok(tasks)
}

/// Splits `text` into about `n` pieces that end at line ends, each with its first line number.
fn line_aligned_pieces(text: &str, n: usize) -> Vec<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::with_capacity(n);
    let (mut start, mut first_line) = (0, 1);
    for k in 1..=n {
        let target = (text.len() * k / n).max(start);
        let end = if k == n {
            text.len()
        } else {
            memchr::memchr(b'\n', &bytes[target..]).map_or(text.len(), |i| target + i + 1)
        };
        if end > start {
            pieces.push((&text[start..end], first_line));
            first_line += memchr::memchr_iter(b'\n', &bytes[start..end]).count();
            start = end;
        }
    }
    pieces
}

/// Parses one piece of a JSONL body whose first line is `first_line`; returns the tasks and
/// the line of each.
fn parse_jsonl_piece(text: &str, first_line: usize, schema: &LabelSchema) -> ParsedPiece {
    let mut tasks = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = first_line + i;
        let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| err(line, Some(e.column().max(1)), format!("invalid JSON: {e}")))?;
        let task = jsonl_task(value, schema).map_err(|m| err(line, None, m))?;
        tasks.push(task);
        lines.push(line);
    }
    Ok((tasks, lines))
}

fn jsonl_task(value: Value, schema: &LabelSchema) -> Result<TaskInput, String> {
    let Value::Object(mut obj) = value else {
        return Err("a task must be a JSON object".to_owned());
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "id" | "data" | "predictions" | "gold" | "meta" | "annotations"
        ) {
            return Err(format!(
                "unknown field {key:?} (expected \"id\", \"data\", \"predictions\", \"gold\")"
            ));
        }
    }
    let external_id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("\"id\" must be a non-empty string or a number".to_owned()),
    };
    let data = match obj.remove("data") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("\"data\" must be an object".to_owned()),
        None => return Err("missing \"data\" object".to_owned()),
    };
    check_data(&data, schema.kind)?;
    let prediction = match obj.remove("predictions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(preds)) => match preds.into_iter().next() {
            None => None,
            Some(p) => {
                Some(jsonl_prediction(p, schema).map_err(|m| format!("predictions[0]: {m}"))?)
            }
        },
        Some(_) => return Err("\"predictions\" must be an array".to_owned()),
    };
    let gold = match obj.remove("gold") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let labels = result_labels(value).map_err(|m| format!("gold: {m}"))?;
            schema
                .check_answer(&labels)
                .map_err(|e| format!("gold: {e}"))?;
            Some(labels)
        }
    };
    Ok(TaskInput {
        external_id,
        data,
        prediction,
        gold,
    })
}

fn jsonl_prediction(value: Value, schema: &LabelSchema) -> Result<Prediction, String> {
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
        Some(Value::String(s)) => Some(s),
        Some(v) => Some(v.to_string()),
    };
    let result = p.remove("result").ok_or("missing \"result\"")?;
    let labels = result_labels(result)?;
    schema
        .check_answer(&labels)
        .map_err(|e| format!("result: {e}"))?;
    Ok(Prediction {
        labels,
        score,
        model_version,
    })
}

/// Reads a classification result given as a label, a list of labels, or Label Studio
/// `choices` region(s): `[{"type": "choices", "value": {"choices": ["positive"]}, ...}]`.
fn result_labels(result: Value) -> Result<Vec<String>, String> {
    match result {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()),
        Value::Array(regions) => {
            let mut labels = Vec::new();
            for region in regions {
                labels.extend(region_choices(&region)?);
            }
            Ok(labels)
        }
        Value::Object(_) => region_choices(&result),
        _ => Err("\"result\" must be a label, a list of labels or choices regions".to_owned()),
    }
}

fn region_choices(region: &Value) -> Result<Vec<String>, String> {
    // A Label Studio rectangle: {"value": {"x": 10, "y": 20, "width": 30, "height": 15,
    // "rectanglelabels": ["car"]}}, in percent of the image.
    if let Some(value) = region.get("value")
        && let (Some(x), Some(y), Some(w), Some(h), Some(labels)) = (
            value.get("x").and_then(Value::as_f64),
            value.get("y").and_then(Value::as_f64),
            value.get("width").and_then(Value::as_f64),
            value.get("height").and_then(Value::as_f64),
            value.get("rectanglelabels").and_then(Value::as_array),
        )
    {
        return labels
            .iter()
            .map(|l| {
                let label = l.as_str().ok_or("box labels must be strings")?;
                Ok(BoundingBox {
                    x: x / 100.0,
                    y: y / 100.0,
                    w: w / 100.0,
                    h: h / 100.0,
                    label: label.to_owned(),
                }
                .to_string())
            })
            .collect();
    }
    // A Label Studio span region: {"value": {"start": 0, "end": 4, "labels": ["PER"]}}.
    if let Some(value) = region.get("value")
        && let (Some(start), Some(end), Some(labels)) = (
            value.get("start").and_then(Value::as_u64),
            value.get("end").and_then(Value::as_u64),
            value.get("labels").and_then(Value::as_array),
        )
    {
        return labels
            .iter()
            .map(|l| {
                l.as_str()
                    .map(|l| format!("{start}:{end}:{l}"))
                    .ok_or_else(|| "span labels must be strings".to_owned())
            })
            .collect();
    }
    let choices = region
        .get("value")
        .and_then(|v| v.get("choices"))
        .and_then(Value::as_array)
        .ok_or("a result region needs \"value\" with \"choices\", or a span's \"start\", \"end\" and \"labels\"")?;
    choices
        .iter()
        .map(|c| {
            c.as_str()
                .map(str::to_owned)
                .ok_or_else(|| "choices must be strings".to_owned())
        })
        .collect()
}

fn check_score(score: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&score) {
        Ok(score)
    } else {
        Err(format!("score {score} is outside [0, 1]"))
    }
}

/// A CSV `prediction` or `gold` cell as labels: `|` separates several (multiple choice);
/// free text is one label, `|` and all.
fn field_labels(schema: &LabelSchema, field: &str) -> Vec<String> {
    if schema.kind == SchemaKind::Text {
        return vec![field.to_owned()];
    }
    field.split('|').map(|s| s.trim().to_owned()).collect()
}

fn parse_csv(text: &str, schema: &LabelSchema) -> Result<Vec<TaskInput>, UploadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| csv_err(&e, 1))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect::<Vec<_>>();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(err(1, Some(i + 1), "empty column name in the header"));
        }
        if headers[..i].contains(h) {
            return Err(err(1, Some(i + 1), format!("column {h:?} appears twice")));
        }
    }
    let mut tasks = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_err(&e, 0))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let task = csv_task(&headers, &record, schema, line)?;
        tasks.push(task);
        lines.push(line);
    }
    check_unique_ids(&tasks, &lines)?;
    Ok(tasks)
}

fn csv_err(e: &csv::Error, fallback_line: usize) -> UploadError {
    let line = e
        .position()
        .map_or(fallback_line, |p| p.line() as usize)
        .max(1);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields as in the header, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_owned(),
        _ => e.to_string(),
    };
    err(line, None, message)
}

fn csv_task(
    headers: &[String],
    record: &csv::StringRecord,
    schema: &LabelSchema,
    line: usize,
) -> Result<TaskInput, UploadError> {
    let mut data = Map::new();
    let mut external_id = None;
    let mut labels: Option<(usize, Vec<String>)> = None;
    let mut score = None;
    let mut model_version = None;
    let mut gold = None;
    for (i, (name, field)) in headers.iter().zip(record.iter()).enumerate() {
        let column = Some(i + 1);
        let field = field.trim();
        match name.as_str() {
            "id" => external_id = (!field.is_empty()).then(|| field.to_owned()),
            "prediction" if !field.is_empty() => {
                labels = Some((i + 1, field_labels(schema, field)));
            }
            "prediction_score" if !field.is_empty() => {
                let value: f64 = field
                    .parse()
                    .map_err(|_| err(line, column, format!("{field:?} is not a number")))?;
                score = Some(check_score(value).map_err(|m| err(line, column, m))?);
            }
            "prediction_model" if !field.is_empty() => model_version = Some(field.to_owned()),
            "gold" if !field.is_empty() => {
                let labels = field_labels(schema, field);
                schema
                    .check_answer(&labels)
                    .map_err(|e| err(line, column, format!("gold: {e}")))?;
                gold = Some(labels);
            }
            "prediction" | "prediction_score" | "prediction_model" | "gold" => {}
            _ => {
                if !field.is_empty() {
                    data.insert(name.clone(), Value::String(field.to_owned()));
                }
            }
        }
    }
    check_data(&data, schema.kind).map_err(|m| err(line, None, m))?;
    let prediction = match labels {
        Some((column, labels)) => {
            schema
                .check_answer(&labels)
                .map_err(|e| err(line, Some(column), format!("prediction: {e}")))?;
            Some(Prediction {
                labels,
                score,
                model_version,
            })
        }
        None if score.is_some() => {
            return Err(err(
                line,
                None,
                "prediction_score given without a prediction",
            ));
        }
        None => None,
    };
    Ok(TaskInput {
        external_id,
        data,
        prediction,
        gold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        LabelSchema::from_json(
            r#"{"kind":"classification","labels":["positive","negative","neutral"]}"#,
        )
        .expect("valid schema")
    }

    /// A body big enough to be parsed in pieces on several threads.
    fn big_jsonl(lines: usize) -> Vec<String> {
        (1..=lines)
            .map(|i| format!(r#"{{"id":"t{i}","data":{{"text":"sentence number {i} of a big upload, long enough"}}}}"#))
            .collect()
    }

    #[test]
    fn a_big_upload_parsed_in_pieces_names_lines_as_if_read_whole() {
        let mut lines = big_jsonl(60_000);
        let whole = lines.join("\n");
        assert!(
            whole.len() >= PARALLEL_JSONL_BYTES,
            "the test must cover the parallel path"
        );
        let tasks = parse_upload(&whole, UploadFormat::Jsonl, &schema()).expect("valid");
        assert_eq!(tasks.len(), 60_000);
        assert_eq!(tasks[59_999].external_id.as_deref(), Some("t60000"));

        lines[49_999] = lines[9].clone();
        let e = parse_upload(&lines.join("\n"), UploadFormat::Jsonl, &schema()).expect_err("dup");
        assert_eq!(
            (e.line, e.message.as_str()),
            (50_000, "task id \"t10\" was already used on line 10")
        );

        lines[44_999] = r#"{"id":"t45000","data":{"text":"x"},}"#.to_owned();
        let e = parse_upload(&lines.join("\r\n"), UploadFormat::Jsonl, &schema()).expect_err("bad");
        assert_eq!(e.line, 45_000, "{e}");
        assert!(
            e.column.is_some() && e.message.contains("invalid JSON"),
            "{e}"
        );
    }

    #[test]
    fn jsonl_accepts_plain_and_label_studio_results() {
        let text = concat!(
            r#"{"id": "a1", "data": {"text": "great"}, "predictions": [{"model_version": "m1", "score": 0.87, "result": "positive"}]}"#,
            "\n\n",
            r#"{"data": {"text": "awful"}, "predictions": [{"score": 0.6, "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["negative"]}}]}]}"#,
            "\n",
            r#"{"id": 7, "data": {"text": "meh"}}"#,
        );
        let tasks = parse_upload(text, UploadFormat::Jsonl, &schema()).expect("valid upload");
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0].external_id.as_deref(), Some("a1"));
        let p0 = tasks[0].prediction.as_ref().expect("prediction");
        assert_eq!(p0.labels, vec!["positive"]);
        assert_eq!(p0.score, Some(0.87));
        assert_eq!(p0.model_version.as_deref(), Some("m1"));
        let p1 = tasks[1].prediction.as_ref().expect("prediction");
        assert_eq!(p1.labels, vec!["negative"]);
        assert_eq!(tasks[2].external_id.as_deref(), Some("7"));
        assert!(tasks[2].prediction.is_none());
    }

    #[test]
    fn jsonl_errors_name_line_and_column() {
        let text = "{\"data\": {\"text\": \"ok\"}}\n{\"data\": {\"text\": \"ok\"}\n";
        let e = parse_upload(text, UploadFormat::Jsonl, &schema()).expect_err("bad json");
        assert_eq!(e.line, 2);
        assert!(e.column.is_some(), "{e}");
        assert!(e.to_string().starts_with("line 2, column"), "{e}");

        let text = "{\"data\": {\"text\": \"ok\"}}\n\n{\"data\": {\"text\": \"x\"}, \"predictions\": [{\"result\": \"joy\"}]}";
        let e = parse_upload(text, UploadFormat::Jsonl, &schema()).expect_err("bad label");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("\"joy\""), "{e}");

        let e =
            parse_upload("{\"text\": \"x\"}", UploadFormat::Jsonl, &schema()).expect_err("no data");
        assert!(e.message.contains("unknown field \"text\""), "{e}");

        let text =
            "{\"id\":\"x\",\"data\":{\"text\":\"a\"}}\n{\"id\":\"x\",\"data\":{\"text\":\"b\"}}";
        let e = parse_upload(text, UploadFormat::Jsonl, &schema()).expect_err("dup id");
        assert_eq!((e.line, e.message.contains("line 1")), (2, true), "{e}");

        let e = parse_upload("\n \n", UploadFormat::Jsonl, &schema()).expect_err("empty");
        assert!(e.message.contains("no tasks"));
    }

    #[test]
    fn csv_reads_data_columns_and_predictions() {
        let text =
            "id,text,prediction,prediction_score\nt1,\"Good, really\",positive,0.9\nt2,Bad,,\n";
        let tasks = parse_upload(text, UploadFormat::Csv, &schema()).expect("valid csv");
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].data["text"], "Good, really");
        assert_eq!(
            tasks[0].prediction.as_ref().map(|p| p.score),
            Some(Some(0.9))
        );
        assert!(tasks[1].prediction.is_none());
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let text = "text,prediction,prediction_score\nfine,positive,0.5\nbad,positive,high\n";
        let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("bad score");
        assert_eq!((e.line, e.column), (3, Some(3)), "{e}");

        let text = "text,prediction\nfine,positive\nbad,positive,extra\n";
        let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("ragged");
        assert_eq!(e.line, 3, "{e}");

        let text = "text,prediction\nfine,happy\n";
        let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("label");
        assert_eq!((e.line, e.column), (2, Some(2)), "{e}");
    }

    #[test]
    fn formats_are_recognised() {
        assert_eq!(
            UploadFormat::from_file_name("a.JSONL"),
            Some(UploadFormat::Jsonl)
        );
        assert_eq!(
            UploadFormat::from_file_name("a.csv"),
            Some(UploadFormat::Csv)
        );
        assert_eq!(UploadFormat::from_file_name("a.txt"), None);
        for f in [UploadFormat::Jsonl, UploadFormat::Csv] {
            assert_eq!(UploadFormat::from_media_type(f.media_type()), Some(f));
        }
    }

    #[test]
    fn pairwise_and_text_uploads_follow_their_kind() {
        let pairwise = LabelSchema::from_json(r#"{"kind":"pairwise","labels":["A","B","tie"]}"#)
            .expect("valid");
        let text = concat!(
            r#"{"data": {"text": "Which reply is kinder?", "a": "Sure!", "b": "No."}, "predictions": [{"result": "A"}]}"#,
            "\n",
            r#"{"data": {"text": "Which reply is kinder?", "a": "Sure!"}}"#,
            "\n",
        );
        let e = parse_upload(text, UploadFormat::Jsonl, &pairwise).expect_err("no b");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().contains("\"a\" and \"b\""), "{e}");

        let free = LabelSchema::from_json(r#"{"kind":"text"}"#).expect("valid");
        let csv = "image,prediction,gold\nhttps://x/1.png,Fish | chips,\n,,a caption\n";
        let e = parse_upload(csv, UploadFormat::Csv, &free).expect_err("nothing to transcribe");
        assert_eq!(e.line, 3, "{e}");
        let tasks = parse_upload(
            &csv[..csv.rfind(",,").expect("row")],
            UploadFormat::Csv,
            &free,
        )
        .expect("valid");
        assert_eq!(
            tasks[0].prediction.as_ref().map(|p| p.labels.clone()),
            Some(vec!["Fish | chips".to_owned()]),
            "free text keeps its | characters"
        );
    }

    #[test]
    fn label_studio_span_regions_become_spans() {
        let schema =
            LabelSchema::from_json(r#"{"kind":"spans","labels":["PER","ORG"]}"#).expect("valid");
        let text = concat!(
            r#"{"data": {"text": "Ada met IBM"}, "predictions": [{"result": [{"type": "labels", "value": {"start": 0, "end": 3, "labels": ["PER"]}}, {"type": "labels", "value": {"start": 8, "end": 11, "labels": ["ORG"]}}]}]}"#,
            "\n",
            r#"{"data": {"image": "https://x/1.png"}}"#,
            "\n",
        );
        let e = parse_upload(text, UploadFormat::Jsonl, &schema).expect_err("no text to mark");
        assert_eq!(e.line, 2, "{e}");
        let tasks = parse_upload(
            &text[..text.find('\n').expect("line") + 1],
            UploadFormat::Jsonl,
            &schema,
        )
        .expect("valid");
        assert_eq!(
            tasks[0].prediction.as_ref().map(|p| p.labels.clone()),
            Some(vec!["0:3:PER".to_owned(), "8:11:ORG".to_owned()])
        );
        let boxes = LabelSchema::from_json(r#"{"kind":"boxes","labels":["car"]}"#).expect("valid");
        let rect = r#"{"data": {"image": "https://x/1.png"}, "predictions": [{"result": [{"type": "rectanglelabels", "value": {"x": 10, "y": 20, "width": 30, "height": 15, "rectanglelabels": ["car"]}}]}]}"#;
        let tasks = parse_upload(rect, UploadFormat::Jsonl, &boxes).expect("valid");
        assert_eq!(
            tasks[0].prediction.as_ref().map(|p| p.labels.clone()),
            Some(vec!["0.1000,0.2000,0.3000,0.1500:car".to_owned()])
        );
    }
}

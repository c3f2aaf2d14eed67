//! Parsing a batch upload (JSONL in Label Studio's task shape, or CSV) into validated tasks.
//!
//! An upload is all-or-nothing: the first bad line stops the parse with its line number, the
//! column when one is known, and the reason.

use std::collections::VecDeque;
use std::fmt;
use std::io::Read;
use std::thread::ScopedJoinHandle;

use serde_json::{Map, Value};

use crate::bbox::BoundingBox;
use crate::csv_quotes::QuoteChecked;
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ParsedTask, Prediction, TaskInput, check_data};

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
    /// The reader failed at `line` (its text was not wrong as far as it was read).
    pub read_failed: bool,
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
        read_failed: false,
    }
}

/// Parses a whole upload held in memory. Empty input is an error: a batch holds at least one
/// task.
pub fn parse_upload(
    text: &str,
    format: UploadFormat,
    schema: &LabelSchema,
) -> Result<Vec<TaskInput>, UploadError> {
    parse_upload_from(text.as_bytes(), format, schema)
}

/// Parses an upload as it is read, so a server can parse a request body while it arrives
/// instead of holding it whole: JSONL is cut into line-aligned pieces parsed on all cores
/// while the next piece is read; CSV goes through the csv reader's own buffer. The first
/// bad line (in file order) stops the read. A read error becomes an error at the line the
/// read had reached.
///
/// `T` is what is kept of each task: [`TaskInput`], or an
/// [`EncodedTask`](crate::EncodedTask), made on the parsing threads, for a server that only
/// stores them.
pub fn parse_upload_from<T: ParsedTask>(
    reader: impl Read,
    format: UploadFormat,
    schema: &LabelSchema,
) -> Result<Vec<T>, UploadError> {
    let tasks = match format {
        UploadFormat::Jsonl => parse_jsonl(reader, schema, JSONL_PIECE_BYTES)?,
        UploadFormat::Csv => parse_csv(reader, schema)?,
    };
    if tasks.is_empty() {
        return Err(err(1, None, "the upload holds no tasks"));
    }
    Ok(tasks)
}

/// Fails on the first line (in file order) whose task id an earlier line already used, naming
/// both lines. `lines[i]` is the line of `tasks[i]`. Sorting references instead of hashing
/// copies keeps this cheap for million-task batches.
fn check_unique_ids<T: ParsedTask>(tasks: &[T], lines: &[usize]) -> Result<(), UploadError> {
    let mut ids: Vec<(&str, usize)> = tasks
        .iter()
        .zip(lines)
        .filter_map(|(t, &line)| t.external_id().map(|id| (id, line)))
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
type ParsedPiece<T> = Result<(Vec<T>, Vec<usize>), UploadError>;

/// JSONL is read in pieces of about this size, cut at line ends.
const JSONL_PIECE_BYTES: usize = 4 << 20;
/// Most bytes one read asks for.
const READ_BYTES: usize = 64 << 10;

/// Reads `reader` in line-aligned pieces of about `piece_bytes` and parses each on its own
/// thread, at most one per core at a time, while the next piece is read. Pieces parsed
/// meanwhile are collected between reads, so a bad line stops the read within one read of
/// its piece's parse, however much is left to read.
fn parse_jsonl<T: ParsedTask>(
    mut reader: impl Read,
    schema: &LabelSchema,
    piece_bytes: usize,
) -> Result<Vec<T>, UploadError> {
    let threads = crate::aggregate::cores().min(8);
    std::thread::scope(|scope| {
        let mut parsing: VecDeque<ScopedJoinHandle<'_, ParsedPiece<T>>> = VecDeque::new();
        let mut tasks = Vec::new();
        let mut lines = Vec::new();
        // Pieces are collected in file order, so the first error met is the first bad line.
        let mut collect = |handle: ScopedJoinHandle<'_, ParsedPiece<T>>| {
            let (t, l) = handle
                .join()
                .unwrap_or_else(|_| Err(err(1, None, "the upload parser failed")))?;
            tasks.extend(t);
            lines.extend(l);
            Ok::<_, UploadError>(())
        };
        let mut scratch = vec![0; READ_BYTES];
        let mut carry = Vec::new();
        let mut first_line = 1;
        loop {
            let mut piece = std::mem::take(&mut carry);
            let target = piece.len() + piece_bytes;
            let mut eof = false;
            while piece.len() < target && !eof {
                while parsing.front().is_some_and(ScopedJoinHandle::is_finished) {
                    if let Some(done) = parsing.pop_front() {
                        collect(done)?;
                    }
                }
                let want = (target - piece.len()).min(scratch.len());
                match reader.read(&mut scratch[..want]) {
                    Ok(n) => {
                        piece.extend_from_slice(&scratch[..n]);
                        eof = n == 0;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // A bad line before the failed read comes first in file order.
                        while let Some(earlier) = parsing.pop_front() {
                            collect(earlier)?;
                        }
                        return Err(UploadError {
                            read_failed: true,
                            ..err(first_line, None, format!("reading the upload failed: {e}"))
                        });
                    }
                }
            }
            let cut = if eof {
                piece.len()
            } else {
                match memchr::memrchr(b'\n', &piece) {
                    Some(i) => i + 1,
                    // One line longer than a piece: read on until it ends.
                    None => {
                        carry = piece;
                        continue;
                    }
                }
            };
            carry = piece.split_off(cut);
            let piece_first_line = first_line;
            first_line += memchr::memchr_iter(b'\n', &piece).count();
            if parsing.len() >= threads
                && let Some(oldest) = parsing.pop_front()
            {
                collect(oldest)?;
            }
            parsing.push_back(
                scope.spawn(move || parse_jsonl_piece(&piece, piece_first_line, schema)),
            );
            if eof {
                break;
            }
        }
        while let Some(handle) = parsing.pop_front() {
            collect(handle)?;
        }
        check_unique_ids(&tasks, &lines)?;
        Ok(tasks)
    })
}

/// Parses one piece of a JSONL body whose first line is `first_line`; returns the tasks and
/// the line of each.
fn parse_jsonl_piece<T: ParsedTask>(
    bytes: &[u8],
    first_line: usize,
    schema: &LabelSchema,
) -> ParsedPiece<T> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line_start = memchr::memrchr(b'\n', valid).map_or(0, |i| i + 1);
        err(
            first_line + memchr::memchr_iter(b'\n', valid).count(),
            Some(valid.len() - line_start + 1),
            "invalid UTF-8",
        )
    })?;
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
        let task = jsonl_task(value, schema)
            .and_then(T::from_input)
            .map_err(|m| err(line, None, m))?;
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

/// A reader that drops a UTF-8 byte order mark at the start, however the bytes arrive (the
/// csv reader drops one only when it comes whole in its first read: a file sent in small
/// pieces read differently).
struct WithoutBom<R> {
    inner: R,
    /// The first bytes, held until it is known whether they are a BOM.
    head: Vec<u8>,
    started: bool,
}

impl<R: Read> WithoutBom<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            head: Vec::new(),
            started: false,
        }
    }
}

impl<R: Read> Read for WithoutBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const BOM: &[u8] = b"\xef\xbb\xbf";
        if !self.started {
            let mut byte = [0u8; 3];
            while self.head.len() < BOM.len() && BOM.starts_with(&self.head) {
                let n = self.inner.read(&mut byte[..BOM.len() - self.head.len()])?;
                if n == 0 {
                    break;
                }
                self.head.extend_from_slice(&byte[..n]);
            }
            if self.head == BOM {
                self.head.clear();
            }
            self.started = true;
        }
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Most columns a CSV upload may have: task data is a handful of fields, and every column
/// is sent with every lease of the task.
pub const MAX_CSV_COLUMNS: usize = 1000;

/// Column names with a meaning of their own, matched whatever their case: a column `Gold` is
/// the gold answer, never task data an annotator would see.
const RESERVED_COLUMNS: [&str; 5] = [
    "id",
    "prediction",
    "prediction_score",
    "prediction_model",
    "gold",
];

/// The header's names checked in one pass (none empty, none twice, at most
/// [`MAX_CSV_COLUMNS`]), reserved names lower-cased.
fn checked_headers(headers: Vec<String>) -> Result<Vec<String>, UploadError> {
    if headers.len() > MAX_CSV_COLUMNS {
        return Err(err(
            1,
            Some(MAX_CSV_COLUMNS + 1),
            format!(
                "the header has {} columns; at most {MAX_CSV_COLUMNS} are allowed",
                headers.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(headers.len());
    let mut out = Vec::with_capacity(headers.len());
    for (i, h) in headers.into_iter().enumerate() {
        if h.is_empty() {
            return Err(err(1, Some(i + 1), "empty column name in the header"));
        }
        let h = match RESERVED_COLUMNS.iter().find(|r| r.eq_ignore_ascii_case(&h)) {
            Some(reserved) => (*reserved).to_owned(),
            None => h,
        };
        if !seen.insert(h.clone()) {
            return Err(err(1, Some(i + 1), format!("column {h:?} appears twice")));
        }
        out.push(h);
    }
    Ok(out)
}

fn parse_csv<T: ParsedTask>(
    reader: impl Read,
    schema: &LabelSchema,
) -> Result<Vec<T>, UploadError> {
    let (reader, quotes) = QuoteChecked::new(WithoutBom::new(reader));
    // A quoting error the checker (which reads ahead with the csv reader) found at or before
    // `line` explains what went wrong better than what the lenient reader made of it.
    let quoting = |line: usize| -> Option<UploadError> {
        let check = quotes.lock().unwrap_or_else(|e| e.into_inner());
        check
            .error()
            .filter(|e| e.line <= line)
            .map(|e| err(e.line, Some(e.column), e.message.clone()))
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = reader
        .headers()
        .map_err(|e| quoting(1).unwrap_or_else(|| csv_err(&e, 1)))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect::<Vec<_>>();
    if let Some(e) = quoting(1) {
        return Err(e);
    }
    let headers = checked_headers(headers)?;
    let mut tasks = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(usize::MAX, |p| p.line() as usize);
            quoting(line).unwrap_or_else(|| csv_err(&e, 0))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if let Some(e) = quoting(line) {
            return Err(e);
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let task = T::from_input(csv_task(&headers, &record, schema, line)?)
            .map_err(|m| err(line, None, m))?;
        tasks.push(task);
        lines.push(line);
    }
    // The end of the file: a quoted field never closed.
    if let Some(e) = quoting(usize::MAX) {
        return Err(e);
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
    UploadError {
        read_failed: matches!(e.kind(), csv::ErrorKind::Io(_)),
        ..err(line, None, message)
    }
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
mod tests;

//! CSV and TSV uploads: one task a row, a column per data field, with the reserved columns
//! (`id`, `prediction`, `prediction_score`, `prediction_model`, `gold`) and Toloka's and
//! Label Studio's own column shapes read for what they mean.

use super::*;

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

pub(super) fn parse_csv<T: ParsedTask>(
    reader: impl Read,
    schema: &LabelSchema,
    delimiter: u8,
) -> Result<(Vec<T>, UploadReport), UploadError> {
    let (reader, quotes) = QuoteChecked::with_delimiter(WithoutBom::new(reader), delimiter);
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
        .delimiter(delimiter)
        // Tab-separated files (Toloka's among them) quote nothing: a quote is text; and
        // their rows may stop before trailing empty columns (more fields are still an error).
        .quoting(delimiter != b'\t')
        .flexible(delimiter == b'\t')
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
    // Label Studio's CSV export: JSON_MIN's rows as columns.
    let label_studio = ["annotator", "annotation_id"]
        .iter()
        .all(|k| headers.iter().any(|h| h == k));
    let mut cx = task_object::Reading::new(false);
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
        if record.len() > headers.len() {
            return Err(err(
                line,
                Some(headers.len() + 1),
                format!(
                    "expected {} fields as in the header, found {}",
                    headers.len(),
                    record.len()
                ),
            ));
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let task = if label_studio {
            cx.line = line;
            task_object::task(label_studio_row(&headers, &record), schema, &mut cx)
                .map_err(|m| err(line, None, m))?
        } else {
            csv_task(&headers, &record, schema, line)?
        };
        tasks.push(T::from_input(task).map_err(|m| err(line, None, m))?);
        lines.push(line);
    }
    // The end of the file: a quoted field never closed.
    if let Some(e) = quoting(usize::MAX) {
        return Err(e);
    }
    let mut report = cx.report;
    for h in &headers {
        if h.starts_with("ASSIGNMENT:") && !TOLOKA_KEPT.contains(&h.as_str()) {
            report.ignore(h);
        }
    }
    Ok((merge_repeats(tasks, lines)?, report))
}

/// A row of Label Studio's CSV export as the JSON_MIN row it stands for: a cell holding a JSON
/// list or object (several choices, regions) is that JSON; an empty cell of the annotation's
/// own columns is null.
fn label_studio_row(headers: &[String], record: &csv::StringRecord) -> Value {
    let mut row = Map::new();
    for (h, field) in headers.iter().zip(record.iter()) {
        let trimmed = field.trim();
        let data_field = matches!(h.as_str(), "text" | "image" | "a" | "b");
        let value = if !data_field && trimmed.starts_with(['[', '{']) {
            serde_json::from_str(trimmed).unwrap_or_else(|_| Value::from(field))
        } else if trimmed.is_empty()
            && matches!(
                h.as_str(),
                "annotator"
                    | "annotation_id"
                    | "created_at"
                    | "updated_at"
                    | "lead_time"
                    | "agreement"
            )
        {
            Value::Null
        } else {
            Value::from(field)
        };
        row.insert(h.clone(), value);
    }
    Value::Object(row)
}

/// The `ASSIGNMENT:` columns of a Toloka results file a task keeps: whose answer, to which
/// task, when. The others (status, reward, links…) are ignored and reported.
const TOLOKA_KEPT: &[&str] = &[
    "ASSIGNMENT:worker_id",
    "ASSIGNMENT:task_id",
    "ASSIGNMENT:submitted",
];

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
    let mut meta = Map::new();
    // A Toloka results row: one worker's answer.
    let (mut output, mut worker, mut submitted) = (None, None, None);
    for (i, (name, field)) in headers.iter().zip(record.iter()).enumerate() {
        let column = Some(i + 1);
        let field = field.trim();
        if let Some((prefix, rest)) = name.split_once(':')
            && matches!(
                prefix,
                "INPUT" | "GOLDEN" | "HINT" | "OUTPUT" | "ASSIGNMENT"
            )
        {
            if field.is_empty() {
                continue;
            }
            match (prefix, rest) {
                ("INPUT", field_name) => {
                    data.insert(field_name.to_owned(), Value::String(field.to_owned()));
                }
                ("GOLDEN", _) => {
                    let labels = field_labels(schema, field);
                    schema
                        .check_answer(&labels)
                        .map_err(|e| err(line, column, format!("gold: {e}")))?;
                    gold = Some(labels);
                }
                ("HINT", _) => {
                    meta.insert(name.clone(), Value::String(field.to_owned()));
                }
                ("OUTPUT", _) => {
                    let labels = field_labels(schema, field);
                    schema
                        .check_answer(&labels)
                        .map_err(|e| err(line, column, format!("answer: {e}")))?;
                    output = Some(labels);
                }
                (_, "worker_id") => worker = Some(field.to_owned()),
                (_, "task_id") => external_id = Some(field.to_owned()),
                (_, "submitted") => submitted = Some(field.to_owned()),
                _ => {}
            }
            continue;
        }
        match name.as_str() {
            "id" => external_id = (!field.is_empty()).then(|| field.to_owned()),
            "prediction" if !field.is_empty() => {
                labels = Some((i + 1, field_labels(schema, field)));
            }
            "prediction_score" if !field.is_empty() => {
                let value: f64 = field
                    .parse()
                    .map_err(|_| err(line, column, format!("{field:?} is not a number")))?;
                score = Some(task_object::check_score(value).map_err(|m| err(line, column, m))?);
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
    let answers = match (output, worker) {
        (Some(labels), Some(annotator)) => vec![ImportedAnswer {
            annotator,
            labels,
            skipped: false,
            answered_at: submitted,
            unsure: false,
        }],
        (Some(_), None) => {
            return Err(err(
                line,
                None,
                "an OUTPUT answer needs the ASSIGNMENT:worker_id who gave it",
            ));
        }
        _ => Vec::new(),
    };
    Ok(TaskInput {
        external_id,
        data,
        predictions: prediction.into_iter().collect(),
        gold,
        meta: (!meta.is_empty()).then_some(meta),
        answers,
        ..TaskInput::default()
    })
}

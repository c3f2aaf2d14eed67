//! Parsing a batch upload (JSON or JSONL in Label Studio's task shape, or CSV) into validated
//! tasks.
//!
//! An upload is all-or-nothing: the first bad line stops the parse with its line number, the
//! column when one is known, and the reason. What it keeps without refusing — another tool's
//! bookkeeping keys, boxes cut at the image's edge — is counted in its [`UploadReport`].

mod answers_csv;
mod coco;
mod conll;
mod dataset;
mod delimited;
mod docbin;
mod export_record;
mod json_document;
mod json_min;
mod prodigy;
mod spacy;
mod task_object;
mod voc;
mod yolo;

pub use answers_csv::{ExternalAnswer, is_answers_header, parse_answers_csv};
pub use dataset::{Dataset, IMAGE_HEAD_BYTES, parse_dataset};
pub use delimited::MAX_CSV_COLUMNS;
pub use export_record::task_line;
pub use task_object::label_studio_prediction;

use delimited::parse_csv;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::thread::ScopedJoinHandle;

use serde_json::{Map, Value};

use crate::csv_quotes::QuoteChecked;
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ImportedAnswer, ParsedTask, Prediction, TaskInput, check_data};

/// The formats a batch may be uploaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFormat {
    /// One JSON task per line: `{"id"?, "data": {...}, "predictions"?: [...]}`.
    Jsonl,
    /// A JSON array of tasks, or one task, in the same shape: Label Studio's JSON export.
    Json,
    /// CoNLL-style tokens and tags (CoNLL-2003 and the like): a spans task per sentence,
    /// its tags an answer.
    Conll,
    /// CSV with tabs: also Toloka's pools and results (`INPUT:`, `GOLDEN:`, `HINT:`,
    /// `OUTPUT:` and `ASSIGNMENT:` columns, which CSV reads too).
    Tsv,
    /// A header row, one column per data field, plus optional `id`, `prediction`,
    /// `prediction_score` and `prediction_model` columns.
    Csv,
    /// One Pascal VOC XML file: a boxes task for the image it names.
    Voc,
    /// A zip of a dataset: a YOLO set, Pascal VOC files, or one file of another format beside
    /// its images (see [`Dataset`]).
    Zip,
    /// spaCy's binary training data (`.spacy`): a task per doc.
    DocBin,
}

impl UploadFormat {
    /// Guesses the format from a file name's extension.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Self::Jsonl)
        } else if lower.ends_with(".json") {
            Some(Self::Json)
        } else if lower.ends_with(".tsv") {
            Some(Self::Tsv)
        } else if [".conll", ".conll03", ".iob", ".bio", ".bioes"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            Some(Self::Conll)
        } else if lower.ends_with(".csv") {
            Some(Self::Csv)
        } else if lower.ends_with(".xml") {
            Some(Self::Voc)
        } else if lower.ends_with(".zip") {
            Some(Self::Zip)
        } else if lower.ends_with(".spacy") {
            Some(Self::DocBin)
        } else {
            None
        }
    }

    /// The format a user names (`--format`): `jsonl`, `json` (also `ls-json`) or `csv`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "json" | "ls-json" | "label-studio" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "tsv" | "toloka" => Some(Self::Tsv),
            "conll" | "conll2003" | "iob" => Some(Self::Conll),
            "voc" | "xml" => Some(Self::Voc),
            "zip" | "yolo" => Some(Self::Zip),
            "spacy" | "docbin" => Some(Self::DocBin),
            _ => None,
        }
    }

    /// Whether a dataset's file of this format is read as an upload of its own (VOC files
    /// and zips are what a dataset is made of).
    pub fn reads_alone(self) -> bool {
        !matches!(self, Self::Voc | Self::Zip | Self::DocBin)
    }

    /// Finds the format of a file from its name and its first bytes. The content wins for
    /// the JSON family, whatever the extension says: a document that opens an array, or an
    /// object that does not end on its first line, is JSON; an object per line is JSONL.
    pub fn detect(name: &str, head: &[u8]) -> Option<Self> {
        let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
        let start = head.iter().position(|b| !b.is_ascii_whitespace());
        if head.starts_with(b"PK\x03\x04") {
            return Some(Self::Zip);
        }
        match start.map(|i| (head[i], &head[i..])) {
            Some((b'[', _)) => Some(Self::Json),
            Some((b'<', rest)) if memchr::memmem::find(rest, b"<annotation").is_some() => {
                Some(Self::Voc)
            }
            Some((b'{', rest)) => {
                let first_line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
                match serde_json::from_slice::<Value>(first_line) {
                    Ok(_) => Some(Self::Jsonl),
                    Err(_) => Some(Self::Json),
                }
            }
            _ => Self::from_file_name(name),
        }
    }

    /// The HTTP media type used to upload this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::Json => "application/json",
            Self::Tsv => "text/tab-separated-values",
            Self::Conll => "text/x-conll",
            Self::Csv => "text/csv",
            Self::Voc => "application/xml",
            Self::Zip => "application/zip",
            Self::DocBin => "application/x-spacy-docbin",
        }
    }

    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => {
                Some(Self::Jsonl)
            }
            "application/json" => Some(Self::Json),
            "text/csv" => Some(Self::Csv),
            "text/tab-separated-values" => Some(Self::Tsv),
            "text/x-conll" => Some(Self::Conll),
            "application/xml" | "text/xml" => Some(Self::Voc),
            "application/zip" | "application/x-zip-compressed" => Some(Self::Zip),
            "application/x-spacy-docbin" => Some(Self::DocBin),
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

/// What an upload kept without refusing it, for its report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Keys only another tool's bookkeeping needs (Label Studio's `agreement`, `inner_id`…),
    /// ignored, with how many times each was met.
    pub ignored_keys: BTreeMap<String, u64>,
    /// Boxes a little past the image's edge, cut at the edge.
    pub clamped_boxes: u64,
    /// Imported answers that chose nothing where a choice is needed, kept as skips.
    pub empty_answers: u64,
    /// What a lenient upload left out, each with its line and why.
    pub left_out: Vec<LeftOut>,
}

/// One item a lenient upload left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub line: usize,
    /// Where in the task: `annotations[0]`, `predictions[1]`, `result[2]`.
    pub item: String,
    pub reason: String,
}

impl UploadReport {
    fn ignore(&mut self, key: &str) {
        *self.ignored_keys.entry(key.to_owned()).or_default() += 1;
    }

    fn merge(&mut self, other: UploadReport) {
        for (key, n) in other.ignored_keys {
            *self.ignored_keys.entry(key).or_default() += n;
        }
        self.clamped_boxes += other.clamped_boxes;
        self.empty_answers += other.empty_answers;
        self.left_out.extend(other.left_out);
    }
}

/// An upload's tasks and its report.
#[derive(Debug, PartialEq)]
pub struct Parsed<T> {
    pub tasks: Vec<T>,
    pub report: UploadReport,
}

/// Parses a whole upload held in memory. Empty input is an error: a batch holds at least one
/// task.
pub fn parse_upload(
    text: &str,
    format: UploadFormat,
    schema: &LabelSchema,
) -> Result<Vec<TaskInput>, UploadError> {
    Ok(parse_upload_from(text.as_bytes(), format, schema)?.tasks)
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
) -> Result<Parsed<T>, UploadError> {
    parse_upload_with(reader, format, schema, false)
}

/// [`parse_upload_from`]; when `lenient`, what cannot be kept (a region of a kind the project
/// lacks, an imported answer or a prediction with a label it lacks) is left out and listed in
/// the report instead of refusing the upload.
pub fn parse_upload_with<T: ParsedTask>(
    reader: impl Read,
    format: UploadFormat,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<Parsed<T>, UploadError> {
    let (tasks, report) = match format {
        UploadFormat::Jsonl => parse_jsonl(reader, schema, JSONL_PIECE_BYTES, lenient)?,
        UploadFormat::Csv => parse_csv(reader, schema, b',')?,
        UploadFormat::Tsv => parse_csv(reader, schema, b'\t')?,
        UploadFormat::Conll => {
            let text = read_text(reader)?;
            let (tasks, lines, report) = conll::parse(&text, schema, lenient)?;
            let tasks = tasks
                .into_iter()
                .zip(&lines)
                .map(|(t, &line)| T::from_input(t).map_err(|m| err(line, None, m)))
                .collect::<Result<Vec<T>, _>>()?;
            (merge_repeats(tasks, lines)?, report)
        }
        UploadFormat::DocBin => {
            let bytes = read_whole(reader, MAX_DOCUMENT_BYTES)?;
            let (tasks, report) = docbin::parse(&bytes, MAX_DOCUMENT_BYTES, schema, lenient)?;
            let tasks = tasks
                .into_iter()
                .map(|t| T::from_input(t).map_err(|m| err(1, None, m)))
                .collect::<Result<Vec<T>, _>>()?;
            (tasks, report)
        }
        UploadFormat::Voc | UploadFormat::Zip => {
            let bytes = read_whole(reader, MAX_DOCUMENT_BYTES)?;
            let dataset = if format == UploadFormat::Zip {
                Dataset::from_zip(&bytes, MAX_DOCUMENT_BYTES)?
            } else {
                let mut one = Dataset::new();
                let text = String::from_utf8(bytes).map_err(|_| err(1, None, "invalid UTF-8"))?;
                one.add_text("the VOC file", text);
                one
            };
            let parsed = parse_dataset(&dataset, schema, lenient)?;
            let tasks = parsed
                .tasks
                .into_iter()
                .map(|t| T::from_input(t).map_err(|m| err(1, None, m)))
                .collect::<Result<Vec<T>, _>>()?;
            (tasks, parsed.report)
        }
        UploadFormat::Json => {
            // A document is cut into its elements whole.
            let bytes = read_whole(reader, MAX_DOCUMENT_BYTES)?;
            // One object may be a COCO instances file rather than one task.
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            let coco = match first {
                Some(b'{') => serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .filter(coco::is_coco),
                _ => None,
            };
            let (tasks, lines, report) = match coco {
                Some(doc) => {
                    let (tasks, lines, report) = coco::parse(doc, schema, lenient)?;
                    let tasks = tasks
                        .into_iter()
                        .map(|t| T::from_input(t).map_err(|m| err(1, None, m)))
                        .collect::<Result<Vec<T>, _>>()?;
                    (tasks, lines, report)
                }
                None => json_document::parse(&bytes, schema, lenient)?,
            };
            (merge_repeats(tasks, lines)?, report)
        }
    };
    if tasks.is_empty() {
        return Err(err(1, None, "the upload holds no tasks"));
    }
    Ok(Parsed { tasks, report })
}

/// Tasks whose id an earlier line already used: a repeat of that task with the same data (a
/// Prodigy dataset has a line per annotator) is merged into it, its answers added; with other
/// data it is an error at the first such line (in file order), naming both lines. `lines[i]`
/// is the line of `tasks[i]`. Sorting references instead of hashing copies keeps this cheap
/// for million-task batches.
fn merge_repeats<T: ParsedTask>(
    mut tasks: Vec<T>,
    lines: Vec<usize>,
) -> Result<Vec<T>, UploadError> {
    let mut ids: Vec<(&str, usize, usize)> = tasks
        .iter()
        .zip(&lines)
        .enumerate()
        .filter_map(|(i, (t, &line))| t.external_id().map(|id| (id, line, i)))
        .collect();
    ids.sort_unstable();
    // Runs of one id, in line order: each later entry merges into the run's head, or clashes.
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let mut clash: Option<(usize, usize, String)> = None;
    let mut run = 0;
    for k in 1..=ids.len() {
        if k < ids.len() && ids[k].0 == ids[run].0 {
            continue;
        }
        let (id, head_line, head) = ids[run];
        for &(_, line, i) in &ids[run + 1..k] {
            if tasks[head].same_data(&tasks[i]) {
                repeats.push((head, i));
            } else if clash.as_ref().is_none_or(|(l, _, _)| line < *l) {
                clash = Some((line, head_line, id.to_owned()));
            }
        }
        run = k;
    }
    drop(ids);
    if let Some((line, first, id)) = clash {
        return Err(err(
            line,
            None,
            format!("task id {id:?} was already used on line {first}, for other data"),
        ));
    }
    if repeats.is_empty() {
        return Ok(tasks);
    }
    let mut merged = vec![false; tasks.len()];
    for (head, i) in repeats {
        let repeat = std::mem::take(&mut tasks[i]);
        tasks[head].absorb(repeat);
        merged[i] = true;
    }
    Ok(tasks
        .into_iter()
        .zip(merged)
        .filter_map(|(t, gone)| (!gone).then_some(t))
        .collect())
}

/// Largest upload of a format read whole (a JSON document, a CoNLL file): it is held in
/// memory while it is read, so one requester's file cannot take the server's memory. JSONL
/// and CSV stream, up to the server's upload limit.
pub const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// A whole upload, refused past `cap` bytes.
fn read_whole(reader: impl Read, cap: u64) -> Result<Vec<u8>, UploadError> {
    let mut bytes = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UploadError {
            read_failed: true,
            ..err(1, None, format!("reading the upload failed: {e}"))
        })?;
    if bytes.len() as u64 > cap {
        return Err(err(
            1,
            None,
            format!(
                "a file of this format is read whole and may hold at most {} MiB; split it, or upload JSONL (which streams)",
                cap >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// A whole upload read as UTF-8 text (for the formats read whole).
fn read_text(reader: impl Read) -> Result<String, UploadError> {
    let bytes = read_whole(reader, MAX_DOCUMENT_BYTES)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line_start = memchr::memrchr(b'\n', valid).map_or(0, |i| i + 1);
        err(
            1 + memchr::memchr_iter(b'\n', valid).count(),
            Some(valid.len() - line_start + 1),
            "invalid UTF-8",
        )
    })
}

/// One piece's tasks and the line of each, or its first bad line.
type ParsedPiece<T> = Result<(Vec<T>, Vec<usize>, UploadReport), UploadError>;

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
    lenient: bool,
) -> Result<(Vec<T>, UploadReport), UploadError> {
    let threads = crate::aggregate::cores().min(8);
    std::thread::scope(|scope| {
        let mut parsing: VecDeque<ScopedJoinHandle<'_, ParsedPiece<T>>> = VecDeque::new();
        let mut tasks = Vec::new();
        let mut lines = Vec::new();
        let mut report = UploadReport::default();
        // Pieces are collected in file order, so the first error met is the first bad line.
        let mut collect = |handle: ScopedJoinHandle<'_, ParsedPiece<T>>| {
            let (t, l, r) = handle
                .join()
                .unwrap_or_else(|_| Err(err(1, None, "the upload parser failed")))?;
            tasks.extend(t);
            lines.extend(l);
            report.merge(r);
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
                scope.spawn(move || parse_jsonl_piece(&piece, piece_first_line, schema, lenient)),
            );
            if eof {
                break;
            }
        }
        while let Some(handle) = parsing.pop_front() {
            collect(handle)?;
        }
        Ok((merge_repeats(tasks, lines)?, report))
    })
}

/// Parses one piece of a JSONL body whose first line is `first_line`; returns the tasks and
/// the line of each.
fn parse_jsonl_piece<T: ParsedTask>(
    bytes: &[u8],
    first_line: usize,
    schema: &LabelSchema,
    lenient: bool,
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
    let mut cx = task_object::Reading::new(lenient);
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = first_line + i;
        let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| err(line, Some(e.column().max(1)), format!("invalid JSON: {e}")))?;
        cx.line = line;
        let task = task_object::task(value, schema, &mut cx)
            .and_then(T::from_input)
            .map_err(|m| err(line, None, m))?;
        tasks.push(task);
        lines.push(line);
    }
    Ok((tasks, lines, cx.report))
}

#[cfg(test)]
mod tests;

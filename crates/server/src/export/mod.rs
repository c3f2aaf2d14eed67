//! Rendering an export: Tessera's JSONL (one record per task; it uploads back as it is), CSV
//! (one row per task, answers as JSON), or Label Studio's JSON export and labeling config.

mod columns;
mod label_studio;

use tessera_api::ExportRecord;
use tessera_core::LabelSchema;

/// The formats an export comes in, as `?format=` names them.
pub const EXPORT_FORMATS: &[&str] = &[
    "jsonl",
    "csv",
    "tsv",
    "ls-json",
    "ls-config",
    "crowdkit",
    "conll",
];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("CSV writer: {0}")]
    Flush(String),
}

/// An export written a page of records at a time, so it streams: [`ExportWriter::start`],
/// then [`ExportWriter::page`] for each page, then [`ExportWriter::finish`].
pub struct ExportWriter {
    format: Format,
    schema: LabelSchema,
    /// Records written so far.
    written: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
    Tsv,
    CrowdKit,
    Conll,
    LabelStudio,
    LabelStudioConfig,
}

impl ExportWriter {
    /// A writer for `format` (one of [`EXPORT_FORMATS`]), or `None` for another name.
    pub fn new(format: &str, schema: LabelSchema) -> Option<Self> {
        let format = match format {
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "crowdkit" => Format::CrowdKit,
            "conll" => Format::Conll,
            "ls-json" => Format::LabelStudio,
            "ls-config" => Format::LabelStudioConfig,
            _ => return None,
        };
        Some(Self {
            format,
            schema,
            written: 0,
        })
    }

    pub fn media_type(&self) -> &'static str {
        match self.format {
            Format::Jsonl => "application/x-ndjson",
            Format::Csv | Format::CrowdKit => "text/csv",
            Format::Tsv => "text/tab-separated-values",
            Format::Conll => "text/x-conll",
            Format::LabelStudio => "application/json",
            Format::LabelStudioConfig => "application/xml",
        }
    }

    /// Whether the export holds tasks (the labeling config does not read them).
    pub fn wants_records(&self) -> bool {
        self.format != Format::LabelStudioConfig
    }

    /// What comes before the first record.
    pub fn start(&self) -> Result<Vec<u8>, ExportError> {
        Ok(match self.format {
            Format::Jsonl => Vec::new(),
            Format::Csv => csv_rows(&[], true, b',')?,
            Format::Tsv => csv_rows(&[], true, b'\t')?,
            Format::CrowdKit => columns::crowd_kit_rows(&[], true)?,
            Format::Conll => Vec::new(),
            Format::LabelStudio => b"[".to_vec(),
            Format::LabelStudioConfig => label_studio::label_config(&self.schema).into_bytes(),
        })
    }

    /// One page of records.
    pub fn page(&mut self, records: &[ExportRecord]) -> Result<Vec<u8>, ExportError> {
        let mut out = Vec::new();
        match self.format {
            Format::Jsonl => {
                for record in records {
                    serde_json::to_writer(&mut out, record)?;
                    out.push(b'\n');
                }
            }
            Format::Csv => out = csv_rows(records, false, b',')?,
            Format::Tsv => out = csv_rows(records, false, b'\t')?,
            Format::CrowdKit => out = columns::crowd_kit_rows(records, false)?,
            Format::Conll => out = columns::conll_lines(records),
            Format::LabelStudio => {
                for (i, record) in records.iter().enumerate() {
                    if self.written + i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &label_studio::task(&self.schema, record))?;
                }
            }
            Format::LabelStudioConfig => {}
        }
        self.written += records.len();
        Ok(out)
    }

    /// What comes after the last record.
    pub fn finish(&self) -> Vec<u8> {
        match self.format {
            Format::LabelStudio => b"]".to_vec(),
            _ => Vec::new(),
        }
    }
}

/// A cell a spreadsheet will show as text, never run: one that starts like a formula (`=`,
/// `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as OWASP advises for CSV
/// injection. Task data and labels come from other people: `=HYPERLINK(…)` in a task must
/// not become a live link, or worse, in the requester's spreadsheet.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

const CSV_HEADER: [&str; 19] = [
    "task_id",
    "external_id",
    "text",
    "image",
    "data",
    "prediction",
    "prediction_score",
    "consensus",
    "confidence",
    "method",
    "complete",
    "answer_count",
    "answers",
    "cancelled_at",
    "uncounted_answers",
    "needs_review",
    "review",
    "reviewer",
    "gold",
];

/// CSV rows for `records`, after the header row when `header`.
fn csv_rows(records: &[ExportRecord], header: bool, delimiter: u8) -> Result<Vec<u8>, ExportError> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    if header {
        w.write_record(CSV_HEADER)?;
    }
    for r in records {
        let field = |k: &str| {
            r.data
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let as_json = |answers: &[tessera_api::ExportAnswer]| -> Vec<serde_json::Value> {
            answers
                .iter()
                .map(|a| serde_json::json!({"annotator": a.annotator, "labels": a.labels, "answered_at": a.answered_at}))
                .collect()
        };
        let row = [
            r.task_id.to_string(),
            r.external_id.clone().unwrap_or_default(),
            field("text"),
            field("image"),
            serde_json::to_string(&r.data)?,
            r.prediction
                .as_ref()
                .map(|p| p.labels.join("|"))
                .unwrap_or_default(),
            r.prediction
                .as_ref()
                .and_then(|p| p.score)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            r.consensus
                .as_ref()
                .map(|c| c.labels.join("|"))
                .unwrap_or_default(),
            r.consensus
                .as_ref()
                .map(|c| format!("{:.4}", c.confidence))
                .unwrap_or_default(),
            r.consensus
                .as_ref()
                .map(|c| c.method.clone())
                .unwrap_or_default(),
            r.complete.to_string(),
            r.answers.len().to_string(),
            serde_json::to_string(&as_json(&r.answers))?,
            r.cancelled_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            if r.uncounted_answers.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&as_json(&r.uncounted_answers))?
            },
            r.needs_review.to_string(),
            r.review
                .as_ref()
                .map(|v| v.labels.join("|"))
                .unwrap_or_default(),
            r.review
                .as_ref()
                .map(|v| v.reviewer.clone())
                .unwrap_or_default(),
            r.gold.as_ref().map(|g| g.join("|")).unwrap_or_default(),
        ];
        w.write_record(row.iter().map(|cell| inert(cell).into_owned()))?;
    }
    w.into_inner()
        .map_err(|e| ExportError::Flush(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_would_run_as_formulas_are_made_text() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(inert(formula), format!("'{formula}"), "{formula:?}");
        }
        for plain in ["positive", "0.9500", "", "a=b", "'quoted"] {
            assert_eq!(inert(plain), plain);
        }
    }

    fn records(n: usize) -> Vec<ExportRecord> {
        (0..n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "task_id": i, "data": {"text": format!("t{i}")},
                    "answers": [], "consensus": null, "complete": false
                }))
                .expect("record")
            })
            .collect()
    }

    #[test]
    fn an_export_written_page_by_page_is_one_whole_document() {
        let schema = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["a", "b"]}"#)
            .expect("schema");
        let all = records(5);
        for format in EXPORT_FORMATS {
            let mut writer = ExportWriter::new(format, schema.clone()).expect("format");
            let mut body = writer.start().expect("start");
            for page in [&all[..2], &all[2..2], &all[2..]] {
                body.extend(writer.page(page).expect("page"));
            }
            body.extend(writer.finish());
            let text = String::from_utf8(body).expect("utf-8");
            match *format {
                "jsonl" => assert_eq!(text.lines().count(), 5),
                "csv" | "crowdkit" => {
                    let rows = csv::Reader::from_reader(text.as_bytes()).records().count();
                    assert_eq!(
                        rows,
                        if *format == "csv" { 5 } else { 0 },
                        "{format}: no answers"
                    );
                }
                "tsv" => assert_eq!(text.lines().count(), 6),
                "conll" => assert_eq!(text.matches(" O\n").count(), 5),
                "ls-json" => {
                    let tasks: Vec<serde_json::Value> =
                        serde_json::from_str(&text).expect("one JSON array");
                    assert_eq!(tasks.len(), 5);
                }
                _ => assert!(text.starts_with("<View>"), "{text}"),
            }
        }
        assert!(ExportWriter::new("xlsx", schema).is_none());
    }

    #[test]
    fn an_exported_task_holding_a_formula_reads_back_as_text() {
        let record: ExportRecord = serde_json::from_value(serde_json::json!({
            "task_id": 1, "external_id": "=cmd|' /C calc'!A0",
            "data": {"text": "=HYPERLINK(\"http://evil\",\"click\")"},
            "answers": [], "consensus": null, "complete": false
        }))
        .expect("record");
        let schema = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["a", "b"]}"#)
            .expect("schema");
        let mut writer = ExportWriter::new("csv", schema).expect("csv");
        let mut body = writer.start().expect("header");
        body.extend(writer.page(&[record]).expect("row"));
        let mut reader = csv::Reader::from_reader(body.as_slice());
        let row = reader.records().next().expect("a row").expect("csv");
        assert_eq!(&row[1], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[2], "'=HYPERLINK(\"http://evil\",\"click\")");
        assert!(row.iter().all(|cell| !cell.starts_with('=')));
    }
}

//! Rendering an export, a page of records at a time: Tessera's JSONL (one record per task;
//! it uploads back as it is), CSV and TSV, crowd-kit's answers, Label Studio's JSON and
//! JSON_MIN exports and labeling config, Prodigy and spaCy JSONL, Toloka TSV, CoNLL tags,
//! COCO, and zips of YOLO or Pascal VOC label files.

mod coco;
mod columns;
mod image_sets;
pub(crate) mod label_studio;
pub mod labels;
mod prodigy;
mod spacy;
mod table;

use tessera_api::ExportRecord;
use tessera_core::{LabelSchema, SchemaKind};

use image_sets::{ImageSet, SetKind};
pub use labels::LabelChoice;

/// The formats an export comes in, as `?format=` names them.
pub const EXPORT_FORMATS: &[&str] = &[
    "jsonl",
    "csv",
    "tsv",
    "ls-json",
    "ls-json-min",
    "ls-config",
    "crowdkit",
    "prodigy",
    "toloka",
    "conll",
    "spacy",
    "coco",
    "yolo",
    "voc",
];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error("CSV writer: {0}")]
    Flush(String),
}

/// An export written a page of records at a time, so it streams: [`ExportWriter::start`],
/// then for each of its [`passes`](ExportWriter::passes) over the project
/// [`ExportWriter::page`] for each page and [`ExportWriter::end_pass`], then
/// [`ExportWriter::finish`].
pub struct ExportWriter {
    format: Format,
    schema: LabelSchema,
    label: LabelChoice,
    /// Records written so far (in the current pass).
    written: usize,
    /// COCO: the next annotation's id.
    next_annotation: u64,
    /// YOLO and VOC: the zip being written.
    image_set: Option<ImageSet>,
    /// CSV and TSV: the columns, fixed by the first page.
    table: Option<table::Table>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Jsonl,
    Csv,
    Tsv,
    CrowdKit,
    Conll,
    LabelStudio,
    LabelStudioMin,
    LabelStudioConfig,
    Prodigy,
    Toloka,
    Spacy,
    Coco,
    Yolo,
    Voc,
}

impl ExportWriter {
    /// A writer for `format` (one of [`EXPORT_FORMATS`]) with `label` as a task's label, or
    /// why there can be none: an unknown name, a project kind or label choice the format
    /// cannot hold.
    pub fn new(format: &str, schema: LabelSchema, label: LabelChoice) -> Result<Self, String> {
        let format = match format {
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "crowdkit" => Format::CrowdKit,
            "conll" => Format::Conll,
            "ls-json" => Format::LabelStudio,
            "ls-json-min" => Format::LabelStudioMin,
            "ls-config" => Format::LabelStudioConfig,
            "prodigy" => Format::Prodigy,
            "toloka" => Format::Toloka,
            "spacy" => Format::Spacy,
            "coco" => Format::Coco,
            "yolo" => Format::Yolo,
            "voc" => Format::Voc,
            _ => {
                return Err(format!(
                    "unknown export format {format:?}: use {}",
                    EXPORT_FORMATS.join(", ")
                ));
            }
        };
        let unsupported = match format {
            Format::Coco | Format::Yolo | Format::Voc if schema.kind != SchemaKind::Boxes => {
                Some(format!(
                    "{format:?} holds boxes: this is a {} project",
                    schema.kind.as_str()
                ))
            }
            Format::Conll if schema.kind != SchemaKind::Spans => Some(format!(
                "CoNLL holds tagged tokens: this is a {} project",
                schema.kind.as_str()
            )),
            Format::Prodigy => prodigy::unsupported(&schema),
            Format::Spacy => spacy::unsupported(&schema),
            Format::Conll | Format::Yolo | Format::Voc if label == LabelChoice::Answers => {
                Some(format!(
                    "{format:?} has no place for who answered: use --label review (the final label) or consensus"
                ))
            }
            _ => None,
        };
        if let Some(why) = unsupported {
            return Err(why);
        }
        let image_set = match format {
            Format::Yolo => Some(SetKind::Yolo),
            Format::Voc => Some(SetKind::Voc),
            _ => None,
        }
        .map(|kind| ImageSet::new(kind, &schema))
        .transpose()
        .map_err(|e| e.to_string())?;
        Ok(Self {
            format,
            schema,
            label,
            written: 0,
            next_annotation: 0,
            image_set,
            table: None,
        })
    }

    pub fn media_type(&self) -> &'static str {
        match self.format {
            Format::Jsonl | Format::Prodigy | Format::Spacy => "application/x-ndjson",
            Format::Csv | Format::CrowdKit => "text/csv",
            Format::Tsv | Format::Toloka => "text/tab-separated-values",
            Format::Conll => "text/x-conll",
            Format::LabelStudio | Format::LabelStudioMin | Format::Coco => "application/json",
            Format::LabelStudioConfig => "application/xml",
            Format::Yolo | Format::Voc => "application/zip",
        }
    }

    /// Whether the export holds tasks (the labeling config does not read them).
    pub fn wants_records(&self) -> bool {
        self.format != Format::LabelStudioConfig
    }

    /// How many times the export reads the project: COCO's images and annotations are two
    /// arrays, so twice.
    pub fn passes(&self) -> usize {
        if self.format == Format::Coco { 2 } else { 1 }
    }

    /// Whether every box task must know its image's size (the format gives pixels).
    pub fn needs_image_sizes(&self) -> bool {
        matches!(self.format, Format::Coco | Format::Voc)
    }

    /// What comes before the first record.
    pub fn start(&mut self) -> Result<Vec<u8>, ExportError> {
        Ok(match self.format {
            Format::Jsonl | Format::Prodigy | Format::Spacy | Format::Conll => Vec::new(),
            // The header names the data fields: it waits for the first page.
            Format::Csv | Format::Tsv => Vec::new(),
            Format::CrowdKit => columns::crowd_kit_rows(&[], true)?,
            Format::Toloka => columns::toloka_rows(&self.schema, &[], self.label, true)?,
            Format::LabelStudio | Format::LabelStudioMin => b"[".to_vec(),
            Format::LabelStudioConfig => label_studio::label_config(&self.schema).into_bytes(),
            Format::Coco => coco::start(&self.schema).into_bytes(),
            Format::Yolo | Format::Voc => self
                .image_set
                .as_mut()
                .map(ImageSet::take)
                .unwrap_or_default(),
        })
    }

    /// One page of records, in pass `pass` (from 0).
    pub fn page(&mut self, records: &[ExportRecord], pass: usize) -> Result<Vec<u8>, ExportError> {
        let mut out = Vec::new();
        let label = self.label;
        match self.format {
            Format::Jsonl => {
                for record in records {
                    serde_json::to_writer(&mut out, record)?;
                    out.push(b'\n');
                }
            }
            Format::Csv | Format::Tsv => {
                let delimiter = if self.format == Format::Csv {
                    b','
                } else {
                    b'\t'
                };
                let header = self.table.is_none();
                let table = self
                    .table
                    .get_or_insert_with(|| table::Table::for_records(&self.schema, records));
                out = table.rows(records, header, delimiter)?;
            }
            Format::CrowdKit => out = columns::crowd_kit_rows(records, false)?,
            Format::Toloka => out = columns::toloka_rows(&self.schema, records, label, false)?,
            Format::Conll => out = columns::conll_lines(records, label),
            Format::Prodigy => out = prodigy::lines(&self.schema, records, label)?,
            Format::Spacy => out = spacy::lines(&self.schema, records, label)?,
            Format::LabelStudio => {
                for (i, record) in records.iter().enumerate() {
                    if self.written + i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &label_studio::task(&self.schema, record))?;
                }
            }
            Format::LabelStudioMin => {
                let rows: Vec<serde_json::Value> = records
                    .iter()
                    .flat_map(|r| label_studio::min_rows(&self.schema, r, label))
                    .collect();
                for (i, row) in rows.iter().enumerate() {
                    if self.written + i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, row)?;
                }
                self.written += rows.len();
                return Ok(out);
            }
            Format::Coco if pass == 0 => {
                let mut first = self.written == 0;
                out = coco::images(records, &mut first)?;
            }
            Format::Coco => {
                out = coco::annotations(&self.schema, records, label, &mut self.next_annotation)?;
            }
            Format::Yolo | Format::Voc => {
                if let Some(set) = self.image_set.as_mut() {
                    out = set.page(&self.schema, records, |r| labels::one_labeling(r, label))?;
                }
            }
            Format::LabelStudioConfig => {}
        }
        self.written += records.len();
        Ok(out)
    }

    /// What comes after pass `pass`, before the next.
    pub fn end_pass(&mut self, pass: usize) -> Vec<u8> {
        self.written = 0;
        match (self.format, pass) {
            (Format::Coco, 0) => coco::BETWEEN.as_bytes().to_vec(),
            _ => Vec::new(),
        }
    }

    /// What comes after the last record.
    pub fn finish(&mut self) -> Result<Vec<u8>, ExportError> {
        Ok(match self.format {
            Format::LabelStudio | Format::LabelStudioMin => b"]".to_vec(),
            Format::Coco => coco::END.as_bytes().to_vec(),
            // An empty project: the header alone.
            Format::Csv | Format::Tsv if self.table.is_none() => {
                let delimiter = if self.format == Format::Csv {
                    b','
                } else {
                    b'\t'
                };
                table::Table::for_records(&self.schema, &[]).rows(&[], true, delimiter)?
            }
            Format::Yolo | Format::Voc => match self.image_set.take() {
                Some(set) => set.finish()?,
                None => Vec::new(),
            },
            _ => Vec::new(),
        })
    }
}

/// How many of `records` are box tasks with a label but no known image size: a format that
/// gives pixels cannot hold them.
pub fn unsized_boxes(records: &[ExportRecord]) -> usize {
    records
        .iter()
        .filter(|r| {
            r.image_size.is_none()
                && (r.consensus.is_some() || !r.answers.is_empty() || r.gold.is_some())
        })
        .count()
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

    fn records(n: usize, boxes: bool) -> Vec<ExportRecord> {
        (0..n)
            .map(|i| {
                let data = if boxes {
                    serde_json::json!({"image": format!("images/t{i}.jpg")})
                } else {
                    serde_json::json!({"text": format!("t{i}")})
                };
                serde_json::from_value(serde_json::json!({
                    "task_id": i, "data": data, "image_size": [10, 10],
                    "answers": [], "consensus": null, "complete": false
                }))
                .expect("record")
            })
            .collect()
    }

    /// A whole export of `all`, every pass, in three pages a pass.
    fn export(format: &str, schema: &LabelSchema, all: &[ExportRecord]) -> Vec<u8> {
        let mut writer =
            ExportWriter::new(format, schema.clone(), LabelChoice::Review).expect("format");
        let mut body = writer.start().expect("start");
        for pass in 0..writer.passes() {
            for page in [&all[..2], &all[2..2], &all[2..]] {
                body.extend(writer.page(page, pass).expect("page"));
            }
            body.extend(writer.end_pass(pass));
        }
        body.extend(writer.finish().expect("finish"));
        body
    }

    #[test]
    fn an_export_written_page_by_page_is_one_whole_document() {
        let schema_of = |format: &str| {
            let json = match format {
                "conll" => r#"{"kind": "spans", "labels": ["a", "b"]}"#,
                "coco" | "yolo" | "voc" => r#"{"kind": "boxes", "labels": ["a", "b"]}"#,
                _ => r#"{"kind": "classification", "labels": ["a", "b"]}"#,
            };
            LabelSchema::from_json(json).expect("schema")
        };
        for format in EXPORT_FORMATS {
            let schema = schema_of(format);
            let all = records(5, schema.kind == SchemaKind::Boxes);
            let body = export(format, &schema, &all);
            if matches!(*format, "yolo" | "voc") {
                let zip = zip::ZipArchive::new(std::io::Cursor::new(body)).expect("a whole zip");
                let extra = if *format == "yolo" { 2 } else { 0 };
                assert_eq!(zip.len(), 5 + extra, "{format}: a file per task");
                continue;
            }
            let text = String::from_utf8(body).expect("utf-8");
            match *format {
                "jsonl" | "prodigy" | "spacy" => assert_eq!(text.lines().count(), 5, "{format}"),
                "csv" | "crowdkit" => {
                    let rows = csv::Reader::from_reader(text.as_bytes()).records().count();
                    assert_eq!(
                        rows,
                        if *format == "csv" { 5 } else { 0 },
                        "{format}: no answers"
                    );
                }
                "tsv" | "toloka" => assert_eq!(text.lines().count(), 6, "{format}"),
                "conll" => assert_eq!(text.matches(" O\n").count(), 5),
                "ls-json" | "ls-json-min" => {
                    let tasks: Vec<serde_json::Value> =
                        serde_json::from_str(&text).expect("one JSON array");
                    assert_eq!(tasks.len(), 5, "{format}");
                }
                "coco" => {
                    let doc: serde_json::Value = serde_json::from_str(&text).expect("one document");
                    assert_eq!(doc["images"].as_array().map(Vec::len), Some(5));
                    assert_eq!(doc["annotations"], serde_json::json!([]));
                }
                _ => assert!(text.starts_with("<View>"), "{text}"),
            }
        }
        assert!(ExportWriter::new("xlsx", schema_of("csv"), LabelChoice::Review).is_err());
    }

    #[test]
    fn a_format_refuses_what_it_cannot_hold() {
        let text = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["a", "b"]}"#)
            .expect("schema");
        let e = ExportWriter::new("coco", text.clone(), LabelChoice::Review).err();
        assert!(e.is_some_and(|e| e.contains("boxes")));
        let spans =
            LabelSchema::from_json(r#"{"kind": "spans", "labels": ["a"]}"#).expect("schema");
        let e = ExportWriter::new("conll", spans, LabelChoice::Answers).err();
        assert!(e.is_some_and(|e| e.contains("who answered")));
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
        let mut writer = ExportWriter::new("csv", schema, LabelChoice::Review).expect("csv");
        let mut body = writer.start().expect("header");
        body.extend(writer.page(&[record], 0).expect("row"));
        let mut reader = csv::Reader::from_reader(body.as_slice());
        let row = reader.records().next().expect("a row").expect("csv");
        assert_eq!(&row[1], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[2], "'=HYPERLINK(\"http://evil\",\"click\")");
        assert!(row.iter().all(|cell| !cell.starts_with('=')));
    }
}

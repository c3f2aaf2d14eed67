//! Rendering an export: Tessera's JSONL (one record per task; it uploads back as it is), CSV
//! (one row per task, answers as JSON), or Label Studio's JSON export and labeling config.

mod label_studio;

use tessera_api::ExportRecord;
use tessera_core::LabelSchema;

/// The formats an export comes in, as `?format=` names them.
pub const EXPORT_FORMATS: &[&str] = &["jsonl", "csv", "ls-json", "ls-config"];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("CSV writer: {0}")]
    Flush(String),
}

/// Renders a project's records in `format` (one of [`EXPORT_FORMATS`]), returning the body and
/// its media type.
pub fn render_export(
    records: &[ExportRecord],
    format: &str,
    schema: &LabelSchema,
) -> Result<(Vec<u8>, &'static str), ExportError> {
    match format {
        "csv" => return Ok((render_csv(records)?, "text/csv")),
        "ls-config" => {
            return Ok((
                label_studio::label_config(schema).into_bytes(),
                "application/xml",
            ));
        }
        "ls-json" => {
            let tasks: Vec<serde_json::Value> = records
                .iter()
                .map(|r| label_studio::task(schema, r))
                .collect();
            return Ok((serde_json::to_vec(&tasks)?, "application/json"));
        }
        _ => {}
    }
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.push(b'\n');
    }
    Ok((out, "application/x-ndjson"))
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

fn render_csv(records: &[ExportRecord]) -> Result<Vec<u8>, ExportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
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
    ])?;
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
        let (body, _) = render_export(&[record], "csv", &schema).expect("csv");
        let mut reader = csv::Reader::from_reader(body.as_slice());
        let row = reader.records().next().expect("a row").expect("csv");
        assert_eq!(&row[1], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[2], "'=HYPERLINK(\"http://evil\",\"click\")");
        assert!(row.iter().all(|cell| !cell.starts_with('=')));
    }
}

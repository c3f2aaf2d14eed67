//! Rendering an export as JSONL (one record per task) or CSV (one row per task, answers as JSON).

use tessera_api::ExportRecord;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("CSV writer: {0}")]
    Flush(String),
}

/// Renders records in `format` ("jsonl" or "csv"), returning the body and its media type.
pub fn render_export(
    records: &[ExportRecord],
    format: &str,
) -> Result<(Vec<u8>, &'static str), ExportError> {
    if format == "csv" {
        return Ok((render_csv(records)?, "text/csv"));
    }
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.push(b'\n');
    }
    Ok((out, "application/x-ndjson"))
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
        w.write_record([
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
        ])?;
    }
    w.into_inner()
        .map_err(|e| ExportError::Flush(e.to_string()))
}

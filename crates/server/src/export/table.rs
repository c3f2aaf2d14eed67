//! The CSV and TSV exports: a row per task, one column per data field (as a CSV upload takes
//! them), the whole data again as JSON (so a later task's other fields are never lost), the
//! prediction, the consensus, every answer, the review and the gold answer.

use tessera_api::{ExportAnswer, ExportRecord};
use tessera_core::{LabelSchema, SchemaKind};

use super::{ExportError, inert};

/// The columns after the data fields.
const AFTER: [&str; 18] = [
    "data",
    "prediction",
    "prediction_score",
    "prediction_model",
    "consensus",
    "confidence",
    "method",
    "complete",
    "answer_count",
    "unsure_answers",
    "answers",
    "skips",
    "cancelled_at",
    "uncounted_answers",
    "needs_review",
    "review",
    "reviewer",
    "gold",
];

/// The columns before the data fields.
const BEFORE: [&str; 2] = ["task_id", "external_id"];

/// A CSV or TSV export's columns.
pub struct Table {
    /// The data fields, each a column (named `data.FIELD` where a field's name is a fixed
    /// column's).
    fields: Vec<String>,
}

impl Table {
    /// The columns for an export whose first page is `records`: the fields the schema shows
    /// (text; a and b; image) first, then the others its data holds, by name.
    pub fn for_records(schema: &LabelSchema, records: &[ExportRecord]) -> Self {
        let shown: &[&str] = match schema.kind {
            SchemaKind::Boxes => &["image"],
            SchemaKind::Pairwise => &["text", "a", "b"],
            _ => &["text"],
        };
        let mut fields: Vec<String> = shown
            .iter()
            .filter(|f| records.is_empty() || records.iter().any(|r| r.data.contains_key(**f)))
            .map(|f| (*f).to_owned())
            .collect();
        let mut others: Vec<&String> = records
            .iter()
            .flat_map(|r| r.data.keys())
            .filter(|k| !shown.contains(&k.as_str()))
            .collect();
        others.sort_unstable();
        others.dedup();
        fields.extend(others.into_iter().cloned());
        Self { fields }
    }

    fn header(&self) -> Vec<String> {
        let mut row: Vec<String> = BEFORE.iter().map(|c| (*c).to_owned()).collect();
        row.extend(self.fields.iter().map(|f| {
            if BEFORE.contains(&f.as_str()) || AFTER.contains(&f.as_str()) {
                format!("data.{f}")
            } else {
                f.clone()
            }
        }));
        row.extend(AFTER.iter().map(|c| (*c).to_owned()));
        row
    }

    /// Rows for `records`, after the header row when `header`.
    pub fn rows(
        &self,
        records: &[ExportRecord],
        header: bool,
        delimiter: u8,
    ) -> Result<Vec<u8>, ExportError> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_writer(Vec::new());
        if header {
            w.write_record(self.header())?;
        }
        for r in records {
            let mut row = vec![
                r.task_id.to_string(),
                r.external_id.clone().unwrap_or_default(),
            ];
            row.extend(self.fields.iter().map(|f| match r.data.get(f) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }));
            let prediction = r.prediction.as_ref();
            row.extend([
                serde_json::to_string(&r.data)?,
                prediction.map(|p| p.labels.join("|")).unwrap_or_default(),
                prediction
                    .and_then(|p| p.score)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                prediction
                    .and_then(|p| p.model_version.clone())
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
                r.answers.iter().filter(|a| a.unsure).count().to_string(),
                serde_json::to_string(&answers_json(&r.answers))?,
                if r.skips.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&r.skips)?
                },
                r.cancelled_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                if r.uncounted_answers.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&answers_json(&r.uncounted_answers))?
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
            ]);
            w.write_record(row.iter().map(|cell| inert(cell).into_owned()))?;
        }
        w.into_inner()
            .map_err(|e| ExportError::Flush(e.to_string()))
    }
}

/// Answers as the `answers` cell lists them.
fn answers_json(answers: &[ExportAnswer]) -> Vec<serde_json::Value> {
    answers
        .iter()
        .map(|a| {
            let mut answer = serde_json::json!({
                "annotator": a.annotator, "labels": a.labels, "answered_at": a.answered_at
            });
            if a.unsure {
                answer["unsure"] = serde_json::Value::Bool(true);
            }
            if let Some(verdict) = a.prediction_verdict {
                answer["prediction"] = verdict.as_str().into();
            }
            answer
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: serde_json::Value) -> ExportRecord {
        serde_json::from_value(serde_json::json!({
            "task_id": 7, "external_id": "t7", "data": data,
            "answers": [
                {"annotator": "ann", "labels": ["a"], "revision": 1, "unsure": true,
                 "answered_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:00Z"},
                {"annotator": "bob", "labels": ["a"], "revision": 1,
                 "answered_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:00Z"}
            ],
            "consensus": null, "complete": false
        }))
        .expect("record")
    }

    #[test]
    fn each_data_field_is_a_column_and_unsure_answers_are_counted() {
        let schema = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["a", "b"]}"#)
            .expect("schema");
        let first = record(serde_json::json!({"text": "hello", "lang": "en", "gold": "x"}));
        let table = Table::for_records(&schema, std::slice::from_ref(&first));
        let later = record(serde_json::json!({"text": "bye", "source": "web"}));
        let body = table.rows(&[first, later], true, b',').expect("rows");
        let mut reader = csv::Reader::from_reader(body.as_slice());
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            &header[..5],
            ["task_id", "external_id", "text", "data.gold", "lang"]
        );
        let at = |name: &str| header.iter().position(|h| h == name).expect(name);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(&rows[0][at("lang")], "en");
        assert_eq!(&rows[0][at("unsure_answers")], "1");
        assert!(rows[0][at("answers")].contains("\"unsure\":true"));
        // A later task's field with no column of its own is kept in `data`.
        assert_eq!(&rows[1][at("lang")], "");
        assert!(rows[1][at("data")].contains("\"source\":\"web\""));
        let empty = Table::for_records(&schema, &[])
            .rows(&[], true, b'\t')
            .expect("header only");
        assert!(String::from_utf8_lossy(&empty).starts_with("task_id\texternal_id\ttext\tdata"));
    }
}

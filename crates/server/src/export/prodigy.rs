//! A Prodigy dataset (as `prodigy db-in` takes it): a JSONL line per labeling — the task's
//! data fields, the question (`options` for a choice, `spans` for entities), and the answer
//! (`accept` with the chosen options or the spans). Lines of one task share `_task_hash` and
//! `_input_hash` (the task's id); `_annotator_id` names who answered. A task with no label yet
//! is a line with no answer. Free-text and box projects have no Prodigy form here.

use serde_json::{Map, Value, json};
use tessera_api::ExportRecord;
use tessera_core::{LabelSchema, SchemaKind, Span};

use super::labels::{LabelChoice, labelings};

/// Why a project cannot be exported for Prodigy, if it cannot.
pub fn unsupported(schema: &LabelSchema) -> Option<String> {
    matches!(schema.kind, SchemaKind::Text | SchemaKind::Boxes).then(|| {
        format!(
            "a {} project has no Prodigy form here: export jsonl or ls-json",
            schema.kind.as_str()
        )
    })
}

pub fn lines(
    schema: &LabelSchema,
    records: &[ExportRecord],
    choice: LabelChoice,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for r in records {
        let mut base: Map<String, Value> = r.data.clone();
        base.insert("_task_hash".into(), json!(r.task_id));
        base.insert("_input_hash".into(), json!(r.task_id));
        let mut meta = r.meta.clone().unwrap_or_default();
        if let Some(id) = &r.external_id {
            meta.insert("id".into(), json!(id));
        }
        if !meta.is_empty() {
            base.insert("meta".into(), Value::Object(meta));
        }
        if schema.kind != SchemaKind::Spans {
            let options: Vec<Value> = schema
                .labels
                .iter()
                .map(|l| json!({"id": l, "text": l}))
                .collect();
            base.insert("options".into(), Value::Array(options));
        }
        let labelings = labelings(r, choice);
        if labelings.is_empty() {
            serde_json::to_writer(&mut out, &base)?;
            out.push(b'\n');
        }
        for l in labelings {
            let mut line = base.clone();
            if schema.kind == SchemaKind::Spans {
                let spans: Vec<Value> = l
                    .labels
                    .iter()
                    .filter_map(|s| Span::parse(s))
                    .map(|s| json!({"start": s.start, "end": s.end, "label": s.label}))
                    .collect();
                line.insert("spans".into(), Value::Array(spans));
            } else {
                line.insert("accept".into(), json!(l.labels));
            }
            line.insert("answer".into(), json!("accept"));
            line.insert("_annotator_id".into(), json!(l.by));
            line.insert("_session_id".into(), json!(l.by));
            if let Some(at) = l.at {
                line.insert("_timestamp".into(), json!(at.timestamp()));
            }
            serde_json::to_writer(&mut out, &line)?;
            out.push(b'\n');
        }
    }
    Ok(out)
}

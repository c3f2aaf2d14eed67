//! spaCy training data as JSONL (what `Doc.to_json()` writes, and spaCy's examples use): a
//! line per labeling with the task's `text`, its categories as `cats` (1.0 chosen, 0.0 not)
//! or its spans as `ents` (when they do not overlap, as spaCy's entities cannot) and the span
//! group `spans.sc`; `meta` holds the task's id and, for every answer, who gave it. spaCy's
//! binary `.spacy` DocBin is not written.

use serde_json::{Map, Value, json};
use tessera_api::ExportRecord;
use tessera_core::{LabelSchema, SchemaKind, Span};

use super::labels::{LabelChoice, labelings};

pub fn unsupported(schema: &LabelSchema) -> Option<String> {
    (!matches!(schema.kind, SchemaKind::Classification | SchemaKind::Spans)).then(|| {
        format!(
            "spaCy data holds categories or spans; a {} project has no spaCy form",
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
        let Some(text) = r.data.get("text").and_then(Value::as_str) else {
            continue;
        };
        let mut meta = r.meta.clone().unwrap_or_default();
        meta.insert(
            "id".into(),
            json!(
                r.external_id
                    .clone()
                    .unwrap_or_else(|| r.task_id.to_string())
            ),
        );
        let labelings = labelings(r, choice);
        let write = |out: &mut Vec<u8>, labels: Option<&[String]>, by: Option<&str>| {
            let mut line = Map::new();
            line.insert("text".into(), json!(text));
            if let Some(labels) = labels {
                match schema.kind {
                    SchemaKind::Spans => {
                        let mut spans: Vec<Span> =
                            labels.iter().filter_map(|l| Span::parse(l)).collect();
                        spans.sort();
                        let as_json =
                            |s: &Span| json!({"start": s.start, "end": s.end, "label": s.label});
                        if spans.windows(2).all(|w| w[0].end <= w[1].start) {
                            line.insert("ents".into(), spans.iter().map(as_json).collect());
                        }
                        line.insert(
                            "spans".into(),
                            json!({"sc": spans.iter().map(as_json).collect::<Vec<_>>()}),
                        );
                    }
                    _ => {
                        let cats: Map<String, Value> = schema
                            .labels
                            .iter()
                            .map(|c| (c.clone(), json!(if labels.contains(c) { 1.0 } else { 0.0 })))
                            .collect();
                        line.insert("cats".into(), Value::Object(cats));
                    }
                }
            }
            let mut meta = meta.clone();
            if let Some(by) = by {
                meta.insert("annotator".into(), json!(by));
            }
            line.insert("meta".into(), Value::Object(meta));
            serde_json::to_writer(&mut *out, &line)?;
            out.push(b'\n');
            Ok::<_, serde_json::Error>(())
        };
        if labelings.is_empty() {
            write(&mut out, None, None)?;
        }
        for l in &labelings {
            let by = (choice == LabelChoice::Answers).then_some(l.by);
            write(&mut out, Some(l.labels), by)?;
        }
    }
    Ok(out)
}

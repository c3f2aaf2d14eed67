//! Exports for the tools that read columns: crowd-kit's answers CSV (`task,worker,label`, one
//! row per answer, to aggregate elsewhere), Toloka's TSV (`INPUT:`, `OUTPUT:`, `GOLDEN:` and
//! `ASSIGNMENT:` columns, a row per labeling) and CoNLL-2003-style tags for a spans project
//! (one token a line, its IOB2 tag from the task's label, a blank line between tasks).

use tessera_api::ExportRecord;
use tessera_core::{LabelSchema, SchemaKind, Span};

use super::labels::{LabelChoice, labelings, one_labeling};

/// crowd-kit rows for `records`: each current answer, one row per label (a multiple-choice
/// answer gives several). Tasks go by their external id when they have one.
pub fn crowd_kit_rows(records: &[ExportRecord], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if header {
        w.write_record(["task", "worker", "label"])?;
    }
    for r in records {
        let task = r
            .external_id
            .clone()
            .unwrap_or_else(|| r.task_id.to_string());
        for a in &r.answers {
            for label in &a.labels {
                w.write_record([task.as_str(), a.annotator.as_str(), label.as_str()])?;
            }
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The data fields a schema's tasks are shown by: Toloka's `INPUT:` columns.
fn input_fields(schema: &LabelSchema) -> &'static [&'static str] {
    match schema.kind {
        SchemaKind::Boxes => &["image"],
        SchemaKind::Pairwise => &["a", "b"],
        _ => &["text"],
    }
}

/// Toloka TSV rows for `records` (after the header row when `header`): a row per labeling —
/// the task's inputs, the labels in `OUTPUT:label` (`|` between several), the gold answer in
/// `GOLDEN:label`, and who gave the labels in `ASSIGNMENT:worker_id`. A task with no label yet
/// is a row of its inputs.
pub fn toloka_rows(
    schema: &LabelSchema,
    records: &[ExportRecord],
    choice: LabelChoice,
    header: bool,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b'\t')
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    let fields = input_fields(schema);
    if header {
        let mut row: Vec<String> = fields.iter().map(|f| format!("INPUT:{f}")).collect();
        row.extend(
            [
                "OUTPUT:label",
                "GOLDEN:label",
                "ASSIGNMENT:task_id",
                "ASSIGNMENT:worker_id",
                "ASSIGNMENT:submitted",
            ]
            .map(str::to_owned),
        );
        w.write_record(&row)?;
    }
    for r in records {
        let mut inputs: Vec<String> = fields
            .iter()
            .map(|f| match r.data.get(*f) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            })
            .collect();
        let gold = r.gold.as_ref().map(|g| g.join("|")).unwrap_or_default();
        let task = r
            .external_id
            .clone()
            .unwrap_or_else(|| r.task_id.to_string());
        let labelings = labelings(r, choice);
        let rows: Vec<[String; 3]> = if labelings.is_empty() {
            vec![[String::new(), String::new(), String::new()]]
        } else {
            labelings
                .iter()
                .map(|l| {
                    [
                        l.labels.join("|"),
                        l.by.to_owned(),
                        l.at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ]
                })
                .collect()
        };
        for [output, worker, submitted] in rows {
            let mut row = std::mem::take(&mut inputs);
            inputs.clone_from(&row);
            row.extend([output, gold.clone(), task.clone(), worker, submitted]);
            w.write_record(&row)?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// CoNLL lines for `records`: the task's text split at whitespace, each token tagged by the
/// span of its label (`choice`) that covers it (IOB2), `O` elsewhere.
pub fn conll_lines(records: &[ExportRecord], choice: LabelChoice) -> Vec<u8> {
    let mut out = String::new();
    for r in records {
        let Some(text) = r.data.get("text").and_then(|t| t.as_str()) else {
            continue;
        };
        let spans: Vec<Span> = one_labeling(r, choice)
            .iter()
            .filter_map(|l| Span::parse(l))
            .collect();
        // Tokens with their character offsets (spans count characters).
        let mut start = None;
        let mut tokens: Vec<(usize, usize)> = Vec::new();
        let mut bytes_at = Vec::new();
        for (i, (byte, c)) in text.char_indices().enumerate() {
            bytes_at.push(byte);
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    tokens.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        let chars = bytes_at.len();
        bytes_at.push(text.len());
        if let Some(s) = start {
            tokens.push((s, chars));
        }
        let mut open: Option<&Span> = None;
        for (s, e) in tokens {
            let word = &text[bytes_at[s]..bytes_at[e]];
            let covering = spans.iter().find(|sp| sp.start <= s && e <= sp.end);
            let tag = match covering {
                None => "O".to_owned(),
                Some(sp) if open.is_some_and(|o| std::ptr::eq(o, sp)) => format!("I-{}", sp.label),
                Some(sp) => format!("B-{}", sp.label),
            };
            open = covering;
            out.push_str(word);
            out.push(' ');
            out.push_str(&tag);
            out.push('\n');
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str, consensus: &[&str]) -> ExportRecord {
        serde_json::from_value(serde_json::json!({
            "task_id": 1, "external_id": "s1", "data": {"text": text},
            "answers": [{"annotator": "ann", "labels": consensus, "revision": 1,
                         "answered_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:00Z"}],
            "consensus": {"label": null, "labels": consensus, "confidence": 1.0, "method": "mv"},
            "complete": true
        }))
        .expect("record")
    }

    #[test]
    fn spans_become_iob2_tags_token_by_token() {
        let out = conll_lines(
            &[record(
                "Peter  Blackburn lives in Zürich",
                &["0:16:PER", "26:32:LOC"],
            )],
            LabelChoice::Review,
        );
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Peter B-PER\nBlackburn I-PER\nlives O\nin O\nZürich B-LOC\n\n"
        );
    }

    #[test]
    fn every_label_of_every_answer_is_a_row() {
        let out = crowd_kit_rows(&[record("t", &["a", "b"])], true).expect("csv");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "task,worker,label\ns1,ann,a\ns1,ann,b\n"
        );
    }
}

//! spaCy's training data, its labels an answer by the imported annotator `spacy`:
//! - a JSONL line (as spaCy's examples and `Doc.to_json()` write them): `text`, `cats` (a
//!   label's score; 0.5 or more chosen), `ents` and `spans` groups (`start`, `end`, `label`);
//! - spaCy v2's JSON training format: documents of `paragraphs`, each a task (its `raw`
//!   text, else its tokens joined by spaces), tokens tagged in `ner` with BILUO or IOB tags,
//!   `cats` a list of `label`/`value`;
//! - the v2 "simple training" tuples: `["text", {"entities": [[start, end, label]], "cats":
//!   {...}}]`.
//!
//! A spans project takes the entities and spans, a classification project the categories;
//! what the project cannot take is counted in the report. spaCy's binary `.spacy` DocBin is
//! read in `docbin.rs`.

use serde_json::{Map, Value};

use super::task_object::Reading;
use crate::schema::{LabelSchema, SchemaKind};
use crate::span::Span;
use crate::task::{ImportedAnswer, TaskInput, check_data};

/// The annotator spaCy files' labels are imported as.
pub const SPACY_ANNOTATOR: &str = "spacy";

/// Keys of `Doc.to_json()` a task has no use for: spaCy works them out from the text.
const DERIVED: &[&str] = &[
    "tokens",
    "sents",
    "tags",
    "heads",
    "deps",
    "lemmas",
    "underscore_doc",
];

/// Whether a task object is a spaCy line: a `text` with `cats`, `ents` or span groups.
pub(super) fn is_spacy_line(obj: &Map<String, Value>) -> bool {
    !obj.contains_key("data")
        && obj.get("text").is_some_and(Value::is_string)
        && (obj.get("cats").is_some_and(Value::is_object)
            || obj.get("ents").is_some_and(Value::is_array)
            || obj.get("spans").is_some_and(Value::is_object))
}

/// Whether a JSON document's element is spaCy v2 training data (a document with
/// `paragraphs`, or a `[text, annotations]` tuple).
pub(super) fn is_v2(value: &Value) -> bool {
    match value {
        Value::Object(o) => o.get("paragraphs").is_some_and(Value::is_array),
        Value::Array(a) => a.len() == 2 && a[0].is_string() && a[1].is_object(),
        _ => false,
    }
}

/// Labels as a project keeps them: spans `start:end:label`, or the chosen categories.
pub(super) struct Found {
    pub spans: Vec<String>,
    pub cats: Option<Vec<String>>,
}

/// A task for `text` with what spaCy's file says of it.
pub(super) fn task(
    text: String,
    found: Found,
    external_id: Option<String>,
    meta: Option<Map<String, Value>>,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<TaskInput, String> {
    let mut data = Map::new();
    data.insert("text".to_owned(), text.into());
    check_data(&data, schema.kind)?;
    let labels = match schema.kind {
        SchemaKind::Spans => {
            if found.cats.as_ref().is_some_and(|c| !c.is_empty()) {
                cx.report.ignore("cats");
            }
            Some(found.spans)
        }
        SchemaKind::Classification => {
            if !found.spans.is_empty() {
                cx.report.ignore("ents");
            }
            found.cats
        }
        other => {
            return Err(format!(
                "spaCy data holds entities and categories: upload it to a spans or classification project, not {}",
                other.as_str()
            ));
        }
    };
    let mut answers = Vec::new();
    if let Some(labels) = labels {
        let skipped = labels.is_empty() && schema.kind == SchemaKind::Classification;
        if skipped {
            cx.report.empty_answers += 1;
        }
        match schema.check_answer(&labels) {
            Ok(()) => {}
            Err(_) if skipped => {}
            Err(e) if cx.leave_out("answer".to_owned(), &e.to_string()) => {
                return Ok(TaskInput {
                    external_id,
                    data,
                    meta,
                    ..TaskInput::default()
                });
            }
            Err(e) => return Err(e.to_string()),
        }
        answers.push(ImportedAnswer {
            annotator: SPACY_ANNOTATOR.to_owned(),
            labels: if skipped { Vec::new() } else { labels },
            skipped,
            answered_at: None,
            unsure: false,
        });
    }
    Ok(TaskInput {
        external_id,
        data,
        meta,
        answers,
        ..TaskInput::default()
    })
}

/// Categories chosen in a `{label: score}` map: those scored 0.5 or more.
fn chosen(cats: &Map<String, Value>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (label, score) in cats {
        let score = score
            .as_f64()
            .ok_or(format!("cats: the score of {label:?} must be a number"))?;
        if score >= 0.5 {
            out.push(label.clone());
        }
    }
    Ok(out)
}

/// A span from character offsets, checked against the text.
fn span(start: &Value, end: &Value, label: &Value, text: &str) -> Result<String, String> {
    let (Some(start), Some(end), Some(label)) = (start.as_u64(), end.as_u64(), label.as_str())
    else {
        return Err("a span needs a numeric start and end and a label".to_owned());
    };
    let s = Span {
        start: start as usize,
        end: end as usize,
        label: label.to_owned(),
    };
    s.excerpt(text)
        .ok_or(format!("span {start}..{end} is not within the text"))?;
    Ok(s.to_string())
}

/// One JSONL line: `text`, `cats`, `ents`, `spans` groups, `meta`, `id`.
pub(super) fn line(
    mut obj: Map<String, Value>,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<TaskInput, String> {
    let text = match obj.remove("text") {
        Some(Value::String(t)) => t,
        _ => return Err("a spaCy line needs its \"text\"".to_owned()),
    };
    let mut spans = Vec::new();
    if let Some(ents) = obj.remove("ents") {
        for (i, e) in ents.as_array().into_iter().flatten().enumerate() {
            spans.push(
                span(&e["start"], &e["end"], &e["label"], &text)
                    .map_err(|m| format!("ents[{i}]: {m}"))?,
            );
        }
    }
    if let Some(Value::Object(groups)) = obj.remove("spans") {
        for (group, items) in groups {
            for (i, e) in items.as_array().into_iter().flatten().enumerate() {
                let s = span(&e["start"], &e["end"], &e["label"], &text)
                    .map_err(|m| format!("spans.{group}[{i}]: {m}"))?;
                if !spans.contains(&s) {
                    spans.push(s);
                }
            }
        }
    }
    let cats = match obj.remove("cats") {
        Some(Value::Object(cats)) => Some(chosen(&cats)?),
        _ => None,
    };
    let meta = match obj.remove("meta") {
        Some(Value::Object(m)) if !m.is_empty() => Some(m),
        _ => None,
    };
    // The task's id: `id`, else the `meta.id` spaCy's examples (and Tessera's export) give.
    let id = obj
        .remove("id")
        .or_else(|| meta.as_ref().and_then(|m| m.get("id")).cloned());
    let external_id = match id {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    for key in obj.keys() {
        if DERIVED.contains(&key.as_str()) {
            cx.report.ignore(key);
        } else {
            return Err(format!(
                "unknown field {key:?} (a spaCy line holds \"text\", \"cats\", \"ents\", \"spans\", \"meta\" and \"id\")"
            ));
        }
    }
    task(text, Found { spans, cats }, external_id, meta, schema, cx)
}

/// The tasks of one element of a v2 JSON document: a document's paragraphs, or one tuple.
pub(super) fn v2(
    value: Value,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<Vec<TaskInput>, String> {
    match value {
        Value::Array(mut pair) => {
            let annotations = pair.pop().unwrap_or(Value::Null);
            let text = pair
                .pop()
                .and_then(|t| t.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut spans = Vec::new();
            for (i, e) in annotations["entities"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let s =
                    span(&e[0], &e[1], &e[2], &text).map_err(|m| format!("entities[{i}]: {m}"))?;
                spans.push(s);
            }
            let cats = match annotations.get("cats") {
                Some(Value::Object(cats)) => Some(chosen(cats)?),
                _ => None,
            };
            for key in annotations.as_object().into_iter().flat_map(|o| o.keys()) {
                if key != "entities" && key != "cats" {
                    cx.report.ignore(key);
                }
            }
            Ok(vec![task(
                text,
                Found { spans, cats },
                None,
                None,
                schema,
                cx,
            )?])
        }
        Value::Object(doc) => {
            let id = doc.get("id").map(|id| match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let paragraphs = doc
                .get("paragraphs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let several = paragraphs.len() > 1;
            let mut tasks = Vec::with_capacity(paragraphs.len());
            for (p, paragraph) in paragraphs.iter().enumerate() {
                let (text, spans) =
                    paragraph_text(paragraph).map_err(|m| format!("paragraphs[{p}]: {m}"))?;
                let cats = paragraph.get("cats").and_then(Value::as_array).map(|cats| {
                    cats.iter()
                        .filter(|c| c["value"].as_f64().is_some_and(|v| v >= 0.5))
                        .filter_map(|c| c["label"].as_str().map(str::to_owned))
                        .collect()
                });
                let external_id = id.as_ref().map(|id| {
                    if several {
                        format!("{id}.{p}")
                    } else {
                        id.clone()
                    }
                });
                tasks.push(task(
                    text,
                    Found { spans, cats },
                    external_id,
                    None,
                    schema,
                    cx,
                )?);
            }
            Ok(tasks)
        }
        _ => Err("not spaCy training data".to_owned()),
    }
}

/// A paragraph's text and its tagged entities. Tokens are found in `raw` in order; without
/// it, the text is the tokens joined by single spaces.
fn paragraph_text(paragraph: &Value) -> Result<(String, Vec<String>), String> {
    let tokens: Vec<&Value> = paragraph["sentences"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["tokens"].as_array().into_iter().flatten())
        .collect();
    let raw = paragraph.get("raw").and_then(Value::as_str);
    let mut text = raw.map(str::to_owned).unwrap_or_default();
    let mut offsets = Vec::with_capacity(tokens.len());
    let mut at = 0;
    for (i, token) in tokens.iter().enumerate() {
        let orth = token["orth"]
            .as_str()
            .ok_or(format!("token {i} has no \"orth\""))?;
        match raw {
            Some(raw) => {
                let start = raw[at..].find(orth).map(|k| at + k).ok_or(format!(
                    "token {i} ({orth:?}) is not in \"raw\" where expected"
                ))?;
                at = start + orth.len();
                offsets.push((start, at));
            }
            None => {
                if i > 0 {
                    text.push(' ');
                }
                let start = text.len();
                text.push_str(orth);
                offsets.push((start, text.len()));
            }
        }
    }
    // Offsets count characters, as spans do (and Python's do).
    let mut chars_before = vec![0; text.len() + 1];
    let mut n = 0;
    for (i, c) in text.char_indices() {
        chars_before[i] = n;
        n += 1;
        for k in 1..c.len_utf8() {
            chars_before[i + k] = n;
        }
    }
    chars_before[text.len()] = n;
    let offsets: Vec<(usize, usize)> = offsets
        .into_iter()
        .map(|(a, b)| (chars_before[a], chars_before[b]))
        .collect();
    // BILUO or IOB tags to spans: a span starts at B/U (or an I/L that does not continue one)
    // and ends at L/U or before a token that does not continue it.
    let mut spans = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, token) in tokens.iter().enumerate() {
        let tag = token["ner"].as_str().unwrap_or("O");
        let (prefix, label) = tag.split_once('-').unwrap_or((tag, ""));
        let continues =
            matches!(prefix, "I" | "L") && open.as_ref().is_some_and(|(_, l)| l == label);
        if !continues {
            if let Some((start, label)) = open.take() {
                spans.push(
                    Span {
                        start: offsets[start].0,
                        end: offsets[i - 1].1,
                        label,
                    }
                    .to_string(),
                );
            }
            if !label.is_empty() && prefix != "O" && prefix != "-" {
                open = Some((i, label.to_owned()));
            }
        }
        if matches!(prefix, "L" | "U")
            && let Some((start, label)) = open.take()
        {
            spans.push(
                Span {
                    start: offsets[start].0,
                    end: offsets[i].1,
                    label,
                }
                .to_string(),
            );
        }
    }
    if let Some((start, label)) = open {
        spans.push(
            Span {
                start: offsets[start].0,
                end: offsets[tokens.len() - 1].1,
                label,
            }
            .to_string(),
        );
    }
    Ok((text, spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_schema() -> LabelSchema {
        LabelSchema::from_json(r#"{"kind": "spans", "labels": ["PERSON", "ORG"]}"#).expect("schema")
    }

    #[test]
    fn cats_of_half_or_more_are_the_answer() {
        let schema = LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["baking", "not_baking"]}"#,
        )
        .expect("schema");
        let obj = serde_json::json!({"cats": {"baking": 0.0, "not_baking": 1.0}, "meta": {"id": "2"}, "text": "Bacon?"});
        let Value::Object(obj) = obj else {
            unreachable!()
        };
        assert!(is_spacy_line(&obj));
        let mut cx = Reading::new(false);
        let t = line(obj, &schema, &mut cx).expect("line");
        assert_eq!(t.answers[0].labels, ["not_baking"]);
        assert_eq!(t.meta.expect("meta")["id"], "2");
    }

    #[test]
    fn biluo_tags_become_spans_over_the_raw_text() {
        let doc = serde_json::json!({"id": 0, "paragraphs": [{
            "raw": "When Sebastian Thrun met Google",
            "sentences": [{"tokens": [
                {"orth": "When", "ner": "O"}, {"orth": "Sebastian", "ner": "B-PERSON"},
                {"orth": "Thrun", "ner": "L-PERSON"}, {"orth": "met", "ner": "O"},
                {"orth": "Google", "ner": "U-ORG"}]}]}]});
        assert!(is_v2(&doc));
        let mut cx = Reading::new(false);
        let tasks = v2(doc, &spans_schema(), &mut cx).expect("v2");
        assert_eq!(tasks[0].answers[0].labels, ["5:20:PERSON", "25:31:ORG"]);
        assert_eq!(tasks[0].external_id.as_deref(), Some("0"));
    }

    #[test]
    fn iob_tags_without_raw_join_the_tokens() {
        let doc = serde_json::json!({"paragraphs": [{"sentences": [{"tokens": [
            {"orth": "Ann", "ner": "B-PERSON"}, {"orth": "Lee", "ner": "I-PERSON"},
            {"orth": "of", "ner": "O"}, {"orth": "IBM", "ner": "B-ORG"}]}]}]});
        let mut cx = Reading::new(false);
        let tasks = v2(doc, &spans_schema(), &mut cx).expect("v2");
        assert_eq!(tasks[0].data["text"], "Ann Lee of IBM");
        assert_eq!(tasks[0].answers[0].labels, ["0:7:PERSON", "11:14:ORG"]);
    }

    #[test]
    fn training_tuples_and_bad_offsets() {
        let mut cx = Reading::new(false);
        let tuple = serde_json::json!(["Uber blew through", {"entities": [[0, 4, "ORG"]]}]);
        assert!(is_v2(&tuple));
        let tasks = v2(tuple, &spans_schema(), &mut cx).expect("tuple");
        assert_eq!(tasks[0].answers[0].labels, ["0:4:ORG"]);
        let bad = serde_json::json!(["Uber", {"entities": [[0, 40, "ORG"]]}]);
        let e = v2(bad, &spans_schema(), &mut cx).expect_err("past the end");
        assert!(e.contains("entities[0]"), "{e}");
    }
}

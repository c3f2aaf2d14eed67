//! spaCy's binary training data, a `.spacy` DocBin: zlib-compressed MessagePack holding each
//! token's attributes as 64-bit ids (`attrs`, `tokens`), whether a space follows it
//! (`spaces`), each doc's length (`lengths`), the strings the ids stand for (`strings`), and
//! each doc's categories (`cats`). A string's id is its MurmurHash64A (seed 1) — except
//! spaCy's built-in symbols, of which the entity labels are kept here ([`ENTITY_SYMBOLS`]).
//! Each doc is a task; its entities (`ENT_IOB`, `ENT_TYPE`) or categories are the answer of
//! the imported annotator `spacy`, as for spaCy's other formats. Span groups are not read
//! and are counted.

use std::collections::HashMap;
use std::io::Read;

use rmpv::Value as Msg;

use super::spacy::{Found, task};
use super::task_object::Reading;
use super::{UploadError, UploadReport, err};
use crate::schema::LabelSchema;
use crate::span::Span;
use crate::task::TaskInput;

/// spaCy's attribute ids (spacy/attrs.pxd, as spaCy 3.8 numbers them).
const ORTH: u64 = 65;
const ENT_IOB: u64 = 77;
const ENT_TYPE: u64 = 78;

/// spaCy's built-in symbols among entity labels, with the ids spaCy 3.8.18 gives them
/// (`spacy.symbols.IDS`): a DocBin holds these labels by symbol, not by hash.
pub const ENTITY_SYMBOLS: &[(&str, u64)] = &[
    ("PERSON", 380),
    ("NORP", 381),
    ("FACILITY", 382),
    ("ORG", 383),
    ("GPE", 384),
    ("LOC", 385),
    ("PRODUCT", 386),
    ("EVENT", 387),
    ("WORK_OF_ART", 388),
    ("LANGUAGE", 389),
    ("LAW", 390),
    ("DATE", 391),
    ("TIME", 392),
    ("PERCENT", 393),
    ("MONEY", 394),
    ("QUANTITY", 395),
    ("ORDINAL", 396),
    ("CARDINAL", 397),
];

/// The id spaCy gives a string.
fn string_id(s: &str) -> u64 {
    if s.is_empty() {
        0
    } else {
        murmur2::murmur64a(s.as_bytes(), 1)
    }
}

fn field<'a>(msg: &'a Msg, key: &str) -> Option<&'a Msg> {
    msg.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn bytes<'a>(msg: &'a Msg, key: &str) -> Result<&'a [u8], UploadError> {
    field(msg, key)
        .and_then(Msg::as_slice)
        .ok_or_else(|| err(1, None, format!("not a spaCy DocBin: no \"{key}\" bytes")))
}

/// Reads a DocBin: a task per doc. `cap` bounds the unpacked size.
pub(super) fn parse(
    packed: &[u8],
    cap: u64,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<TaskInput>, UploadReport), UploadError> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(packed)
        .take(cap + 1)
        .read_to_end(&mut raw)
        .map_err(|e| err(1, None, format!("not a spaCy DocBin (zlib): {e}")))?;
    if raw.len() as u64 > cap {
        return Err(err(
            1,
            None,
            format!("the DocBin unpacks to more than {cap} bytes; split it"),
        ));
    }
    let msg = rmpv::decode::read_value(&mut raw.as_slice())
        .map_err(|e| err(1, None, format!("not a spaCy DocBin (MessagePack): {e}")))?;
    let attrs: Vec<u64> = field(&msg, "attrs")
        .and_then(Msg::as_array)
        .map(|a| a.iter().filter_map(Msg::as_u64).collect())
        .ok_or_else(|| err(1, None, "not a spaCy DocBin: no \"attrs\""))?;
    let column = |id: u64| attrs.iter().position(|&a| a == id);
    let orth = column(ORTH).ok_or_else(|| err(1, None, "the DocBin holds no token text (ORTH)"))?;
    let (iob, kind) = (column(ENT_IOB), column(ENT_TYPE));
    let values: Vec<u64> = bytes(&msg, "tokens")?
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect();
    let spaces = bytes(&msg, "spaces")?;
    let lengths: Vec<usize> = bytes(&msg, "lengths")?
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap_or([0; 4])).max(0) as usize)
        .collect();
    let n_tokens: usize = lengths.iter().sum();
    if values.len() != n_tokens * attrs.len() || spaces.len() < n_tokens {
        return Err(err(
            1,
            None,
            "the DocBin's token table does not match its docs' lengths",
        ));
    }
    let mut strings: HashMap<u64, String> = field(&msg, "strings")
        .and_then(Msg::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Msg::as_str)
                .map(|s| (string_id(s), s.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    for (label, id) in ENTITY_SYMBOLS {
        strings.entry(*id).or_insert_with(|| (*label).to_owned());
    }
    let cats = field(&msg, "cats").and_then(Msg::as_array);
    let flags = field(&msg, "flags").and_then(Msg::as_array);
    let groups = field(&msg, "span_groups").and_then(Msg::as_array);
    let mut cx = Reading::new(lenient);
    let mut tasks = Vec::with_capacity(lengths.len());
    let mut first = 0;
    for (d, &len) in lengths.iter().enumerate() {
        cx.line = d + 1;
        let value = |t: usize, col: usize| values[(first + t) * attrs.len() + col];
        let name = |id: u64, what: &str| {
            strings.get(&id).cloned().ok_or_else(|| {
                err(
                    1,
                    None,
                    format!("doc {d}: the {what} with id {id} is not among the DocBin's strings"),
                )
            })
        };
        let unknown_spaces = flags
            .and_then(|f| f.get(d))
            .and_then(|f| field(f, "has_unknown_spaces"))
            .and_then(Msg::as_bool)
            .unwrap_or(false);
        // The text, and each token's character offsets in it.
        let mut text = String::new();
        let mut chars = 0;
        let mut offsets = Vec::with_capacity(len);
        for t in 0..len {
            let word = name(value(t, orth), "token")?;
            let start = chars;
            chars += word.chars().count();
            text.push_str(&word);
            offsets.push((start, chars));
            let space = if unknown_spaces {
                t + 1 < len
            } else {
                spaces[first + t] != 0
            };
            if space {
                text.push(' ');
                chars += 1;
            }
        }
        // Entities: IOB 3 begins one, 1 continues it, 2 is outside, 0 unknown.
        let mut spans = Vec::new();
        if let (Some(iob), Some(kind)) = (iob, kind) {
            let mut open: Option<(usize, u64)> = None;
            for t in 0..=len {
                let (tag, label) = if t < len {
                    (value(t, iob), value(t, kind))
                } else {
                    (0, 0)
                };
                let continues = tag == 1 && open.is_some_and(|(_, l)| l == label);
                if !continues {
                    if let Some((start, label)) = open.take() {
                        spans.push(
                            Span {
                                start: offsets[start].0,
                                end: offsets[t - 1].1,
                                label: name(label, "entity label")?,
                            }
                            .to_string(),
                        );
                    }
                    if matches!(tag, 1 | 3) && label != 0 {
                        open = Some((t, label));
                    }
                }
            }
        }
        let chosen = cats.and_then(|c| c.get(d)).and_then(Msg::as_map).map(|m| {
            m.iter()
                .filter(|(_, score)| score.as_f64().is_some_and(|s| s >= 0.5))
                .filter_map(|(label, _)| label.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        });
        let cats = chosen.filter(|c| {
            !c.is_empty()
                || cats
                    .and_then(|c| c.get(d))
                    .and_then(Msg::as_map)
                    .is_some_and(|m| !m.is_empty())
        });
        if groups
            .and_then(|g| g.get(d))
            .and_then(Msg::as_slice)
            .is_some_and(|b| b.len() > 1)
        {
            cx.report.ignore("span_groups");
        }
        tasks.push(
            task(text, Found { spans, cats }, None, None, schema, &mut cx)
                .map_err(|m| err(1, None, format!("doc {d}: {m}")))?,
        );
        first += len;
    }
    Ok((tasks, cx.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_keyed_as_spacy_keys_them() {
        // spaCy 3.8.18: `spacy.strings.hash_string("hello")`.
        assert_eq!(string_id("hello"), 5983625672228268878);
        assert_eq!(string_id(""), 0);
    }

    #[test]
    fn what_is_not_a_docbin_is_refused() {
        let schema =
            LabelSchema::from_json(r#"{"kind": "spans", "labels": ["PERSON"]}"#).expect("schema");
        let e = parse(b"not zlib", 1 << 20, &schema, false).expect_err("garbage");
        assert!(e.message.contains("not a spaCy DocBin"), "{e}");
    }
}

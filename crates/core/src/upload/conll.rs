//! CoNLL-style token files (CoNLL-2003 and the like): one token per line with its tag in the
//! last column (2 to 4 columns), sentences separated by blank lines, `-DOCSTART-` lines
//! between documents. Each sentence becomes a spans task — its tokens joined by spaces — and
//! its tags an answer by the imported annotator `conll`. Tags may be IOB1 (CoNLL-2003's own:
//! `I-` starts an entity unless it continues one of the same type), IOB2 (`B-` starts one) or
//! BIOES (`E-` ends one, `S-` is one token alone).

use super::task_object::Reading;
use super::{UploadError, err};
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ImportedAnswer, TaskInput, check_data};

/// The annotator a CoNLL file's tags are imported as.
pub const CONLL_ANNOTATOR: &str = "conll";

/// One sentence being read: its text, spans, and the entity open at its end.
#[derive(Default)]
struct Sentence {
    first_line: usize,
    text: String,
    /// Characters (Unicode scalar values) of `text` so far: spans count in characters.
    chars: usize,
    spans: Vec<String>,
    open: Option<(String, usize, usize)>,
}

impl Sentence {
    fn close(&mut self) {
        if let Some((label, start, end)) = self.open.take() {
            self.spans.push(format!("{start}:{end}:{label}"));
        }
    }

    fn token(&mut self, token: &str, tag: &str) -> Result<(), String> {
        if !self.text.is_empty() {
            self.text.push(' ');
            self.chars += 1;
        }
        let (start, end) = (self.chars, self.chars + token.chars().count());
        self.text.push_str(token);
        self.chars = end;
        let (prefix, label) = match tag.split_once('-') {
            _ if tag == "O" => {
                self.close();
                return Ok(());
            }
            Some((p @ ("B" | "I" | "E" | "S"), label)) if !label.is_empty() => (p, label),
            _ => return Err(format!("tag {tag:?} is not O, B-, I-, E- or S- and a type")),
        };
        let continues = self.open.as_ref().is_some_and(|(open, _, _)| open == label)
            && matches!(prefix, "I" | "E");
        if continues {
            if let Some(open) = self.open.as_mut() {
                open.2 = end;
            }
        } else {
            self.close();
            self.open = Some((label.to_owned(), start, end));
        }
        if matches!(prefix, "E" | "S") {
            self.close();
        }
        Ok(())
    }
}

/// Parses a whole CoNLL file into one task per sentence (and the line each starts on).
pub(super) fn parse(
    text: &str,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<TaskInput>, Vec<usize>, super::UploadReport), UploadError> {
    if schema.kind != SchemaKind::Spans {
        return Err(err(
            1,
            None,
            "a CoNLL file holds spans: upload it to a spans project",
        ));
    }
    let mut cx = Reading::new(lenient);
    let (mut tasks, mut lines) = (Vec::new(), Vec::new());
    let mut sentence = Sentence::default();
    let mut finish = |sentence: &mut Sentence, cx: &mut Reading| -> Result<(), UploadError> {
        sentence.close();
        let done = std::mem::take(sentence);
        if done.text.is_empty() {
            return Ok(());
        }
        cx.line = done.first_line;
        let mut data = serde_json::Map::new();
        data.insert("text".to_owned(), done.text.into());
        check_data(&data, schema.kind).map_err(|m| err(done.first_line, None, m))?;
        let mut labels = Vec::new();
        for span in done.spans {
            match schema.check_answer(std::slice::from_ref(&span)) {
                Ok(()) => labels.push(span),
                Err(e) if cx.leave_out(format!("span {span}"), &e.to_string()) => {}
                Err(e) => return Err(err(done.first_line, None, format!("span {span}: {e}"))),
            }
        }
        tasks.push(TaskInput {
            data,
            answers: vec![ImportedAnswer {
                annotator: CONLL_ANNOTATOR.to_owned(),
                labels,
                skipped: false,
                answered_at: None,
                unsure: false,
            }],
            ..TaskInput::default()
        });
        lines.push(done.first_line);
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = if i == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "-DOCSTART-" {
            finish(&mut sentence, &mut cx)?;
            continue;
        }
        let [token, .., tag] = fields.as_slice() else {
            return Err(err(
                line,
                Some(1),
                "a token line needs the token and its tag",
            ));
        };
        if sentence.text.is_empty() {
            sentence.first_line = line;
        }
        sentence
            .token(token, tag)
            .map_err(|m| err(line, Some(raw.rfind(tag).map_or(1, |at| at + 1)), m))?;
    }
    finish(&mut sentence, &mut cx)?;
    Ok((tasks, lines, cx.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        LabelSchema::from_json(r#"{"kind": "spans", "labels": ["PER", "LOC", "ORG", "MISC"]}"#)
            .expect("schema")
    }

    fn spans(text: &str) -> Vec<(String, Vec<String>)> {
        parse(text, &schema(), false)
            .expect("parse")
            .0
            .into_iter()
            .map(|t| {
                (
                    t.data["text"].as_str().unwrap_or("").to_owned(),
                    t.answers[0].labels.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn iob1_iob2_and_bioes_give_the_same_spans() {
        let iob1 = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\ncall NN I-NP O\n\nPeter NNP I-PER\nBlackburn NNP I-PER\n";
        let iob2 = "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n";
        let bioes = "EU S-ORG\nrejects O\nGerman S-MISC\ncall O\n\nPeter B-PER\nBlackburn E-PER\n";
        let expected = vec![
            (
                "EU rejects German call".to_owned(),
                vec!["0:2:ORG".to_owned(), "11:17:MISC".to_owned()],
            ),
            ("Peter Blackburn".to_owned(), vec!["0:15:PER".to_owned()]),
        ];
        for text in [iob1, iob2, bioes] {
            assert_eq!(spans(text), expected, "{text}");
        }
        // Two entities of one type side by side: IOB1 marks the second with B-.
        assert_eq!(
            spans("Paris I-LOC\nBerlin B-LOC\n")[0].1,
            ["0:5:LOC", "6:12:LOC"]
        );
        // Offsets count characters, not bytes.
        assert_eq!(spans("Zürich B-LOC\nist O\nschön O\n")[0].1, ["0:6:LOC"]);
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse("EU B-ORG\nrejects\n", &schema(), false).expect_err("no tag");
        assert_eq!(e.line, 2, "{e}");
        let e = parse("EU B-ORG\nrejects X-FOO\n", &schema(), false).expect_err("bad tag");
        assert_eq!((e.line, e.column), (2, Some(9)), "{e}");
        let e = parse("EU B-ORGANIZATION\n", &schema(), false).expect_err("unknown type");
        assert!(e.message.contains("ORGANIZATION"), "{e}");
        let (tasks, _, report) =
            parse("EU B-ORGANIZATION\nsays O\nno B-PER\n", &schema(), true).expect("lenient");
        assert_eq!(tasks[0].answers[0].labels, ["8:10:PER"]);
        assert_eq!(report.left_out.len(), 1);
    }
}

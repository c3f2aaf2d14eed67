//! Consensus: merging the redundant answers to one task into one label with a confidence.
//!
//! A [`ConsensusMethod`] sees one task's current answers (the latest revision from each
//! annotator) and returns the merged label. The full aggregator family (Dawid–Skene and its
//! kin, which also learn per-annotator skill) plugs in behind the same trait.

use crate::bbox::{BoundingBox, merge_boxes};
use crate::schema::{LabelSchema, SchemaKind};
use crate::span::Span;

/// The merged answer to one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Consensus {
    /// The consensus label(s); one for single-choice schemas.
    pub labels: Vec<String>,
    /// Probability-like confidence in [0, 1].
    pub confidence: f64,
}

/// One annotator's current answer to a task: who (their user id), and the labels.
pub type Vote = (i64, Vec<String>);

/// A way to merge one task's answers.
pub trait ConsensusMethod: Send + Sync {
    /// Stable name, reported beside each consensus.
    fn name(&self) -> &'static str;
    /// Merges the answers (each a list of labels valid for `schema`, with its annotator);
    /// `None` when there are none.
    fn aggregate(&self, schema: &LabelSchema, answers: &[Vote]) -> Option<Consensus>;
    /// Whether this annotator's answers count: all do, except where a re-fit left out a
    /// suspended annotator's (see [`crate::aggregate::FittedConsensus::excluding`]).
    fn counts(&self, _annotator_id: i64) -> bool {
        true
    }
}

/// Majority vote. Single choice: the most voted label, ties broken by the schema's label order;
/// confidence is its share of the votes. Multiple choice: each label is in the consensus when
/// more than half of the answers hold it; confidence is the weakest per-label agreement.
///
/// ```
/// use tessera_core::{ConsensusMethod, LabelSchema, MajorityVote};
/// let schema = LabelSchema::from_json(r#"{"kind":"classification","labels":["yes","no"]}"#).unwrap();
/// let votes = [(1, vec!["no".to_string()]), (2, vec!["yes".to_string()]), (3, vec!["no".to_string()])];
/// let c = MajorityVote.aggregate(&schema, &votes).unwrap();
/// assert_eq!(c.labels, ["no"]);
/// assert!((c.confidence - 2.0 / 3.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MajorityVote;

impl ConsensusMethod for MajorityVote {
    fn name(&self) -> &'static str {
        "majority_vote"
    }

    fn aggregate(&self, schema: &LabelSchema, votes: &[Vote]) -> Option<Consensus> {
        if votes.is_empty() {
            return None;
        }
        let answers: Vec<&Vec<String>> = votes.iter().map(|(_, labels)| labels).collect();
        let answers = answers.as_slice();
        match schema.kind {
            SchemaKind::Text => return text_vote(answers),
            SchemaKind::Spans => return span_vote(answers),
            SchemaKind::Boxes => {
                let boxes: Vec<Vec<BoundingBox>> = answers
                    .iter()
                    .map(|a| a.iter().filter_map(|b| BoundingBox::parse(b)).collect())
                    .collect();
                let (merged, confidence) = merge_boxes(&boxes);
                return Some(Consensus {
                    labels: merged.iter().map(ToString::to_string).collect(),
                    confidence,
                });
            }
            _ => {}
        }
        let mut counts = vec![0usize; schema.labels.len()];
        for answer in answers {
            for label in answer.iter() {
                if let Some(i) = schema.label_index(label) {
                    counts[i] += 1;
                }
            }
        }
        let n = answers.len() as f64;
        if schema.multiple {
            let mut labels = Vec::new();
            let mut confidence = 1.0f64;
            for (i, &c) in counts.iter().enumerate() {
                let share = c as f64 / n;
                if share > 0.5 {
                    labels.push(schema.labels[i].clone());
                }
                confidence = confidence.min(share.max(1.0 - share));
            }
            return Some(Consensus { labels, confidence });
        }
        // First index with the highest count: the schema's order breaks ties.
        let (best, &votes) =
            counts
                .iter()
                .enumerate()
                .fold(None::<(usize, &usize)>, |acc, (i, c)| match acc {
                    Some((_, bc)) if bc >= c => acc,
                    _ => Some((i, c)),
                })?;
        let total: usize = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(Consensus {
            labels: vec![schema.labels[best].clone()],
            confidence: votes as f64 / total as f64,
        })
    }
}

/// Spans: each distinct span (same offsets, same label) is in the consensus when more than
/// half of the answers hold it, in text order; confidence is the weakest agreement, on a
/// span in or out (1 when every answer marks the same spans, none included).
fn span_vote(answers: &[&Vec<String>]) -> Option<Consensus> {
    let mut counts: std::collections::BTreeMap<Span, usize> = std::collections::BTreeMap::new();
    for answer in answers {
        let mut seen: Vec<Span> = answer.iter().filter_map(|s| Span::parse(s)).collect();
        seen.sort();
        seen.dedup();
        for span in seen {
            *counts.entry(span).or_default() += 1;
        }
    }
    let n = answers.len() as f64;
    let mut labels = Vec::new();
    let mut confidence = 1.0f64;
    for (span, c) in counts {
        let share = c as f64 / n;
        if share > 0.5 {
            labels.push(span.to_string());
        }
        confidence = confidence.min(share.max(1.0 - share));
    }
    Some(Consensus { labels, confidence })
}

/// Free text: the most common text once whitespace is normalised (each line trimmed and its
/// runs of spaces made one, blank lines at either end dropped; line breaks are kept, they
/// matter in a transcription), ties to the one that sorts first; confidence is its share.
fn text_vote(answers: &[&Vec<String>]) -> Option<Consensus> {
    let mut texts: Vec<String> = answers
        .iter()
        .filter_map(|a| a.first())
        .map(|t| {
            let lines: Vec<String> = t
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            lines.join("\n").trim_matches('\n').to_owned()
        })
        .collect();
    texts.sort_unstable();
    let total = texts.len();
    let mut best: Option<(&str, usize)> = None;
    for run in texts.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(_, n)| run.len() > n) {
            best = Some((&run[0], run.len()));
        }
    }
    let (text, votes) = best?;
    Some(Consensus {
        labels: vec![text.to_owned()],
        confidence: votes as f64 / total as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(multiple: bool) -> LabelSchema {
        let mut schema = LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["pos", "neg", "neu"], "overlap": 3}"#,
        )
        .expect("schema");
        schema.multiple = multiple;
        schema
    }

    /// One answer of a fresh annotator.
    fn a(labels: &[&str]) -> Vote {
        use std::sync::atomic::{AtomicI64, Ordering};
        static NEXT: AtomicI64 = AtomicI64::new(1);
        (
            NEXT.fetch_add(1, Ordering::Relaxed),
            labels.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn majority_wins_with_its_share() {
        let c = MajorityVote
            .aggregate(
                &schema(false),
                &[a(&["neg"]), a(&["neu"]), a(&["neg"]), a(&["neg"])],
            )
            .expect("consensus");
        assert_eq!(c.labels, ["neg"]);
        assert_eq!(c.confidence, 0.75);
    }

    #[test]
    fn ties_follow_schema_order_whatever_the_answer_order() {
        for answers in [[a(&["neu"]), a(&["neg"])], [a(&["neg"]), a(&["neu"])]] {
            let c = MajorityVote
                .aggregate(&schema(false), &answers)
                .expect("consensus");
            assert_eq!(c.labels, ["neg"]);
            assert_eq!(c.confidence, 0.5);
        }
    }

    #[test]
    fn free_text_agrees_on_the_normalised_text() {
        let schema = LabelSchema::from_json(r#"{"kind":"text"}"#).expect("schema");
        for answers in [
            [
                a(&["the cat "]),
                a(&["a dog"]),
                a(&["the  cat"]),
                a(&["zebra"]),
            ],
            [
                a(&["zebra"]),
                a(&["the  cat"]),
                a(&["a dog"]),
                a(&["the cat "]),
            ],
        ] {
            let c = MajorityVote
                .aggregate(&schema, &answers)
                .expect("consensus");
            assert_eq!((c.labels, c.confidence), (labels(&["the cat"]), 0.5));
        }
        let lines = MajorityVote
            .aggregate(
                &schema,
                &[a(&["one\n two \n"]), a(&["one two"]), a(&["\none\ntwo"])],
            )
            .expect("consensus");
        assert_eq!(
            (lines.labels, lines.confidence),
            (labels(&["one\ntwo"]), 2.0 / 3.0)
        );
        let tie = MajorityVote
            .aggregate(&schema, &[a(&["b"]), a(&["a"])])
            .expect("consensus");
        assert_eq!((tie.labels, tie.confidence), (labels(&["a"]), 0.5));
    }

    #[test]
    fn spans_held_by_most_answers_make_the_consensus_in_text_order() {
        let schema =
            LabelSchema::from_json(r#"{"kind":"spans","labels":["PER","ORG"]}"#).expect("schema");
        let c = MajorityVote
            .aggregate(
                &schema,
                &[
                    a(&["10:13:ORG", "0:4:PER"]),
                    a(&["0:4:PER", "10:13:ORG", "0:4:PER"]),
                    a(&["0:4:PER", "5:9:PER"]),
                ],
            )
            .expect("consensus");
        assert_eq!(c.labels, ["0:4:PER", "10:13:ORG"]);
        assert!((c.confidence - 2.0 / 3.0).abs() < 1e-12);
        let none = MajorityVote
            .aggregate(&schema, &[a(&[]), a(&[])])
            .expect("consensus");
        assert_eq!((none.labels.len(), none.confidence), (0, 1.0));
    }

    #[test]
    fn no_answers_no_consensus() {
        assert_eq!(MajorityVote.aggregate(&schema(false), &[]), None);
    }

    #[test]
    fn multiple_choice_takes_labels_held_by_most() {
        let c = MajorityVote
            .aggregate(
                &schema(true),
                &[
                    a(&["pos", "neu"]),
                    a(&["pos"]),
                    a(&["pos", "neu"]),
                    a(&["neg"]),
                ],
            )
            .expect("consensus");
        assert_eq!(c.labels, ["pos"]);
        // "neu" is held by exactly half: the weakest agreement is 0.5.
        assert_eq!(c.confidence, 0.5);
    }
}

//! What a task's label is in an export that holds one label a task (`--label`): the final
//! label — a reviewer's verdict, else the gold answer, else the crowd's consensus — the
//! consensus alone, or every annotator's answer with who gave it.

use chrono::{DateTime, Utc};
use tessera_api::ExportRecord;

/// `?label=`: which labels of a task an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelChoice {
    /// The crowd's consensus, whatever a reviewer said.
    Consensus,
    /// The final label: the reviewer's verdict where there is one, the gold answer of a gold
    /// task, else the consensus.
    #[default]
    Review,
    /// Every annotator's current answer.
    Answers,
}

impl LabelChoice {
    pub const NAMES: &'static str = "consensus, review or answers";

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "consensus" => Some(Self::Consensus),
            "review" | "final" => Some(Self::Review),
            "answers" => Some(Self::Answers),
            _ => None,
        }
    }
}

/// One labeling of a task: who gave it (an annotator, a reviewer, `gold`, `consensus`), its
/// labels, and when, if known.
#[derive(Debug, Clone, Copy)]
pub struct Labeling<'a> {
    pub by: &'a str,
    pub labels: &'a [String],
    pub at: Option<DateTime<Utc>>,
}

/// A task's labelings as `choice` has them: none when it has no label yet.
pub fn labelings(r: &ExportRecord, choice: LabelChoice) -> Vec<Labeling<'_>> {
    let consensus = || {
        r.consensus.as_ref().map(|c| Labeling {
            by: "consensus",
            labels: &c.labels,
            at: None,
        })
    };
    match choice {
        LabelChoice::Answers => r
            .answers
            .iter()
            .map(|a| Labeling {
                by: &a.annotator,
                labels: &a.labels,
                at: Some(a.answered_at),
            })
            .collect(),
        LabelChoice::Consensus => consensus().into_iter().collect(),
        LabelChoice::Review => match (&r.review, &r.gold) {
            (Some(v), _) => vec![Labeling {
                by: &v.reviewer,
                labels: &v.labels,
                at: Some(v.reviewed_at),
            }],
            (None, Some(gold)) => vec![Labeling {
                by: "gold",
                labels: gold,
                at: None,
            }],
            (None, None) => consensus().into_iter().collect(),
        },
    }
}

/// The task's one label set under `choice` (not [`LabelChoice::Answers`]): empty when none.
pub fn one_labeling(r: &ExportRecord, choice: LabelChoice) -> &[String] {
    labelings(r, choice).first().map_or(&[][..], |l| l.labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ExportRecord {
        serde_json::from_value(serde_json::json!({
            "task_id": 1, "data": {"text": "t"},
            "answers": [{"annotator": "ann", "labels": ["a"], "revision": 1,
                         "answered_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:00Z"},
                        {"annotator": "bob", "labels": ["b"], "revision": 1,
                         "answered_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:00Z"}],
            "consensus": {"label": "a", "labels": ["a"], "confidence": 0.6, "method": "mv"},
            "review": {"labels": ["b"], "reviewer": "rev", "reviewed_at": "2026-01-02T00:00:00Z"},
            "complete": true
        }))
        .expect("record")
    }

    #[test]
    fn the_final_label_is_the_reviewers_and_answers_are_each_annotators() {
        let r = record();
        assert_eq!(one_labeling(&r, LabelChoice::Review), ["b"]);
        assert_eq!(labelings(&r, LabelChoice::Review)[0].by, "rev");
        assert_eq!(one_labeling(&r, LabelChoice::Consensus), ["a"]);
        let all: Vec<&str> = labelings(&r, LabelChoice::Answers)
            .iter()
            .map(|l| l.by)
            .collect();
        assert_eq!(all, ["ann", "bob"]);
    }
}

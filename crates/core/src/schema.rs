//! Label schemas: what an answer to a project's tasks may look like.

use serde::{Deserialize, Serialize};

use crate::bbox::BoundingBox;
use crate::span::Span;

/// The kinds of labeling work a project can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SchemaKind {
    /// Pick one (or, with `multiple`, several) labels from a fixed list.
    Classification,
    /// One point of an ordered scale: `labels` lists the points from lowest to highest
    /// (`["1","2","3","4","5"]`, or words such as `["poor","fair","good"]`).
    Rating,
    /// Which of two items is better: the task's data holds `a` and `b` (and optionally a
    /// `text` prompt); `labels` names the verdicts, first for A, second for B, and an
    /// optional third for "equally good" (`["A","B","tie"]`).
    Pairwise,
    /// Free text, such as a transcription: the answer is one non-empty string; no labels.
    Text,
    /// Spans of the task's `text` (named entities): `labels` are the entity types; the answer
    /// lists spans as `start:end:label` (see [`crate::Span`]), and may list none.
    Spans,
    /// Bounding boxes on the task's `image`: `labels` are the object classes; the answer
    /// lists boxes as `x,y,w,h:label` relative to the image (see [`crate::BoundingBox`]),
    /// and may list none.
    Boxes,
}

impl SchemaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classification => "classification",
            Self::Rating => "rating",
            Self::Pairwise => "pairwise",
            Self::Text => "text",
            Self::Spans => "spans",
            Self::Boxes => "boxes",
        }
    }
}

/// A project's label schema, as written by the requester in a JSON file.
///
/// `{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3}`
/// is the smallest complete schema; unknown fields are rejected so a typo never passes silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelSchema {
    pub kind: SchemaKind,
    /// The choices (classification), scale points (rating) or verdicts (pairwise); empty for
    /// free text.
    #[serde(default)]
    pub labels: Vec<String>,
    /// How many distinct annotators answer each task — at most, when a confidence target
    /// lets a task finish earlier.
    #[serde(default = "default_overlap")]
    pub overlap: u32,
    /// Adaptive overlap: ask this many annotators first; more (one at a time, up to
    /// `overlap`) only while the consensus is below `confidence_target`. Needs a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_overlap: Option<u32>,
    /// The consensus confidence at which a task is done. A task still below it after
    /// `overlap` answers goes to review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_target: Option<f64>,
    /// Without a `confidence_target`: a task that has its `overlap` answers and a consensus
    /// confidence below this (no label has most of the weight: a three-way split) goes to
    /// review. 0 turns it off.
    #[serde(
        default = "default_review_below",
        skip_serializing_if = "is_default_review_below"
    )]
    pub review_below: f64,
    /// Whether an answer may hold several labels.
    #[serde(default)]
    pub multiple: bool,
    /// Instructions shown to annotators above each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Most tasks one annotator may hold at once for offline work (a checkout with a long
    /// lease); those tasks hold their overlap slots until answered or expired.
    #[serde(default = "default_offline_quota")]
    pub offline_quota: u32,
    /// Share of each annotator's leased tasks drawn from the gold tasks (0 to 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gold_rate: f64,
    /// Suspend an annotator whose accuracy on gold falls below this, once they answered
    /// `gold_min_answers` gold tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_below: Option<f64>,
    #[serde(default = "default_gold_min_answers")]
    pub gold_min_answers: u32,
    /// What becomes of a suspended annotator's answers: left out of the consensus at the next
    /// re-fit (`exclude`, the default), or kept and weighed by their skill like anyone's
    /// (`weigh`). Single-choice projects; others keep every answer.
    #[serde(default, skip_serializing_if = "SuspendedAnswers::is_default")]
    pub suspended_answers: SuspendedAnswers,
    /// Which open tasks the queue hands out first within a batch priority: closest to
    /// completion, then oldest (`default`); or those whose best prediction is least certain
    /// (`uncertainty`), tasks without a prediction after them in the default order.
    #[serde(default, skip_serializing_if = "QueueOrder::is_default")]
    pub order: QueueOrder,
    /// A model Tessera trains and runs itself from the project's consensus: `builtin`, for
    /// single-choice text classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<BuiltinModel>,
}

/// See [`LabelSchema::order`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueueOrder {
    #[default]
    Default,
    Uncertainty,
}

impl QueueOrder {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// See [`LabelSchema::model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuiltinModel {
    /// A fastText-style linear classifier over hashed word and character n-grams.
    Builtin,
}

/// See [`LabelSchema::suspended_answers`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SuspendedAnswers {
    #[default]
    Exclude,
    Weigh,
}

impl SuspendedAnswers {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn default_review_below() -> f64 {
    0.5
}

fn is_default_review_below(x: &f64) -> bool {
    *x == default_review_below()
}

fn default_gold_min_answers() -> u32 {
    10
}

fn default_overlap() -> u32 {
    3
}

/// A long day's worth of quick judgements.
fn default_offline_quota() -> u32 {
    1_000
}

/// The largest offline quota a project may set: one checkout's worth.
pub const MAX_OFFLINE_QUOTA: u32 = 10_000;

/// A task's standing under its project's assignment policy (see [`LabelSchema::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// No more answers are wanted.
    pub complete: bool,
    /// How many answers (and live leases) the task may hold now.
    pub wanted: u32,
    /// Complete at the maximum overlap and still below the confidence target.
    pub needs_review: bool,
}

/// Why a schema or an answer does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("a {0} schema needs at least two labels")]
    TooFewLabels(&'static str),
    #[error(
        "a pairwise schema takes two or three labels (A wins, B wins, optionally a tie), got {0}"
    )]
    PairwiseLabels(usize),
    #[error("a text schema takes no labels: the answer is the annotator's text")]
    TextWithLabels,
    #[error("{0:?} is not a span (start:end:label, start before end)")]
    BadSpan(String),
    #[error("span {0:?} is listed twice")]
    DuplicateSpan(String),
    #[error("a {0} schema needs at least one label")]
    NoRegionLabels(&'static str),
    #[error("{0:?} is not a box (x,y,w,h:label within the image, relative coordinates)")]
    BadBox(String),
    #[error("a skip reason goes with a skip, and an unsure flag with an answer")]
    MisplacedFlag,
    #[error("a skip reason holds 1 to {MAX_SKIP_REASON} characters")]
    SkipReason,
    #[error("multiple applies to classification only")]
    MultipleNotClassification,
    #[error("the built-in model classifies text: it needs a single-choice classification schema")]
    BuiltinModelKind,
    #[error("a text answer is one string, got {0}")]
    TextAnswerParts(usize),
    #[error("a text answer must not be empty or only whitespace")]
    EmptyText,
    #[error("a text answer holds at most {max} characters, got {got}")]
    TextTooLong { got: usize, max: usize },
    #[error("label {0:?} is listed twice (labels are compared in Unicode NFC, trimmed)")]
    DuplicateLabel(String),
    #[error("label {0:?} holds an invisible or control character (U+{1:04X})")]
    InvisibleInLabel(String, u32),
    #[error("label {0:?} is not in Unicode NFC or has spaces around it")]
    UnnormalizedLabel(String),
    #[error("a schema holds at most {MAX_LABELS} labels, got {0}")]
    TooManyLabelsInSchema(usize),
    #[error("a label holds at most {MAX_LABEL_CHARS} characters: {0:?}…")]
    LabelTooLong(String),
    #[error("instructions hold at most {MAX_INSTRUCTIONS_BYTES} bytes, got {0}")]
    InstructionsTooLong(usize),
    #[error("labels must not be empty or only whitespace")]
    EmptyLabel,
    #[error("overlap must be between 1 and {max}, got {got}")]
    Overlap { got: u32, max: u32 },
    #[error("min_overlap must be between 1 and overlap ({overlap}), got {got}")]
    MinOverlap { got: u32, overlap: u32 },
    #[error("min_overlap needs a confidence_target: it says when fewer answers are enough")]
    MinOverlapWithoutTarget,
    #[error("confidence_target must be above 0 and at most 1, got {0}")]
    ConfidenceTarget(String),
    #[error("gold_rate must be between 0 and 1, got {0}")]
    GoldRate(String),
    #[error("review_below must be 0 to 1, got {0}")]
    ReviewBelow(String),
    #[error("suspend_below must be above 0 and at most 1, got {0}")]
    SuspendBelow(String),
    #[error("offline_quota must be between 1 and {max}, got {got}")]
    OfflineQuota { got: u32, max: u32 },
    #[error("{0:?} is not one of the project's labels")]
    UnknownLabel(String),
    #[error("an answer needs at least one label")]
    NoLabel,
    #[error("this project takes one label per answer, got {0}")]
    TooManyLabels(usize),
}

/// The longest skip reason, in characters.
pub const MAX_SKIP_REASON: usize = 200;

/// The longest free-text answer, in characters.
pub const MAX_TEXT_ANSWER: usize = 10_000;

/// The largest overlap a project may ask for.
pub const MAX_OVERLAP: u32 = 100;

/// Most labels a schema may hold: the schema goes with every lease, and a screen of choices
/// past this is a taxonomy, not a label set.
pub const MAX_LABELS: usize = 1000;

/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// The longest instructions, in bytes (they go with every lease).
pub const MAX_INSTRUCTIONS_BYTES: usize = 64 * 1024;

/// A label as it is kept: Unicode NFC, no white space around it.
pub fn normal_label(label: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    label.trim().nfc().collect()
}

/// Characters a person cannot see in a label, which would make two labels look alike:
/// controls, zero-width characters, bidirectional marks, the soft hyphen, the BOM.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

impl LabelSchema {
    /// Parses, normalizes and validates a schema from JSON text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let mut schema: LabelSchema = serde_json::from_str(text).map_err(|e| e.to_string())?;
        schema.normalize();
        schema.validate().map_err(|e| e.to_string())?;
        Ok(schema)
    }

    /// Brings the labels to the form they are kept in ([`normal_label`]): a label typed in
    /// another Unicode form, or with a space after it, is the same label.
    pub fn normalize(&mut self) {
        for label in &mut self.labels {
            *label = normal_label(label);
        }
    }

    /// Checks the schema's own rules.
    pub fn validate(&self) -> Result<(), SchemaError> {
        match self.kind {
            SchemaKind::Text if !self.labels.is_empty() => return Err(SchemaError::TextWithLabels),
            SchemaKind::Text => {}
            SchemaKind::Pairwise if !(2..=3).contains(&self.labels.len()) => {
                return Err(SchemaError::PairwiseLabels(self.labels.len()));
            }
            SchemaKind::Spans | SchemaKind::Boxes if self.labels.is_empty() => {
                return Err(SchemaError::NoRegionLabels(self.kind.as_str()));
            }
            SchemaKind::Spans | SchemaKind::Boxes => {}
            kind if self.labels.len() < 2 => {
                return Err(SchemaError::TooFewLabels(kind.as_str()));
            }
            _ => {}
        }
        if self.multiple && self.kind != SchemaKind::Classification {
            return Err(SchemaError::MultipleNotClassification);
        }
        if self.model.is_some() && (self.kind != SchemaKind::Classification || self.multiple) {
            return Err(SchemaError::BuiltinModelKind);
        }
        if self.labels.len() > MAX_LABELS {
            return Err(SchemaError::TooManyLabelsInSchema(self.labels.len()));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.labels.len());
        for label in &self.labels {
            if label.trim().is_empty() {
                return Err(SchemaError::EmptyLabel);
            }
            if label.chars().count() > MAX_LABEL_CHARS {
                let start: String = label.chars().take(40).collect();
                return Err(SchemaError::LabelTooLong(start));
            }
            if let Some(c) = label.chars().find(|&c| is_invisible(c)) {
                return Err(SchemaError::InvisibleInLabel(label.clone(), u32::from(c)));
            }
            if *label != normal_label(label) {
                return Err(SchemaError::UnnormalizedLabel(label.clone()));
            }
            if !seen.insert(label.as_str()) {
                return Err(SchemaError::DuplicateLabel(label.clone()));
            }
        }
        if let Some(text) = &self.instructions
            && text.len() > MAX_INSTRUCTIONS_BYTES
        {
            return Err(SchemaError::InstructionsTooLong(text.len()));
        }
        if self.overlap == 0 || self.overlap > MAX_OVERLAP {
            return Err(SchemaError::Overlap {
                got: self.overlap,
                max: MAX_OVERLAP,
            });
        }
        if let Some(min) = self.min_overlap {
            if min == 0 || min > self.overlap {
                return Err(SchemaError::MinOverlap {
                    got: min,
                    overlap: self.overlap,
                });
            }
            if self.confidence_target.is_none() {
                return Err(SchemaError::MinOverlapWithoutTarget);
            }
        }
        if let Some(t) = self.confidence_target
            && !(t > 0.0 && t <= 1.0)
        {
            return Err(SchemaError::ConfidenceTarget(t.to_string()));
        }
        if !(0.0..=1.0).contains(&self.review_below) {
            return Err(SchemaError::ReviewBelow(self.review_below.to_string()));
        }
        if !(0.0..=1.0).contains(&self.gold_rate) {
            return Err(SchemaError::GoldRate(self.gold_rate.to_string()));
        }
        if let Some(t) = self.suspend_below
            && !(t > 0.0 && t <= 1.0)
        {
            return Err(SchemaError::SuspendBelow(t.to_string()));
        }
        if self.offline_quota == 0 || self.offline_quota > MAX_OFFLINE_QUOTA {
            return Err(SchemaError::OfflineQuota {
                got: self.offline_quota,
                max: MAX_OFFLINE_QUOTA,
            });
        }
        Ok(())
    }

    /// Where a task stands under the project's assignment policy, given its current answers
    /// and their consensus confidence.
    ///
    /// ```
    /// use tessera_core::LabelSchema;
    /// let s = LabelSchema::from_json(
    ///     r#"{"kind":"classification","labels":["a","b"],"overlap":5,"min_overlap":2,"confidence_target":0.8}"#,
    /// ).unwrap();
    /// assert_eq!(s.progress(0, None).wanted, 2); // ask two annotators first
    /// assert!(s.progress(2, Some(1.0)).complete); // they agree: done
    /// assert_eq!(s.progress(2, Some(0.5)).wanted, 3); // they disagree: one more
    /// assert!(s.progress(5, Some(0.6)).needs_review); // still unsure at the maximum
    /// ```
    pub fn progress(&self, answers: u32, confidence: Option<f64>) -> Progress {
        let max = self.overlap;
        let confident = |target: f64| confidence.is_some_and(|c| c >= target - 1e-9);
        match self.confidence_target {
            _ if answers >= max => Progress {
                complete: true,
                wanted: max,
                needs_review: match self.confidence_target {
                    Some(t) => !confident(t),
                    None => confidence.is_some_and(|c| c < self.review_below - 1e-9),
                },
            },
            Some(target) if answers >= self.min_overlap.unwrap_or(max) => Progress {
                complete: confident(target),
                wanted: if confident(target) {
                    answers
                } else {
                    answers + 1
                },
                needs_review: false,
            },
            _ => Progress {
                complete: false,
                wanted: self.min_overlap.unwrap_or(max),
                needs_review: false,
            },
        }
    }

    /// Whether the aggregator's models (one label per answer from a fixed list) apply.
    pub fn can_refit(&self) -> bool {
        !self.multiple
            && !matches!(
                self.kind,
                SchemaKind::Text | SchemaKind::Spans | SchemaKind::Boxes
            )
    }

    /// Position of a label in the schema's list, which is also the tie-break order.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }

    /// Checks one pushed answer: a skip may carry a reason, an answer its labels (see
    /// [`Self::check_answer`]) and an `unsure` flag.
    pub fn check_push(
        &self,
        labels: &[String],
        skipped: bool,
        unsure: bool,
        skip_reason: Option<&str>,
    ) -> Result<(), SchemaError> {
        if (skipped && unsure) || (!skipped && skip_reason.is_some()) {
            return Err(SchemaError::MisplacedFlag);
        }
        if let Some(reason) = skip_reason
            && (reason.trim().is_empty() || reason.chars().count() > MAX_SKIP_REASON)
        {
            return Err(SchemaError::SkipReason);
        }
        if skipped {
            Ok(())
        } else {
            self.check_answer(labels)
        }
    }

    /// Checks that an answer's labels fit this schema (for free text: one string, the text).
    pub fn check_answer(&self, labels: &[String]) -> Result<(), SchemaError> {
        if self.kind == SchemaKind::Text {
            return match labels {
                [text] if text.trim().is_empty() => Err(SchemaError::EmptyText),
                [text] if text.chars().count() > MAX_TEXT_ANSWER => Err(SchemaError::TextTooLong {
                    got: text.chars().count(),
                    max: MAX_TEXT_ANSWER,
                }),
                [_] => Ok(()),
                parts => Err(SchemaError::TextAnswerParts(parts.len())),
            };
        }
        if matches!(self.kind, SchemaKind::Spans | SchemaKind::Boxes) {
            for (i, text) in labels.iter().enumerate() {
                let label = if self.kind == SchemaKind::Spans {
                    Span::parse(text)
                        .ok_or_else(|| SchemaError::BadSpan(text.clone()))?
                        .label
                } else {
                    BoundingBox::parse(text)
                        .ok_or_else(|| SchemaError::BadBox(text.clone()))?
                        .label
                };
                if self.label_index(&label).is_none() {
                    return Err(SchemaError::UnknownLabel(label));
                }
                if labels[..i].contains(text) {
                    return Err(SchemaError::DuplicateSpan(text.clone()));
                }
            }
            return Ok(());
        }
        if labels.is_empty() {
            return Err(SchemaError::NoLabel);
        }
        if !self.multiple && labels.len() > 1 {
            return Err(SchemaError::TooManyLabels(labels.len()));
        }
        for label in labels {
            if self.label_index(label).is_none() {
                return Err(SchemaError::UnknownLabel(label.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! Label schemas: what an answer to a project's tasks may look like.

use serde::{Deserialize, Serialize};

/// The kinds of labeling work a project can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaKind {
    /// Pick one (or, with `multiple`, several) labels from a fixed list.
    Classification,
}

/// A project's label schema, as written by the requester in a JSON file.
///
/// `{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3}`
/// is the smallest complete schema; unknown fields are rejected so a typo never passes silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSchema {
    pub kind: SchemaKind,
    pub labels: Vec<String>,
    /// How many distinct annotators answer each task.
    #[serde(default = "default_overlap")]
    pub overlap: u32,
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

/// Why a schema or an answer does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("a classification schema needs at least two labels")]
    TooFewLabels,
    #[error("label {0:?} is listed twice")]
    DuplicateLabel(String),
    #[error("labels must not be empty or only whitespace")]
    EmptyLabel,
    #[error("overlap must be between 1 and {max}, got {got}")]
    Overlap { got: u32, max: u32 },
    #[error("offline_quota must be between 1 and {max}, got {got}")]
    OfflineQuota { got: u32, max: u32 },
    #[error("{0:?} is not one of the project's labels")]
    UnknownLabel(String),
    #[error("an answer needs at least one label")]
    NoLabel,
    #[error("this project takes one label per answer, got {0}")]
    TooManyLabels(usize),
}

/// The largest overlap a project may ask for.
pub const MAX_OVERLAP: u32 = 100;

impl LabelSchema {
    /// Parses and validates a schema from JSON text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let schema: LabelSchema = serde_json::from_str(text).map_err(|e| e.to_string())?;
        schema.validate().map_err(|e| e.to_string())?;
        Ok(schema)
    }

    /// Checks the schema's own rules.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if self.labels.len() < 2 {
            return Err(SchemaError::TooFewLabels);
        }
        for (i, label) in self.labels.iter().enumerate() {
            if label.trim().is_empty() {
                return Err(SchemaError::EmptyLabel);
            }
            if self.labels[..i].contains(label) {
                return Err(SchemaError::DuplicateLabel(label.clone()));
            }
        }
        if self.overlap == 0 || self.overlap > MAX_OVERLAP {
            return Err(SchemaError::Overlap {
                got: self.overlap,
                max: MAX_OVERLAP,
            });
        }
        if self.offline_quota == 0 || self.offline_quota > MAX_OFFLINE_QUOTA {
            return Err(SchemaError::OfflineQuota {
                got: self.offline_quota,
                max: MAX_OFFLINE_QUOTA,
            });
        }
        Ok(())
    }

    /// Position of a label in the schema's list, which is also the tie-break order.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }

    /// Checks that an answer's labels fit this schema.
    pub fn check_answer(&self, labels: &[String]) -> Result<(), SchemaError> {
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
mod tests {
    use super::*;

    #[test]
    fn the_documented_minimal_schema_is_accepted() {
        let s = LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3}"#,
        )
        .expect("valid schema");
        assert_eq!(s.labels.len(), 3);
        assert_eq!(s.overlap, 3);
        assert!(!s.multiple);
    }

    #[test]
    fn overlap_defaults_to_three() {
        let s = LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#)
            .expect("valid");
        assert_eq!(s.overlap, 3);
    }

    #[test]
    fn bad_schemas_are_rejected_with_a_reason() {
        let cases = [
            (r#"{"kind":"classification","labels":["a"]}"#, "two labels"),
            (r#"{"kind":"classification","labels":["a","a"]}"#, "twice"),
            (r#"{"kind":"classification","labels":["a"," "]}"#, "empty"),
            (
                r#"{"kind":"classification","labels":["a","b"],"overlap":0}"#,
                "overlap",
            ),
            (
                r#"{"kind":"classification","labels":["a","b"],"offline_quota":0}"#,
                "offline_quota",
            ),
            (
                r#"{"kind":"classification","labels":["a","b"],"colour":1}"#,
                "unknown field",
            ),
            (r#"{"kind":"boxes","labels":["a","b"]}"#, "unknown variant"),
        ];
        for (json, needle) in cases {
            let err = LabelSchema::from_json(json).expect_err(json);
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn answers_are_checked_against_the_schema() {
        let mut s = LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#)
            .expect("valid");
        assert_eq!(s.check_answer(&["a".into()]), Ok(()));
        assert_eq!(s.check_answer(&[]), Err(SchemaError::NoLabel));
        assert_eq!(
            s.check_answer(&["c".into()]),
            Err(SchemaError::UnknownLabel("c".into()))
        );
        assert_eq!(
            s.check_answer(&["a".into(), "b".into()]),
            Err(SchemaError::TooManyLabels(2))
        );
        s.multiple = true;
        assert_eq!(s.check_answer(&["a".into(), "b".into()]), Ok(()));
    }
}

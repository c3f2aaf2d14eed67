//! A re-fitted Dawid–Skene model as the per-answer consensus method: between re-fits, each
//! new answer updates its task's posterior with the annotators' fitted confusion matrices
//! (annotators the fit did not see get the crowd's average), in microseconds.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{Dataset, DawidSkene, DawidSkeneModel, Fit};
use crate::consensus::{Consensus, ConsensusMethod, MajorityVote, Vote};
use crate::schema::LabelSchema;

/// The fitted model with the names it was fitted on, ready to score a task's answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedConsensus {
    /// The model's labels, by its label index.
    labels: Vec<String>,
    /// Each annotator's worker index in the model.
    annotators: HashMap<i64, usize>,
    model: DawidSkeneModel,
    /// Annotators whose answers do not count (suspended when the fit was made).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    excluded: BTreeSet<i64>,
}

impl FittedConsensus {
    /// Fits `method` to `data`, whose worker names are annotator ids (others are left out
    /// of the lookup and count as unseen); returns the fit and the method.
    ///
    /// ```
    /// use tessera_core::aggregate::{Dataset, DawidSkene, FittedConsensus};
    /// use tessera_core::{ConsensusMethod, LabelSchema};
    /// let mut rows = Vec::new();
    /// let tasks: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    /// for (i, t) in tasks.iter().enumerate() {
    ///     let truth = if i % 2 == 0 { "a" } else { "b" };
    ///     rows.extend([(t.as_str(), "1", truth), (t.as_str(), "2", truth), (t.as_str(), "3", "a")]);
    /// }
    /// let data = Dataset::from_triples(rows).unwrap();
    /// let (_, fitted) = FittedConsensus::fit(&DawidSkene::auto(), &data);
    /// let schema = LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#).unwrap();
    /// // Annotator 3 says "a" to everything; annotator 1 says "b": "b" it is.
    /// let c = fitted.aggregate(&schema, &[(3, vec!["a".into()]), (1, vec!["b".into()])]).unwrap();
    /// assert_eq!(c.labels, ["b"]);
    /// ```
    pub fn fit(method: &DawidSkene, data: &Dataset) -> (Fit, FittedConsensus) {
        let (fit, model) = method.fit_model(data);
        let annotators = data
            .workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((w.parse::<i64>().ok()?, i)))
            .collect();
        let fitted = FittedConsensus {
            labels: data.labels.iter().map(str::to_owned).collect(),
            annotators,
            model,
            excluded: BTreeSet::new(),
        };
        (fit, fitted)
    }

    /// The same model, with the answers of `annotators` left out of every task's consensus
    /// (the caller fitted it without them).
    pub fn excluding(mut self, annotators: BTreeSet<i64>) -> Self {
        self.excluded = annotators;
        self
    }

    /// The annotators whose answers do not count.
    pub fn excluded(&self) -> &BTreeSet<i64> {
        &self.excluded
    }
}

impl ConsensusMethod for FittedConsensus {
    fn name(&self) -> &'static str {
        "dawid_skene_incremental"
    }

    /// Single-choice answers through the model; an answer with a label the fit never saw
    /// (or with several labels) leaves the model nothing to go on, and the task is counted
    /// by majority vote instead.
    fn counts(&self, annotator_id: i64) -> bool {
        !self.excluded.contains(&annotator_id)
    }

    /// Answers of excluded annotators are left out.
    fn aggregate(&self, schema: &LabelSchema, answers: &[Vote]) -> Option<Consensus> {
        let kept: Vec<Vote>;
        let answers = if answers.iter().any(|(a, _)| self.excluded.contains(a)) {
            kept = answers
                .iter()
                .filter(|(a, _)| self.counts(*a))
                .cloned()
                .collect();
            kept.as_slice()
        } else {
            answers
        };
        if answers.is_empty() {
            return None;
        }
        let mut task = self.model.new_task();
        for (annotator, labels) in answers {
            let label = match labels.as_slice() {
                [one] => self.labels.iter().position(|l| l == one),
                _ => None,
            };
            let Some(label) = label else {
                return MajorityVote.aggregate(schema, answers);
            };
            self.model
                .add_answer(&mut task, self.annotators.get(annotator).copied(), label);
        }
        let posterior = task.posterior();
        let best = task.label();
        Some(Consensus {
            labels: vec![self.labels[best].clone()],
            confidence: posterior[best],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_survives_json_and_unknown_labels_fall_back_to_the_vote() {
        let rows = [
            ("t1", "1", "a"),
            ("t1", "2", "a"),
            ("t2", "1", "b"),
            ("t2", "2", "b"),
        ];
        let data = Dataset::from_triples(rows).expect("data");
        let (_, fitted) = FittedConsensus::fit(&DawidSkene::auto(), &data);
        let json = serde_json::to_string(&fitted).expect("to JSON");
        let back: FittedConsensus = serde_json::from_str(&json).expect("from JSON");
        let schema = LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b","c"]}"#)
            .expect("schema");
        let votes = [(1, vec!["b".to_owned()]), (9, vec!["b".to_owned()])];
        assert_eq!(
            back.aggregate(&schema, &votes),
            fitted.aggregate(&schema, &votes)
        );
        assert_eq!(
            back.aggregate(&schema, &votes).map(|c| c.labels),
            Some(vec!["b".to_owned()])
        );
        // "c" was never answered in the fit: majority vote decides, ties to schema order.
        let unseen = [(1, vec!["c".to_owned()]), (2, vec!["a".to_owned()])];
        assert_eq!(
            back.aggregate(&schema, &unseen),
            MajorityVote.aggregate(&schema, &unseen)
        );
        assert_eq!(back.aggregate(&schema, &[]), None);
    }

    #[test]
    fn excluded_annotators_count_for_nothing_and_survive_json() {
        let rows = [
            ("t1", "1", "a"),
            ("t1", "2", "a"),
            ("t2", "1", "b"),
            ("t2", "2", "b"),
        ];
        let data = Dataset::from_triples(rows).expect("data");
        let (_, fitted) = FittedConsensus::fit(&DawidSkene::auto(), &data);
        let fitted = fitted.excluding(BTreeSet::from([2]));
        let back: FittedConsensus =
            serde_json::from_str(&serde_json::to_string(&fitted).expect("to JSON")).expect("back");
        let schema = LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#)
            .expect("schema");
        assert!(!back.counts(2) && back.counts(1) && back.counts(7));
        // Annotator 2 alone says "b": left out, annotator 1's "a" stands.
        let votes = [(1, vec!["a".to_owned()]), (2, vec!["b".to_owned()])];
        assert_eq!(
            back.aggregate(&schema, &votes).map(|c| c.labels),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(back.aggregate(&schema, &votes[1..]), None);
    }
}

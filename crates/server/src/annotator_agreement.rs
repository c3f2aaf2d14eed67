//! Each annotator against the consensus: how often their answer is the consensus label, and
//! their confusion matrix (the consensus label down, theirs across) — on tasks with at least
//! two answers, so that a lone answer agreeing with itself counts for nothing.

use std::collections::{BTreeMap, HashMap};

/// One annotator's record against the consensus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgainstConsensus {
    /// Answers compared (tasks with a consensus and two or more answers).
    pub compared: u64,
    /// Of those, the consensus label.
    pub agreed: u64,
    /// consensus label → their label → answers.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Per annotator, from current answers (task, annotator, label) and each task's consensus.
pub fn against_consensus(
    answers: &[(i64, i64, String)],
    consensus: &HashMap<i64, String>,
) -> HashMap<i64, AgainstConsensus> {
    let mut per_task: HashMap<i64, u32> = HashMap::new();
    for (task, _, _) in answers {
        *per_task.entry(*task).or_default() += 1;
    }
    let mut out: HashMap<i64, AgainstConsensus> = HashMap::new();
    for (task, annotator, label) in answers {
        let (Some(agreed_label), Some(&n)) = (consensus.get(task), per_task.get(task)) else {
            continue;
        };
        if n < 2 {
            continue;
        }
        let record = out.entry(*annotator).or_default();
        record.compared += 1;
        record.agreed += u64::from(label == agreed_label);
        *record
            .confusion
            .entry(agreed_label.clone())
            .or_default()
            .entry(label.clone())
            .or_default() += 1;
    }
    out
}

/// Tasks by consensus label.
pub fn label_counts(consensus: &HashMap<i64, String>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for label in consensus.values() {
        *counts.entry(label.clone()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_and_confusion_count_shared_tasks_only() {
        let a = |t: i64, w: i64, l: &str| (t, w, l.to_owned());
        let answers = [
            a(1, 7, "pos"),
            a(1, 8, "pos"),
            a(2, 7, "neg"),
            a(2, 8, "pos"),
            a(2, 9, "pos"),
            a(3, 7, "neg"), // a lone answer: not compared
        ];
        let consensus: HashMap<i64, String> = [(1, "pos"), (2, "pos"), (3, "neg")]
            .map(|(t, l)| (t, l.to_owned()))
            .into();
        let by = against_consensus(&answers, &consensus);
        let seven = &by[&7];
        assert_eq!((seven.compared, seven.agreed), (2, 1));
        assert_eq!(seven.confusion["pos"]["neg"], 1);
        assert_eq!(seven.confusion["pos"]["pos"], 1);
        assert_eq!((by[&8].compared, by[&8].agreed), (2, 2));
        let counts = label_counts(&consensus);
        assert_eq!((counts["pos"], counts["neg"]), (2, 1));
    }
}

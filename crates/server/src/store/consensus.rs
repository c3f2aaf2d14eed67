//! What consensus, gold scoring and review read from and write to the store.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{ExportRecord, ReviewRequest};
use tessera_core::{Consensus, ConsensusMethod, LabelSchema, Progress, Vote};

use super::*;
use crate::quality::TimedAnswer;

/// What re-fits, gold scoring, anomaly flags and reviews read and write.
#[async_trait]
pub trait ConsensusStore: Send + Sync {
    /// Answers on the project's gold tasks — of one annotator, or of all — sorted by
    /// annotator, task, newest revision first (see [`gold_tally`]).
    async fn gold_answers(
        &self,
        project_id: i64,
        annotator_id: Option<i64>,
    ) -> StoreResult<Vec<GoldAnswer>>;

    /// Every task's current counted answers (latest revision per annotator, skips excluded;
    /// the first label of each) and the gold tasks' known labels: what a re-fit reads.
    async fn consensus_inputs(&self, project_id: i64) -> StoreResult<ConsensusInputs>;

    /// Keeps a project's re-fitted consensus model (JSON of a `FittedConsensus`) under a new
    /// version; every replica scores the project's new answers with it from then on.
    async fn save_consensus_model(&self, project_id: i64, model: String) -> StoreResult<()>;

    /// Stores re-fitted consensus (cancelled tasks keep theirs; gold tasks stay complete).
    async fn write_consensus(
        &self,
        project_id: i64,
        updates: Vec<ConsensusUpdate>,
        method: &str,
    ) -> StoreResult<()>;

    /// Every first answer (lowest revision, skips excluded) of the project with its device
    /// time and first label, for the anomaly flags.
    async fn answer_times(&self, project_id: i64) -> StoreResult<Vec<TimedAnswer>>;

    /// Each annotator's answered (not skipped) tasks in the project and when their last
    /// answer arrived.
    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<AnswerCount>>;

    /// Keeps the gold record `(answered, correct)` at which `user_id`'s suspension from the
    /// project was lifted (replacing an earlier lift), by user `by` (`None`: an admin).
    async fn lift_suspension(
        &self,
        project_id: i64,
        user_id: i64,
        record: (u64, u64),
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Each lifted annotator's gold record at their last lift.
    async fn suspension_lifts(&self, project_id: i64) -> StoreResult<HashMap<i64, (u64, u64)>>;

    /// The first `limit` tasks waiting for a reviewer's verdict (still below the confidence
    /// target after the maximum overlap), oldest first, with every answer and the consensus.
    async fn review_queue(&self, project_id: i64, limit: u32) -> StoreResult<Vec<ExportRecord>>;

    /// Records a reviewer's verdict on a task of the project: its final label.
    async fn record_review(
        &self,
        project_id: i64,
        review: ReviewRequest,
        reviewer: &User,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// A project's answers as a re-fit reads them.
#[derive(Debug, Clone, Default)]
pub struct ConsensusInputs {
    /// (task, annotator, label), one per annotator and task.
    pub answers: Vec<(i64, i64, String)>,
    /// Gold tasks' known label.
    pub gold: std::collections::HashMap<i64, String>,
    /// Each task's current consensus label (the first), where it has one.
    pub consensus: std::collections::HashMap<i64, String>,
}

/// One task's re-fitted consensus and what it means for its assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusUpdate {
    pub task_id: i64,
    /// Empty: no consensus, as no answer counts any more (all were a suspended annotator's).
    pub labels: Vec<String>,
    /// Current answers (those left out of the consensus too).
    pub answers: u32,
    pub confidence: f64,
    pub complete: bool,
    pub wanted: u32,
    pub needs_review: bool,
}

/// Keeps the first row of each (task, annotator) of rows sorted by task, annotator, newest
/// revision first; drops skips; takes each answer's first label.
pub(crate) fn latest_answers(
    rows: impl IntoIterator<Item = (i64, i64, Vec<String>, bool)>,
) -> Vec<(i64, i64, String)> {
    let mut out = Vec::new();
    let mut last = None;
    for (task, annotator, labels, skipped) in rows {
        if last == Some((task, annotator)) {
            continue;
        }
        last = Some((task, annotator));
        if let (false, Some(label)) = (skipped, labels.into_iter().next()) {
            out.push((task, annotator, label));
        }
    }
    out
}

/// Keeps each (task, annotator)'s first row of rows sorted by task, annotator, lowest
/// revision first; drops skips.
pub(crate) fn first_answers(
    rows: impl IntoIterator<Item = (TimedAnswer, bool)>,
) -> Vec<TimedAnswer> {
    let mut out = Vec::new();
    let mut last = None;
    for (answer, skipped) in rows {
        let key = (answer.task_id, answer.annotator_id);
        if last == Some(key) {
            continue;
        }
        last = Some(key);
        if !skipped {
            out.push(answer);
        }
    }
    out
}

/// One stored answer (any revision) on a gold task.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldAnswer {
    pub annotator_id: i64,
    pub task_id: i64,
    pub gold: Vec<String>,
    pub labels: Vec<String>,
    pub skipped: bool,
}

/// Per annotator: (gold tasks answered, answered correctly), scoring each task's first
/// answer (its earliest revision that is not a skip): a gold answer, once scored, cannot be
/// revised — so revising answers one at a time and watching the score (or a suspension
/// lift) tells nothing. `answers` must be sorted by annotator, task, newest first.
pub fn gold_tally(answers: &[GoldAnswer]) -> std::collections::BTreeMap<i64, (u64, u64)> {
    let mut tally = std::collections::BTreeMap::new();
    // The oldest answer of each (annotator, task) group is the last of its rows.
    let mut first: Vec<&GoldAnswer> = Vec::new();
    for a in answers.iter().filter(|a| !a.skipped) {
        match first.last_mut() {
            Some(seen) if (seen.annotator_id, seen.task_id) == (a.annotator_id, a.task_id) => {
                *seen = a;
            }
            _ => first.push(a),
        }
    }
    for a in first {
        let (answered, correct) = tally.entry(a.annotator_id).or_insert((0, 0));
        *answered += 1;
        let (mut given, mut known) = (a.labels.clone(), a.gold.clone());
        given.sort_unstable();
        known.sort_unstable();
        *correct += u64::from(given == known);
    }
    tally
}

/// One annotator's work in a project.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerCount {
    pub annotator_id: i64,
    pub name: String,
    /// Tasks answered (skips excluded).
    pub answers: u64,
    /// When their last answer (or skip) arrived.
    pub last_answer_at: Option<DateTime<Utc>>,
}

/// A task's consensus and standing from its current answers.
pub(crate) struct Standing {
    pub consensus: Option<Consensus>,
    pub progress: Progress,
}

/// Where a task stands after `answers`, leaving out those `method` does not count (a
/// suspended annotator's, once a re-fit excluded them). The lease slots those answers hold
/// are added to what the task wants, so other annotators take their place.
pub(crate) fn standing(
    schema: &LabelSchema,
    method: &dyn ConsensusMethod,
    answers: &[Vote],
) -> Standing {
    let consensus = method.aggregate(schema, answers);
    let counted = answers.iter().filter(|(a, _)| method.counts(*a)).count() as u32;
    let progress = progress_leaving_out(
        schema,
        counted,
        consensus.as_ref().map(|c| c.confidence),
        answers.len() as u32 - counted,
    );
    Standing {
        consensus,
        progress,
    }
}

/// A task's progress with `counted` answers that count and `left_out` that do not (a
/// suspended annotator's): while it is open, it wants as many more as were left out, so
/// other annotators take their lease slots.
pub(crate) fn progress_leaving_out(
    schema: &LabelSchema,
    counted: u32,
    confidence: Option<f64>,
    left_out: u32,
) -> Progress {
    let mut progress = schema.progress(counted, confidence);
    if !progress.complete {
        progress.wanted = progress.wanted.saturating_add(left_out);
    }
    progress
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold(annotator_id: i64, task_id: i64, labels: &[&str], skipped: bool) -> GoldAnswer {
        GoldAnswer {
            annotator_id,
            task_id,
            gold: vec!["b".to_owned(), "a".to_owned()],
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            skipped,
        }
    }

    #[test]
    fn the_first_answer_counts_revisions_and_skips_do_not_and_label_order_does_not_matter() {
        let answers = [
            gold(1, 10, &["a"], false), // newest revision, wrong: too late to count
            gold(1, 10, &["a", "b"], false), // first answer: right, in another order
            gold(1, 11, &["b", "a"], false), // a revision made right: does not count
            gold(1, 11, &["a"], false), // first answer: wrong
            gold(1, 11, &[], true),     // a skip before it: not an answer
            gold(2, 10, &[], true),     // a skip: not an answer
            gold(2, 11, &["b", "a"], false),
        ];
        let tally = gold_tally(&answers);
        assert_eq!(tally.get(&1), Some(&(2, 1)));
        assert_eq!(tally.get(&2), Some(&(1, 1)));
    }
}

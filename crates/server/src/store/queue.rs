//! The queue: leases, pushed answers and each annotator's change feed.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{AnswerPush, ChangesPage, LeasedTask, PushResult};
use tessera_core::ConsensusMethod;

use super::*;

/// Leasing tasks, storing pushed answers, and the change feed a device syncs from.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// The annotator's unexpired leases in the project, topped up with new ones to `limit`.
    /// Held leases are extended, never shortened. The new ones come after them in random
    /// order, in the reply and in the change feed alike, so where gold sits says nothing (the
    /// device shows tasks in that order).
    async fn lease(&self, query: LeaseQuery) -> StoreResult<Vec<LeasedTask>>;

    /// Stores answers idempotently by id and updates each touched task's consensus: with the
    /// project's re-fitted model when it has one (see [`Store::save_consensus_model`]), else
    /// with `method`.
    async fn push_answers(
        &self,
        annotator: &User,
        answers: Vec<AnswerPush>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<Vec<PushResult>>;

    /// The annotator's change feed after `since`.
    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage>;
}

/// A lease request after the server applied its policy.
#[derive(Debug, Clone, Copy)]
pub struct LeaseQuery {
    pub project_id: i64,
    pub annotator_id: i64,
    pub limit: u32,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// How many of the new leases to fill from gold tasks the annotator never had (drawn by
    /// the handler at the project's gold rate).
    pub gold_slots: u32,
    /// An offline checkout: the leases are marked offline (the annotator's offline leases
    /// are handed out again first, so `limit` caps how many are held) and never shortened.
    pub offline: bool,
}

/// A push result refusing an answer for good, with the reason.
pub(crate) fn rejected(id: uuid::Uuid, code: &str, message: String) -> PushResult {
    PushResult {
        id,
        status: tessera_api::PushStatus::Rejected,
        error: Some(tessera_api::ErrorBody {
            code: code.to_owned(),
            message,
            line: None,
            column: None,
        }),
        other_device: false,
        task_cancelled: false,
    }
}

/// An answer as stored, to tell a retry of it from another answer reusing its id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredAnswer {
    pub annotator_id: i64,
    pub task_id: i64,
    pub revision: i64,
    pub labels: Vec<String>,
    pub skipped: bool,
    pub unsure: bool,
    pub skip_reason: Option<String>,
}

/// The reply to a pushed answer whose id is already stored: a duplicate when it is the same
/// answer again (a retry), refused when the id is another annotator's or names different
/// content — never a duplicate that would drop the new content without a word.
pub(crate) fn repeated(
    stored: &StoredAnswer,
    annotator_id: i64,
    pushed: &AnswerPush,
) -> PushResult {
    if stored.annotator_id != annotator_id {
        return rejected(
            pushed.id,
            "answer_id_taken",
            "this answer id belongs to another annotator".to_owned(),
        );
    }
    if !same_content(stored, pushed) {
        return rejected(
            pushed.id,
            "answer_id_conflict",
            format!(
                "answer {} was stored before with other content (task {}, revision {}); a new \
                 answer needs a new id",
                pushed.id, stored.task_id, stored.revision
            ),
        );
    }
    PushResult {
        id: pushed.id,
        status: tessera_api::PushStatus::Duplicate,
        error: None,
        other_device: false,
        task_cancelled: false,
    }
}

/// Whether `pushed` says what `stored` says (the device time aside: it is the same moment
/// however finely a client wrote it).
fn same_content(stored: &StoredAnswer, pushed: &AnswerPush) -> bool {
    stored.task_id == pushed.task_id
        && stored.revision == i64::from(pushed.revision)
        && stored.labels == pushed.labels
        && stored.skipped == pushed.skipped
        && stored.unsure == pushed.unsure
        && stored.skip_reason == pushed.skip_reason
}

impl StoredAnswer {
    /// The answer `pushed` would store for `annotator_id`.
    pub(crate) fn of(annotator_id: i64, pushed: &AnswerPush) -> Self {
        Self {
            annotator_id,
            task_id: pushed.task_id,
            revision: i64::from(pushed.revision),
            labels: pushed.labels.clone(),
            skipped: pushed.skipped,
            unsure: pushed.unsure,
            skip_reason: pushed.skip_reason.clone(),
        }
    }
}

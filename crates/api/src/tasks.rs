//! The requester's task browser: a filtered, paged list of a project's tasks, one task in
//! full, and what a requester may do to selected tasks.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ExportRecord;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// Wants more answers.
    Open,
    /// Has the answers it wants.
    Complete,
    /// Waiting for a reviewer's verdict.
    NeedsReview,
    /// Open, leased to no one, and no annotator who may work on the project can take it:
    /// each answered or skipped it, or is suspended.
    Stuck,
    /// A gold task (its answer is known).
    Gold,
    /// Withdrawn by the requester.
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
            Self::NeedsReview => "needs-review",
            Self::Stuck => "stuck",
            Self::Gold => "gold",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Open,
            Self::Complete,
            Self::NeedsReview,
            Self::Stuck,
            Self::Gold,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// The task browser's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TaskOrder {
    /// Upload order.
    #[default]
    Upload,
    /// Lowest consensus confidence first (tasks with a consensus only): the most disputed.
    Confidence,
}

/// `GET /api/projects/{id}/tasks`: which tasks, in which order, from where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    pub status: Option<TaskStatus>,
    /// Tasks whose consensus confidence is at most this.
    pub max_confidence: Option<f64>,
    /// Tasks whose consensus holds this label.
    pub label: Option<String>,
    /// Tasks this user (id) answered.
    pub annotator: Option<i64>,
    /// Tasks of this batch.
    pub batch: Option<i64>,
    /// Tasks whose string values hold every word of this text: whole words, the last also
    /// as the start of one, as typed so far (case-insensitive, accents kept). Text with no
    /// letter or digit in it is looked for as it is.
    pub search: Option<String>,
    pub order: Option<TaskOrder>,
    /// Tasks a page: 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// Where the page starts: an earlier page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One task as the browser lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskSummary {
    pub task_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub batch_id: i64,
    pub status: TaskStatus,
    /// The start of the task's text (or its data, as JSON), at most 160 characters.
    pub preview: String,
    /// The consensus labels, if there is a consensus.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consensus: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Answers that count.
    pub answers: u32,
    /// Leased before tasks of lower priority.
    pub priority: i32,
}

/// A page of the task browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<TaskSummary>,
    /// Pass as `cursor` for the next page; absent after the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /api/projects/{id}/tasks/{task_id}`: one task in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskDetail {
    pub status: TaskStatus,
    pub batch_id: i64,
    pub priority: i32,
    /// Why no one can take it, when it is stuck, and what would free it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_because: Option<String>,
    /// The task as the export has it: data, predictions, every answer with its annotator and
    /// time, the consensus and the review.
    pub record: ExportRecord,
}

/// `POST /api/projects/{id}/tasks/review`: send tasks to the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdsRequest {
    pub task_ids: Vec<i64>,
}

/// `POST /api/projects/{id}/tasks/priority`: lease tasks before (or after) others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPriorityRequest {
    pub task_ids: Vec<i64>,
    pub priority: i32,
}

/// What a change to selected tasks did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TasksChanged {
    /// Tasks changed (cancelled and gold tasks are left as they are).
    pub changed: u64,
}

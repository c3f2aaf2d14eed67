//! HTTP request and response bodies of the queue server's `/api`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_core::{LabelSchema, Prediction};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every error response carries this body: a stable machine `code` and a human `message`.
/// Upload errors also name the offending `line` (and `column` when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Requester,
    Annotator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Requester => "requester",
            Role::Annotator => "annotator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "requester" => Some(Role::Requester),
            "annotator" => Some(Role::Annotator),
            _ => None,
        }
    }
}

/// `GET /api/me`: who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
}

/// `POST /api/tokens` (admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub role: Role,
    /// Projects the token works in, and nowhere else (the holder is invited into each, as
    /// `project_role`). Needs the annotator role. A requester must name projects they run;
    /// an admin may name none, for a token of the role everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<i64>,
    /// annotator (the default) or reviewer, in each of `projects`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_role: Option<ProjectRole>,
}

/// The new token, shown only once; the server keeps only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTokenResponse {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub token: String,
}

/// A token's holder as the admin lists them (`GET /api/tokens`); the token itself is never
/// shown again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// When the token was revoked; it no longer signs anyone in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the token last signed in (to within a minute); never, if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The projects the holder is a member of (of those the caller runs, for a requester).
    #[serde(default)]
    pub projects: Vec<i64>,
    /// Invited into projects by a requester: works in those projects only.
    #[serde(default)]
    pub invited: bool,
}

/// `POST /api/projects` (admin, requester).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub schema: LabelSchema,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub schema: LabelSchema,
    pub created_at: DateTime<Utc>,
    /// When its requester archived it: out of annotators' sight and queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
}

/// `PATCH /api/projects/{id}` (the project's requesters): a new name, a new schema, or both.
/// A schema change that would leave stored work meaning nothing is refused with the reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<LabelSchema>,
}

/// `DELETE /api/projects/{id}?confirm=true`: what went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectDeleted {
    pub project_id: i64,
    pub tasks: u64,
    pub answers: u64,
}

/// `POST /api/projects/{id}/batches`: the body is the file itself (JSONL, JSON or CSV, by
/// `Content-Type`); the answer says what was stored, and what was kept without refusing it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    pub batch_id: i64,
    pub tasks_added: usize,
    /// Answers made in another tool that came with the tasks (Label Studio annotations and
    /// the like), stored as answers of imported annotators named after their source.
    #[serde(default)]
    pub answers_added: usize,
    /// Keys only another tool's bookkeeping needs, ignored: how many times each was met.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ignored_keys: BTreeMap<String, u64>,
    /// Boxes a little past the image's edge, cut at the edge.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clamped_boxes: u64,
    /// Imported answers that chose nothing where a choice is needed, kept as skips.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_answers: u64,
    /// What a lenient upload (`?lenient=true`) left out, each with its line and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOutItem>,
}

/// `POST /api/projects/{id}/answers/import`: what was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportAnswersResponse {
    pub answers_added: usize,
}

/// One item a lenient upload left out: a region, an imported answer or a prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeftOutItem {
    pub line: usize,
    /// Where in the task: `annotations[0]`, `predictions[1]`, `result[2]`.
    pub item: String,
    pub reason: String,
}

impl From<tessera_core::LeftOut> for LeftOutItem {
    fn from(l: tessera_core::LeftOut) -> Self {
        Self {
            line: l.line,
            item: l.item,
            reason: l.reason,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One batch of a project (`GET /api/projects/{id}/batches`). The lease queue serves open
/// tasks of higher-priority batches first, then those closest to completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct Batch {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub task_count: i64,
    /// Higher first; 0 unless the requester set one.
    pub priority: i32,
    pub created_at: DateTime<Utc>,
    /// Its tasks that have the answers they want (gold apart).
    #[serde(default)]
    #[ts(type = "number")]
    pub complete: i64,
    /// Its gold tasks.
    #[serde(default)]
    #[ts(type = "number")]
    pub gold: i64,
}

/// `PATCH /api/projects/{id}/batches/{batch_id}` (requester): the batch's new priority.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUpdate {
    pub priority: i32,
}

/// `POST /api/projects/{id}/leases` (annotator): lease up to `limit` tasks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// How many tasks to hold (those already held count).
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: u32,
    /// Lease length; the server clamps it to its own bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
    /// Checkout for offline work: the longer offline lease, and at most the project's
    /// `offline_quota` tasks held at once. Offline leases hold their overlap slots like any
    /// other, so the tasks are not over-assigned while the device is away.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

/// A task leased to the calling annotator: what they need to answer it, and nothing else
/// (never gold answers, never other annotators' answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeasedTask {
    pub task_id: i64,
    pub project_id: i64,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseResponse {
    pub project: Project,
    pub tasks: Vec<LeasedTask>,
}

/// One answer (or skip) as the device recorded it. `id` is a UUIDv7 made on the device, so a
/// push can be retried any number of times; `revision` grows when the annotator revises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerPush {
    pub id: Uuid,
    pub task_id: i64,
    pub revision: u32,
    pub labels: Vec<String>,
    #[serde(default)]
    pub skipped: bool,
    /// The annotator was unsure of this answer: the task goes to review once complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsure: bool,
    /// Why the task was skipped (with `skipped` only), e.g. "unclear", "broken".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// The device's clock, kept as data; the server orders answers by its own sequence.
    pub answered_at: DateTime<Utc>,
    /// The device that recorded it (made once per local store), so the server can tell
    /// one annotator's two devices apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
    /// What the annotator did with the machine's prediction shown beside the task, if one
    /// was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_verdict: Option<PredictionVerdict>,
    /// Which prediction that was: its model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_model: Option<String>,
}

/// What an annotator did with the prediction shown beside a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionVerdict {
    /// Took it as the answer.
    Accepted,
    /// Said it was wrong and answered by hand.
    Rejected,
    /// Started from it and changed it.
    Corrected,
}

impl PredictionVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Corrected => "corrected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Accepted, Self::Rejected, Self::Corrected]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// As stored: 1, 2, 3.
    pub fn code(self) -> i16 {
        match self {
            Self::Accepted => 1,
            Self::Rejected => 2,
            Self::Corrected => 3,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        [Self::Accepted, Self::Rejected, Self::Corrected]
            .into_iter()
            .find(|v| v.code() == code)
    }
}

/// `POST /api/answers` (annotator).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushAnswersRequest {
    #[schema(max_items = 1000)]
    pub answers: Vec<AnswerPush>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Stored now.
    Accepted,
    /// Already stored by an earlier push: nothing changed.
    Duplicate,
    /// Will never be stored (see `error`); the device should stop retrying it.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushResult {
    pub id: Uuid,
    pub status: PushStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Accepted, but the annotator's other device had already answered this task at the same
    /// or a later revision (two devices answered one lease without seeing each other). The
    /// latest revision still counts once; the clash is reported, here and in the project's
    /// status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub other_device: bool,
    /// Accepted and stored, but the requester cancelled the task before it arrived: the answer
    /// is kept and reported in the export, and does not count towards the consensus.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub task_cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushAnswersResponse {
    pub results: Vec<PushResult>,
}

/// One entry of an annotator's change feed, in server sequence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A task was leased to this annotator (possibly from another device).
    Lease { seq: i64, task: LeasedTask },
    /// An answer of this annotator's was stored (possibly from another device).
    Answer {
        seq: i64,
        task_id: i64,
        answer_id: Uuid,
        revision: u32,
        labels: Vec<String>,
        skipped: bool,
    },
    /// The requester cancelled a task this annotator holds: drop it unless already answered.
    Cancel { seq: i64, task_id: i64 },
}

impl Change {
    pub fn seq(&self) -> i64 {
        match self {
            Change::Lease { seq, .. } | Change::Answer { seq, .. } | Change::Cancel { seq, .. } => {
                *seq
            }
        }
    }
}

/// `POST /api/projects/{id}/tasks/cancel` (requester): withdraw tasks, named by server id or
/// by the requester's own id from the upload. Unknown ids fail the whole request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelTasksRequest {
    #[serde(default)]
    pub task_ids: Vec<i64>,
    #[serde(default)]
    pub external_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CancelTasksResponse {
    /// Tasks cancelled by this request.
    pub cancelled: u64,
    /// Tasks that were already cancelled (cancelling is idempotent).
    pub already_cancelled: u64,
}

/// `GET /api/changes?since=CURSOR&limit=N` (annotator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangesPage {
    pub changes: Vec<Change>,
    /// Pass as `since` for the next page.
    pub cursor: i64,
    pub has_more: bool,
}

/// `GET /api/projects/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectStatus {
    pub project_id: i64,
    /// Tasks, gold apart.
    pub tasks: u64,
    /// Current answers: the latest revision from each annotator, skips excluded (gold too).
    pub answers: u64,
    /// Tasks (gold apart) with the answers they want.
    pub complete: u64,
    /// Gold tasks (their answer is known: complete from the start).
    #[serde(default)]
    pub gold_tasks: u64,
    /// Open tasks no one can take: leased to no one, and every annotator who may work on the
    /// project answered or skipped them (at most 10,000 counted).
    #[serde(default)]
    pub stuck: u64,
    /// Why they are stuck, and what frees them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_because: Option<String>,
    /// Leases that have not expired and are not answered yet.
    pub leased: u64,
    pub annotators: u64,
    /// Answers that clashed with the same annotator's answer from another device.
    #[serde(default)]
    pub device_conflicts: u64,
    /// Tasks the requester cancelled.
    #[serde(default)]
    pub cancelled: u64,
    /// Answers that arrived after their task was cancelled: stored, not counted.
    #[serde(default)]
    pub uncounted_answers: u64,
    /// Tasks waiting in the review queue.
    #[serde(default)]
    pub needs_review: u64,
    /// Tasks with a reviewer's verdict.
    #[serde(default)]
    pub reviewed: u64,
    /// Skips, by the reason the annotator gave ("" for none).
    #[serde(default)]
    pub skips_by_reason: std::collections::BTreeMap<String, u64>,
    /// Tasks with a consensus, by the method that made it: `auto` (the last re-fit),
    /// `dawid_skene_incremental` (an answer folded into the re-fitted model) or
    /// `majority_vote`.
    #[serde(default)]
    pub consensus_by_method: std::collections::BTreeMap<String, u64>,
}

/// One annotator's current answer to a task, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportAnswer {
    pub annotator: String,
    pub labels: Vec<String>,
    pub revision: u32,
    pub answered_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// The annotator flagged it as unsure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsure: bool,
    /// What they did with the prediction shown beside the task, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_verdict: Option<PredictionVerdict>,
    /// Which prediction that was: its model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_model: Option<String>,
}

/// An annotator's skip of a task (their latest word on it), with the reason they gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportSkip {
    pub annotator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub skipped_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportConsensus {
    /// The first (for single choice: the only) consensus label.
    pub label: Option<String>,
    pub labels: Vec<String>,
    pub confidence: f64,
    pub method: String,
}

/// `GET /api/projects/{id}/export`: one JSON object per line, one line per task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportRecord {
    pub task_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// The task's other predictions, when its upload held more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_predictions: Vec<Prediction>,
    /// The source's own notes on the task (`meta`), as uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Map<String, Value>>,
    /// The task image's width and height in pixels, when its upload gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[u32; 2]>,
    pub answers: Vec<ExportAnswer>,
    /// Annotators whose latest word on the task is a skip, with their reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skips: Vec<ExportSkip>,
    /// Each annotator's earlier revisions of their answer (not skips), oldest first: with
    /// `answers`, every revision, so a project moves whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_answers: Vec<ExportAnswer>,
    pub consensus: Option<ExportConsensus>,
    pub complete: bool,
    /// When the requester cancelled the task; its consensus is what it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Answers that arrived after the task was cancelled (latest revision per annotator):
    /// kept for the record, not counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncounted_answers: Vec<ExportAnswer>,
    /// Still below the project's confidence target after its maximum overlap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_review: bool,
    /// A reviewer's verdict: the task's final label, with the crowd consensus kept beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ExportReview>,
    /// The known answer of a gold task (requesters only; never sent to annotators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<Vec<String>>,
}

/// `GET /api/projects/{id}/stats` (requester): what the dashboard charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct ProjectStats {
    /// Answers given in each hour (annotators' clocks, first revisions), oldest first: every
    /// hour from the first answer to the last, at most the last week of them.
    pub answers_per_hour: Vec<HourCount>,
    /// Tasks holding all the answers first asked of them (`min_overlap`, else `overlap`) by
    /// the end of each hour of `answers_per_hour`.
    pub complete_by_hour: Vec<HourCount>,
    /// How long answers take: seconds between an annotator's consecutive answers (breaks
    /// over ten minutes left out), counted per bucket.
    pub seconds_per_answer: Vec<SecondsBucket>,
    pub median_seconds: Option<f64>,
    /// Krippendorff's α (nominal) over tasks with two or more answers; absent for
    /// multiple-choice and free-text projects, or before any task has two answers.
    pub krippendorff_alpha: Option<f64>,
    pub percent_agreement: Option<f64>,
    /// Tasks the agreement figures cover.
    #[ts(type = "number")]
    pub agreement_tasks: u64,
    /// Tasks (gold apart) by consensus label.
    #[serde(default)]
    #[ts(type = "Record<string, number>")]
    pub label_counts: BTreeMap<String, u64>,
    /// When the open tasks will be done at the pace of the last day's work.
    #[serde(default)]
    pub forecast: Option<Forecast>,
    /// The charts' time series, in buckets sized to the project's span of work.
    #[serde(default)]
    pub timeline: Timeline,
    /// The built-in model's training runs, oldest first, each with its accuracy on tasks it
    /// had not trained on (a project with `"model": "builtin"`).
    #[serde(default)]
    pub model_runs: Vec<crate::ModelRun>,
}

/// Answers, completion and agreement over time, in buckets of one size: a minute, five,
/// fifteen, an hour, six hours, a day or a week — the smallest that shows the whole span
/// of answers in at most 120 buckets (the last 120 weeks past that).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct Timeline {
    /// Each bucket's length in seconds.
    pub bucket_seconds: u32,
    /// Oldest first, every bucket from the first answer to the last.
    pub buckets: Vec<TimelineBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct TimelineBucket {
    /// The bucket's start.
    pub start: DateTime<Utc>,
    /// Answers given in the bucket (annotators' clocks, first revisions).
    #[ts(type = "number")]
    pub answers: u64,
    /// The same answers by annotator id.
    #[ts(type = "Record<string, number>")]
    pub answers_by_annotator: BTreeMap<i64, u64>,
    /// Tasks holding all the answers first asked of them by the bucket's end.
    #[ts(type = "number")]
    pub complete: u64,
    /// Share of agreeing answer pairs on the tasks completed in the bucket (single-choice
    /// projects); none when no task completed in it.
    pub agreement: Option<f64>,
}

/// A completion forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct Forecast {
    /// Tasks still to complete (cancelled and gold apart).
    #[ts(type = "number")]
    pub tasks_left: u64,
    /// Tasks completed per hour over the last 24 hours of work.
    pub per_hour: f64,
    /// When the last open task will be complete at that pace; none while nothing completes.
    pub done_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct HourCount {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    #[ts(type = "number")]
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct SecondsBucket {
    /// Answers that took more than the previous bucket's bound and at most this many seconds.
    pub up_to_seconds: f64,
    #[ts(type = "number")]
    pub answers: u64,
}

/// `POST /api/projects/{id}/consensus/refit` (requester): what a re-fit did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefitResponse {
    /// Tasks whose consensus was re-fitted.
    pub tasks: usize,
    pub method: String,
    pub seconds: f64,
}

/// `GET /api/projects/{id}/annotators` (requester): each annotator's skill on gold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct AnnotatorSkill {
    #[ts(type = "number")]
    pub annotator_id: i64,
    pub annotator: String,
    /// When their last answer or skip in the project arrived.
    #[serde(default)]
    pub last_answer_at: Option<DateTime<Utc>>,
    /// Tasks answered (skips excluded), gold included.
    #[ts(type = "number")]
    pub answers: u64,
    #[ts(type = "number")]
    pub gold_answers: u64,
    #[ts(type = "number")]
    pub gold_correct: u64,
    /// `gold_correct / gold_answers`, once there is a gold answer.
    pub gold_accuracy: Option<f64>,
    /// The accuracy the gold record answered since any lift of a suspension is, with 95%
    /// confidence, below (Wilson score bound).
    #[serde(default)]
    pub gold_accuracy_upper: Option<f64>,
    /// `gold_accuracy_upper` below the project's `suspend_below` after `gold_min_answers` gold
    /// answers: leases are refused, and the answers are left out of the consensus at the next
    /// re-fit unless the project's `suspended_answers` is `weigh`.
    pub suspended: bool,
    /// Median seconds between consecutive answers (device clock; breaks excluded).
    pub median_seconds: Option<f64>,
    /// Share of the annotator's answers carrying their most common label.
    pub top_label_share: Option<f64>,
    /// Share of their answers that are the task's consensus label, on tasks with a
    /// consensus and two or more answers (single-choice projects).
    #[serde(default)]
    pub agreement: Option<f64>,
    /// The answers `agreement` compares.
    #[serde(default)]
    #[ts(type = "number")]
    pub agreement_answers: u64,
    /// Their confusion matrix against the consensus: consensus label → their label → answers.
    #[serde(default)]
    #[ts(type = "Record<string, Record<string, number>>")]
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Anomalies for the requester to look at: `fast` (median time under a third of the
    /// project's), `one_label` (95% or more of 20+ answers alike).
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportReview {
    pub labels: Vec<String>,
    pub reviewer: String,
    pub reviewed_at: DateTime<Utc>,
}

/// A project role given by membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    /// May lease the project's tasks once the project has members.
    Annotator,
    /// May read the review queue and give verdicts (and lease, like an annotator).
    Reviewer,
    /// Runs the project (with a requester token): uploads, members, status, stats, review,
    /// exports. A requester creating a project becomes its first; other requesters cannot
    /// see it. Does not close the project to annotators.
    Requester,
}

impl ProjectRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Annotator => "annotator",
            ProjectRole::Reviewer => "reviewer",
            ProjectRole::Requester => "requester",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "annotator" => Some(ProjectRole::Annotator),
            "reviewer" => Some(ProjectRole::Reviewer),
            "requester" => Some(ProjectRole::Requester),
            _ => None,
        }
    }
}

/// `POST /api/projects/{id}/members` (one of the project's requesters): give a user a role in
/// the project. A project with annotator or reviewer members is closed to everyone else's
/// leases; requester members leave it open.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub user_id: i64,
    /// The user's name, as they were given it. Requesters must send it: an id alone would let
    /// them read every user's name off the member list. Admins may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: ProjectRole,
}

/// One member of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    pub role: ProjectRole,
}

/// `POST /api/projects/{id}/invites` (the project's requester): a new person with a token
/// that works on this project only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// 1 to 200 characters once trimmed.
    pub name: String,
    /// annotator or reviewer (a requester is an admin's to create).
    pub role: ProjectRole,
}

/// The invited person and their token, shown only once; the server keeps only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InviteResponse {
    pub user_id: i64,
    pub name: String,
    pub role: ProjectRole,
    pub token: String,
}

/// `POST /api/projects/{id}/review` (requester): a reviewer's verdict on one task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub task_id: i64,
    pub labels: Vec<String>,
}

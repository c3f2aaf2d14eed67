//! Types crossing the desktop app's IPC boundary (Tauri commands ⇄ TypeScript UI).
//!
//! The UI's `ui/src/bindings.ts` is generated from these with ts-rs; a test fails when the
//! committed file drifts (`UPDATE_BINDINGS=1 cargo test -p tessera-api` rewrites it).

use serde::{Deserialize, Serialize};
use tessera_core::SchemaKind;

use crate::{
    AnnotatorSkill, Batch, Forecast, HourCount, ProjectStats, SecondsBucket, Timeline,
    TimelineBucket,
};
use ts_rs::TS;

/// A project the signed-in annotator can work on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ProjectChoice {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
}

/// The signed-in session as the UI sees it (the token stays on the Rust side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SessionInfo {
    pub server: String,
    /// The signed-in person's user id on that server: whose local store is open.
    #[ts(type = "number")]
    pub user_id: i64,
    pub annotator: String,
    pub projects: Vec<ProjectChoice>,
    /// The project being worked on, once chosen.
    #[ts(type = "number | null")]
    pub project_id: Option<i64>,
    /// Signed in as a requester: the app shows the requester's dashboard.
    #[serde(default)]
    pub requester: bool,
}

/// The machine's suggestion, shown beside the task and marked as the machine's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PredictionView {
    pub labels: Vec<String>,
    pub score: Option<f64>,
    pub model_version: Option<String>,
}

/// The two items of a pairwise comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PairView {
    pub a: String,
    pub b: String,
}

/// One task ready to paint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TaskView {
    #[ts(type = "number")]
    pub task_id: i64,
    /// What kind of work the task is, from its project's schema: it picks the screen.
    pub kind: SchemaKind,
    /// The text to label, the prompt of a comparison, or the text to transcribe from.
    pub text: Option<String>,
    pub image: Option<String>,
    /// Pairwise tasks: the items to compare.
    pub pair: Option<PairView>,
    /// Choices, scale points or verdicts (empty for free text).
    pub labels: Vec<String>,
    pub multiple: bool,
    pub instructions: Option<String>,
    pub prediction: Option<PredictionView>,
    /// The annotator's current answer when the task is revisited for revision.
    pub answer: Option<Vec<String>>,
}

/// One annotator's answer, as a reviewer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ReviewAnswerView {
    pub annotator: String,
    pub labels: Vec<String>,
}

/// The crowd's merged answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ConsensusView {
    pub labels: Vec<String>,
    pub confidence: f64,
}

/// A task waiting for a reviewer's verdict: the task, every answer and the consensus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ReviewView {
    pub task: TaskView,
    pub answers: Vec<ReviewAnswerView>,
    pub consensus: Option<ConsensusView>,
}

/// A sync under way: answers pushed so far of those pending when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SyncProgress {
    pub pushed: u32,
    pub total: u32,
}

/// What the status bar shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SyncStatus {
    pub online: bool,
    /// Answers written locally and not yet acknowledged by the server.
    pub pending: u32,
    /// Leased tasks not yet answered on this device.
    pub remaining: u32,
    /// Answers made on this device today.
    pub done_today: u32,
    /// Typical seconds per task today (the median gap between answers, breaks left out).
    pub seconds_per_task: Option<f64>,
    pub last_error: Option<String>,
    /// Set while a sync with answers to push is under way.
    pub syncing: Option<SyncProgress>,
    /// Answers the server refused and that were not given again since.
    pub refused: u32,
    /// The server suspended this annotator from the chosen project: no new tasks come.
    pub suspended: bool,
}

/// An answer the server refused, as the annotator's list of them shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RefusedView {
    #[ts(type = "number")]
    pub task_id: i64,
    /// The task's text (or image address), to recognise it by.
    pub text: Option<String>,
    pub labels: Vec<String>,
    pub skipped: bool,
    /// The server's stable code, e.g. `invalid_answer`.
    pub code: String,
    pub reason: String,
    /// The task is back among the open ones: answering it again may be accepted.
    pub answer_again: bool,
}

/// An error as the UI receives it: a stable kind plus a human message (and, for a rejected
/// upload, where in the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct CommandError {
    pub kind: String,
    pub message: String,
    #[ts(type = "number | null")]
    pub line: Option<usize>,
    #[ts(type = "number | null")]
    pub column: Option<usize>,
}

/// One project on the requester's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ProjectSummary {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub kind: SchemaKind,
    #[ts(type = "number")]
    pub tasks: u64,
    #[ts(type = "number")]
    pub complete: u64,
    #[ts(type = "number")]
    pub answers: u64,
    #[ts(type = "number")]
    pub annotators: u64,
    #[ts(type = "number")]
    pub needs_review: u64,
    #[ts(type = "number")]
    pub cancelled: u64,
    /// Gold tasks, counted apart from `tasks`.
    #[ts(type = "number")]
    pub gold: u64,
    /// Open tasks no one can take, and why.
    #[ts(type = "number")]
    pub stuck: u64,
    pub stuck_because: Option<String>,
    /// Archived: out of annotators' sight and queue until restored.
    pub archived: bool,
}

/// One person on a project's People screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PersonView {
    #[ts(type = "number")]
    pub user_id: i64,
    pub name: String,
    /// annotator, reviewer or requester here; none for someone who answered without being a
    /// member (an open project) or was removed (their answers stay).
    pub role: Option<String>,
    /// Invited by a requester: the token works in that requester's projects only.
    pub invited: bool,
    pub revoked: bool,
    /// When the token last signed in (RFC 3339), if the caller may see it.
    pub last_used_at: Option<String>,
    /// When their last answer or skip here arrived (RFC 3339).
    pub last_answer_at: Option<String>,
    #[ts(type = "number")]
    pub answers: u64,
    pub suspended: bool,
}

/// A person just invited, with their token: shown once, never stored on the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct InviteView {
    #[ts(type = "number")]
    pub user_id: i64,
    pub name: String,
    pub role: String,
    pub token: String,
}

/// One project in detail: progress, the charts' figures and every annotator's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ProjectDashboard {
    pub summary: ProjectSummary,
    /// The label schema as JSON, as the requester wrote it.
    pub schema: String,
    /// The schema's labels, for the task browser's label filter.
    pub labels: Vec<String>,
    pub stats: ProjectStats,
    pub annotators: Vec<AnnotatorSkill>,
    /// The project's batches, oldest first, with their priorities.
    pub batches: Vec<Batch>,
    /// Skips by the reason given ("" for none).
    #[ts(type = "Record<string, number>")]
    pub skips_by_reason: std::collections::BTreeMap<String, u64>,
    /// Tasks with a consensus, by the method that made it.
    #[ts(type = "Record<string, number>")]
    pub consensus_by_method: std::collections::BTreeMap<String, u64>,
}

/// One task as the app's task browser lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TaskRowView {
    #[ts(type = "number")]
    pub task_id: i64,
    /// open, complete, needs-review, stuck, gold or cancelled.
    pub status: String,
    pub preview: String,
    pub consensus: Vec<String>,
    pub confidence: Option<f64>,
    pub answers: u32,
}

/// What the app's task browser narrows the tasks to, and in which order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct TaskFilterView {
    /// open, complete, needs-review, stuck, gold or cancelled; none for all.
    pub status: Option<String>,
    /// Words of the task's text (see the API's `search`).
    pub search: Option<String>,
    /// Tasks whose consensus holds this label.
    pub label: Option<String>,
    /// Tasks this user (id) answered.
    #[ts(type = "number | null")]
    pub annotator: Option<i64>,
    #[ts(type = "number | null")]
    pub batch: Option<i64>,
    /// Tasks whose consensus confidence is at most this (0–1).
    pub max_confidence: Option<f64>,
    /// Lowest confidence first (tasks with a consensus), else upload order.
    pub lowest_confidence_first: bool,
}

/// A page of the app's task browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TaskPageView {
    pub tasks: Vec<TaskRowView>,
    pub next_cursor: Option<String>,
}

/// One answer in the app's task view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TaskAnswerView {
    pub annotator: String,
    pub labels: Vec<String>,
    /// RFC 3339.
    pub answered_at: String,
    pub unsure: bool,
    /// accepted, corrected or rejected: what they did with the prediction.
    pub prediction_verdict: Option<String>,
}

/// One task in full, in the app's task browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TaskDetailView {
    #[ts(type = "number")]
    pub task_id: i64,
    pub status: String,
    pub stuck_because: Option<String>,
    /// The task's data as pretty JSON.
    pub data: String,
    pub prediction: Vec<String>,
    pub answers: Vec<TaskAnswerView>,
    /// Annotators who skipped it, with their reasons.
    pub skips: Vec<String>,
    pub consensus: Vec<String>,
    pub confidence: Option<f64>,
    pub review: Vec<String>,
}

/// What an upload added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct UploadReport {
    #[ts(type = "number")]
    pub batch_id: i64,
    #[ts(type = "number")]
    pub tasks_added: u64,
}

/// The TypeScript declarations of every IPC type, in a stable order.
pub fn typescript_bindings() -> String {
    let cfg = ts_rs::Config::default();
    let decls = [
        ProjectChoice::decl(&cfg),
        SessionInfo::decl(&cfg),
        PredictionView::decl(&cfg),
        SchemaKind::decl(&cfg),
        PairView::decl(&cfg),
        TaskView::decl(&cfg),
        ReviewAnswerView::decl(&cfg),
        ConsensusView::decl(&cfg),
        ReviewView::decl(&cfg),
        SyncProgress::decl(&cfg),
        SyncStatus::decl(&cfg),
        RefusedView::decl(&cfg),
        CommandError::decl(&cfg),
        ProjectSummary::decl(&cfg),
        PersonView::decl(&cfg),
        InviteView::decl(&cfg),
        HourCount::decl(&cfg),
        crate::ModelRun::decl(&cfg),
        crate::MlBackend::decl(&cfg),
        SecondsBucket::decl(&cfg),
        Forecast::decl(&cfg),
        Timeline::decl(&cfg),
        TimelineBucket::decl(&cfg),
        ProjectStats::decl(&cfg),
        AnnotatorSkill::decl(&cfg),
        Batch::decl(&cfg),
        ProjectDashboard::decl(&cfg),
        UploadReport::decl(&cfg),
        TaskFilterView::decl(&cfg),
        TaskRowView::decl(&cfg),
        TaskPageView::decl(&cfg),
        TaskAnswerView::decl(&cfg),
        TaskDetailView::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/api/src/desktop.rs by ts-rs. Do not edit: run\n// `UPDATE_BINDINGS=1 cargo test -p tessera-api` after changing the Rust types.\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn ui_bindings_match_the_rust_types() {
        // The checkout being tested: cargo sets CARGO_MANIFEST_DIR at run time too, and a test
        // binary from a cache built in another checkout must compare this one's file.
        let path = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
            .join("../../ui/src/bindings.ts");
        let fresh = typescript_bindings();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &fresh).expect("write bindings");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "ui/src/bindings.ts is out of date: run `UPDATE_BINDINGS=1 cargo test -p tessera-api`"
        );
    }
}

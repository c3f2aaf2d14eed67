//! Projects, their batches and tasks, as requesters upload, steer and export them.

use std::sync::Arc;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{
    Batch, CancelTasksRequest, CancelTasksResponse, ExportRecord, Project, ProjectStatus,
    UploadResponse,
};
use tessera_core::{ConsensusMethod, EncodedTask, ImportedAnswer, LabelSchema};

use super::*;

/// Projects, batches and their tasks.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates a project; `requester`, when given, becomes its first requester member in
    /// the same transaction.
    async fn create_project(
        &self,
        name: &str,
        schema: &LabelSchema,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Project>;

    /// The projects `who` may see, by id.
    async fn projects(&self, who: ProjectsOf) -> StoreResult<Vec<Project>>;

    async fn project(&self, id: i64) -> StoreResult<Project>;

    /// The key of the public task id cipher (see [`TaskIdCipher`]) and the last task id kept
    /// as it was: the stored key, or `fresh` when the database has none yet.
    async fn task_id_key(&self, fresh: [u8; 16]) -> StoreResult<([u8; 16], i64)>;

    /// Stores a whole batch in one transaction: all tasks or none, with the answers they
    /// bring from another tool (scored by `method`, as pushes are). Its tasks are leased
    /// before those of lower-`priority` batches.
    async fn insert_batch(
        &self,
        project_id: i64,
        tasks: Vec<EncodedTask>,
        priority: i32,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<UploadResponse>;

    /// Stores answers made elsewhere to the project's tasks, named by their external ids, as
    /// answers of imported annotators (see [`Store::insert_batch`]): all or none; an unknown
    /// id is `UnknownExternalId`. Returns how many were stored.
    async fn import_answers(
        &self,
        project_id: i64,
        answers: Vec<(String, ImportedAnswer)>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<usize>;

    /// The project's batches, oldest first.
    async fn batches(&self, project_id: i64) -> StoreResult<Vec<Batch>>;

    /// Sets a batch's priority (and its tasks'); `NotFound` when the project has no such
    /// batch.
    async fn set_batch_priority(
        &self,
        project_id: i64,
        batch_id: i64,
        priority: i32,
    ) -> StoreResult<Batch>;

    /// Withdraws tasks: they are leased no more, their consensus stays as it was, answers that
    /// arrive later are stored but not counted, and annotators holding one get a cancel change.
    async fn cancel_tasks(
        &self,
        project_id: i64,
        request: CancelTasksRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<CancelTasksResponse>;

    async fn status(&self, project_id: i64, now: DateTime<Utc>) -> StoreResult<ProjectStatus>;

    /// Up to `limit` tasks of the project's export in upload order, after `after` (0 to
    /// start, then an earlier page's `next`).
    async fn export_page(&self, project_id: i64, after: i64, limit: u32)
    -> StoreResult<ExportPage>;

    /// The project's whole export, page by page (an export that streams reads the pages
    /// itself).
    async fn export(&self, project_id: i64) -> StoreResult<Vec<ExportRecord>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.export_page(project_id, after, EXPORT_PAGE).await?;
            out.extend(page.records);
            match page.next {
                Some(next) => after = next,
                None => return Ok(out),
            }
        }
    }

    /// How the project uses its labels — what a schema edit must not invalidate.
    async fn label_usage(&self, project_id: i64) -> StoreResult<LabelUsage>;

    /// Replaces the project's name and schema (the caller checked the change).
    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        schema: &LabelSchema,
    ) -> StoreResult<Project>;

    /// Archives the project at `at`, or restores it (`None`).
    async fn archive_project(
        &self,
        project_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<Project>;

    /// Deletes the project with its batches, tasks, answers, leases and memberships, for
    /// good. Every annotator who holds or held one of its tasks hears it is withdrawn (their
    /// feed's earlier changes of its tasks become cancellations, so no device is left waiting
    /// for a task that is gone). Returns (tasks, answers) deleted.
    async fn delete_project(&self, project_id: i64) -> StoreResult<(u64, u64)>;
}

/// Tasks one export page holds: the records of an export in flight, whatever the project's
/// size.
pub const EXPORT_PAGE: u32 = 1_000;

/// One page of a project's export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub records: Vec<ExportRecord>,
    /// Where the next page starts (pass as `after`), or `None` after the last.
    pub next: Option<i64>,
}

impl ExportPage {
    /// A page of `records` (each with the database's id of its task) read with `limit`: a
    /// full page may have more after it.
    pub(crate) fn of(records: Vec<(i64, ExportRecord)>, limit: u32) -> Self {
        let next = (records.len() >= limit as usize)
            .then(|| records.last().map(|(id, _)| *id))
            .flatten();
        Self {
            records: records.into_iter().map(|(_, r)| r).collect(),
            next,
        }
    }
}

/// Whose projects to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectsOf {
    /// Every project (admins, the server's own jobs).
    Everyone,
    /// Those the user is a requester member of.
    Requester(i64),
    /// Those open to every annotator (no annotator or reviewer members) and those the user is
    /// a member of.
    Annotator(i64),
}

impl ProjectsOf {
    /// As SQL parameters: (0 everyone, 1 requester, 2 annotator; the user id or 0).
    pub(crate) fn params(self) -> (i32, i64) {
        match self {
            ProjectsOf::Everyone => (0, 0),
            ProjectsOf::Requester(id) => (1, id),
            ProjectsOf::Annotator(id) => (2, id),
        }
    }
}

/// The task id key as stored.
pub(crate) fn stored_key(key: &[u8]) -> StoreResult<[u8; 16]> {
    key.try_into().map_err(|_| {
        StoreError::Backend(format!("the task id key has {} bytes, not 16", key.len()))
    })
}

/// The error for a task id that names no task of the project.
pub(crate) fn unknown_task(project_id: i64, task_id: i64) -> StoreError {
    StoreError::UnknownTask {
        project_id,
        task_id,
    }
}

/// The error for a requester's own task id that names no task of the project.
pub(crate) fn unknown_external_id(project_id: i64, external_id: &str) -> StoreError {
    StoreError::NotFound(format!("task {external_id:?} in project {project_id}"))
}

/// The error for a batch id that names no batch of the project.
pub(crate) fn unknown_batch(project_id: i64, batch_id: i64) -> StoreError {
    StoreError::NotFound(format!("batch {batch_id} in project {project_id}"))
}

/// How a project uses its labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelUsage {
    /// Tasks of the project.
    pub tasks: u64,
    /// Each stored label string (as answers, gold, reviews, predictions and consensus hold
    /// it — for spans and boxes with the span or box) and how often it is held.
    pub labels: BTreeMap<String, u64>,
    /// Answers (any revision) holding more than one label.
    pub multi_label_answers: u64,
}

/// One counted answer as [`attach_skips`] reads it: (task, annotator, skipped, skip reason,
/// answered at).
pub(crate) type AnswerWord = (i64, i64, bool, Option<String>, DateTime<Utc>);

/// Attaches to `records` (a page, in task order) the skips among `latest`: each annotator's
/// counted answers to the tasks of the page, sorted by task and annotator, newest revision
/// first (the first of each is their latest word).
pub(crate) fn attach_skips(
    records: &mut [(i64, tessera_api::ExportRecord)],
    latest: Vec<AnswerWord>,
    name: impl Fn(i64) -> String,
) {
    let at: std::collections::HashMap<i64, usize> = records
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut last = None;
    for (task, annotator, skipped, reason, time) in latest {
        if last == Some((task, annotator)) {
            continue;
        }
        last = Some((task, annotator));
        if let (true, Some(&i)) = (skipped, at.get(&task)) {
            records[i].1.skips.push(tessera_api::ExportSkip {
                annotator: name(annotator),
                reason,
                skipped_at: time,
            });
        }
    }
}

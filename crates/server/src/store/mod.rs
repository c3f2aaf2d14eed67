//! The server's storage: one [`Store`] trait, chosen once at start-up from the database URL.
//!
//! Backends keep every rule that must hold under concurrency (never over-assign a task, never
//! store an answer twice) inside their own transactions.

mod postgres;
mod public_ids;
mod sqlite;
mod task_id_cipher;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use tessera_api::{
    AnswerPush, Batch, CancelTasksRequest, CancelTasksResponse, ChangesPage, ExportRecord,
    LeasedTask, Member, Project, ProjectRole, ProjectStatus, PushResult, ReviewRequest, Role,
    TokenInfo, UploadResponse,
};
use tessera_core::aggregate::FittedConsensus;
use tessera_core::{ConsensusMethod, EncodedTask, ImportedAnswer, LabelSchema};

use crate::quality::TimedAnswer;

pub use postgres::PostgresStore;
pub use public_ids::PublicIds;
pub use sqlite::SqliteStore;
pub use task_id_cipher::{MAX_TASK_ID, TaskIdCipher};

/// A token holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// An external id (the requester's own) that names no task of the project.
    #[error("task {external_id:?} in project {project_id} not found")]
    UnknownExternalId {
        project_id: i64,
        external_id: String,
    },
    /// A task id (as the request gave it: see [`PublicIds`]) that names no task of the project.
    #[error("task {task_id} in project {project_id} not found")]
    UnknownTask { project_id: i64, task_id: i64 },
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("unsupported database URL {0:?}: use postgres://…, sqlite://PATH or a file path")]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

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

#[async_trait]
pub trait Store: Send + Sync {
    async fn count_admins(&self) -> StoreResult<u64>;
    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User>;
    /// Confines a user to the projects they are members of (an invited person): projects open
    /// to every annotator are closed to them.
    async fn confine_user(&self, user_id: i64) -> StoreResult<()>;
    /// The holder of an unrevoked token.
    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>>;
    /// Every token holder, oldest first.
    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>>;
    /// Revokes user `id`'s token (again is a no-op); `NotFound` for no such user, `Conflict`
    /// for the last admin with a working token.
    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo>;

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

    /// Each annotator's number of answered (not skipped) tasks in the project: (id, name, n).
    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<(i64, String, u64)>>;

    /// Gives `user_id` `role` in the project (replacing an earlier role), as user `by` (`None`
    /// for an admin). Refused (`Conflict`) when it would leave the project with no requester,
    /// or take the project's creator off its requesters when `by` is someone else.
    /// `name`, when given, must be the user's: a wrong one is `NotFound` like a wrong id.
    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        name: Option<String>,
        role: ProjectRole,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Takes user `user_id` out of the project, as user `by` (`None` for an admin). Refused
    /// (`Conflict`) when it would leave the project with no requester, or take its creator
    /// out when `by` is someone else; `NotFound` when they are not a member.
    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()>;

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>>;

    /// Whether the project has annotator or reviewer members (is closed to other
    /// annotators), and the user's role in it.
    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)>;

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
}

/// One task's re-fitted consensus and what it means for its assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusUpdate {
    pub task_id: i64,
    pub labels: Vec<String>,
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

/// Opens the backend a database URL names: `postgres://…` / `postgresql://…`, or SQLite as
/// `sqlite://PATH`, `sqlite:PATH` or a plain path.
pub async fn open_store(url: &str) -> StoreResult<Box<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return public(Box::new(PostgresStore::connect(url).await?)).await;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.contains("://") {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    public(Box::new(SqliteStore::open(path)?)).await
}

/// `store`, speaking public task ids.
async fn public(store: Box<dyn Store>) -> StoreResult<Box<dyn Store>> {
    Ok(Box::new(PublicIds::new(store).await?))
}

/// The start of an imported annotator's token hash (see migration 0016): no SHA-256 hex
/// digest starts so, so no token signs in as them.
pub(crate) const IMPORTED: &str = "imported:";

/// A time a source recorded (RFC 3339, or Toloka's zoneless UTC), when it is one and lies
/// between 2000 and a day from `now`; else `now`.
pub(crate) fn imported_time(time: Option<&str>, now: DateTime<Utc>) -> DateTime<Utc> {
    time.and_then(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            // Toloka writes its times without a zone, in UTC.
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc())
            })
    })
    .filter(|t| t.year() >= 2000 && *t <= now + chrono::TimeDelta::days(1))
    .unwrap_or(now)
}

/// An answer a batch brought from another tool, as a push of its imported annotator. Its time
/// is the source's when the source recorded one (and it is a time), else `now`.
pub(crate) fn imported_push(
    task_id: i64,
    revision: u32,
    answer: &ImportedAnswer,
    now: DateTime<Utc>,
) -> AnswerPush {
    let answered_at = imported_time(answer.answered_at.as_deref(), now);
    AnswerPush {
        id: uuid::Uuid::now_v7(),
        task_id,
        revision,
        labels: answer.labels.clone(),
        skipped: answer.skipped,
        unsure: answer.unsure,
        skip_reason: None,
        answered_at,
        device_id: None,
    }
}

/// Answers named by their tasks' external ids, grouped by task (`ids` maps an external id
/// to its task); the first id `ids` lacks is `UnknownExternalId`.
pub(crate) fn answers_by_task(
    project_id: i64,
    answers: Vec<(String, ImportedAnswer)>,
    ids: &HashMap<String, i64>,
) -> StoreResult<Vec<(i64, Vec<ImportedAnswer>)>> {
    let mut at: HashMap<i64, usize> = HashMap::new();
    let mut out: Vec<(i64, Vec<ImportedAnswer>)> = Vec::new();
    for (external_id, answer) in answers {
        let Some(&task) = ids.get(&external_id) else {
            return Err(StoreError::UnknownExternalId {
                project_id,
                external_id,
            });
        };
        let slot = *at.entry(task).or_insert_with(|| {
            out.push((task, Vec::new()));
            out.len() - 1
        });
        out[slot].1.push(answer);
    }
    Ok(out)
}

/// The imported annotators a batch's answers name, each once, in order of first mention.
pub(crate) fn imported_names(imported: &[(i64, Vec<ImportedAnswer>)]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    imported
        .iter()
        .flat_map(|(_, answers)| answers)
        .filter(|a| seen.insert(a.annotator.as_str()))
        .map(|a| a.annotator.clone())
        .collect()
}

/// A batch's imported answers as each imported annotator's pushes (`people` holds them by
/// name, see [`imported_names`]; `stored` the latest revision each task and annotator already
/// holds): a further answer of one annotator to one task is their next revision.
pub(crate) fn imported_pushes(
    imported: &[(i64, Vec<ImportedAnswer>)],
    people: &HashMap<String, User>,
    stored: HashMap<(i64, i64), u32>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(User, Vec<AnswerPush>)>> {
    let mut pushes: HashMap<i64, (User, Vec<AnswerPush>)> = HashMap::new();
    // Numbered on from the revision each (task, annotator) already holds: an answer imported
    // again revises the stored one instead of repeating its revision.
    let mut revisions = stored;
    for (task_id, answers) in imported {
        for a in answers {
            let user = people
                .get(&a.annotator)
                .ok_or_else(|| StoreError::Backend(format!("no user for {:?}", a.annotator)))?;
            let revision = revisions.entry((*task_id, user.id)).or_default();
            *revision += 1;
            pushes
                .entry(user.id)
                .or_insert_with(|| (user.clone(), Vec::new()))
                .1
                .push(imported_push(*task_id, *revision, a, now));
        }
    }
    let mut out: Vec<_> = pushes.into_values().collect();
    out.sort_by_key(|(user, _)| user.id);
    Ok(out)
}

/// 1 for an imported answer stored; an answer the store refused fails the whole upload.
pub(crate) fn imported_stored(annotator: &User, result: PushResult) -> StoreResult<usize> {
    match (result.status, result.error) {
        (tessera_api::PushStatus::Accepted, _) => Ok(1),
        (_, error) => Err(StoreError::Conflict(format!(
            "an answer of {:?} could not be stored: {}",
            annotator.name,
            error.map_or_else(|| "stored twice".to_owned(), |e| e.message)
        ))),
    }
}

/// A user's role as stored.
pub(crate) fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown role {s:?} in database")))
}

/// A project membership's role as stored.
pub(crate) fn project_role(s: &str) -> StoreResult<ProjectRole> {
    ProjectRole::parse(s)
        .ok_or_else(|| StoreError::Backend(format!("unknown project role {s:?} in database")))
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

/// Revoking the last working admin token would leave no one able to make tokens.
pub(crate) fn last_admin() -> StoreError {
    StoreError::Conflict(
        "this is the last admin token that works: make another admin first".to_owned(),
    )
}

/// A membership change that would leave a project with no requester to run it.
pub(crate) fn last_requester(project_id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "this would leave project {project_id} with no requester: add another requester first"
    ))
}

/// The user is not a member of the project.
pub(crate) fn not_a_member(project_id: i64, user_id: i64) -> StoreError {
    StoreError::NotFound(format!("a member {user_id} of project {project_id}"))
}

/// No user of that id, or not of that name: the same words either way, so a wrong name tells
/// nothing about the id.
pub(crate) fn no_such_user(id: i64, name: Option<&str>) -> StoreError {
    match name {
        Some(name) => StoreError::NotFound(format!("a user {id} named {name:?}")),
        None => StoreError::NotFound(format!("user {id}")),
    }
}

/// A co-requester changing the role of the project's creator.
pub(crate) fn creator_only(project_id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "only the creator of project {project_id} (or an admin) can change the creator's role"
    ))
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

/// Timestamps are stored as fixed-width RFC 3339 UTC text so that they sort as strings.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Backend(format!("bad timestamp {s:?} in database: {e}")))
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

/// Projects this server has read, by id. A project row never changes and is never deleted
/// once created, so every replica may keep what it read: the lease path, which needs the
/// project on every request, then reads it once.
#[derive(Default)]
pub(crate) struct ProjectCache(std::sync::RwLock<HashMap<i64, Project>>);

impl ProjectCache {
    pub(crate) fn get(&self, id: i64) -> Option<Project> {
        let cache = self.0.read().unwrap_or_else(|e| e.into_inner());
        cache.get(&id).cloned()
    }

    /// Keeps `project` and hands it back.
    pub(crate) fn keep(&self, project: Project) -> Project {
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        cache.insert(project.id, project.clone());
        project
    }
}

/// Projects' re-fitted consensus models as this server last loaded them, by version: a push
/// reads the stored version (one indexed lookup) and parses the model only when it changed.
#[derive(Default)]
pub(crate) struct ModelCache(std::sync::Mutex<HashMap<i64, (i64, Arc<FittedConsensus>)>>);

impl ModelCache {
    /// The cached model of `project` when it is at `version`.
    pub(crate) fn get(&self, project: i64, version: i64) -> Option<Arc<FittedConsensus>> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&project)
            .filter(|(v, _)| *v == version)
            .map(|(_, m)| Arc::clone(m))
    }

    /// Parses and caches `project`'s model at `version`.
    pub(crate) fn load(
        &self,
        project: i64,
        version: i64,
        json: &str,
    ) -> StoreResult<Arc<FittedConsensus>> {
        let model: Arc<FittedConsensus> = Arc::new(serde_json::from_str(json).map_err(|e| {
            StoreError::Backend(format!("project {project}'s consensus model: {e}"))
        })?);
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(project, (version, Arc::clone(&model)));
        Ok(model)
    }
}

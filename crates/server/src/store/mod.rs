//! The server's storage: one [`Store`] (seven traits by concern), chosen once at start-up from
//! the database URL.
//!
//! Backends keep every rule that must hold under concurrency (never over-assign a task, never
//! store an answer twice) inside their own transactions.

mod cache;
mod consensus;
mod imported;
pub mod models;
mod people;
mod postgres;
mod projects;
mod public_ids;
mod queue;
mod sqlite;
mod task_id_cipher;
mod tasks;
mod webhooks;

use chrono::{DateTime, Utc};

pub(crate) use cache::{ModelCache, ProjectCache};
pub use consensus::{
    AnswerCount, ConsensusInputs, ConsensusStore, ConsensusUpdate, GoldAnswer, gold_tally,
};
pub(crate) use consensus::{first_answers, latest_answers, progress_leaving_out};
pub(crate) use imported::{
    IMPORTED, answers_by_task, imported_names, imported_pushes, imported_stored, imported_time,
};
pub use models::ModelStore;
pub use people::{PeopleStore, User};
pub(crate) use people::{
    creator_only, last_admin, last_requester, no_such_user, not_a_member, project_role, role_of,
};
pub use postgres::PostgresStore;
pub(crate) use projects::attach_skips;
pub use projects::{EXPORT_PAGE, ExportPage, LabelUsage, ProjectStore, ProjectsOf};
pub(crate) use projects::{stored_key, unknown_batch, unknown_external_id, unknown_task};
pub use public_ids::PublicIds;
pub use queue::{LeaseQuery, QueueStore};
pub(crate) use queue::{StoredAnswer, rejected, repeated};
pub use sqlite::SqliteStore;
pub use task_id_cipher::{MAX_TASK_ID, TaskIdCipher};
pub use tasks::{TaskFilter, TaskState, TaskStore};
pub(crate) use tasks::{search_words, searched_text};
pub use webhooks::{Attempt, DueDelivery, NewWebhook, WebhookStore};

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
    /// The database was migrated by a newer release: this one would misread it.
    #[error(
        "the database is at migration {found}, this release knows {known}: it was upgraded by a newer Tessera; run that release (there is no downgrade)"
    )]
    NewerSchema { found: i64, known: usize },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything a backend keeps, in seven parts: people, projects, the queue, consensus, the
/// requester's task browser, webhooks, and models.
pub trait Store:
    PeopleStore + ProjectStore + QueueStore + ConsensusStore + TaskStore + WebhookStore + ModelStore
{
}

impl<
    T: PeopleStore
        + ProjectStore
        + QueueStore
        + ConsensusStore
        + TaskStore
        + WebhookStore
        + ModelStore,
> Store for T
{
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

/// Timestamps are stored as fixed-width RFC 3339 UTC text so that they sort as strings.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Backend(format!("bad timestamp {s:?} in database: {e}")))
}

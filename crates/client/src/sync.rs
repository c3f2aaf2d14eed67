//! The sync engine: push the outbox, pull the change feed, top up leases — once
//! ([`sync_once`], [`checkout`]) or forever in the background with backoff ([`SyncEngine`]).
//!
//! Every step is idempotent: answers carry device-made ids (a re-push is a no-op on the
//! server) and the cursor only moves in the same local transaction that applies a page, so an
//! interruption at any point resumes without loss or duplication.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tessera_api::LeaseRequest;
use tokio::sync::{Notify, watch};

use crate::api::{ApiClient, ClientError};
use crate::local::{LocalError, LocalStore};

/// Answers per push request.
pub const PUSH_PAGE: u32 = 1000;
/// Changes per pull request.
pub const PULL_PAGE: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error(transparent)]
    Local(#[from] LocalError),
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Server(e) if e.is_transient())
    }

    /// The server suspended the annotator from the project (their quality fell below its bar).
    pub fn is_suspended(&self) -> bool {
        matches!(self, SyncError::Server(ClientError::Api { body, .. }) if body.code == "suspended")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pushed: usize,
    pub rejected: usize,
    pub pulled: usize,
}

/// Pushes every pending answer, then pulls the change feed to its end. `progress` is called
/// after each pushed page with (answers pushed so far, answers that were pending at the start).
pub async fn sync_once(
    api: &ApiClient,
    store: &LocalStore,
    mut progress: impl FnMut(usize, usize),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let total = store.counts(None, Utc::now())?.pending as usize;
    loop {
        let batch = store.pending(PUSH_PAGE)?;
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
        let response = api.push(batch).await?;
        store.mark_pushed(&response.results)?;
        report.rejected += response
            .results
            .iter()
            .filter(|r| r.status == tessera_api::PushStatus::Rejected)
            .count();
        report.pushed += n;
        progress(report.pushed, total.max(report.pushed));
    }
    loop {
        let since = store.cursor()?;
        let page = api.changes(since, PULL_PAGE).await?;
        for change in &page.changes {
            if let tessera_api::Change::Lease { task, .. } = change
                && !store.has_project(task.project_id)?
            {
                store.save_project(&api.project(task.project_id).await?)?;
            }
        }
        store.apply_changes(&page.changes, page.cursor, Utc::now())?;
        report.pulled += page.changes.len();
        if !page.has_more {
            break;
        }
    }
    Ok(report)
}

/// Leases up to `limit` tasks of `project` into the local store; returns how many are held.
pub async fn checkout(
    api: &ApiClient,
    store: &LocalStore,
    project: i64,
    limit: u32,
    ttl_seconds: Option<u32>,
) -> Result<usize, SyncError> {
    let request = LeaseRequest {
        limit,
        ttl_seconds,
        offline: false,
    };
    checkout_with(api, store, project, &request).await
}

/// Leases as `request` says (e.g. an offline checkout) into the local store; returns how many
/// are held.
pub async fn checkout_with(
    api: &ApiClient,
    store: &LocalStore,
    project: i64,
    request: &LeaseRequest,
) -> Result<usize, SyncError> {
    let response = api.lease_with(project, request).await?;
    store.save_project(&response.project)?;
    store.save_leases(&response.tasks, Utc::now())?;
    Ok(response.tasks.len())
}

/// What the background engine last saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineState {
    pub online: bool,
    pub last_error: Option<String>,
    /// While answers are being pushed: (pushed so far, pending when the sync started).
    pub progress: Option<(usize, usize)>,
    /// The server refused new tasks: the annotator is suspended from the project.
    pub suspended: bool,
}

/// Settings of the background engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The project whose leases are topped up, if any.
    pub project: Option<i64>,
    /// Keep at least this many open tasks on the device...
    pub low_water: u32,
    /// ...by leasing up to this many.
    pub lease_batch: u32,
    /// Pause between rounds while everything works.
    pub interval: Duration,
    /// Longest pause after repeated failures.
    pub max_backoff: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            project: None,
            low_water: 10,
            lease_batch: 25,
            interval: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A background loop that syncs on a timer, at once when [`SyncEngine::wake`] is called, and
/// backs off exponentially while the server is unreachable.
pub struct SyncEngine {
    wake: Arc<Notify>,
    state: watch::Receiver<EngineState>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncEngine {
    pub fn spawn(api: ApiClient, store: Arc<LocalStore>, config: EngineConfig) -> Self {
        let wake = Arc::new(Notify::new());
        let (tx, state) = watch::channel(EngineState::default());
        let task = tokio::spawn(run(api, store, config, Arc::clone(&wake), tx));
        Self { wake, state, task }
    }

    /// Asks for a sync round now (e.g. right after an answer was recorded).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn state(&self) -> EngineState {
        self.state.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<EngineState> {
        self.state.clone()
    }
}

impl Drop for SyncEngine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn round(
    api: &ApiClient,
    store: &LocalStore,
    config: &EngineConfig,
    state: &watch::Sender<EngineState>,
) -> Result<(), SyncError> {
    sync_once(api, store, |pushed, total| {
        state.send_modify(|s| s.progress = Some((pushed, total)));
    })
    .await?;
    if let Some(project) = config.project
        && store.counts(Some(project), Utc::now())?.leased < config.low_water
    {
        checkout(api, store, project, config.lease_batch, None).await?;
    }
    Ok(())
}

async fn run(
    api: ApiClient,
    store: Arc<LocalStore>,
    config: EngineConfig,
    wake: Arc<Notify>,
    state: watch::Sender<EngineState>,
) {
    let mut backoff = Duration::ZERO;
    loop {
        let pause = match round(&api, &store, &config, &state).await {
            Ok(()) => {
                backoff = Duration::ZERO;
                state.send_replace(EngineState {
                    online: true,
                    ..EngineState::default()
                });
                config.interval
            }
            Err(e) => {
                let online = !e.is_transient();
                let suspended = e.is_suspended();
                if suspended {
                    tracing::info!(
                        "suspended from the project: answers still sync, no new tasks come"
                    );
                } else {
                    tracing::warn!(error = %e, "sync round failed");
                }
                backoff = (backoff * 2).clamp(Duration::from_secs(1), config.max_backoff);
                state.send_replace(EngineState {
                    online,
                    last_error: Some(e.to_string()),
                    progress: None,
                    suspended,
                });
                backoff
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = wake.notified() => {}
        }
    }
}

//! An annotator's session on a device, as the desktop app drives it: sign-in, project choice,
//! task views from the local cache, answers written locally first, and the background sync
//! engine. No Tauri here, so it is tested without a window.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::{Map, Value};
use tessera_api::ReviewRequest;
use tessera_api::Role;
use tessera_api::desktop::{
    ConsensusView, PairView, PredictionView, ProjectChoice, RefusedView, ReviewAnswerView,
    ReviewView, SessionInfo, SyncProgress, SyncStatus, TaskView,
};
use tessera_core::{LabelSchema, Prediction, SchemaKind};

use crate::api::{ApiClient, ClientError};
use crate::device::{Account, Device};
use crate::local::{AnswerFlags, LocalError, LocalStore, LocalTask};
use crate::sync::{EngineConfig, SyncEngine, SyncError, checkout};

/// Default server when neither the environment nor a saved session names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7450";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not signed in")]
    NotSignedIn,
    #[error("no project chosen")]
    NoProject,
    #[error("this is a {0} token; the desktop app signs in annotators and requesters")]
    WrongRole(&'static str),
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error(transparent)]
    Local(#[from] LocalError),
    /// Input the app refuses before asking the server (a schema that does not parse, a
    /// file of an unknown format).
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Home {
        path: String,
        source: std::io::Error,
    },
}

impl SessionError {
    /// A stable kind for the UI to branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            SessionError::NotSignedIn => "not_signed_in",
            SessionError::NoProject => "no_project",
            SessionError::WrongRole(_) => "wrong_role",
            SessionError::Server(e) if e.is_transient() => "offline",
            SessionError::Server(_) => "server",
            SessionError::Invalid(_) => "invalid",
            SessionError::Local(_) | SessionError::Home { .. } | SessionError::File { .. } => {
                "local"
            }
        }
    }

    /// Where in an uploaded file the server found the problem: (line, column).
    pub fn location(&self) -> (Option<usize>, Option<usize>) {
        match self {
            SessionError::Server(ClientError::Api { body, .. }) => (body.line, body.column),
            _ => (None, None),
        }
    }
}

impl From<SyncError> for SessionError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Server(e) => SessionError::Server(e),
            SyncError::Local(e) => SessionError::Local(e),
        }
    }
}

type Result<T> = std::result::Result<T, SessionError>;

pub(crate) struct Active {
    pub(crate) api: ApiClient,
    /// The signed-in annotator's own store (requesters keep nothing on the device).
    store: Option<Arc<LocalStore>>,
    /// Annotators' answers sync in the background; requesters have none to sync.
    engine: Option<SyncEngine>,
    pub(crate) info: SessionInfo,
}

pub struct Session {
    device: Device,
    active: Mutex<Option<Active>>,
    /// Batch uploads under way, by the id `start_upload` gave them.
    pub(crate) uploads: Mutex<std::collections::HashMap<u64, crate::dashboard::UploadInProgress>>,
    pub(crate) next_upload: std::sync::atomic::AtomicU64,
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

impl Session {
    /// Opens the device's records in `home` (created if needed). Each person's store is
    /// opened when they sign in.
    pub fn open(home: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&home).map_err(|source| SessionError::Home {
            path: home.display().to_string(),
            source,
        })?;
        let device = Device::open(&home)?;
        Ok(Self {
            device,
            active: Mutex::new(None),
            uploads: Mutex::default(),
            next_upload: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// The signed-in annotator's local store.
    pub fn store(&self) -> Result<Arc<LocalStore>> {
        self.active(|a| a.as_ref().map(|a| a.store.clone()))
            .ok_or(SessionError::NotSignedIn)?
            .ok_or(SessionError::WrongRole("requester"))
    }

    pub(crate) fn active<R>(&self, f: impl FnOnce(&mut Option<Active>) -> R) -> R {
        let mut guard = self.active.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    fn project_id(&self) -> Result<i64> {
        self.active(|a| a.as_ref().map(|a| a.info.project_id))
            .ok_or(SessionError::NotSignedIn)?
            .ok_or(SessionError::NoProject)
    }

    pub fn default_server(&self) -> String {
        env("TESSERA_SERVER")
            .or_else(|| self.device.meta("server").ok().flatten())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
    }

    /// Resumes the saved session (works offline), or signs in from `TESSERA_SERVER` +
    /// `TESSERA_TOKEN` when nothing is saved; `None` means the sign-in screen is needed.
    pub async fn restore(&self) -> Result<Option<SessionInfo>> {
        let saved = (
            self.device.meta("server")?,
            self.device.meta("token")?,
            self.device.meta("session")?,
        );
        if let (Some(server), Some(token), Some(info)) = saved
            && let Ok(info) = serde_json::from_str::<SessionInfo>(&info)
        {
            let api = ApiClient::new(&server, Some(token.clone()))?;
            let store = self.store_of(&info, &token)?;
            self.activate(api, info.clone(), store);
            return Ok(Some(info));
        }
        match (env("TESSERA_SERVER"), env("TESSERA_TOKEN")) {
            (Some(server), Some(token)) => self.sign_in(&server, &token).await.map(Some),
            _ => Ok(None),
        }
    }

    /// The store of the person `info` names (none for requesters).
    fn store_of(&self, info: &SessionInfo, token: &str) -> Result<Option<Arc<LocalStore>>> {
        if info.requester {
            return Ok(None);
        }
        let store = self.device.open_store(&info.server, info.user_id, token)?;
        Ok(Some(Arc::new(store)))
    }

    /// Checks the token with the server, remembers the session and starts syncing.
    pub async fn sign_in(&self, server: &str, token: &str) -> Result<SessionInfo> {
        let api = ApiClient::new(server, Some(token.trim().to_owned()))?;
        let me = api.me().await?;
        if !matches!(me.role, Role::Annotator | Role::Requester) {
            return Err(SessionError::WrongRole(me.role.as_str()));
        }
        let requester = me.role == Role::Requester;
        let projects: Vec<ProjectChoice> = api
            .projects()
            .await?
            .into_iter()
            .map(|p| ProjectChoice {
                id: p.id,
                name: p.name,
            })
            .collect();
        let wanted = env("TESSERA_PROJECT").and_then(|p| p.parse::<i64>().ok());
        let project_id = match (wanted, projects.as_slice()) {
            _ if requester => None,
            (Some(id), _) if projects.iter().any(|p| p.id == id) => Some(id),
            (_, [only]) => Some(only.id),
            _ => None,
        };
        let info = SessionInfo {
            server: api.base_url().to_owned(),
            user_id: me.user_id,
            annotator: me.name,
            projects,
            project_id,
            requester,
        };
        let token = token.trim();
        // Whoever was signed in before is signed out first: their store closes with them.
        self.active(|a| *a = None);
        let store = self.store_of(&info, token)?;
        self.device.remember(
            token,
            &Account {
                server: info.server.clone(),
                user_id: info.user_id,
                name: info.annotator.clone(),
            },
        )?;
        self.device.set_meta("server", api.base_url())?;
        self.device.set_meta("token", token)?;
        self.save_info(&info)?;
        self.activate(api.clone(), info.clone(), store);
        if let Some(project) = project_id {
            self.first_checkout(&api, project).await;
        }
        Ok(info)
    }

    fn save_info(&self, info: &SessionInfo) -> Result<()> {
        let json = serde_json::to_string(info).map_err(LocalError::from)?;
        Ok(self.device.set_meta("session", &json)?)
    }

    fn activate(&self, api: ApiClient, info: SessionInfo, store: Option<Arc<LocalStore>>) {
        let config = EngineConfig {
            project: info.project_id,
            ..EngineConfig::default()
        };
        let engine = store
            .as_ref()
            .map(|store| SyncEngine::spawn(api.clone(), Arc::clone(store), config));
        self.active(|a| {
            *a = Some(Active {
                api,
                store,
                engine,
                info,
            });
        });
    }

    /// Leases a first batch at once so the first task shows without waiting for the engine;
    /// offline, the engine retries later.
    async fn first_checkout(&self, api: &ApiClient, project: i64) {
        let Ok(store) = self.store() else {
            return;
        };
        let batch = EngineConfig::default().lease_batch;
        if let Err(e) = checkout(api, &store, project, batch, None).await {
            tracing::warn!(error = %e, "first checkout failed; the sync engine will retry");
        }
    }

    pub async fn choose_project(&self, project_id: i64) -> Result<SessionInfo> {
        let (api, mut info, store) = self
            .active(|a| {
                a.as_ref()
                    .map(|a| (a.api.clone(), a.info.clone(), a.store.clone()))
            })
            .ok_or(SessionError::NotSignedIn)?;
        info.project_id = Some(project_id);
        self.save_info(&info)?;
        self.activate(api.clone(), info.clone(), store);
        self.first_checkout(&api, project_id).await;
        Ok(info)
    }

    /// Forgets the token and closes the person's store: their answers not yet synced stay
    /// in it, and sync under their own token when they sign in again.
    pub fn sign_out(&self) -> Result<()> {
        self.active(|a| *a = None);
        self.device.delete_meta("token")?;
        self.device.delete_meta("session")?;
        Ok(())
    }

    fn view(&self, task: LocalTask, answer: Option<Vec<String>>) -> Result<TaskView> {
        let schema = self.store()?.schema(task.project_id)?;
        Ok(view(task.id, &task.data, task.prediction, &schema, answer))
    }

    /// The open tasks in the order they will come (the first is [`Self::next_task`]'s), up
    /// to `limit`: the UI paints the next one from these the moment a key is pressed.
    pub fn upcoming(&self, limit: u32) -> Result<Vec<TaskView>> {
        let project = self.project_id()?;
        let store = self.store()?;
        let schema = store.schema(project)?;
        Ok(store
            .upcoming(project, limit.min(MAX_UPCOMING))?
            .into_iter()
            .map(|t| view(t.id, &t.data, t.prediction, &schema, None))
            .collect())
    }

    pub fn next_task(&self) -> Result<Option<TaskView>> {
        let project = self.project_id()?;
        self.store()?
            .next_task(Some(project))?
            .map(|t| self.view(t, None))
            .transpose()
    }

    /// Records an answer (or a skip) on disk, nudges the sync engine, returns the next task.
    pub fn answer(
        &self,
        task_id: i64,
        labels: Vec<String>,
        skipped: bool,
        flags: AnswerFlags,
    ) -> Result<Option<TaskView>> {
        self.store()?
            .record_flagged(task_id, labels, skipped, flags, Utc::now())?;
        self.sync_now();
        self.next_task()
    }

    /// The task answered before `before` (or the last one answered), with its current answer.
    pub fn previous_task(&self, before: Option<i64>) -> Result<Option<TaskView>> {
        let project = self.project_id()?;
        let store = self.store()?;
        match store.answered_before(project, before)? {
            Some(t) => {
                let answer = store.current_answer(t.id)?;
                Ok(Some(self.view(t, answer)?))
            }
            None => Ok(None),
        }
    }

    pub fn sync_status(&self) -> Result<SyncStatus> {
        let (project, engine) = self.active(|a| {
            a.as_ref()
                .map(|a| {
                    let state = a.engine.as_ref().map(SyncEngine::state);
                    (a.info.project_id, state.unwrap_or_default())
                })
                .unwrap_or((None, Default::default()))
        });
        let counts = match self.store() {
            Ok(store) => store.counts(project, Utc::now())?,
            Err(SessionError::WrongRole(_)) => Default::default(),
            Err(e) => return Err(e),
        };
        Ok(SyncStatus {
            online: engine.online,
            pending: counts.pending,
            remaining: counts.leased,
            done_today: counts.done_today,
            seconds_per_task: counts.seconds_per_task,
            last_error: engine.last_error,
            syncing: engine.progress.map(|(pushed, total)| SyncProgress {
                pushed: u32::try_from(pushed).unwrap_or(u32::MAX),
                total: u32::try_from(total).unwrap_or(u32::MAX),
            }),
            refused: counts.rejected,
            suspended: engine.suspended,
        })
    }

    /// The signed-in annotator's answers that the server refused (and that were not given
    /// again since), each with its task and the server's reason.
    pub fn refused_answers(&self) -> Result<Vec<RefusedView>> {
        let store = self.store()?;
        store
            .refused_answers()?
            .into_iter()
            .map(|r| {
                let data = store.task(r.task_id).ok().map(|t| t.data);
                let text = data.as_ref().and_then(|d| {
                    ["text", "image", "a"]
                        .iter()
                        .find_map(|k| d.get(*k).and_then(|v| v.as_str()))
                        .map(str::to_owned)
                });
                Ok(RefusedView {
                    task_id: r.task_id,
                    text,
                    labels: r.labels,
                    skipped: r.skipped,
                    code: r.code,
                    reason: r.reason,
                    answer_again: r.answer_again,
                })
            })
            .collect()
    }

    /// The chosen project's review queue (online only): each task with every annotator's
    /// answer and the crowd consensus. Only the project's reviewers may read it.
    pub async fn review_queue(&self, limit: u32) -> Result<Vec<ReviewView>> {
        let project = self.project_id()?;
        let api = self.api()?;
        let schema = self.store()?.schema(project)?;
        let records = api.review_queue(project, limit.min(MAX_UPCOMING)).await?;
        Ok(records
            .into_iter()
            .map(|r| ReviewView {
                task: view(r.task_id, &r.data, r.prediction, &schema, None),
                answers: r
                    .answers
                    .into_iter()
                    .map(|a| ReviewAnswerView {
                        annotator: a.annotator,
                        labels: a.labels,
                    })
                    .collect(),
                consensus: r.consensus.map(|c| ConsensusView {
                    labels: c.labels,
                    confidence: c.confidence,
                }),
            })
            .collect())
    }

    /// Records a reviewer's verdict on a task of the chosen project: its final label.
    pub async fn review(&self, task_id: i64, labels: Vec<String>) -> Result<()> {
        let project = self.project_id()?;
        self.api()?
            .review(project, &ReviewRequest { task_id, labels })
            .await?;
        Ok(())
    }

    fn api(&self) -> Result<ApiClient> {
        self.active(|a| a.as_ref().map(|a| a.api.clone()))
            .ok_or(SessionError::NotSignedIn)
    }

    pub fn sync_now(&self) {
        self.active(|a| {
            if let Some(engine) = a.as_ref().and_then(|a| a.engine.as_ref()) {
                engine.wake();
            }
        });
    }
}

/// A task as the UI paints it.
fn view(
    task_id: i64,
    data: &Map<String, Value>,
    prediction: Option<Prediction>,
    schema: &LabelSchema,
    answer: Option<Vec<String>>,
) -> TaskView {
    let field = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let pair = match (field("a"), field("b")) {
        (Some(a), Some(b)) if schema.kind == SchemaKind::Pairwise => Some(PairView { a, b }),
        _ => None,
    };
    TaskView {
        task_id,
        kind: schema.kind,
        text: field("text"),
        image: field("image"),
        pair,
        labels: schema.labels.clone(),
        multiple: schema.multiple,
        instructions: schema.instructions.clone(),
        prediction: prediction.map(|p| PredictionView {
            labels: p.labels,
            score: p.score,
            model_version: p.model_version,
        }),
        answer,
    }
}

/// The most upcoming tasks one call returns.
const MAX_UPCOMING: u32 = 20;

//! Models in the loop: the server's background work for ML backends (health, setup, and
//! predictions for every task, in pages, with timeouts and retries) and for the built-in
//! model (trained on the consensus as it grows, predicting the open tasks). Nothing here is
//! on the path of an upload, a lease or a push: a backend that hangs or fails slows nothing
//! but its own predictions.

pub mod backend;
pub mod builtin;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_api::{MlBackend, ModelRun, Project};
use tessera_core::BuiltinModel;

use crate::AppState;
use crate::store::models::{BUILTIN, BackendCheck, backend_source};
use crate::store::{ProjectsOf, StoreResult};
use crate::webhooks::Event;

/// How the model work paces itself.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Whether this server runs it (replicas may leave it to one of them).
    pub enabled: bool,
    /// How often to look for work.
    pub tick: Duration,
    /// How often a backend's health is checked.
    pub health_every: Duration,
    /// A backend gets this long to answer one call.
    pub timeout: Duration,
    /// Tasks per `/predict` call.
    pub page: u32,
    /// Pages one backend predicts per tick, one after another (one call in flight per backend).
    pub pages_per_tick: u32,
    /// A task a backend failed on is tried again after this long (by the server's clock).
    pub retry_after: chrono::Duration,
    /// The built-in model trains again when its training set grew by this share (and by
    /// at least `min_new_labels`).
    pub retrain_growth: f64,
    pub min_new_labels: usize,
    /// Training tasks the built-in model needs before its first run.
    pub min_labels: usize,
    /// How often to see whether a built-in model is due to train.
    pub training_every: Duration,
    pub builtin: builtin::Settings,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tick: Duration::from_millis(500),
            health_every: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            page: 16,
            pages_per_tick: 8,
            retry_after: chrono::Duration::seconds(30),
            retrain_growth: 0.1,
            min_new_labels: 20,
            min_labels: 20,
            training_every: Duration::from_secs(2),
            builtin: builtin::Settings::default(),
        }
    }
}

impl ModelConfig {
    /// Whether the built-in model, last trained on `trained` labels (0: never), trains again
    /// now that there are `labels`.
    pub fn training_due(&self, trained: usize, labels: usize) -> bool {
        let grown = labels.saturating_sub(trained);
        if trained == 0 {
            labels >= self.min_labels
        } else {
            grown >= self.min_new_labels && grown as f64 >= self.retrain_growth * trained as f64
        }
    }
}

/// Runs the model work until the task is dropped.
pub async fn run(state: Arc<AppState>, config: ModelConfig) {
    if !config.enabled {
        return;
    }
    let client = match backend::client(config.timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the ML backend client: no predictions");
            return;
        }
    };
    let busy: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let checked: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let training = Arc::new(tokio::sync::Mutex::new(HashMap::<i64, usize>::new()));
    let mut last_training_look = Instant::now()
        .checked_sub(config.training_every)
        .unwrap_or_else(Instant::now);
    loop {
        match state.store.ml_backends(None, false).await {
            Ok(backends) => {
                for b in backends {
                    if !lock(&busy).insert(b.id) {
                        continue;
                    }
                    let (state, client, config) =
                        (Arc::clone(&state), client.clone(), config.clone());
                    let (busy, checked) = (Arc::clone(&busy), Arc::clone(&checked));
                    tokio::spawn(async move {
                        let id = b.id;
                        if let Err(e) = serve_backend(&state, &client, &config, b, &checked).await {
                            tracing::warn!(backend = id, error = %e, "ML backend work failed");
                        }
                        lock(&busy).remove(&id);
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list ML backends"),
        }
        // The built-in model: one project's training at a time, beside the backends.
        let training_due = last_training_look.elapsed() >= config.training_every;
        if let Some(mut last) = training_due
            .then(|| Arc::clone(&training).try_lock_owned().ok())
            .flatten()
        {
            last_training_look = Instant::now();
            let (state, config) = (Arc::clone(&state), config.clone());
            tokio::spawn(async move {
                if let Err(e) = train_when_due(&state, &config, &mut last).await {
                    tracing::warn!(error = %e, "built-in model work failed");
                }
            });
        }
        tokio::time::sleep(config.tick).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One backend's turn: its health (and setup) when due, then pages of predictions.
async fn serve_backend(
    state: &AppState,
    client: &reqwest::Client,
    config: &ModelConfig,
    b: MlBackend,
    checked: &Mutex<HashMap<i64, Instant>>,
) -> StoreResult<()> {
    let project = state.store.project(b.project_id).await?;
    let due = lock(checked)
        .get(&b.id)
        .is_none_or(|t| t.elapsed() >= config.health_every);
    let mut healthy = b.healthy == Some(true) && b.set_up;
    if due || !healthy {
        // An unhealthy backend is checked once per `health_every`, not on every tick.
        if !due {
            return Ok(());
        }
        lock(checked).insert(b.id, Instant::now());
        healthy = check(state, client, &b, &project).await?;
    }
    if !healthy || project.archived_at.is_some() {
        return Ok(());
    }
    let source = backend_source(b.id);
    for _ in 0..config.pages_per_tick {
        let now = state.clock.now();
        let tasks = state
            .store
            .tasks_to_predict(project.id, &source, Some(b.id), now, config.page)
            .await?;
        if tasks.is_empty() {
            break;
        }
        let ids: Vec<i64> = tasks.iter().map(|(id, _)| *id).collect();
        match backend::predict(client, &b.url, &project, &tasks, &b.name).await {
            Ok(predicted) => {
                let mut stored = Vec::new();
                let mut failed: Vec<(i64, String)> = Vec::new();
                for (id, read) in predicted {
                    match read {
                        Ok(p) => stored.push((id, p)),
                        Err(e) => failed.push((id, e)),
                    }
                }
                state
                    .store
                    .save_predictions(&source, stored, state.clock.now())
                    .await?;
                let first_error = failed.first().map(|(_, e)| e.clone());
                for (id, error) in failed {
                    fail(state, config, &b, vec![id], &error).await?;
                }
                // The log says why predictions fail, and forgets it once they work again.
                if first_error.is_some() || b.last_error.is_some() {
                    state
                        .store
                        .record_backend_check(
                            b.id,
                            BackendCheck {
                                healthy: true,
                                at: state.clock.now(),
                                error: first_error,
                                model_version: None,
                                set_up: None,
                                keep_error: false,
                            },
                        )
                        .await?;
                }
            }
            Err(error) => {
                fail(state, config, &b, ids, &error).await?;
                state
                    .store
                    .record_backend_check(
                        b.id,
                        BackendCheck {
                            healthy: false,
                            at: state.clock.now(),
                            error: Some(error),
                            model_version: None,
                            set_up: None,
                            keep_error: false,
                        },
                    )
                    .await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `/health`, and `/setup` once healthy; the outcome recorded. Whether it may predict.
async fn check(
    state: &AppState,
    client: &reqwest::Client,
    b: &MlBackend,
    project: &Project,
) -> StoreResult<bool> {
    let mut outcome = BackendCheck {
        healthy: false,
        at: state.clock.now(),
        ..BackendCheck::default()
    };
    match backend::health(client, &b.url).await {
        Err(e) => outcome.error = Some(e),
        // Healthy and set up: the last error (a failed prediction's) stands until one works.
        Ok(()) if b.set_up => {
            outcome.healthy = true;
            outcome.keep_error = true;
        }
        Ok(()) => {
            outcome.healthy = true;
            match backend::setup(client, &b.url, project).await {
                Ok(version) => {
                    outcome.set_up = Some(true);
                    outcome.model_version = version;
                }
                Err(e) => {
                    outcome.set_up = Some(false);
                    outcome.error = Some(e);
                }
            }
        }
    }
    let usable = outcome.healthy && (b.set_up || outcome.set_up == Some(true));
    state.store.record_backend_check(b.id, outcome).await?;
    Ok(usable)
}

/// Notes a failure on `tasks`; those given up are announced as `prediction.failed`.
async fn fail(
    state: &AppState,
    config: &ModelConfig,
    b: &MlBackend,
    tasks: Vec<i64>,
    error: &str,
) -> StoreResult<()> {
    tracing::info!(backend = b.id, tasks = tasks.len(), %error, "prediction failed");
    let now = state.clock.now();
    let given_up = state
        .store
        .prediction_failed(b.id, tasks, error, now + config.retry_after)
        .await?;
    if !given_up.is_empty() {
        let events = given_up
            .into_iter()
            .map(|task| Event::prediction_failed(b.project_id, task, &b.name, error))
            .collect();
        state.store.emit(events, now).await?;
    }
    Ok(())
}

/// Trains the built-in model of each project that has one and whose training set grew
/// enough since its last run (`last`: each project's training-set size then), and predicts
/// its open tasks.
async fn train_when_due(
    state: &AppState,
    config: &ModelConfig,
    last: &mut HashMap<i64, usize>,
) -> StoreResult<()> {
    for project in state.store.projects(ProjectsOf::Everyone).await? {
        if project.schema.model != Some(BuiltinModel::Builtin) || project.archived_at.is_some() {
            continue;
        }
        let runs = state.store.model_runs(project.id).await?;
        let before = match last.get(&project.id) {
            Some(&n) => n,
            None => runs.last().map_or(0, |r| r.trained_on as usize),
        };
        // Counted first: the set itself is read only when a run is due.
        let size = state.store.training_set_size(project.id).await?;
        if !config.training_due(before, usize::try_from(size).unwrap_or(usize::MAX)) {
            continue;
        }
        let examples = state.store.training_set(project.id).await?;
        let version = runs.last().map_or(1, |r| r.version + 1);
        if let Some(run) = train_and_predict(state, config, &project, examples, version).await? {
            last.insert(project.id, run.trained_on as usize);
            state.store.record_model_run(project.id, run).await?;
        }
    }
    Ok(())
}

/// Scores the last model's frozen predictions, trains version `version` and predicts every
/// open task (and gold, which must look like any task). `None` when it could not train yet.
pub async fn train_and_predict(
    state: &AppState,
    config: &ModelConfig,
    project: &Project,
    examples: Vec<(i64, serde_json::Map<String, serde_json::Value>, String)>,
    version: i64,
) -> StoreResult<Option<ModelRun>> {
    let (held_out, correct) = state.store.score_builtin(project.id).await?;
    let started = Instant::now();
    let labels = project.schema.labels.clone();
    let settings = config.builtin.clone();
    let trained_on = examples.len() as u64;
    let name = format!("tessera-builtin-{version}");
    let trained = tokio::task::spawn_blocking(move || {
        let examples: Vec<(String, String)> = examples
            .iter()
            .map(|(_, data, label)| (builtin::text_of(data), label.clone()))
            .collect();
        builtin::train(&examples, &labels, &settings, name)
    })
    .await
    .map_err(|e| crate::store::StoreError::Backend(format!("training stopped: {e}")))?;
    let model = match trained {
        Ok(m) => Arc::new(m),
        Err(builtin::ModelError::TooFewLabels) => return Ok(None),
        Err(e) => {
            tracing::warn!(project = project.id, error = %e, "the built-in model did not train");
            return Ok(None);
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut after = 0;
    loop {
        let page = state
            .store
            .tasks_for_builtin(project.id, after, 2000)
            .await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        after = last;
        let model = Arc::clone(&model);
        let predicted = tokio::task::spawn_blocking(move || {
            page.iter()
                .filter_map(|(id, data)| model.predict(&builtin::text_of(data)).map(|p| (*id, p)))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| crate::store::StoreError::Backend(format!("prediction stopped: {e}")))?;
        state
            .store
            .save_predictions(BUILTIN, predicted, state.clock.now())
            .await?;
    }
    tracing::info!(
        project = project.id,
        version,
        trained_on,
        seconds,
        "built-in model trained"
    );
    Ok(Some(ModelRun {
        version,
        trained_at: state.clock.now(),
        trained_on,
        seconds,
        held_out,
        correct,
    }))
}

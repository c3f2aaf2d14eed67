//! Models in the loop: ML backends, model predictions beside the uploaded ones, prediction
//! failures, and the built-in model's training data and runs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tessera_api::{MlBackend, ModelRun};
use tessera_core::Prediction;

use super::*;

/// Attempts at predicting one task before a backend's failure on it is given up.
pub const PREDICTION_ATTEMPTS: u32 = 3;

/// What a health check or a call to a backend found.
#[derive(Debug, Clone, Default)]
pub struct BackendCheck {
    pub healthy: bool,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
    /// Leave the last error as it is (`error` is then ignored).
    pub keep_error: bool,
    pub model_version: Option<String>,
    pub set_up: Option<bool>,
}

/// The source a backend's predictions are stored under.
pub fn backend_source(backend_id: i64) -> String {
    format!("ml:{backend_id}")
}

/// The source of the built-in model's predictions.
pub const BUILTIN: &str = "builtin";

#[async_trait]
pub trait ModelStore: Send + Sync {
    async fn create_ml_backend(
        &self,
        project_id: i64,
        name: &str,
        url: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<MlBackend>;

    /// The backends of a project (every project's when `None`), oldest first; with their
    /// predictions, queue and failures counted when `counts` (else those are 0).
    async fn ml_backends(
        &self,
        project_id: Option<i64>,
        counts: bool,
    ) -> StoreResult<Vec<MlBackend>>;

    async fn delete_ml_backend(&self, project_id: i64, backend_id: i64) -> StoreResult<()>;

    async fn record_backend_check(&self, backend_id: i64, check: BackendCheck) -> StoreResult<()>;

    /// Up to `limit` tasks of the project (not cancelled) with no prediction from `source`,
    /// leaving out those whose failures wait for a retry or were given up (`backend_id`'s);
    /// oldest first, with their data.
    async fn tasks_to_predict(
        &self,
        project_id: i64,
        source: &str,
        backend_id: Option<i64>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>>;

    /// Stores predictions from `source` (replacing its earlier ones of the same tasks); the
    /// tasks' certainty for the uncertainty-first queue follows each prediction's score.
    /// Tasks gone since (cancelled, deleted) are left out.
    async fn save_predictions(
        &self,
        source: &str,
        predictions: Vec<(i64, Prediction)>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Notes that `backend_id` failed on `task_ids`: each is retried at `retry_at` until its
    /// attempts reach [`PREDICTION_ATTEMPTS`]; returns those given up now.
    async fn prediction_failed(
        &self,
        backend_id: i64,
        task_ids: Vec<i64>,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>>;

    /// How many tasks [`ModelStore::training_set`] would return, counted without reading
    /// them.
    async fn training_set_size(&self, project_id: i64) -> StoreResult<u64>;

    /// The built-in model's training set: each complete task (gold apart) whose consensus is
    /// one label, as (task id, data, label), in id order.
    async fn training_set(
        &self,
        project_id: i64,
    ) -> StoreResult<Vec<(i64, Map<String, Value>, String)>>;

    /// Up to `limit` tasks after `after` (id order) the built-in model predicts: open ones,
    /// and gold (which must look like any task to annotators).
    async fn tasks_for_builtin(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>>;

    /// Scores the built-in model's frozen predictions of tasks completed since they were made
    /// (gold apart) against their consensus, once each: (tasks, correct).
    async fn score_builtin(&self, project_id: i64) -> StoreResult<(u64, u64)>;

    async fn record_model_run(&self, project_id: i64, run: ModelRun) -> StoreResult<()>;

    /// The project's training runs, oldest first.
    async fn model_runs(&self, project_id: i64) -> StoreResult<Vec<ModelRun>>;
}

//! Models in the loop on the wire: ML backends a project calls for predictions, and the
//! built-in model's training runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMlBackendRequest {
    /// The backend's base URL (Label Studio's ML backend protocol: `/health`, `/setup`,
    /// `/predict`, `/webhook`).
    pub url: String,
    /// A name to tell backends apart; the URL's host when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// A connected ML backend and how it is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct MlBackend {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub project_id: i64,
    pub name: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
    /// Whether its `/health` answered at the last check; `None` before the first.
    pub healthy: Option<bool>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Why the last call to it failed, if it did.
    pub last_error: Option<String>,
    /// The model version it last reported.
    pub model_version: Option<String>,
    /// Whether `/setup` has accepted the project.
    pub set_up: bool,
    /// Tasks it has predicted.
    #[ts(type = "number")]
    pub predictions: u64,
    /// Tasks waiting for its prediction (not given up on).
    #[ts(type = "number")]
    pub queue: u64,
    /// Tasks given up on after its failures (each announced as `prediction.failed`).
    #[ts(type = "number")]
    pub failed: u64,
    /// The webhook that sends it the project's answers (`ANNOTATION_CREATED`/`_UPDATED`).
    #[ts(type = "number | null")]
    pub webhook_id: Option<i64>,
}

/// What a backend answered to `START_TRAINING`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrainingStarted {
    pub backend_id: i64,
    pub status: u16,
    #[schema(value_type = Object)]
    pub reply: serde_json::Value,
}

/// One training run of the built-in model, scored on tasks it had not trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct ModelRun {
    #[ts(type = "number")]
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    /// Consensus labels it trained on.
    #[ts(type = "number")]
    pub trained_on: u64,
    pub seconds: f64,
    /// Tasks completed since the run before, each predicted before it completed by a model
    /// that had not trained on it.
    #[ts(type = "number")]
    pub held_out: u64,
    /// Of those, how many the prediction matched the consensus.
    #[ts(type = "number")]
    pub correct: u64,
}

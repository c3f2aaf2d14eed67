//! ML backends: connect a model service in Label Studio's protocol to a project, see how it
//! is doing, ask it to train, and disconnect it.

use axum::Json;
use axum::http::StatusCode;
use tessera_api::{
    CreateMlBackendRequest, ErrorBody, EventType, MlBackend, TrainingStarted, WebhookFormat,
};

use crate::error::{ApiError, ApiJson, ApiPath};
use crate::ml::backend;
use crate::store::NewWebhook;
use crate::store::models::BackendCheck;
use crate::webhooks::{check_url, new_secret};

use super::*;

/// Most backends one project may have.
const MAX_BACKENDS: usize = 5;

/// Connects an ML backend: Tessera checks its `/health` now, then (in the background) calls
/// `/setup` and `/predict` for every task, and sends it the project's answers as
/// `ANNOTATION_CREATED`/`ANNOTATION_UPDATED` through a webhook of its own.
#[utoipa::path(post, path = "/api/projects/{id}/ml-backends", tag = "models", params(("id" = i64, Path, description = "project id")), request_body = CreateMlBackendRequest, responses((status = 201, body = MlBackend), (status = 404, description = "no such project", body = ErrorBody), (status = 409, description = "too many backends", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn create_ml_backend(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CreateMlBackendRequest>,
) -> Result<(StatusCode, Json<MlBackend>), ApiError> {
    let user = require_project_requester(&state, &caller, id).await?;
    check_url(&req.url).map_err(ApiError::BadRequest)?;
    let url = req.url.trim_end_matches('/').to_owned();
    let name = match req.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => checked_name(n)?.to_owned(),
        _ => reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| url.clone()),
    };
    state.store.project(id).await?;
    if state.store.ml_backends(Some(id), false).await?.len() >= MAX_BACKENDS {
        return Err(ApiError::Conflict(format!(
            "project {id} has {MAX_BACKENDS} ML backends, the most it may have: remove one first"
        )));
    }
    let now = state.clock.now();
    let made = state.store.create_ml_backend(id, &name, &url, now).await?;
    state
        .store
        .create_webhook(NewWebhook {
            project_id: id,
            url: format!("{url}/webhook"),
            events: vec![EventType::AnswerCreated],
            format: WebhookFormat::LabelStudio,
            secret: new_secret(),
            created_by: user.id,
            created_at: now,
            ml_backend_id: Some(made.id),
        })
        .await?;
    // A first look now, so the reply says whether it answers; the rest happens in the
    // background and never holds up the project.
    let client = backend::client(std::time::Duration::from_secs(5))
        .map_err(|e| ApiError::Internal(format!("cannot call the backend: {e}")))?;
    let error = backend::health(&client, &url).await.err();
    state
        .store
        .record_backend_check(
            made.id,
            BackendCheck {
                healthy: error.is_none(),
                at: state.clock.now(),
                error,
                model_version: None,
                set_up: None,
                keep_error: false,
            },
        )
        .await?;
    tracing::info!(project = id, backend = made.id, %url, "ML backend connected");
    let backend = backend_of(&state, id, made.id).await?;
    Ok((StatusCode::CREATED, Json(backend)))
}

async fn backend_of(state: &AppState, project: i64, id: i64) -> Result<MlBackend, ApiError> {
    state
        .store
        .ml_backends(Some(project), true)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("ML backend {id} of project {project}")))
}

/// The project's ML backends: health, last error, model version, predictions made, queue.
#[utoipa::path(get, path = "/api/projects/{id}/ml-backends", tag = "models", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = Vec<MlBackend>), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_ml_backends(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<MlBackend>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    state.store.project(id).await?;
    Ok(Json(state.store.ml_backends(Some(id), true).await?))
}

/// Disconnects a backend: its predictions and its webhook go with it.
#[utoipa::path(delete, path = "/api/projects/{id}/ml-backends/{backend_id}", tag = "models", params(("id" = i64, Path, description = "project id"), ("backend_id" = i64, Path, description = "backend id")), responses((status = 204, description = "removed"), (status = 404, description = "no such backend in the project", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn delete_ml_backend(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, backend_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    state.store.delete_ml_backend(id, backend_id).await?;
    tracing::info!(project = id, backend = backend_id, "ML backend removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Asks a backend to train now (`START_TRAINING` to its `/webhook`); its reply, as it gave
/// it. A backend that does not answer 2xx is a 502 with the reason.
#[utoipa::path(post, path = "/api/projects/{id}/ml-backends/{backend_id}/train", tag = "models", params(("id" = i64, Path, description = "project id"), ("backend_id" = i64, Path, description = "backend id")), responses((status = 200, body = TrainingStarted), (status = 502, description = "the backend refused or did not answer", body = ErrorBody), (status = 404, description = "no such backend in the project", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn train_ml_backend(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, backend_id)): ApiPath<(i64, i64)>,
) -> Result<Json<TrainingStarted>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let b = backend_of(&state, id, backend_id).await?;
    let project = state.store.project(id).await?;
    let client = backend::client(state.config.models.timeout)
        .map_err(|e| ApiError::Internal(format!("cannot call the backend: {e}")))?;
    let (status, reply) = backend::start_training(&client, &b.url, &project)
        .await
        .map_err(ApiError::BadGateway)?;
    Ok(Json(TrainingStarted {
        backend_id,
        status,
        reply,
    }))
}

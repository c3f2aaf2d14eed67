//! Webhooks: a requester's subscriptions to a project's events, and their delivery log.

use axum::Json;
use axum::http::StatusCode;
use tessera_api::{
    CreateWebhookRequest, CreateWebhookResponse, Delivery, DeliveryQuery, ErrorBody, EventType,
    Webhook,
};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::store::NewWebhook;
use crate::webhooks::{check_url, new_secret};

use super::*;

/// Most webhooks one project may have.
const MAX_WEBHOOKS: usize = 20;
/// Most deliveries one page of the log holds.
const MAX_DELIVERIES_PAGE: u32 = 1000;

/// Subscribes a URL to the project's events. The reply holds the signing secret, shown only
/// now: every request carries `webhook-id`, `webhook-timestamp` and `webhook-signature` as the
/// Standard Webhooks specification says.
#[utoipa::path(post, path = "/api/projects/{id}/webhooks", tag = "webhooks", params(("id" = i64, Path, description = "project id")), request_body = CreateWebhookRequest, responses((status = 201, body = CreateWebhookResponse), (status = 404, description = "no such project", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn create_webhook(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<CreateWebhookResponse>), ApiError> {
    let user = require_project_requester(&state, &caller, id).await?;
    check_url(&req.url).map_err(ApiError::BadRequest)?;
    let mut events = req.events.unwrap_or_else(|| EventType::ALL.to_vec());
    events.sort_unstable();
    events.dedup();
    if events.is_empty() {
        return Err(ApiError::BadRequest(
            "name at least one event, or leave `events` out for all of them".to_owned(),
        ));
    }
    if state.store.webhooks(id).await?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::Conflict(format!(
            "project {id} has {MAX_WEBHOOKS} webhooks, the most it may have: remove one first"
        )));
    }
    let secret = new_secret();
    let webhook = state
        .store
        .create_webhook(NewWebhook {
            project_id: id,
            url: req.url,
            events,
            format: req.format,
            secret: secret.clone(),
            created_by: user.id,
            created_at: state.clock.now(),
            ml_backend_id: None,
        })
        .await?;
    tracing::info!(project = id, webhook = webhook.id, "webhook created");
    Ok((
        StatusCode::CREATED,
        Json(CreateWebhookResponse { webhook, secret }),
    ))
}

/// The project's webhooks, with their deliveries counted by state (never their secrets).
#[utoipa::path(get, path = "/api/projects/{id}/webhooks", tag = "webhooks", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = Vec<Webhook>), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_webhooks(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    state.store.project(id).await?;
    Ok(Json(state.store.webhooks(id).await?))
}

/// Removes a webhook; its undelivered events are dropped with it.
#[utoipa::path(delete, path = "/api/projects/{id}/webhooks/{webhook_id}", tag = "webhooks", params(("id" = i64, Path, description = "project id"), ("webhook_id" = i64, Path, description = "webhook id")), responses((status = 204, description = "removed"), (status = 404, description = "no such webhook in the project", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, webhook_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    state.store.delete_webhook(id, webhook_id).await?;
    tracing::info!(project = id, webhook = webhook_id, "webhook removed");
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log, newest first: each event sent (or waiting) per webhook, its attempts,
/// the receiver's last status and why the last attempt failed.
#[utoipa::path(get, path = "/api/projects/{id}/webhooks/deliveries", tag = "webhooks", params(("id" = i64, Path, description = "project id"), DeliveryQuery), responses((status = 200, body = Vec<Delivery>), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    state.store.project(id).await?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_DELIVERIES_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_DELIVERIES_PAGE}"
        )));
    }
    Ok(Json(
        state
            .store
            .deliveries(id, q.webhook, q.state, q.before, limit)
            .await?,
    ))
}

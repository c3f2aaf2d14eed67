//! HTTP handlers, one verb-named function per endpoint. They check the caller's role, apply
//! the server's policy (limits, TTLs) and leave storage rules to the [`Store`](crate::store::Store).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tessera_api::{ErrorBody, Me, ProjectRole, Role};

mod ml;
mod people;
mod projects;
mod quality;
mod queue;
mod tasks;
mod webhooks;

pub use ml::*;
pub use people::*;
pub use projects::*;
pub use quality::*;
pub use queue::*;
pub use tasks::*;
pub use webhooks::*;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Most tasks one lease request may take: a long offline session's worth (a day of quick
/// judgements), checked out at once before going offline.
pub const MAX_LEASE_LIMIT: u32 = 10_000;
/// Most answers one push may carry.
pub const MAX_PUSH_ANSWERS: usize = 1000;
/// Most tasks one cancel request may name.
pub const MAX_CANCEL_TASKS: usize = 100_000;
/// Most changes one page of the change feed holds.
pub const MAX_CHANGES_PAGE: u32 = 1000;

pub(crate) type Shared = State<Arc<AppState>>;

/// Prometheus text exposition; counts only, nothing about tasks or people.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn get_metrics(State(state): Shared) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/health", tag = "operations", security(()), responses((status = 200, description = "the server is up", body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = Me), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_me(caller: Caller) -> Json<Me> {
    let u = caller.0;
    Json(Me {
        user_id: u.id,
        name: u.name,
        role: u.role,
    })
}

/// A user or project name: trimmed, 1 to 200 characters.
fn checked_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "name must be 1 to 200 characters".to_owned(),
        ));
    }
    Ok(name)
}

/// Passes the project's people: admins, its requesters, its members, and any annotator while
/// it is open (has no annotator or reviewer members). Anyone else learns nothing of it.
async fn require_project_reader(
    state: &AppState,
    caller: &Caller,
    project_id: i64,
) -> Result<(), ApiError> {
    match caller.0.role {
        Role::Admin => Ok(()),
        Role::Requester => require_project_requester(state, caller, project_id)
            .await
            .map(drop),
        Role::Annotator => match state.store.membership(project_id, caller.0.id).await? {
            (false, _) | (_, Some(_)) => Ok(()),
            (true, None) => Err(members_only()),
        },
    }
}

fn members_only() -> ApiError {
    ApiError::Forbidden(
        "this project is open to its members only; ask its requester to add you".to_owned(),
    )
}

/// Passes admins, and requesters who run the project (its requester members); any other
/// requester is refused as if the project were not theirs to see.
pub(crate) async fn require_project_requester<'c>(
    state: &AppState,
    caller: &'c Caller,
    project_id: i64,
) -> Result<&'c crate::store::User, ApiError> {
    let user = caller.require(&[Role::Requester])?;
    if user.role == Role::Admin {
        return Ok(user);
    }
    match state.store.membership(project_id, user.id).await? {
        (_, Some(ProjectRole::Requester)) => Ok(user),
        _ => Err(not_their_project(project_id)),
    }
}

fn not_their_project(project_id: i64) -> ApiError {
    ApiError::Forbidden(format!(
        "you are not a requester of project {project_id}; one of its requesters can add you"
    ))
}

//! People: tokens, project members and invitations.

use axum::Json;
use axum::extract::State;
use tessera_api::{
    AddMemberRequest, CreateTokenRequest, CreateTokenResponse, ErrorBody, InviteRequest,
    InviteResponse, Member, ProjectRole, Role, TokenInfo,
};

use std::collections::HashSet;

use crate::auth::{Caller, generate_token, hash_token};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::store::ProjectsOf;

use super::*;

/// Creates a user with a new token, shown once. An admin makes any role; a requester makes
/// annotators and reviewers of projects they run, whose tokens work only there.
#[utoipa::path(post, path = "/api/tokens", tag = "auth", request_body = CreateTokenRequest, responses((status = 200, body = CreateTokenResponse), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn create_token(
    State(state): Shared,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<Json<CreateTokenResponse>, ApiError> {
    let name = checked_name(&req.name)?;
    if caller.0.role == Role::Requester && req.role != Role::Annotator {
        return Err(ApiError::Forbidden(format!(
            "a requester makes annotator and reviewer tokens for their projects; a {} token needs the admin role",
            req.role.as_str()
        )));
    }
    if req.projects.is_empty() {
        if caller.0.role == Role::Requester {
            return Err(ApiError::BadRequest(
                "name the projects the token is for (--project): a requester makes tokens for their own projects"
                    .to_owned(),
            ));
        }
        caller.require(&[Role::Admin])?;
        if req.project_role.is_some() {
            return Err(ApiError::BadRequest(
                "a project role needs the projects it is for".to_owned(),
            ));
        }
        let token = generate_token();
        let user = state
            .store
            .create_user(name, req.role, &hash_token(&token), state.clock.now())
            .await?;
        tracing::info!(
            user_id = user.id,
            role = user.role.as_str(),
            "token created"
        );
        return Ok(Json(CreateTokenResponse {
            user_id: user.id,
            name: user.name,
            role: user.role,
            token,
        }));
    }
    caller.require(&[Role::Admin, Role::Requester])?;
    if req.role != Role::Annotator {
        return Err(ApiError::BadRequest(
            "a token for projects is an annotator's (as annotator or reviewer there); requesters and admins come from an admin without --project"
                .to_owned(),
        ));
    }
    let role = req.project_role.unwrap_or(ProjectRole::Annotator);
    if role == ProjectRole::Requester {
        return Err(ApiError::BadRequest(
            "the project role is annotator or reviewer".to_owned(),
        ));
    }
    let mut projects = req.projects.clone();
    projects.sort_unstable();
    projects.dedup();
    for &project in &projects {
        require_project_requester(&state, &caller, project).await?;
    }
    let (user, token) = invite_person(&state, name, role, &projects).await?;
    Ok(Json(CreateTokenResponse {
        user_id: user.id,
        name: user.name,
        role: user.role,
        token,
    }))
}

/// A new annotator-role user, confined to `projects` and a member of each as `role`, and
/// their token. All or nothing: a failed membership revokes the token.
async fn invite_person(
    state: &AppState,
    name: &str,
    role: ProjectRole,
    projects: &[i64],
) -> Result<(crate::store::User, String), ApiError> {
    let token = generate_token();
    let now = state.clock.now();
    let user = state
        .store
        .create_user(name, Role::Annotator, &hash_token(&token), now)
        .await?;
    // Confined first: until they are a member, they see nothing.
    let mut added = state.store.confine_user(user.id).await;
    for &project in projects {
        if added.is_err() {
            break;
        }
        added = state
            .store
            .add_member(project, user.id, Some(user.name.clone()), role, None, now)
            .await;
    }
    if let Err(e) = added {
        // A token with no project would open every open project to them: take it back.
        if let Err(revoke) = state.store.revoke_token(user.id, now).await {
            tracing::error!(user_id = user.id, error = %revoke, "an invited user's token could not be revoked after a failed invite");
        }
        return Err(e.into());
    }
    tracing::info!(
        user_id = user.id,
        ?projects,
        role = role.as_str(),
        "person invited"
    );
    Ok((user, token))
}

/// Every token holder, oldest first; tokens themselves are never shown again.
#[utoipa::path(get, path = "/api/tokens", tag = "auth", responses((status = 200, body = [TokenInfo]), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_tokens(
    State(state): Shared,
    caller: Caller,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require(&[Role::Admin, Role::Requester])?;
    let tokens = state.store.tokens().await?;
    if caller.0.role == Role::Admin {
        return Ok(Json(tokens));
    }
    // A requester sees themselves and the people of the projects they run, and of each
    // person only those projects.
    let theirs: HashSet<i64> = state
        .store
        .projects(ProjectsOf::Requester(caller.0.id))
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    Ok(Json(
        tokens
            .into_iter()
            .filter_map(|mut t| {
                t.projects.retain(|p| theirs.contains(p));
                (t.user_id == caller.0.id || !t.projects.is_empty()).then_some(t)
            })
            .collect(),
    ))
}

/// Revokes a user's token: it signs no one in from now on (on other replicas within a
/// minute). The user's work stays. The last working admin token cannot be revoked.
#[utoipa::path(delete, path = "/api/tokens/{user_id}", tag = "auth", params(("user_id" = i64, Path, description = "the token holder's user id")), responses((status = 200, body = TokenInfo), (status = 404, description = "no such user", body = ErrorBody), (status = 409, description = "the last working admin token", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): Shared,
    caller: Caller,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<TokenInfo>, ApiError> {
    caller.require(&[Role::Admin, Role::Requester])?;
    if caller.0.role == Role::Requester {
        require_revocable(&state, &caller.0, user_id).await?;
    }
    let info = state.store.revoke_token(user_id, state.clock.now()).await?;
    state.tokens.forget_user(user_id);
    tracing::info!(user_id, by = caller.0.id, "token revoked");
    Ok(Json(info))
}

/// A requester revokes the tokens of people invited into their projects only: an annotator
/// confined to projects that are all theirs. Anyone else is not found, as to them they are
/// not there.
async fn require_revocable(
    state: &AppState,
    requester: &crate::store::User,
    user_id: i64,
) -> Result<(), ApiError> {
    let theirs: HashSet<i64> = state
        .store
        .projects(ProjectsOf::Requester(requester.id))
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    let person = state
        .store
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.user_id == user_id)
        .filter(|t| t.projects.iter().any(|p| theirs.contains(p)));
    match person {
        None => Err(ApiError::NotFound(format!("user {user_id}"))),
        Some(t)
            if t.invited
                && t.role == Role::Annotator
                && t.projects.iter().all(|p| theirs.contains(p)) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::Forbidden(format!(
            "user {user_id} works beyond your projects: take them out of yours (tessera member remove), or ask an admin"
        ))),
    }
}

/// Gives a user a role in the project; a project with annotator or reviewer members is closed
/// to others' leases (requester members leave it open).
#[utoipa::path(post, path = "/api/projects/{id}/members", tag = "projects", params(("id" = i64, Path, description = "project id")), request_body = AddMemberRequest, responses((status = 200, body = [Member]), (status = 404, body = ErrorBody), (status = 409, description = "the change would leave the project with no requester, or a co-requester would change the creator's role", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_member(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let user = require_project_requester(&state, &caller, id).await?;
    let by = (user.role != Role::Admin).then_some(user.id);
    let name = req.name.map(|n| n.trim().to_owned());
    if by.is_some() && name.is_none() {
        return Err(ApiError::BadRequest(
            "name the user as well as their id: a requester adds people they know".to_owned(),
        ));
    }
    state
        .store
        .add_member(id, req.user_id, name, req.role, by, state.clock.now())
        .await?;
    Ok(Json(state.store.members(id).await?))
}

/// Invites a new person into the project: an annotator-role user confined to the projects
/// they are members of (this one, and any they are added to later: projects open to every
/// annotator stay closed to them), with a token shown once. Requesters invite annotators and reviewers; a requester comes
/// from an admin (`POST /api/tokens`).
#[utoipa::path(post, path = "/api/projects/{id}/invites", tag = "projects", params(("id" = i64, Path, description = "project id")), request_body = InviteRequest, responses((status = 200, body = InviteResponse), (status = 400, description = "a bad name, or the requester role", body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn invite(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<Json<InviteResponse>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    if req.role == ProjectRole::Requester {
        return Err(ApiError::BadRequest(
            "invite annotators and reviewers; a requester token comes from an admin (tessera token create --role requester)"
                .to_owned(),
        ));
    }
    let name = checked_name(&req.name)?;
    let (user, token) = invite_person(&state, name, req.role, &[id]).await?;
    Ok(Json(InviteResponse {
        user_id: user.id,
        name: user.name,
        role: req.role,
        token,
    }))
}

/// Takes a person out of the project; returns the members left. Their answers stay.
#[utoipa::path(delete, path = "/api/projects/{id}/members/{user_id}", tag = "projects", params(("id" = i64, Path, description = "project id"), ("user_id" = i64, Path, description = "the member's user id")), responses((status = 200, body = [Member]), (status = 404, description = "no such project or member", body = ErrorBody), (status = 409, description = "the project's last requester, or its creator removed by someone else", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn remove_member(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let user = require_project_requester(&state, &caller, id).await?;
    let by = (user.role != Role::Admin).then_some(user.id);
    state.store.remove_member(id, user_id, by).await?;
    tracing::info!(project_id = id, user_id, "member removed");
    Ok(Json(state.store.members(id).await?))
}

#[utoipa::path(get, path = "/api/projects/{id}/members", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = [Member]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_members(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Member>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    Ok(Json(state.store.members(id).await?))
}

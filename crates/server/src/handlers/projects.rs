//! Projects, their batches, cancelling tasks and progress.

use axum::Json;
use axum::extract::State;
use tessera_api::{
    Batch, BatchUpdate, CancelTasksRequest, CancelTasksResponse, CreateProjectRequest, ErrorBody,
    Project, ProjectDeleted, ProjectStatus, Role, UpdateProjectRequest,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::metrics::Metrics;
use crate::refit::refit_project;
use crate::store::ProjectsOf;

use super::*;

#[utoipa::path(post, path = "/api/projects", tag = "projects", request_body = CreateProjectRequest, responses((status = 200, body = Project), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn create_project(
    State(state): Shared,
    caller: Caller,
    ApiJson(req): ApiJson<CreateProjectRequest>,
) -> Result<Json<Project>, ApiError> {
    let user = caller.require(&[Role::Requester])?;
    let name = checked_name(&req.name)?;
    let mut schema = req.schema;
    schema.normalize();
    schema
        .validate()
        .map_err(|e| ApiError::BadRequest(format!("schema: {e}")))?;
    let project = state
        .store
        .create_project(
            name,
            &schema,
            (user.role == Role::Requester).then_some(user.id),
            state.clock.now(),
        )
        .await?;
    tracing::info!(project_id = project.id, "project created");
    Ok(Json(project))
}

#[utoipa::path(get, path = "/api/projects", tag = "projects", responses((status = 200, body = [Project]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_projects(
    State(state): Shared,
    caller: Caller,
) -> Result<Json<Vec<Project>>, ApiError> {
    // A requester sees the projects they run, never another requester's; an annotator the
    // open projects and those they are a member of.
    let who = match caller.0.role {
        Role::Admin => ProjectsOf::Everyone,
        Role::Requester => ProjectsOf::Requester(caller.0.id),
        Role::Annotator => ProjectsOf::Annotator(caller.0.id),
    };
    Ok(Json(state.store.projects(who).await?))
}

#[utoipa::path(get, path = "/api/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = Project), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_project(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Project>, ApiError> {
    let project = state.store.project(id).await?;
    require_project_reader(&state, &caller, id).await?;
    Ok(Json(project))
}

#[utoipa::path(get, path = "/api/projects/{id}/batches", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = [Batch]), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_batches(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Batch>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    Ok(Json(state.store.batches(id).await?))
}

/// Changes a batch's priority: its open tasks are leased before (or after) other batches'.
#[utoipa::path(patch, path = "/api/projects/{id}/batches/{batch_id}", tag = "projects", params(("id" = i64, Path, description = "project id"), ("batch_id" = i64, Path, description = "batch id")), request_body = BatchUpdate, responses((status = 200, body = Batch), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn update_batch(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, batch_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<BatchUpdate>,
) -> Result<Json<Batch>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let batch = state
        .store
        .set_batch_priority(id, batch_id, req.priority)
        .await?;
    tracing::info!(
        project_id = id,
        batch_id,
        priority = req.priority,
        "batch priority set"
    );
    Ok(Json(batch))
}

#[utoipa::path(post, path = "/api/projects/{id}/tasks/cancel", tag = "projects", params(("id" = i64, Path, description = "project id")), request_body = CancelTasksRequest, responses((status = 200, body = CancelTasksResponse), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn cancel_tasks(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CancelTasksRequest>,
) -> Result<Json<CancelTasksResponse>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let named = req.task_ids.len() + req.external_ids.len();
    if named == 0 || named > MAX_CANCEL_TASKS {
        return Err(ApiError::BadRequest(format!(
            "name 1 to {MAX_CANCEL_TASKS} tasks in task_ids and external_ids"
        )));
    }
    let response = state.store.cancel_tasks(id, req, state.clock.now()).await?;
    Metrics::add(&state.metrics.tasks_cancelled, response.cancelled);
    tracing::info!(
        project_id = id,
        cancelled = response.cancelled,
        already_cancelled = response.already_cancelled,
        "tasks cancelled"
    );
    Ok(Json(response))
}

#[utoipa::path(get, path = "/api/projects/{id}/status", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = ProjectStatus), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_status(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectStatus>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let mut status = state.store.status(id, state.clock.now()).await?;
    let project = state.store.project(id).await?;
    let (stuck, because) = super::tasks::stuck_tasks(&state, &project).await?;
    status.stuck = stuck.len() as u64;
    status.stuck_because = (!stuck.is_empty()).then_some(because);
    Ok(Json(status))
}

/// Renames the project or replaces its schema. Schema changes that would leave stored work
/// meaning nothing (another kind, a used label removed, one label an answer where answers
/// hold several) are refused with the reason; the rest apply at once: a single-choice
/// project's tasks are re-fitted, so a lower overlap completes the tasks that now have
/// enough answers.
#[utoipa::path(patch, path = "/api/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "project id")), request_body = UpdateProjectRequest, responses((status = 200, body = Project), (status = 409, description = "the schema change would invalidate stored work", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn update_project(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateProjectRequest>,
) -> Result<Json<Project>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let name = match &req.name {
        Some(name) => checked_name(name)?.to_owned(),
        None => project.name.clone(),
    };
    let schema = match req.schema {
        Some(mut schema) => {
            schema.normalize();
            let usage = state.store.label_usage(id).await?;
            if let Some(why) = crate::schema_edit::refusal(&project.schema, &schema, &usage) {
                return Err(ApiError::Conflict(format!("schema: {why}")));
            }
            schema
        }
        None => project.schema.clone(),
    };
    let refit = schema != project.schema && schema.can_refit();
    let updated = state.store.update_project(id, &name, &schema).await?;
    tracing::info!(project_id = id, by = caller.0.id, "project edited");
    if refit {
        // Tasks take the new assignment at once (overlap, target) where a re-fit can say so.
        match refit_project(state.store.as_ref(), id).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(project_id = id, error = %e, "re-fit after an edit failed"),
        }
    }
    Ok(Json(updated))
}

/// Archives the project: annotators no longer see it or get its tasks; answers made before
/// still sync in; its requesters see, export and restore it.
#[utoipa::path(post, path = "/api/projects/{id}/archive", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = Project), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn archive_project(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Project>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state
        .store
        .archive_project(id, Some(state.clock.now()))
        .await?;
    tracing::info!(project_id = id, by = caller.0.id, "project archived");
    Ok(Json(project))
}

/// Restores an archived project.
#[utoipa::path(post, path = "/api/projects/{id}/restore", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = Project), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn restore_project(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Project>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.archive_project(id, None).await?;
    tracing::info!(project_id = id, by = caller.0.id, "project restored");
    Ok(Json(project))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Must be true: deleting is for good.
    #[serde(default)]
    confirm: bool,
}

/// Deletes the project, its tasks and every answer, for good. Needs `?confirm=true`; export
/// it first. Annotators holding its tasks hear they are withdrawn.
#[utoipa::path(delete, path = "/api/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "project id"), DeleteQuery), responses((status = 200, body = ProjectDeleted), (status = 400, description = "not confirmed", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn delete_project(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<ProjectDeleted>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    if !query.confirm {
        return Err(ApiError::BadRequest(format!(
            "deleting project {id} deletes its tasks and every answer for good: export it first (GET /api/projects/{id}/export), then repeat with ?confirm=true"
        )));
    }
    let (tasks, answers) = state.store.delete_project(id).await?;
    tracing::info!(
        project_id = id,
        by = caller.0.id,
        tasks,
        answers,
        "project deleted"
    );
    Ok(Json(ProjectDeleted {
        project_id: id,
        tasks,
        answers,
    }))
}

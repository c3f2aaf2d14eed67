//! The requester's task browser: a filtered page of tasks, one task in full, and sending
//! tasks to review or up the queue.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use tessera_api::{
    ErrorBody, Project, TaskDetail, TaskIdsRequest, TaskListQuery, TaskOrder, TaskPage,
    TaskPriorityRequest, TaskStatus, TasksChanged,
};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::store::TaskFilter;
use crate::suspension::suspended_annotators;

use super::*;

/// Tasks a page holds at most.
pub const MAX_TASK_PAGE: u32 = 500;
/// Stuck tasks counted (and listed) at most.
pub const MAX_STUCK: u32 = 10_000;
/// Tasks one change names at most.
pub const MAX_TASK_CHANGE: usize = 100_000;

/// A page of the project's tasks: filtered, in upload order or lowest confidence first.
#[utoipa::path(get, path = "/api/projects/{id}/tasks", tag = "tasks", params(("id" = i64, Path, description = "project id"), TaskListQuery), responses((status = 200, body = TaskPage), (status = 400, description = "a bad filter or cursor", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_tasks(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TaskListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_TASK_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_TASK_PAGE}"
        )));
    }
    if let Some(c) = query.max_confidence
        && !(0.0..=1.0).contains(&c)
    {
        return Err(ApiError::BadRequest(format!(
            "max_confidence must be 0 to 1, got {c}"
        )));
    }
    let order = query.order.unwrap_or_default();
    let after = query
        .cursor
        .as_deref()
        .map(|c| parse_cursor(c, order))
        .transpose()?;
    // Stuck tasks are found a page at a time, in upload order, then filtered further.
    let stuck = if query.status == Some(TaskStatus::Stuck) {
        if order != TaskOrder::Upload {
            return Err(ApiError::BadRequest(
                "stuck tasks are listed in upload order".to_owned(),
            ));
        }
        let (eligible, _) = takers(&state, &project).await?;
        let from = after.map_or(0, |(_, id)| id);
        state
            .store
            .stuck_tasks(id, eligible, state.clock.now(), from, limit)
            .await?
    } else {
        Vec::new()
    };
    let stuck_page_full = stuck.len() == limit as usize;
    let last_stuck = stuck.last().copied();
    let filter = TaskFilter {
        status: query.status,
        max_confidence: query.max_confidence,
        label: query.label,
        annotator: query.annotator,
        batch: query.batch,
        search: query
            .search
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty()),
        order,
        after,
        limit,
        stuck,
    };
    let mut tasks = state.store.browse_tasks(id, filter).await?;
    if query.status == Some(TaskStatus::Stuck) {
        for task in &mut tasks {
            task.status = TaskStatus::Stuck;
        }
    }
    let next_cursor = if query.status == Some(TaskStatus::Stuck) {
        // The next page starts after the last stuck task looked at, listed or not.
        last_stuck
            .filter(|_| stuck_page_full)
            .map(|id| id.to_string())
    } else {
        (tasks.len() == limit as usize)
            .then(|| tasks.last())
            .flatten()
            .map(|last| match order {
                TaskOrder::Upload => last.task_id.to_string(),
                TaskOrder::Confidence => {
                    format!("{}:{}", last.confidence.unwrap_or_default(), last.task_id)
                }
            })
    };
    Ok(Json(TaskPage { tasks, next_cursor }))
}

/// A cursor as [`list_tasks`] writes it: the last task's id, after its confidence in
/// confidence order.
fn parse_cursor(cursor: &str, order: TaskOrder) -> Result<(Option<f64>, i64), ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "cursor {cursor:?} is not one this listing gave (pass next_cursor back as it is, with the same order)"
        ))
    };
    match order {
        TaskOrder::Upload => Ok((None, cursor.parse().map_err(|_| bad())?)),
        TaskOrder::Confidence => {
            let (confidence, id) = cursor.split_once(':').ok_or_else(bad)?;
            let confidence: f64 = confidence.parse().map_err(|_| bad())?;
            if !confidence.is_finite() {
                return Err(bad());
            }
            Ok((Some(confidence), id.parse().map_err(|_| bad())?))
        }
    }
}

/// Who may take the project's tasks now: its annotators less the suspended.
async fn takers(state: &AppState, project: &Project) -> Result<(Vec<i64>, usize), ApiError> {
    let suspended = suspended_annotators(state.store.as_ref(), project).await?;
    let all = state.store.project_annotators(project.id).await?;
    let suspended_here = all.iter().filter(|a| suspended.contains(a)).count();
    Ok((
        all.into_iter().filter(|a| !suspended.contains(a)).collect(),
        suspended_here,
    ))
}

/// The project's stuck tasks (the first [`MAX_STUCK`]) and why no one can take them.
pub(crate) async fn stuck_tasks(
    state: &AppState,
    project: &Project,
) -> Result<(Vec<i64>, String), ApiError> {
    let (eligible, suspended) = takers(state, project).await?;
    let n = eligible.len();
    let stuck = state
        .store
        .stuck_tasks(project.id, eligible, state.clock.now(), 0, MAX_STUCK)
        .await?;
    Ok((stuck, stuck_reason(n, suspended)))
}

/// Why a stuck task is stuck, and what frees it.
fn stuck_reason(eligible: usize, suspended: usize) -> String {
    let who = match eligible {
        0 => "no annotator may work on this project".to_owned(),
        1 => "the one annotator who may work on this project answered or skipped it".to_owned(),
        n => format!("all {n} annotators who may work on this project answered or skipped it"),
    };
    let suspended = match suspended {
        0 => String::new(),
        1 => " (1 more is suspended)".to_owned(),
        n => format!(" ({n} more are suspended)"),
    };
    format!(
        "{who}{suspended}: add people (tessera member add, tessera token create --project), lower the overlap (tessera project edit), or send it to review (tessera task review)"
    )
}

/// One task in full: data, predictions, every answer with its annotator and time, the
/// consensus and the review, and whether (and why) it is stuck.
#[utoipa::path(get, path = "/api/projects/{id}/tasks/{task_id}", tag = "tasks", params(("id" = i64, Path, description = "project id"), ("task_id" = i64, Path, description = "task id")), responses((status = 200, body = TaskDetail), (status = 404, description = "no such task in the project", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_task(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, task_id)): ApiPath<(i64, i64)>,
) -> Result<Json<TaskDetail>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let (record, task) = state.store.task(id, task_id, state.clock.now()).await?;
    let mut status = task.status;
    let mut stuck_because = None;
    if status == TaskStatus::Open && task.live_leases == 0 {
        let (eligible, suspended) = takers(&state, &project).await?;
        let finished: BTreeSet<i64> = task.finished.iter().copied().collect();
        if eligible.iter().all(|a| finished.contains(a)) {
            status = TaskStatus::Stuck;
            stuck_because = Some(stuck_reason(eligible.len(), suspended));
        }
    }
    Ok(Json(TaskDetail {
        status,
        batch_id: task.batch_id,
        priority: task.priority,
        stuck_because,
        record,
    }))
}

fn checked_ids(ids: &[i64]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_TASK_CHANGE {
        return Err(ApiError::BadRequest(format!(
            "name 1 to {MAX_TASK_CHANGE} task ids"
        )));
    }
    Ok(())
}

/// Sends tasks to the review queue (cancelled, gold and reviewed tasks are left as they are).
#[utoipa::path(post, path = "/api/projects/{id}/tasks/review", tag = "tasks", params(("id" = i64, Path, description = "project id")), request_body = TaskIdsRequest, responses((status = 200, body = TasksChanged), (status = 404, description = "a task id the project does not have (nothing changed)", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn review_tasks(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TaskIdsRequest>,
) -> Result<Json<TasksChanged>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    checked_ids(&req.task_ids)?;
    let changed = state.store.send_to_review(id, req.task_ids).await?;
    tracing::info!(project_id = id, changed, "tasks sent to review");
    Ok(Json(TasksChanged { changed }))
}

/// Sets tasks' priority: leased before (or after) tasks of lower priority.
#[utoipa::path(post, path = "/api/projects/{id}/tasks/priority", tag = "tasks", params(("id" = i64, Path, description = "project id")), request_body = TaskPriorityRequest, responses((status = 200, body = TasksChanged), (status = 404, description = "a task id the project does not have (nothing changed)", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn prioritize_tasks(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TaskPriorityRequest>,
) -> Result<Json<TasksChanged>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    checked_ids(&req.task_ids)?;
    let changed = state
        .store
        .set_task_priority(id, req.task_ids, req.priority)
        .await?;
    Ok(Json(TasksChanged { changed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(parse_cursor("42", TaskOrder::Upload).ok(), Some((None, 42)));
        assert_eq!(
            parse_cursor("0.6666666666666666:42", TaskOrder::Confidence).ok(),
            Some((Some(0.6666666666666666), 42))
        );
        for (bad, order) in [
            ("x", TaskOrder::Upload),
            ("42", TaskOrder::Confidence),
            ("NaN:4", TaskOrder::Confidence),
            ("0.5:x", TaskOrder::Confidence),
        ] {
            assert!(parse_cursor(bad, order).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reason_says_who_and_what_frees_it() {
        assert!(stuck_reason(0, 0).starts_with("no annotator may work"));
        let two = stuck_reason(2, 1);
        assert!(two.contains("all 2 annotators") && two.contains("1 more is suspended"));
        assert!(two.contains("member add") && two.contains("review"));
    }
}

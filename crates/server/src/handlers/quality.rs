//! Quality: consensus re-fits, stats, annotators' skill and suspension, reviews.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tessera_api::{
    AnnotatorSkill, ErrorBody, ExportRecord, ProjectRole, ProjectStats, RefitResponse,
    ReviewRequest, Role,
};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::quality::flag_annotators;
use crate::refit::refit_project;
use crate::suspension::{Gold, accuracy_upper_bound, gold_records, suspends};

use super::*;

/// Re-fits the project's consensus with the aggregator's default method now.
#[utoipa::path(post, path = "/api/projects/{id}/consensus/refit", tag = "consensus", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = RefitResponse), (status = 409, description = "a multiple-choice project", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn refit_consensus(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RefitResponse>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    Ok(Json(refit_project(state.store.as_ref(), id).await?))
}

/// The dashboard's figures: answers per hour, completion over time, time per answer and
/// agreement.
#[utoipa::path(get, path = "/api/projects/{id}/stats", tag = "quality", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = ProjectStats), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_stats(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectStats>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let times = state.store.answer_times(id).await?;
    let inputs = if project.schema.can_refit() {
        state.store.consensus_inputs(id).await?
    } else {
        crate::store::ConsensusInputs::default()
    };
    let mut stats =
        crate::stats::project_stats(&project.schema, &times, &inputs.answers, &inputs.gold);
    stats.label_counts = crate::annotator_agreement::label_counts(&inputs.consensus);
    let status = state.store.status(id, state.clock.now()).await?;
    let left = status
        .tasks
        .saturating_sub(status.complete)
        .saturating_sub(status.cancelled);
    stats.forecast = Some(crate::stats::forecast(
        &stats.complete_by_hour,
        left,
        state.clock.now(),
    ));
    if project.schema.model.is_some() {
        stats.model_runs = state.store.model_runs(id).await?;
    }
    Ok(Json(stats))
}

/// Each annotator's answers, accuracy on gold, suspension and last activity.
#[utoipa::path(get, path = "/api/projects/{id}/annotators", tag = "quality", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = [AnnotatorSkill]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_annotators(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<AnnotatorSkill>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    Ok(Json(annotator_skills(&state, id).await?))
}

/// What [`get_annotators`] lists.
async fn annotator_skills(state: &AppState, id: i64) -> Result<Vec<AnnotatorSkill>, ApiError> {
    let project = state.store.project(id).await?;
    let store = state.store.as_ref();
    let gold = gold_records(store, id, None).await?;
    let mut paces = flag_annotators(&store.answer_times(id).await?);
    let mut against = if project.schema.can_refit() {
        let inputs = store.consensus_inputs(id).await?;
        crate::annotator_agreement::against_consensus(&inputs.answers, &inputs.consensus)
    } else {
        Default::default()
    };
    let skills = store
        .answer_counts(id)
        .await?
        .into_iter()
        .map(|count| {
            let Gold {
                whole: (gold_answers, gold_correct),
                since_lift: record,
            } = gold.get(&count.annotator_id).copied().unwrap_or_default();
            let pace = paces.remove(&count.annotator_id).unwrap_or_default();
            let vs = against.remove(&count.annotator_id).unwrap_or_default();
            AnnotatorSkill {
                annotator_id: count.annotator_id,
                annotator: count.name,
                answers: count.answers,
                last_answer_at: count.last_answer_at,
                gold_answers,
                gold_correct,
                gold_accuracy: (gold_answers > 0)
                    .then(|| gold_correct as f64 / gold_answers as f64),
                gold_accuracy_upper: (record.0 > 0).then(|| accuracy_upper_bound(record)),
                suspended: suspends(&project, record),
                median_seconds: pace.median_seconds,
                top_label_share: pace.top_label_share,
                agreement: (vs.compared > 0).then(|| vs.agreed as f64 / vs.compared as f64),
                agreement_answers: vs.compared,
                confusion: vs.confusion,
                flags: pace.flags,
            }
        })
        .collect();
    Ok(skills)
}

/// Lifts an annotator's suspension from the project: their gold record so far is set aside
/// (it stays in the annotators' view), and only gold they answer from now on can suspend them
/// again. Their answers count again from the next re-fit.
#[utoipa::path(post, path = "/api/projects/{id}/annotators/{user_id}/unsuspend", tag = "quality", params(("id" = i64, Path, description = "project id"), ("user_id" = i64, Path, description = "the annotator's user id")), responses((status = 200, body = AnnotatorSkill), (status = 404, description = "no such annotator in the project", body = ErrorBody), (status = 409, description = "not suspended", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn unsuspend(
    State(state): Shared,
    caller: Caller,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> Result<Json<AnnotatorSkill>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let gold = gold_records(state.store.as_ref(), id, Some(user_id)).await?;
    let Some(&Gold {
        whole,
        since_lift: record,
    }) = gold.get(&user_id)
    else {
        return Err(ApiError::NotFound(format!(
            "annotator {user_id} has answered no gold in project {id}"
        )));
    };
    if !suspends(&project, record) {
        return Err(ApiError::Conflict(format!(
            "annotator {user_id} is not suspended from project {id}"
        )));
    }
    let by = (caller.0.role != Role::Admin).then_some(caller.0.id);
    state
        .store
        .lift_suspension(id, user_id, whole, by, state.clock.now())
        .await?;
    tracing::info!(
        project_id = id,
        user_id,
        by = caller.0.id,
        "suspension lifted"
    );
    annotator_skills(&state, id)
        .await?
        .into_iter()
        .find(|s| s.annotator_id == user_id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("annotator {user_id} in project {id}")))
}

/// Requesters and admins review any project; anyone else only as its reviewer member.
async fn require_reviewer<'c>(
    state: &AppState,
    caller: &'c Caller,
    project_id: i64,
) -> Result<&'c crate::store::User, ApiError> {
    if caller.0.role == Role::Admin {
        return Ok(&caller.0);
    }
    match state.store.membership(project_id, caller.0.id).await? {
        (_, Some(ProjectRole::Reviewer)) => Ok(&caller.0),
        (_, Some(ProjectRole::Requester)) if caller.0.role == Role::Requester => Ok(&caller.0),
        _ if caller.0.role == Role::Requester => Err(not_their_project(project_id)),
        _ => Err(ApiError::Forbidden(format!(
            "reviewing needs a reviewer membership of project {project_id}, or to be one of its requesters"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    limit: Option<u32>,
}

/// The review queue: tasks still below the confidence target after the maximum overlap, with
/// every answer and the consensus (requesters; a reviewer role is not there yet).
#[utoipa::path(get, path = "/api/projects/{id}/review", tag = "review", params(("id" = i64, Path, description = "project id"), ("limit" = Option<u32>, Query, description = "tasks to list")), responses((status = 200, body = [ExportRecord]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_review_queue(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<Json<Vec<ExportRecord>>, ApiError> {
    require_reviewer(&state, &caller, id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_CHANGES_PAGE);
    Ok(Json(state.store.review_queue(id, limit).await?))
}

/// A reviewer's verdict: the task's final label, kept beside the crowd consensus.
#[utoipa::path(post, path = "/api/projects/{id}/review", tag = "review", params(("id" = i64, Path, description = "project id")), request_body = ReviewRequest, responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn post_review(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(review): ApiJson<ReviewRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = require_reviewer(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    project
        .schema
        .check_answer(&review.labels)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let task_id = review.task_id;
    state
        .store
        .record_review(id, review, user, state.clock.now())
        .await?;
    tracing::info!(
        project_id = id,
        task_id,
        reviewer = user.id,
        "review recorded"
    );
    Ok(Json(
        serde_json::json!({ "task_id": task_id, "status": "reviewed" }),
    ))
}

//! HTTP handlers, one verb-named function per endpoint. They check the caller's role, apply
//! the server's policy (limits, TTLs) and leave storage rules to the [`Store`](crate::store::Store).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde::Deserialize;
use tessera_api::{
    AddMemberRequest, AnnotatorSkill, AnswerPush, Batch, BatchUpdate, CancelTasksRequest,
    CancelTasksResponse, ChangesPage, CreateProjectRequest, CreateTokenRequest,
    CreateTokenResponse, ErrorBody, ExportRecord, InviteRequest, InviteResponse, LeaseRequest,
    LeaseResponse, Me, Member, Project, ProjectRole, ProjectStats, ProjectStatus,
    PushAnswersRequest, PushAnswersResponse, PushResult, PushStatus, RefitResponse, ReviewRequest,
    Role, TokenInfo,
};

use crate::AppState;
use crate::auth::{Caller, generate_token, hash_token};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::metrics::Metrics;
use crate::quality::flag_annotators;
use crate::refit::refit_project;
use crate::store::{LeaseQuery, ProjectsOf, gold_tally};

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

/// How many of a lease's `limit` slots go to gold: each slot is gold with probability `rate`,
/// so where gold sits in an annotator's stream cannot be predicted.
fn gold_slots(limit: u32, rate: f64) -> u32 {
    if rate <= 0.0 {
        return 0;
    }
    let mut rng = rand::rng();
    (0..limit)
        .filter(|_| rand::Rng::random::<f64>(&mut rng) < rate)
        .count() as u32
}

/// What a suspended annotator is told: nothing that depends on their answers.
pub const SUSPENDED: &str = "suspended from this project: your answers fell below its quality bar; \
     answers you made still sync, and the project's requester can tell you more";

/// Below the bar after enough gold answers.
fn is_suspended(answered: u64, correct: u64, min_answers: u32, bar: f64) -> bool {
    answered > 0 && answered >= u64::from(min_answers) && (correct as f64) < bar * answered as f64
}

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
    let labelled = if project.schema.can_refit() {
        state.store.consensus_inputs(id).await?.answers
    } else {
        Vec::new()
    };
    Ok(Json(crate::stats::project_stats(
        &project.schema,
        &times,
        &labelled,
    )))
}

/// Each annotator's answers and accuracy on gold, and whether they are suspended.
#[utoipa::path(get, path = "/api/projects/{id}/annotators", tag = "quality", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = [AnnotatorSkill]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_annotators(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<AnnotatorSkill>>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let tally = gold_tally(&state.store.gold_answers(id, None).await?);
    let mut paces = flag_annotators(&state.store.answer_times(id).await?);
    let skills = state
        .store
        .answer_counts(id)
        .await?
        .into_iter()
        .map(|(annotator_id, annotator, answers)| {
            let (gold_answers, gold_correct) =
                tally.get(&annotator_id).copied().unwrap_or_default();
            let pace = paces.remove(&annotator_id).unwrap_or_default();
            AnnotatorSkill {
                annotator,
                answers,
                gold_answers,
                gold_correct,
                gold_accuracy: (gold_answers > 0)
                    .then(|| gold_correct as f64 / gold_answers as f64),
                suspended: project.schema.suspend_below.is_some_and(|bar| {
                    is_suspended(
                        gold_answers,
                        gold_correct,
                        project.schema.gold_min_answers,
                        bar,
                    )
                }),
                median_seconds: pace.median_seconds,
                top_label_share: pace.top_label_share,
                flags: pace.flags,
            }
        })
        .collect();
    Ok(Json(skills))
}

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

#[utoipa::path(post, path = "/api/tokens", tag = "auth", request_body = CreateTokenRequest, responses((status = 200, body = CreateTokenResponse), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn create_token(
    State(state): Shared,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<Json<CreateTokenResponse>, ApiError> {
    caller.require(&[Role::Admin])?;
    let name = checked_name(&req.name)?;
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
    Ok(Json(CreateTokenResponse {
        user_id: user.id,
        name: user.name,
        role: user.role,
        token,
    }))
}

/// Every token holder, oldest first; tokens themselves are never shown again.
#[utoipa::path(get, path = "/api/tokens", tag = "auth", responses((status = 200, body = [TokenInfo]), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_tokens(
    State(state): Shared,
    caller: Caller,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.store.tokens().await?))
}

/// Revokes a user's token: it signs no one in from now on (on other replicas within a
/// minute). The user's work stays. The last working admin token cannot be revoked.
#[utoipa::path(delete, path = "/api/tokens/{user_id}", tag = "auth", params(("user_id" = i64, Path, description = "the token holder's user id")), responses((status = 200, body = TokenInfo), (status = 404, description = "no such user", body = ErrorBody), (status = 409, description = "the last working admin token", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): Shared,
    caller: Caller,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<TokenInfo>, ApiError> {
    caller.require(&[Role::Admin])?;
    let info = state.store.revoke_token(user_id, state.clock.now()).await?;
    state.tokens.forget_user(user_id);
    tracing::info!(user_id, by = caller.0.id, "token revoked");
    Ok(Json(info))
}

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

#[utoipa::path(post, path = "/api/projects/{id}/leases", tag = "annotation", params(("id" = i64, Path, description = "project id")), request_body = LeaseRequest, responses((status = 200, body = LeaseResponse), (status = 403, description = "wrong role, or suspended", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn lease_tasks(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> Result<Json<LeaseResponse>, ApiError> {
    let user = caller.require(&[Role::Annotator])?;
    let (closed, member) = state.store.membership(id, user.id).await?;
    if closed && member.is_none() && user.role != Role::Admin {
        return Err(members_only());
    }
    if req.limit == 0 || req.limit > MAX_LEASE_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_LEASE_LIMIT}"
        )));
    }
    let project = state.store.project(id).await?;
    if let Some(bar) = project.schema.suspend_below {
        let answers = state.store.gold_answers(id, Some(user.id)).await?;
        let (answered, correct) = gold_tally(&answers)
            .get(&user.id)
            .copied()
            .unwrap_or_default();
        // The same words for everyone: no count that could tell which answers were checked.
        if is_suspended(answered, correct, project.schema.gold_min_answers, bar) {
            return Err(ApiError::Suspended(SUSPENDED.to_owned()));
        }
    }
    let default_ttl = if req.offline {
        state.config.offline_lease_ttl
    } else {
        state.config.lease_ttl
    };
    let ttl = req
        .ttl_seconds
        .map_or(default_ttl, |s| Duration::seconds(i64::from(s)))
        .clamp(Duration::seconds(10), state.config.max_lease_ttl);
    // An offline checkout holds at most the project's quota (its held offline leases are
    // handed out first, so capping the request caps the total).
    let limit = if req.offline {
        req.limit.min(project.schema.offline_quota)
    } else {
        req.limit
    };
    let now = state.clock.now();
    let started = Instant::now();
    let tasks = state
        .store
        .lease(LeaseQuery {
            project_id: id,
            annotator_id: user.id,
            limit,
            now,
            // Stored to the microsecond: a lease read back from the database and one made
            // now must look alike (finer times told which tasks were drawn how).
            expires_at: chrono::SubsecRound::trunc_subsecs(now + ttl, 6),
            offline: req.offline,
            gold_slots: gold_slots(limit, project.schema.gold_rate),
        })
        .await?;
    state.metrics.lease_seconds.observe(started.elapsed());
    Metrics::add(&state.metrics.tasks_leased, tasks.len() as u64);
    Ok(Json(LeaseResponse { project, tasks }))
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

#[utoipa::path(post, path = "/api/answers", tag = "annotation", request_body = PushAnswersRequest, responses((status = 200, body = PushAnswersResponse), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn push_answers(
    State(state): Shared,
    caller: Caller,
    ApiJson(req): ApiJson<PushAnswersRequest>,
) -> Result<Json<PushAnswersResponse>, ApiError> {
    let user = caller.require(&[Role::Annotator])?;
    if req.answers.len() > MAX_PUSH_ANSWERS {
        return Err(ApiError::BadRequest(format!(
            "push at most {MAX_PUSH_ANSWERS} answers at a time"
        )));
    }
    let now = state.clock.now();
    // Answers no store could keep are refused here, each with its reason; the rest go on,
    // and the replies come back in the order the answers were pushed.
    let refusals: Vec<Option<PushResult>> =
        req.answers.iter().map(|a| unkeepable(a, now)).collect();
    let answers: Vec<AnswerPush> = req
        .answers
        .into_iter()
        .zip(&refusals)
        .filter(|(_, refusal)| refusal.is_none())
        .map(|(a, _)| a)
        .collect();
    let started = Instant::now();
    let mut stored = state
        .store
        .push_answers(user, answers, now, Arc::clone(&state.consensus))
        .await?
        .into_iter();
    let results = refusals
        .into_iter()
        .map(|refusal| {
            refusal
                .or_else(|| stored.next())
                .ok_or_else(|| ApiError::Internal("the store replied to fewer answers".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    state.metrics.push_seconds.observe(started.elapsed());
    for result in &results {
        let counter = match result.status {
            PushStatus::Accepted => &state.metrics.answers_accepted,
            PushStatus::Duplicate => &state.metrics.answers_duplicate,
            PushStatus::Rejected => &state.metrics.answers_rejected,
        };
        Metrics::add(counter, 1);
    }
    Ok(Json(PushAnswersResponse { results }))
}

/// Earliest device time an answer may carry: no labeling was done with Tessera before it.
const EARLIEST_ANSWER: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};
/// How far ahead of the server's clock a device's clock may run.
const CLOCK_AHEAD: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Why a pushed answer cannot be kept whatever the store holds: a nil id, or a device time
/// outside 2000-01-01 .. a day after now (such times broke exports and stats for everyone).
fn unkeepable(answer: &AnswerPush, now: chrono::DateTime<chrono::Utc>) -> Option<PushResult> {
    if answer.id.is_nil() || answer.id.is_max() {
        return Some(crate::store::rejected(
            answer.id,
            "invalid_answer",
            "an answer id must be a UUID made by the device, not the nil or max UUID".to_owned(),
        ));
    }
    let earliest = EARLIEST_ANSWER.and_time(chrono::NaiveTime::MIN).and_utc();
    if answer.answered_at < earliest || answer.answered_at > now + CLOCK_AHEAD {
        return Some(crate::store::rejected(
            answer.id,
            "invalid_time",
            format!(
                "the device's clock said {} when the answer was made; set the device's clock \
                 and answer again",
                answer.answered_at.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    None
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    #[serde(default)]
    since: i64,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/changes", tag = "annotation", params(("since" = Option<i64>, Query, description = "cursor from the previous page"), ("limit" = Option<u32>, Query, description = "changes per page")), responses((status = 200, body = ChangesPage), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn list_changes(
    State(state): Shared,
    caller: Caller,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Json<ChangesPage>, ApiError> {
    let user = caller.require(&[Role::Annotator])?;
    let limit = q.limit.unwrap_or(500).clamp(1, MAX_CHANGES_PAGE);
    Ok(Json(state.store.changes(user.id, q.since, limit).await?))
}

#[utoipa::path(get, path = "/api/projects/{id}/status", tag = "projects", params(("id" = i64, Path, description = "project id")), responses((status = 200, body = ProjectStatus), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn get_status(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectStatus>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    Ok(Json(state.store.status(id, state.clock.now()).await?))
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
    let token = generate_token();
    let now = state.clock.now();
    let user = state
        .store
        .create_user(name, Role::Annotator, &hash_token(&token), now)
        .await?;
    // Confined first: until they are a member, they see nothing.
    let added = match state.store.confine_user(user.id).await {
        Ok(()) => {
            state
                .store
                .add_member(id, user.id, Some(user.name.clone()), req.role, None, now)
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = added {
        // A token with no project would open every open project to them: take it back.
        if let Err(revoke) = state.store.revoke_token(user.id, now).await {
            tracing::error!(user_id = user.id, error = %revoke, "an invited user's token could not be revoked after a failed invite");
        }
        return Err(e.into());
    }
    tracing::info!(
        project_id = id,
        user_id = user.id,
        role = req.role.as_str(),
        "person invited"
    );
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

//! The annotator's queue: leases, pushed answers and the change feed.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use serde::Deserialize;
use tessera_api::{
    AnswerPush, ChangesPage, ErrorBody, LeaseRequest, LeaseResponse, PushAnswersRequest,
    PushAnswersResponse, PushResult, PushStatus, Role,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::metrics::Metrics;
use crate::store::LeaseQuery;
use crate::suspension::{gold_records, suspends};

use super::*;

/// How many of a lease's `limit` slots go to gold: each slot is gold with probability `rate`,
/// so where gold sits in an annotator's stream cannot be predicted.
pub(crate) fn gold_slots(limit: u32, rate: f64) -> u32 {
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

#[utoipa::path(post, path = "/api/projects/{id}/leases", tag = "annotation", params(("id" = i64, Path, description = "project id")), request_body = LeaseRequest, responses((status = 200, body = LeaseResponse), (status = 403, description = "wrong role, or suspended", body = ErrorBody), (status = 409, description = "the project is archived", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
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
    if project.archived_at.is_some() {
        return Err(ApiError::Archived(format!(
            "project {id} is archived: it has no tasks to give; answers you made still sync"
        )));
    }
    if project.schema.suspend_below.is_some() {
        let records = gold_records(state.store.as_ref(), id, Some(user.id)).await?;
        let record = records.get(&user.id).copied().unwrap_or_default();
        // The same words for everyone: no count that could tell which answers were checked.
        if suspends(&project, record.since_lift) {
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

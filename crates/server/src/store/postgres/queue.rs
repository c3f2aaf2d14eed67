//! Leases and the change feed on PostgreSQL (see the module's concurrency rules).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use tessera_api::{AnswerPush, CancelTasksRequest, Change, ChangesPage, LeasedTask, PushResult};
use tessera_core::{ConsensusMethod, Prediction};

use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::*;
use crate::store::QueueStore;
use crate::store::{LeaseQuery, StoreError, StoreResult, User, unknown_external_id, unknown_task};
use tessera_core::QueueOrder;

#[async_trait]
impl QueueStore for PostgresStore {
    async fn lease(&self, q: LeaseQuery) -> StoreResult<Vec<LeasedTask>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // A task's capacity: what its answers so far want, or the schema's first ask.
        let schema = self.project_in(&tx, q.project_id).await?.schema;
        let first_ask = i64::from(schema.progress(0, None).wanted);
        let candidates_sql = lease_candidates(schema.order);
        lock_feed(&tx, q.annotator_id).await?;
        let limit = i64::from(q.limit);
        // Tasks this annotator already holds come first, their leases extended to this one's
        // expiry, in one statement.
        let mut held: Vec<i64> = tx
            .cached_query(
                "WITH held AS (
                     SELECT l.task_id,
                            row_number() OVER (ORDER BY $5 AND l.offline DESC, l.leased_at, l.task_id) AS n
                     FROM leases l JOIN tasks t ON t.id = l.task_id
                     WHERE l.annotator_id = $1 AND t.project_id = $2 AND l.state = 'active'
                       AND l.expires_at > $3 AND t.cancelled_at IS NULL
                     ORDER BY n LIMIT $4
                 ), extended AS (
                     UPDATE leases SET expires_at = GREATEST(expires_at, $6), offline = offline OR $5
                     WHERE annotator_id = $1 AND task_id IN (SELECT task_id FROM held)
                 )
                 SELECT task_id FROM held ORDER BY n",
                &[&q.annotator_id, &q.project_id, &q.now, &limit, &q.offline, &q.expires_at],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let already_held = held.len();
        // Concurrent leasers see the same candidates: some are locked by others (skipped),
        // some turn out full once locked. Another round looks further down the queue, so an
        // annotator never hears "no tasks" while suitable tasks remain.
        // Gold first (as many as the handler drew), drawn at random from those this annotator
        // never had; they have no overlap to respect, so no row locks.
        let room = limit - held.len() as i64;
        if q.gold_slots > 0 && room > 0 {
            let gold: Vec<i64> = tx
                .cached_query(
                    "SELECT t.id FROM tasks t
                     WHERE t.project_id = $1 AND t.gold IS NOT NULL AND t.cancelled_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2)
                     ORDER BY random() LIMIT $3",
                    &[&q.project_id, &q.annotator_id, &room.min(i64::from(q.gold_slots))],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            insert_leases(&tx, &q, &gold).await?;
            held.extend(gold);
        }
        let mut full: Vec<i64> = Vec::new();
        let mut fetched: HashMap<i64, LeasedTask> = HashMap::new();
        for _round in 0..MAX_LEASE_ROUNDS {
            let wanted = limit - held.len() as i64;
            if wanted <= 0 {
                break;
            }
            let candidates: Vec<i64> = tx
                .cached_query(
                    &candidates_sql,
                    &[
                        &q.project_id,
                        &q.annotator_id,
                        &q.now,
                        &first_ask,
                        &wanted,
                        &full,
                    ],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if candidates.is_empty() {
                break;
            }
            let fresh = lease_with_room(&tx, &q, &candidates, first_ask).await?;
            full.extend(
                candidates
                    .iter()
                    .filter(|id| !fresh.iter().any(|t| t.task_id == **id)),
            );
            for task in fresh {
                held.push(task.task_id);
                fetched.insert(task.task_id, task);
            }
        }
        // The new leases in random order, in the reply and in the change feed: where gold sits
        // says nothing.
        let new = &mut held[already_held..];
        rand::seq::SliceRandom::shuffle(new, &mut rand::rng());
        note_leases(&tx, q.annotator_id, new).await?;
        // Held and gold tasks are read now; those leased in the rounds came with their lease.
        let unread: Vec<i64> = held
            .iter()
            .filter(|id| !fetched.contains_key(id))
            .copied()
            .collect();
        if !unread.is_empty() {
            fetched.extend(leased_tasks(&tx, &unread, q.annotator_id).await?);
        }
        let tasks = held
            .iter()
            .map(|id| {
                fetched
                    .remove(id)
                    .ok_or_else(|| StoreError::Backend(format!("leased task {id} vanished")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(tasks)
    }

    async fn push_answers(
        &self,
        annotator: &User,
        answers: Vec<AnswerPush>,
        now: DateTime<Utc>,
        method: std::sync::Arc<dyn ConsensusMethod>,
    ) -> StoreResult<Vec<PushResult>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let results = self
            .push_in(&tx, annotator, &answers, now, method.as_ref())
            .await?;
        tx.commit().await?;
        Ok(results)
    }

    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT c.seq, c.kind, c.task_id, c.answer_id, a.revision, a.labels, a.skipped
                 FROM changes c LEFT JOIN answers a ON a.id = c.answer_id
                 WHERE c.annotator_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3",
                &[&annotator_id, &since, &(i64::from(limit) + 1)],
            )
            .await?;
        let has_more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        // The page's leased tasks in one query.
        let mut lease_ids = Vec::new();
        for row in rows {
            if row.try_get::<_, &str>(1)? == "lease" {
                lease_ids.push(row.try_get::<_, i64>(2)?);
            }
        }
        let leased = leased_tasks(&c, &lease_ids, annotator_id).await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get(0)?;
            let kind: &str = row.try_get(1)?;
            let task_id: i64 = row.try_get(2)?;
            let change = match kind {
                "lease" => Change::Lease {
                    seq,
                    task: leased.get(&task_id).cloned().ok_or_else(|| {
                        StoreError::Backend(format!("change {seq} names a task not leased"))
                    })?,
                },
                "cancel" => Change::Cancel { seq, task_id },
                "answer" => {
                    let answer_id: Option<Uuid> = row.try_get(3)?;
                    let revision: Option<i32> = row.try_get(4)?;
                    let labels: Option<Json<Vec<String>>> = row.try_get(5)?;
                    let skipped: Option<bool> = row.try_get(6)?;
                    match (answer_id, revision, labels, skipped) {
                        (Some(answer_id), Some(revision), Some(Json(labels)), Some(skipped)) => {
                            Change::Answer {
                                seq,
                                task_id,
                                answer_id,
                                revision: revision.max(0) as u32,
                                labels,
                                skipped,
                            }
                        }
                        _ => {
                            return Err(StoreError::Backend(format!(
                                "change {seq} names a missing answer"
                            )));
                        }
                    }
                }
                other => {
                    return Err(StoreError::Backend(format!(
                        "unknown change kind {other:?}"
                    )));
                }
            };
            changes.push(change);
        }
        let cursor = changes.last().map_or(since, Change::seq);
        Ok(ChangesPage {
            changes,
            cursor,
            has_more,
        })
    }
}

/// Leased tasks as the annotator sees them (data, prediction, lease expiry), by task id,
/// in one query.
async fn leased_tasks(
    c: &impl GenericClient,
    task_ids: &[i64],
    annotator_id: i64,
) -> StoreResult<HashMap<i64, LeasedTask>> {
    let rows = c
        .cached_query(
            &format!(
                "SELECT t.id, t.project_id, t.data, {SHOWN_PREDICTION}, l.expires_at
                 FROM tasks t JOIN leases l ON l.task_id = t.id AND l.annotator_id = $2
                 WHERE t.id = ANY($1)"
            ),
            &[&task_ids, &annotator_id],
        )
        .await?;
    let mut tasks = HashMap::with_capacity(rows.len());
    for row in rows {
        let task = leased_task_from(&row, row.try_get(4)?)?;
        tasks.insert(task.task_id, task);
    }
    Ok(tasks)
}

/// The prediction annotators see beside task `t`: a model's latest, else the uploaded one.
const SHOWN_PREDICTION: &str = "COALESCE((SELECT jsonb_build_object('labels', m.labels,
        'score', m.score, 'model_version', m.model_version)
    FROM model_predictions m WHERE m.task_id = t.id
    ORDER BY m.created_at DESC, m.source LIMIT 1), t.prediction)";

/// A leased task from a row of its id, project id, data and prediction.
fn leased_task_from(row: &Row, expires_at: DateTime<Utc>) -> StoreResult<LeasedTask> {
    let Json(data): Json<Map<String, Value>> = row.try_get(2)?;
    let prediction: Option<Json<Prediction>> = row.try_get(3)?;
    Ok(LeasedTask {
        task_id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        data,
        prediction: prediction.map(|Json(p)| p),
        expires_at,
    })
}

/// The ids of the tasks a cancel request names, sorted; an unknown one fails the request.
pub(super) async fn named_tasks(
    c: &impl GenericClient,
    project_id: i64,
    request: &CancelTasksRequest,
) -> StoreResult<Vec<i64>> {
    let mut ids = HashSet::new();
    let mut externals = HashSet::new();
    for row in c
        .cached_query(
            "SELECT id, external_id FROM tasks
             WHERE project_id = $1 AND (id = ANY($2) OR external_id = ANY($3))",
            &[&project_id, &request.task_ids, &request.external_ids],
        )
        .await?
    {
        ids.insert(row.try_get::<_, i64>(0)?);
        if let Some(external) = row.try_get::<_, Option<String>>(1)? {
            externals.insert(external);
        }
    }
    if let Some(id) = request.task_ids.iter().find(|id| !ids.contains(id)) {
        return Err(unknown_task(project_id, *id));
    }
    if let Some(external) = request
        .external_ids
        .iter()
        .find(|e| !externals.contains(*e))
    {
        return Err(unknown_external_id(project_id, external));
    }
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Annotators holding an unanswered lease on any of `tasks`, sorted.
pub(super) async fn active_holders(c: &impl GenericClient, tasks: &[i64]) -> StoreResult<Vec<i64>> {
    c.cached_query(
        "SELECT DISTINCT annotator_id FROM leases
         WHERE task_id = ANY($1) AND state = 'active' ORDER BY annotator_id",
        &[&tasks],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0).map_err(StoreError::from))
    .collect()
}

/// New leases of `tasks` for the query's annotator (their changes are noted once the whole
/// request is leased, see [`note_leases`]).
async fn insert_leases(
    tx: &deadpool_postgres::Transaction<'_>,
    q: &LeaseQuery,
    tasks: &[i64],
) -> StoreResult<()> {
    tx.cached_execute(
        "INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at, offline)
         SELECT u.id, $2, 'active', $3, $4, $5 FROM UNNEST($1::bigint[]) AS u(id)
         ON CONFLICT (task_id, annotator_id) DO UPDATE
         SET state = 'active', expires_at = $3, leased_at = $4, offline = $5",
        &[&tasks, &q.annotator_id, &q.expires_at, &q.now, &q.offline],
    )
    .await?;
    Ok(())
}

/// The change-feed entries of one request's new leases, in the order of `tasks` (shuffled by
/// the caller, so the feed says nothing of which were gold).
async fn note_leases(
    tx: &deadpool_postgres::Transaction<'_>,
    annotator_id: i64,
    tasks: &[i64],
) -> StoreResult<()> {
    tx.cached_execute(
        "INSERT INTO changes (annotator_id, kind, task_id)
         SELECT $2, 'lease', u.id FROM UNNEST($1::bigint[]) WITH ORDINALITY AS u(id, n)
         ORDER BY u.n",
        &[&tasks, &annotator_id],
    )
    .await?;
    Ok(())
}

/// The next open tasks an annotator may lease, locked, in the project's queue order (see
/// [`QueueOrder`]): higher-priority batches first, then closest to completion and oldest, or
/// least certain first. `$1` project, `$2` annotator, `$3` now, `$4` the overlap first asked,
/// `$5` how many, `$6` tasks to pass over.
fn lease_candidates(order: QueueOrder) -> String {
    let order = match order {
        QueueOrder::Default => "t.priority DESC, t.answer_count DESC, t.id",
        // The least certain tenth first: the expression of index tasks_uncertain (migration
        // 0024), as written there.
        QueueOrder::Uncertainty => {
            "t.priority DESC, \
             (floor(COALESCE(t.model_certainty, (t.prediction->>'score')::float8, 1) * 10)), \
             t.answer_count DESC, t.id"
        }
    };
    format!(
        "SELECT t.id FROM tasks t
         WHERE t.project_id = $1 AND NOT t.complete AND t.cancelled_at IS NULL
           AND (t.full_until IS NULL OR t.full_until <= $3)
           AND t.id <> ALL($6)
           AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2
                           AND (l.state <> 'active' OR l.expires_at > $3))
           AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = t.id
                AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > $3)))
               < COALESCE(t.wanted::bigint, $4)
         ORDER BY {order}
         LIMIT $5
         FOR NO KEY UPDATE OF t SKIP LOCKED"
    )
}

/// Leases those of the locked `candidates` that still have room, counted afresh: this
/// statement's snapshot is taken after the candidates' row locks were granted, so it sees
/// every lease another replica committed on them. Returns the leased tasks in queue order;
/// their leases are written by the same statement.
async fn lease_with_room(
    tx: &deadpool_postgres::Transaction<'_>,
    q: &LeaseQuery,
    candidates: &[i64],
    first_ask: i64,
) -> StoreResult<Vec<LeasedTask>> {
    tx.cached_query(
        &format!("WITH fresh AS (
             SELECT t.id, t.project_id, t.data, {SHOWN_PREDICTION} AS prediction, t.answer_count, t.priority,
                    h.held, h.first_expiry, COALESCE(t.wanted::bigint, $3) AS capacity
             FROM tasks t, LATERAL (
                 SELECT COUNT(*) AS held,
                        MIN(l.expires_at) FILTER (WHERE l.state = 'active') AS first_expiry
                 FROM leases l WHERE l.task_id = t.id
                   AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > $2))
             ) h
             WHERE t.id = ANY($1) AND h.held < COALESCE(t.wanted::bigint, $3)
         ), hinted AS (
             -- The tasks this lease fills: see migration 0012.
             UPDATE tasks t SET full_until = LEAST(f.first_expiry, $5)
             FROM fresh f WHERE t.id = f.id AND f.held + 1 >= f.capacity
         ), leased AS (
             INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at, offline)
             SELECT f.id, $4, 'active', $5, $2, $6 FROM fresh f ORDER BY f.priority DESC, f.answer_count DESC, f.id
             ON CONFLICT (task_id, annotator_id) DO UPDATE
             SET state = 'active', expires_at = $5, leased_at = $2, offline = $6
         )
         SELECT id, project_id, data, prediction FROM fresh ORDER BY priority DESC, answer_count DESC, id"),
        &[
            &candidates,
            &q.now,
            &first_ask,
            &q.annotator_id,
            &q.expires_at,
            &q.offline,
        ],
    )
    .await?
    .iter()
    .map(|row| leased_task_from(row, q.expires_at))
    .collect()
}

/// Candidate rounds one lease request may take before settling for fewer tasks.
const MAX_LEASE_ROUNDS: usize = 4;

pub(super) async fn lock_feed(c: &impl GenericClient, annotator_id: i64) -> StoreResult<()> {
    c.cached_execute("SELECT pg_advisory_xact_lock($1)", &[&annotator_id])
        .await?;
    Ok(())
}

//! Leases and the change feed on SQLite.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tessera_api::{AnswerPush, Change, ChangesPage, LeasedTask, PushResult};
use tessera_core::{ConsensusMethod, QueueOrder};

use super::push::push_all;
use super::*;
use crate::store::QueueStore;
use crate::store::{LeaseQuery, StoreError, StoreResult, User, parse_ts, ts};

#[async_trait]
impl QueueStore for SqliteStore {
    async fn lease(&self, q: LeaseQuery) -> StoreResult<Vec<LeasedTask>> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            // A task's capacity: what its answers so far want, or the schema's first ask.
            let schema = project_row(&tx, q.project_id)?.schema;
            let first_ask = schema.progress(0, None).wanted;
            let (now, expires) = (ts(q.now), ts(q.expires_at));
            // Leases this annotator still holds are handed out again (a lost response is
            // harmless) and extended; an offline checkout takes its offline ones first.
            let mut held: Vec<i64> = tx
                .prepare_cached(
                    "SELECT l.task_id FROM leases l JOIN tasks t ON t.id = l.task_id
                     WHERE l.annotator_id = ?1 AND t.project_id = ?2 AND l.state = 'active' AND l.expires_at > ?3
                       AND t.cancelled_at IS NULL
                     ORDER BY CASE WHEN ?5 THEN l.offline ELSE 0 END DESC, l.leased_at, l.task_id LIMIT ?4",
                )?
                .query_map(params![q.annotator_id, q.project_id, now, q.limit, q.offline], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in &held {
                tx.prepare_cached("UPDATE leases SET expires_at = MAX(expires_at, ?3), offline = offline OR ?4
                     WHERE task_id = ?1 AND annotator_id = ?2")?.execute(
                    params![id, q.annotator_id, expires, q.offline],
                )?;
            }
            let mut wanted = q.limit as usize - held.len().min(q.limit as usize);
            // Gold first (as many as the handler drew), drawn at random from those this
            // annotator never had: no two annotators meet the same gold in the same order.
            let gold: Vec<i64> = if q.gold_slots == 0 || wanted == 0 {
                Vec::new()
            } else {
                tx.prepare_cached(
                    "SELECT t.id FROM tasks t
                     WHERE t.project_id = ?1 AND t.gold IS NOT NULL AND t.cancelled_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = ?2)
                     ORDER BY random() LIMIT ?3",
                )?
                .query_map(
                    params![q.project_id, q.annotator_id, q.gold_slots.min(wanted as u32)],
                    |r| r.get(0),
                )?
                .collect::<Result<_, _>>()?
            };
            wanted -= gold.len();
            let mut fresh: Vec<i64> = if wanted == 0 {
                Vec::new()
            } else {
                tx.prepare_cached(match schema.order {
                    QueueOrder::Default => LEASE_CANDIDATES,
                    QueueOrder::Uncertainty => LEASE_UNCERTAIN,
                })?
                .query_map(params![q.project_id, q.annotator_id, now, first_ask, wanted as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?
            };
            // The new leases in random order, in the reply and in the change feed: where gold
            // sits says nothing.
            fresh.extend(gold);
            rand::seq::SliceRandom::shuffle(fresh.as_mut_slice(), &mut rand::rng());
            for id in &fresh {
                tx.prepare_cached("INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at, offline)
                     VALUES (?1, ?2, 'active', ?3, ?4, ?5)
                     ON CONFLICT (task_id, annotator_id) DO UPDATE
                     SET state = 'active', expires_at = ?3, leased_at = ?4, offline = ?5")?.execute(
                    params![id, q.annotator_id, expires, now, q.offline],
                )?;
                tx.prepare_cached("INSERT INTO changes (annotator_id, kind, task_id) VALUES (?1, 'lease', ?2)")?.execute(
                    params![q.annotator_id, id],
                )?;
                tx.prepare_cached(NOTE_FULL)?.execute(params![id, now, first_ask])?;
            }
            held.extend(fresh);
            let tasks = leased_in_order(&tx, &held, q.annotator_id)?;
            tx.commit()?;
            Ok(tasks)
        })
        .await
    }

    async fn push_answers(
        &self,
        annotator: &User,
        answers: Vec<AnswerPush>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<Vec<PushResult>> {
        let annotator = annotator.clone();
        let models = Arc::clone(&self.models);
        self.write(move |c| {
            let tx = c.savepoint()?;
            let results = push_all(
                &tx,
                &models,
                &annotator,
                &answers,
                &ts(now),
                method.as_ref(),
            )?;
            tx.commit()?;
            Ok(results)
        })
        .await
    }

    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage> {
        self.read(move |c| {
            let rows: Vec<(i64, String, i64, Option<String>)> = c
                .prepare_cached(
                    "SELECT seq, kind, task_id, answer_id FROM changes
                     WHERE annotator_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?
                .query_map(params![annotator_id, since, limit as i64 + 1], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?;
            let has_more = rows.len() > limit as usize;
            let rows = &rows[..rows.len().min(limit as usize)];
            // The page's leased tasks in one statement.
            let lease_ids: Vec<i64> = rows
                .iter()
                .filter(|r| r.1 == "lease")
                .map(|r| r.2)
                .collect();
            let leased = leased_tasks(c, &lease_ids, annotator_id)?;
            let mut changes = Vec::with_capacity(rows.len());
            for (seq, kind, task_id, answer_id) in rows.iter().cloned() {
                let change = match (kind.as_str(), answer_id) {
                    ("lease", _) => Change::Lease {
                        seq,
                        task: leased.get(&task_id).cloned().ok_or_else(|| {
                            StoreError::Backend(format!("change {seq} names a task not leased"))
                        })?,
                    },
                    ("cancel", _) => Change::Cancel { seq, task_id },
                    ("answer", Some(answer_id)) => {
                        let (revision, labels, skipped): (u32, String, bool) = c
                            .prepare_cached(
                                "SELECT revision, labels, skipped FROM answers WHERE id = ?1",
                            )?
                            .query_row([&answer_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                        Change::Answer {
                            seq,
                            task_id,
                            answer_id: answer_id.parse().map_err(|e| {
                                StoreError::Backend(format!("bad answer id in database: {e}"))
                            })?,
                            revision,
                            labels: serde_json::from_str(&labels)?,
                            skipped,
                        }
                    }
                    (other, _) => {
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
        })
        .await
    }
}

/// The next open tasks an annotator may lease, ordered by `$order` within the project:
/// `?1` project, `?2` annotator, `?3` now, `?4` the overlap first asked, `?5` how many.
macro_rules! lease_candidates {
    ($order:literal) => {
        concat!(
            "SELECT t.id FROM tasks t
             WHERE t.project_id = ?1 AND t.complete = 0 AND t.cancelled_at IS NULL
               AND (t.full_until IS NULL OR t.full_until <= ?3)
               AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = ?2
                               AND (l.state <> 'active' OR l.expires_at > ?3))
               AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = t.id
                    AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > ?3)))
                   < COALESCE(t.wanted, ?4)
             ORDER BY ",
            $order,
            " LIMIT ?5"
        )
    };
}

/// Today's queue order: higher-priority batches first, then closest to completion, then
/// oldest (index tasks_queue).
pub(super) const LEASE_CANDIDATES: &str =
    lease_candidates!("t.priority DESC, t.answer_count DESC, t.id");

/// The least certain tenth of best predictions first within a batch priority, then today's
/// order (index tasks_uncertain, migration 0024: its expression as written there).
pub(super) const LEASE_UNCERTAIN: &str = lease_candidates!(
    "t.priority DESC,
     CAST(COALESCE(t.model_certainty, json_extract(t.prediction, '$.score'), 1) * 10 AS INTEGER),
     t.answer_count DESC, t.id"
);

/// Sets task ?1's `full_until` hint (see migration 0012) after a lease at time ?2, if answers
/// and unexpired leases now fill its capacity (its `wanted`, else ?3): the earliest expiry
/// among its active leases. (A task with room has no hint: a lease only adds to its slots.)
const NOTE_FULL: &str = "UPDATE tasks SET full_until = (
         SELECT MIN(l.expires_at) FROM leases l
         WHERE l.task_id = tasks.id AND l.state = 'active' AND l.expires_at > ?2)
     WHERE id = ?1
       AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = tasks.id
            AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > ?2)))
           >= COALESCE(wanted, ?3)";

/// The tasks `task_ids` as leased to the annotator, by id, in one statement (per-task lookups
/// joined with a bound id are recompiled on every call by SQLite).
fn leased_tasks(
    c: &Connection,
    task_ids: &[i64],
    annotator_id: i64,
) -> StoreResult<HashMap<i64, LeasedTask>> {
    if task_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = serde_json::to_string(task_ids)?;
    let mut stmt = c.prepare_cached(
        "SELECT t.id, t.project_id, t.data,
                -- A model's latest prediction is shown over the uploaded one.
                COALESCE((SELECT json_object('labels', json(m.labels), 'score', m.score,
                                             'model_version', m.model_version)
                          FROM model_predictions m WHERE m.task_id = t.id
                          ORDER BY m.created_at DESC, m.source LIMIT 1), t.prediction),
                l.expires_at
         FROM json_each(?1) j
         JOIN leases l ON l.task_id = j.value AND l.annotator_id = ?2
         JOIN tasks t ON t.id = j.value",
    )?;
    let mut rows = stmt.query(params![ids, annotator_id])?;
    let mut out = HashMap::with_capacity(task_ids.len());
    while let Some(r) = rows.next()? {
        let task_id: i64 = r.get(0)?;
        out.insert(
            task_id,
            LeasedTask {
                task_id,
                project_id: r.get(1)?,
                data: json_map(&r.get::<_, String>(2)?)?,
                prediction: prediction(r.get(3)?)?,
                expires_at: parse_ts(&r.get::<_, String>(4)?)?,
            },
        );
    }
    Ok(out)
}

/// [`leased_tasks`] in the order of `task_ids`; every one must be leased.
fn leased_in_order(
    c: &Connection,
    task_ids: &[i64],
    annotator_id: i64,
) -> StoreResult<Vec<LeasedTask>> {
    let mut by_id = leased_tasks(c, task_ids, annotator_id)?;
    task_ids
        .iter()
        .map(|id| {
            by_id.remove(id).ok_or_else(|| {
                StoreError::Backend(format!("task {id} is not leased to {annotator_id}"))
            })
        })
        .collect()
}

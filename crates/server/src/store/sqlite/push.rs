//! Pushed answers on SQLite: judged, stored once, and folded into their tasks' consensus.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use tessera_api::{AnswerPush, PushResult, PushStatus};
use tessera_core::aggregate::FittedConsensus;
use tessera_core::{ConsensusMethod, LabelSchema, Vote};

use super::webhooks::emit_in;
use super::*;
use crate::store::consensus::{Standing, standing};
use crate::store::{ModelCache, StoreResult, StoredAnswer, User, parse_ts, rejected, repeated, ts};
use crate::webhooks::Event;

/// Stores one pushed answer inside the push's transaction.
fn push_one(
    tx: &Connection,
    annotator: &User,
    answer: &AnswerPush,
    now: &str,
    schemas: &mut HashMap<i64, LabelSchema>,
) -> StoreResult<Pushed> {
    let id = answer.id.to_string();
    let stored = tx
        .prepare_cached(
            "SELECT annotator_id, task_id, revision, labels, skipped, unsure, skip_reason
             FROM answers WHERE id = ?1",
        )?
        .query_row([&id], |r| {
            Ok((
                StoredAnswer {
                    annotator_id: r.get(0)?,
                    task_id: r.get(1)?,
                    revision: r.get(2)?,
                    labels: Vec::new(),
                    skipped: r.get(4)?,
                    unsure: r.get(5)?,
                    skip_reason: r.get(6)?,
                },
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    if let Some((mut stored, labels)) = stored {
        stored.labels = serde_json::from_str(&labels)?;
        return Ok(Pushed::refused(repeated(&stored, annotator.id, answer)));
    }
    let task: Option<(i64, bool)> = tx
        .prepare_cached("SELECT project_id, cancelled_at IS NOT NULL FROM tasks WHERE id = ?1")?
        .query_row([answer.task_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((project_id, cancelled)) = task else {
        return Ok(Pushed::refused(rejected(
            answer.id,
            "not_found",
            "this task does not exist".to_owned(),
        )));
    };
    let schema = match schemas.entry(project_id) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(project_row(tx, project_id)?.schema),
    };
    if let Err(e) = schema.check_push(
        &answer.labels,
        answer.skipped,
        answer.unsure,
        answer.skip_reason.as_deref(),
    ) {
        return Ok(Pushed::refused(rejected(
            answer.id,
            "invalid_answer",
            e.to_string(),
        )));
    }
    let leased: bool = tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM leases WHERE task_id = ?1 AND annotator_id = ?2)",
        )?
        .query_row(params![answer.task_id, annotator.id], |r| r.get(0))?;
    if !leased {
        return Ok(Pushed::refused(rejected(
            answer.id,
            "not_leased",
            "this task was never leased to you".to_owned(),
        )));
    }
    // Another device of this annotator answered the task at this revision or later, without
    // having seen this answer: both devices answered one lease.
    let device = answer.device_id.map(|d| d.to_string());
    let other_device: bool = match &device {
        Some(device) => tx
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM answers WHERE task_id = ?1 AND annotator_id = ?2
                 AND device_id IS NOT NULL AND device_id <> ?3 AND revision >= ?4)",
            )?
            .query_row(
                params![answer.task_id, annotator.id, device, answer.revision],
                |r| r.get(0),
            )?,
        None => false,
    };
    tx.prepare_cached("INSERT INTO answers (id, task_id, annotator_id, revision, labels, skipped, answered_at, received_at,
                              device_id, device_conflict, counted, unsure, skip_reason,
                              prediction_verdict, prediction_model)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)")?.execute(
        params![
            id,
            answer.task_id,
            annotator.id,
            answer.revision,
            serde_json::to_string(&answer.labels)?,
            answer.skipped,
            ts(answer.answered_at),
            now,
            device,
            other_device,
            !cancelled,
            answer.unsure,
            answer.skip_reason,
            answer.prediction_verdict.map(|v| v.code()),
            answer.prediction_model
        ],
    )?;
    tx.prepare_cached("INSERT INTO changes (annotator_id, kind, task_id, answer_id) VALUES (?1, 'answer', ?2, ?3)")?.execute(
        params![annotator.id, answer.task_id, id],
    )?;
    // The current answer decides the lease's state: a revision may turn a skip into an answer.
    tx.prepare_cached(
        "UPDATE leases SET state = CASE WHEN (SELECT skipped FROM answers
             WHERE task_id = ?1 AND annotator_id = ?2 ORDER BY revision DESC, seq DESC LIMIT 1)
             THEN 'skipped' ELSE 'answered' END
         WHERE task_id = ?1 AND annotator_id = ?2",
    )?
    .execute(params![answer.task_id, annotator.id])?;
    Ok(Pushed {
        reply: PushResult {
            id: answer.id,
            status: PushStatus::Accepted,
            error: None,
            other_device,
            task_cancelled: cancelled,
        },
        accepted_in: Some(project_id),
    })
}

/// One pushed answer's outcome; when it was stored, the project of its task.
struct Pushed {
    reply: PushResult,
    accepted_in: Option<i64>,
}

impl Pushed {
    fn refused(reply: PushResult) -> Self {
        Self {
            reply,
            accepted_in: None,
        }
    }
}

/// One annotator's current answer to a task, as stored.
pub(super) struct CurrentAnswer {
    pub(super) annotator_id: i64,
    pub(super) labels: Vec<String>,
    pub(super) revision: u32,
    pub(super) answered_at: String,
    pub(super) received_at: String,
    pub(super) unsure: bool,
    pub(super) prediction_verdict: Option<i16>,
    pub(super) prediction_model: Option<String>,
}

/// The current (latest-revision, not skipped) answers to a task, one per annotator: among the
/// counted answers, or among those that arrived after the task was cancelled.
pub(super) fn current_answers(
    tx: &Connection,
    task_id: i64,
    counted: bool,
) -> StoreResult<Vec<CurrentAnswer>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.annotator_id, a.labels, a.revision, a.answered_at, a.received_at, a.skipped, a.unsure,
                a.prediction_verdict, a.prediction_model
         FROM answers a
         WHERE a.task_id = ?1 AND a.counted = ?2
         ORDER BY a.annotator_id, a.revision DESC, a.seq DESC",
    )?;
    let mut rows = stmt.query(params![task_id, counted])?;
    let mut out = Vec::new();
    let mut last = None;
    while let Some(r) = rows.next()? {
        let annotator: i64 = r.get(0)?;
        if last == Some(annotator) {
            continue;
        }
        last = Some(annotator);
        if r.get::<_, bool>(5)? {
            continue;
        }
        let labels: String = r.get(1)?;
        out.push(CurrentAnswer {
            annotator_id: annotator,
            labels: serde_json::from_str(&labels)?,
            revision: r.get(2)?,
            answered_at: r.get(3)?,
            received_at: r.get(4)?,
            unsure: r.get(6)?,
            prediction_verdict: r.get(7)?,
            prediction_model: r.get(8)?,
        });
    }
    Ok(out)
}

/// Each annotator's earlier counted revisions of their answer to `task_id` (not skips, the
/// last push of each revision), oldest first, annotator by annotator.
pub(super) fn earlier_answers(tx: &Connection, task_id: i64) -> StoreResult<Vec<CurrentAnswer>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.annotator_id, a.labels, a.revision, a.answered_at, a.received_at, a.skipped, a.unsure,
                a.prediction_verdict, a.prediction_model
         FROM answers a
         WHERE a.task_id = ?1 AND a.counted = 1
         ORDER BY a.annotator_id, a.revision DESC, a.seq DESC",
    )?;
    let mut rows = stmt.query(params![task_id])?;
    let mut out = Vec::new();
    let mut last: Option<(i64, u32)> = None;
    let mut latest: Option<(i64, u32)> = None;
    while let Some(r) = rows.next()? {
        let annotator: i64 = r.get(0)?;
        let revision: u32 = r.get(2)?;
        if latest.is_none_or(|(a, _)| a != annotator) {
            latest = Some((annotator, revision));
        }
        if last == Some((annotator, revision)) {
            continue;
        }
        last = Some((annotator, revision));
        if latest == Some((annotator, revision)) || r.get::<_, bool>(5)? {
            continue;
        }
        let labels: String = r.get(1)?;
        out.push(CurrentAnswer {
            annotator_id: annotator,
            labels: serde_json::from_str(&labels)?,
            revision,
            answered_at: r.get(3)?,
            received_at: r.get(4)?,
            unsure: r.get(6)?,
            prediction_verdict: r.get(7)?,
            prediction_model: r.get(8)?,
        });
    }
    // Oldest first within each annotator.
    out.sort_by_key(|a| (a.annotator_id, a.revision));
    Ok(out)
}

/// The project's re-fitted consensus model, if it has one (see [`ModelCache`]).
fn fitted_model(
    tx: &Connection,
    models: &ModelCache,
    project_id: i64,
) -> StoreResult<Option<Arc<FittedConsensus>>> {
    let version: Option<i64> = tx
        .prepare_cached("SELECT version FROM consensus_models WHERE project_id = ?1")?
        .query_row([project_id], |r| r.get(0))
        .optional()?;
    let Some(version) = version else {
        return Ok(None);
    };
    if let Some(model) = models.get(project_id, version) {
        return Ok(Some(model));
    }
    let json: String = tx.query_row(
        "SELECT model FROM consensus_models WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    models.load(project_id, version, &json).map(Some)
}

/// Stores `answers` of `annotator` (see [`Store::push_answers`]) and updates the consensus of
/// every task they touched, inside the caller's transaction.
pub(super) fn push_all(
    tx: &Connection,
    models: &ModelCache,
    annotator: &User,
    answers: &[AnswerPush],
    now: &str,
    method: &dyn ConsensusMethod,
) -> StoreResult<Vec<PushResult>> {
    let mut schemas = HashMap::new();
    // Tasks whose answers changed, with their project; those a skip freed a slot of.
    let mut touched: Vec<(i64, i64)> = Vec::new();
    let mut skipped = HashSet::new();
    let mut results = Vec::with_capacity(answers.len());
    for answer in answers {
        let result = push_one(tx, annotator, answer, now, &mut schemas)?;
        if let Some(project_id) = result.accepted_in {
            if answer.skipped {
                skipped.insert(answer.task_id);
            }
            if !touched.iter().any(|&(t, _)| t == answer.task_id) {
                touched.push((answer.task_id, project_id));
            }
        }
        results.push(result.reply);
    }
    // Projects with webhooks: their events go to the outbox in this transaction.
    let mut hooked: HashMap<i64, bool> = HashMap::new();
    let mut events = Vec::new();
    for (answer, result) in answers.iter().zip(&results) {
        if result.status != PushStatus::Accepted {
            continue;
        }
        let Some(&(_, project_id)) = touched.iter().find(|&&(t, _)| t == answer.task_id) else {
            continue;
        };
        if *hook_state(tx, &mut hooked, project_id)? {
            events.push(Event::answer_created(
                project_id,
                annotator.id,
                answer,
                parse_ts(now)?,
            ));
        }
    }
    let mut fitted: HashMap<i64, Option<Arc<FittedConsensus>>> = HashMap::new();
    let mut completed_batches: Vec<(i64, i64)> = Vec::new();
    for (task_id, project_id) in touched {
        let model = match fitted.entry(project_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(fitted_model(tx, models, project_id)?),
        };
        let method: &dyn ConsensusMethod = match model.as_deref() {
            Some(m) => m,
            None => method,
        };
        let watched = *hook_state(tx, &mut hooked, project_id)?;
        let completed = update_consensus(
            tx,
            task_id,
            skipped.contains(&task_id),
            &schemas[&project_id],
            method,
            watched,
        )?;
        if let Some(completed) = completed {
            if !completed_batches.contains(&(project_id, completed.batch_id)) {
                completed_batches.push((project_id, completed.batch_id));
            }
            events.push(Event::task_completed(
                project_id,
                task_id,
                completed.batch_id,
                completed.labels.as_deref(),
                completed.confidence,
                completed.answers,
            ));
        }
    }
    for (project_id, batch_id) in completed_batches {
        if batch_done(tx, batch_id)? {
            events.push(Event::batch_completed(project_id, batch_id));
        }
    }
    if !events.is_empty() {
        emit_in(tx, &events, now)?;
    }
    Ok(results)
}

/// Whether the project has webhooks, looked up once per push.
fn hook_state<'a>(
    tx: &Connection,
    hooked: &'a mut HashMap<i64, bool>,
    project_id: i64,
) -> StoreResult<&'a bool> {
    Ok(match hooked.entry(project_id) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(super::webhooks::hooked(tx, project_id)?),
    })
}

/// Whether batch `batch_id` has no open task left (cancelled tasks are not open).
pub(super) fn batch_done(tx: &Connection, batch_id: i64) -> StoreResult<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT NOT EXISTS(SELECT 1 FROM tasks
                 WHERE batch_id = ?1 AND NOT complete AND cancelled_at IS NULL)",
        )?
        .query_row([batch_id], |r| r.get(0))?)
}

/// A task a push completed: what its `task.completed` event says.
struct Completed {
    batch_id: i64,
    labels: Option<Vec<String>>,
    confidence: Option<f64>,
    answers: usize,
}

/// Recomputes task `task_id`'s consensus and progress from its current answers. A task that
/// a skip `freed` a slot of, or that now wants more answers than before, loses its
/// `full_until` hint. When `watched` (its project has webhooks), returns the task if this
/// completed it (a gold task never completes this way).
fn update_consensus(
    tx: &Connection,
    task_id: i64,
    freed: bool,
    schema: &LabelSchema,
    method: &dyn ConsensusMethod,
    watched: bool,
) -> StoreResult<Option<Completed>> {
    let before: Option<(bool, i64)> = if watched {
        Some(
            tx.prepare_cached(
                "SELECT complete OR gold IS NOT NULL, batch_id FROM tasks WHERE id = ?1",
            )?
            .query_row([task_id], |r| Ok((r.get(0)?, r.get(1)?)))?,
        )
    } else {
        None
    };
    let current = current_answers(tx, task_id, true)?;
    let flagged = current.iter().any(|a| a.unsure);
    let answers: Vec<Vote> = current
        .into_iter()
        .map(|a| (a.annotator_id, a.labels))
        .collect();
    let Standing {
        consensus,
        progress,
    } = standing(schema, method, &answers);
    tx.prepare_cached(
        "UPDATE tasks SET answer_count = ?2, consensus = ?3, confidence = ?4, consensus_method = ?5,
             complete = (gold IS NOT NULL OR ?6), wanted = ?7, flagged = ?9,
             needs_review = (gold IS NULL AND (?8 OR (?6 AND ?9))),
             full_until = CASE WHEN ?11 OR ?7 > COALESCE(wanted, ?10) THEN NULL ELSE full_until END
         WHERE id = ?1",
    )?
    .execute(params![
        task_id,
        answers.len() as i64,
        consensus.as_ref().map(|c| serde_json::to_string(&c.labels)).transpose()?,
        consensus.as_ref().map(|c| c.confidence),
        consensus.as_ref().map(|_| method.name()),
        progress.complete,
        progress.wanted,
        progress.needs_review,
        flagged,
        schema.progress(0, None).wanted,
        freed
    ])?;
    Ok(match before {
        Some((false, batch_id)) if progress.complete => Some(Completed {
            batch_id,
            labels: consensus.as_ref().map(|c| c.labels.clone()),
            confidence: consensus.as_ref().map(|c| c.confidence),
            answers: answers.len(),
        }),
        _ => None,
    })
}

//! Pushed answers on PostgreSQL: judged, stored once, and folded into their tasks' consensus.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tessera_api::{AnswerPush, PushResult, PushStatus};
use tessera_core::aggregate::FittedConsensus;
use tessera_core::{ConsensusMethod, LabelSchema, Vote};

use tokio_postgres::types::Json;
use uuid::Uuid;

use super::queue::lock_feed;
use super::webhooks::emit_in;
use super::*;
use crate::store::consensus::{Standing, standing};
use crate::store::{StoreResult, StoredAnswer, User, rejected, repeated};
use crate::webhooks::Event;

impl PostgresStore {
    /// Stores `answers` of `annotator` (see [`Store::push_answers`]) and updates the consensus
    /// of every task they touched, inside the caller's transaction: a page of answers in a
    /// fixed number of set queries, not several per answer.
    pub(super) async fn push_in(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        annotator: &User,
        answers: &[AnswerPush],
        now: DateTime<Utc>,
        method: &dyn ConsensusMethod,
    ) -> StoreResult<Vec<PushResult>> {
        lock_feed(tx, annotator.id).await?;
        let context = push_context(tx, annotator, answers).await?;
        let mut schemas = HashMap::new();
        for &project in context.projects.values() {
            if let std::collections::hash_map::Entry::Vacant(slot) = schemas.entry(project) {
                slot.insert(self.project_in(tx, project).await?.schema);
            }
        }
        let mut verdicts = Vec::with_capacity(answers.len());
        let mut seen: HashMap<Uuid, &AnswerPush> = HashMap::new();
        for answer in answers {
            verdicts.push(match seen.get(&answer.id) {
                // The same id twice in one page: a retry, or different content.
                Some(first) => Err(repeated(
                    &StoredAnswer::of(annotator.id, first),
                    annotator.id,
                    answer,
                )),
                None => {
                    seen.insert(answer.id, answer);
                    judge(&context, &schemas, annotator, answer)
                }
            });
        }
        let accepted: Vec<&AnswerPush> = answers
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.is_ok())
            .map(|(a, _)| a)
            .collect();
        let inserted = insert_answers(tx, annotator, &accepted, &context.cancelled, now).await?;
        let mut touched: Vec<(i64, i64)> = Vec::new();
        let mut skipped = HashSet::new();
        let mut results = Vec::with_capacity(answers.len());
        let mut events = Vec::new();
        for (answer, verdict) in answers.iter().zip(verdicts) {
            results.push(match verdict {
                Ok(project) if inserted.ids.contains(&answer.id) => {
                    touched.push((answer.task_id, project));
                    if context.hooked.contains(&project) {
                        events.push(Event::answer_created(project, annotator.id, answer, now));
                    }
                    if answer.skipped {
                        skipped.insert(answer.task_id);
                    }
                    PushResult {
                        id: answer.id,
                        status: PushStatus::Accepted,
                        error: None,
                        other_device: inserted.other_device.contains(&answer.id),
                        task_cancelled: context.cancelled.contains(&answer.task_id),
                    }
                }
                Ok(_) => duplicate(answer.id), // another replica stored it first
                Err(result) => result,
            });
        }
        touched.sort_unstable();
        touched.dedup();
        let fitted = self.fitted_models(tx, &context.model_versions).await?;
        let completed = update_consensus(
            tx,
            &touched,
            &skipped,
            &schemas,
            &fitted,
            method,
            &context.hooked,
        )
        .await?;
        events.extend(completed_events(tx, completed).await?);
        emit_in(tx, &events, now).await?;
        Ok(results)
    }
}

/// What a push page's answers find already stored, looked up in two set queries.
struct PushContext {
    /// Each answer id already stored, as stored.
    stored: HashMap<Uuid, StoredAnswer>,
    /// Project of each existing task.
    projects: HashMap<i64, i64>,
    /// Those of the tasks the requester cancelled.
    cancelled: HashSet<i64>,
    /// Tasks ever leased to the pushing annotator.
    leased: HashSet<i64>,
    /// The stored consensus model version of each of those projects that has one.
    model_versions: HashMap<i64, i64>,
    /// Those of the projects that have webhooks: their events go to the outbox.
    hooked: HashSet<i64>,
}

async fn push_context(
    tx: &deadpool_postgres::Transaction<'_>,
    annotator: &User,
    answers: &[AnswerPush],
) -> StoreResult<PushContext> {
    let ids: Vec<Uuid> = answers.iter().map(|a| a.id).collect();
    let tasks: Vec<i64> = answers.iter().map(|a| a.task_id).collect();
    let mut stored = HashMap::new();
    for row in tx
        .cached_query(
            "SELECT id, annotator_id, task_id, revision, labels, skipped, unsure, skip_reason
             FROM answers WHERE id = ANY($1)",
            &[&ids],
        )
        .await?
    {
        let Json(labels): Json<Vec<String>> = row.try_get(4)?;
        stored.insert(
            row.try_get(0)?,
            StoredAnswer {
                annotator_id: row.try_get(1)?,
                task_id: row.try_get(2)?,
                revision: i64::from(row.try_get::<_, i32>(3)?),
                labels,
                skipped: row.try_get(5)?,
                unsure: row.try_get(6)?,
                skip_reason: row.try_get(7)?,
            },
        );
    }
    let mut projects = HashMap::new();
    let mut cancelled = HashSet::new();
    let mut leased = HashSet::new();
    let mut model_versions = HashMap::new();
    let mut hooked = HashSet::new();
    for row in tx
        .cached_query(
            "SELECT t.id, t.project_id, t.cancelled_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2),
                    (SELECT m.version FROM consensus_models m WHERE m.project_id = t.project_id),
                    EXISTS (SELECT 1 FROM webhooks w WHERE w.project_id = t.project_id)
             FROM tasks t WHERE t.id = ANY($1)",
            &[&tasks, &annotator.id],
        )
        .await?
    {
        let id: i64 = row.try_get(0)?;
        let project: i64 = row.try_get(1)?;
        projects.insert(id, project);
        if row.try_get(2)? {
            cancelled.insert(id);
        }
        if row.try_get(3)? {
            leased.insert(id);
        }
        if let Some(version) = row.try_get::<_, Option<i64>>(4)? {
            model_versions.insert(project, version);
        }
        if row.try_get(5)? {
            hooked.insert(project);
        }
    }
    Ok(PushContext {
        stored,
        projects,
        cancelled,
        leased,
        model_versions,
        hooked,
    })
}

fn duplicate(id: Uuid) -> PushResult {
    PushResult {
        id,
        status: PushStatus::Duplicate,
        error: None,
        other_device: false,
        task_cancelled: false,
    }
}

/// The verdict on one pushed answer before anything is written: `Ok(project)` to insert it,
/// `Err(result)` for a duplicate or a rejection.
fn judge(
    context: &PushContext,
    schemas: &HashMap<i64, LabelSchema>,
    annotator: &User,
    answer: &AnswerPush,
) -> Result<i64, PushResult> {
    if let Some(stored) = context.stored.get(&answer.id) {
        return Err(repeated(stored, annotator.id, answer));
    }
    let Some(&project_id) = context.projects.get(&answer.task_id) else {
        return Err(rejected(
            answer.id,
            "not_found",
            "this task does not exist".to_owned(),
        ));
    };
    if let Some(Err(e)) = schemas.get(&project_id).map(|s| {
        s.check_push(
            &answer.labels,
            answer.skipped,
            answer.unsure,
            answer.skip_reason.as_deref(),
        )
    }) {
        return Err(rejected(answer.id, "invalid_answer", e.to_string()));
    }
    if !context.leased.contains(&answer.task_id) {
        return Err(rejected(
            answer.id,
            "not_leased",
            "this task was never leased to you".to_owned(),
        ));
    }
    if i32::try_from(answer.revision).is_err() {
        return Err(rejected(
            answer.id,
            "invalid_answer",
            "revision too large".to_owned(),
        ));
    }
    Ok(project_id)
}

/// What [`insert_answers`] stored: the ids actually inserted (an id a concurrent push on
/// another replica stored first is not), and those that clashed with another device.
struct Inserted {
    ids: HashSet<Uuid>,
    other_device: HashSet<Uuid>,
}

/// Inserts `accepted` answers in order (their `seq` follows the push order).
async fn insert_answers(
    tx: &deadpool_postgres::Transaction<'_>,
    annotator: &User,
    accepted: &[&AnswerPush],
    cancelled: &HashSet<i64>,
    now: DateTime<Utc>,
) -> StoreResult<Inserted> {
    let ids: Vec<Uuid> = accepted.iter().map(|a| a.id).collect();
    let tasks: Vec<i64> = accepted.iter().map(|a| a.task_id).collect();
    let revisions: Vec<i32> = accepted
        .iter()
        .map(|a| i32::try_from(a.revision).unwrap_or(i32::MAX))
        .collect();
    let devices: Vec<Option<Uuid>> = accepted.iter().map(|a| a.device_id).collect();
    // Another device of this annotator answered the task at this revision or later, without
    // having seen this answer: both devices answered one lease.
    let other_device: HashSet<Uuid> = tx
        .cached_query(
            "SELECT u.id FROM UNNEST($1::uuid[], $2::bigint[], $3::int[], $4::uuid[])
                 AS u(id, task_id, revision, device_id)
             WHERE u.device_id IS NOT NULL AND EXISTS (SELECT 1 FROM answers a
                 WHERE a.task_id = u.task_id AND a.annotator_id = $5 AND a.device_id IS NOT NULL
                   AND a.device_id <> u.device_id AND a.revision >= u.revision)",
            &[&ids, &tasks, &revisions, &devices, &annotator.id],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let conflicts: Vec<bool> = ids.iter().map(|id| other_device.contains(id)).collect();
    let labels: Vec<Json<&Vec<String>>> = accepted.iter().map(|a| Json(&a.labels)).collect();
    let skipped: Vec<bool> = accepted.iter().map(|a| a.skipped).collect();
    let unsure: Vec<bool> = accepted.iter().map(|a| a.unsure).collect();
    let reasons: Vec<Option<&str>> = accepted.iter().map(|a| a.skip_reason.as_deref()).collect();
    let verdicts: Vec<Option<i16>> = accepted
        .iter()
        .map(|a| a.prediction_verdict.map(|v| v.code()))
        .collect();
    let models: Vec<Option<&str>> = accepted
        .iter()
        .map(|a| a.prediction_model.as_deref())
        .collect();
    let answered_at: Vec<DateTime<Utc>> = accepted.iter().map(|a| a.answered_at).collect();
    let counted: Vec<bool> = accepted
        .iter()
        .map(|a| !cancelled.contains(&a.task_id))
        .collect();
    // The answers and their changes (in push order, for those actually stored) in one statement.
    let rows = tx
        .cached_query(
            "WITH stored AS (
                 INSERT INTO answers (id, task_id, annotator_id, revision, labels, skipped, answered_at,
                                      received_at, device_id, device_conflict, counted, unsure, skip_reason,
                                      prediction_verdict, prediction_model)
                 SELECT u.id, u.task_id, $7, u.revision, u.labels, u.skipped, u.answered_at, $8,
                        u.device_id, u.device_conflict, u.counted, u.unsure, u.skip_reason,
                        u.prediction_verdict, u.prediction_model
                 FROM UNNEST($1::uuid[], $2::bigint[], $3::int[], $4::jsonb[], $5::bool[], $6::timestamptz[],
                             $9::uuid[], $10::bool[], $11::bool[], $12::bool[], $13::text[],
                             $14::smallint[], $15::text[])
                      WITH ORDINALITY AS u(id, task_id, revision, labels, skipped, answered_at, device_id,
                                           device_conflict, counted, unsure, skip_reason,
                                           prediction_verdict, prediction_model, n)
                 ORDER BY u.n
                 ON CONFLICT (id) DO NOTHING RETURNING id
             ), noted AS (
                 INSERT INTO changes (annotator_id, kind, task_id, answer_id)
                 SELECT $7, 'answer', u.task_id, u.id
                 FROM UNNEST($1::uuid[], $2::bigint[]) WITH ORDINALITY AS u(id, task_id, n)
                 WHERE u.id IN (SELECT id FROM stored) ORDER BY u.n
             )
             SELECT id FROM stored",
            &[&ids, &tasks, &revisions, &labels, &skipped, &answered_at, &annotator.id, &now, &devices, &conflicts,
              &counted, &unsure, &reasons, &verdicts, &models],
        )
        .await?;
    let inserted: HashSet<Uuid> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let tasks: Vec<i64> = accepted
        .iter()
        .filter(|a| inserted.contains(&a.id))
        .map(|a| a.task_id)
        .collect();
    // Each lease ends as its latest revision says: answered, or skipped.
    tx.cached_execute(
        "UPDATE leases l SET state = CASE WHEN (SELECT a.skipped FROM answers a
             WHERE a.task_id = l.task_id AND a.annotator_id = l.annotator_id
             ORDER BY a.revision DESC, a.seq DESC LIMIT 1) THEN 'skipped' ELSE 'answered' END
         WHERE l.annotator_id = $1 AND l.task_id = ANY($2)",
        &[&annotator.id, &tasks],
    )
    .await?;
    Ok(Inserted {
        ids: inserted,
        other_device,
    })
}

/// Recomputes the consensus of `tasks` (locked in id order first, so concurrent pushes
/// touching the same tasks cannot deadlock) from their current answers.
/// Returns the tasks of `hooked` projects this completed, as their `task.completed` events.
async fn update_consensus(
    tx: &deadpool_postgres::Transaction<'_>,
    tasks: &[(i64, i64)],
    skipped: &HashSet<i64>,
    schemas: &HashMap<i64, LabelSchema>,
    fitted: &HashMap<i64, Arc<FittedConsensus>>,
    fallback: &dyn ConsensusMethod,
    hooked: &HashSet<i64>,
) -> StoreResult<Vec<(Event, i64)>> {
    let ids: Vec<i64> = tasks.iter().map(|&(t, _)| t).collect();
    // Each task's state before: open (not complete, not gold) ones may complete now.
    let mut open_before: HashMap<i64, i64> = HashMap::new();
    for row in tx
        .cached_query(
            "SELECT id, complete OR gold IS NOT NULL, batch_id FROM tasks
             WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&ids],
        )
        .await?
    {
        if !row.try_get::<_, bool>(1)? {
            open_before.insert(row.try_get(0)?, row.try_get(2)?);
        }
    }
    let mut completed = Vec::new();
    let mut current: HashMap<i64, Vec<Vote>> = HashMap::new();
    let mut unsure: HashSet<i64> = HashSet::new();
    for row in tx
        .cached_query(
            "SELECT task_id, labels, unsure, annotator_id FROM (
                 SELECT DISTINCT ON (task_id, annotator_id) task_id, annotator_id, labels, skipped, unsure
                 FROM answers WHERE task_id = ANY($1) AND counted
                 ORDER BY task_id, annotator_id, revision DESC, seq DESC
             ) current WHERE NOT skipped ORDER BY task_id, annotator_id",
            &[&ids],
        )
        .await?
    {
        let Json(labels): Json<Vec<String>> = row.try_get(1)?;
        let task: i64 = row.try_get(0)?;
        if row.try_get::<_, bool>(2)? {
            unsure.insert(task);
        }
        current
            .entry(task)
            .or_default()
            .push((row.try_get(3)?, labels));
    }
    let (mut counts, mut consensus, mut confidence, mut names, mut complete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut wanted, mut needs_review, mut flagged) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first_ask, mut freed) = (Vec::new(), Vec::new());
    let mut updated = Vec::new();
    for &(task, project) in tasks {
        let Some(schema) = schemas.get(&project) else {
            continue;
        };
        let answers = current.remove(&task).unwrap_or_default();
        let method: &dyn ConsensusMethod = match fitted.get(&project) {
            Some(m) => m.as_ref(),
            None => fallback,
        };
        let Standing {
            consensus: result,
            progress,
        } = standing(schema, method, &answers);
        if let (true, true, Some(&batch)) = (
            hooked.contains(&project),
            progress.complete,
            open_before.get(&task),
        ) {
            let labels = result.as_ref().map(|c| c.labels.as_slice());
            let event = Event::task_completed(
                project,
                task,
                batch,
                labels,
                result.as_ref().map(|c| c.confidence),
                answers.len(),
            );
            completed.push((event, batch));
        }
        updated.push(task);
        counts.push(i32::try_from(answers.len()).unwrap_or(i32::MAX));
        complete.push(progress.complete);
        wanted.push(i32::try_from(progress.wanted).unwrap_or(i32::MAX));
        first_ask.push(i32::try_from(schema.progress(0, None).wanted).unwrap_or(i32::MAX));
        freed.push(skipped.contains(&task));
        needs_review.push(progress.needs_review);
        flagged.push(unsure.contains(&task));
        names.push(result.as_ref().map(|_| method.name()));
        confidence.push(result.as_ref().map(|c| c.confidence));
        consensus.push(result.map(|c| Json(c.labels)));
    }
    tx.cached_execute(
        "UPDATE tasks t SET answer_count = u.answer_count, consensus = u.consensus,
             confidence = u.confidence, consensus_method = u.method,
             complete = (t.gold IS NOT NULL OR u.complete), wanted = u.wanted, flagged = u.flagged,
             needs_review = (t.gold IS NULL AND (u.needs_review OR (u.complete AND u.flagged))),
             -- A skip frees a slot, and a task may now want more answers than before: either
             -- way its hint goes.
             full_until = CASE WHEN u.freed OR u.wanted > COALESCE(t.wanted, u.first_ask)
                          THEN NULL ELSE t.full_until END
         FROM UNNEST($1::bigint[], $2::int[], $3::jsonb[], $4::float8[], $5::text[], $6::bool[],
                     $7::int[], $8::bool[], $9::bool[], $10::int[], $11::bool[])
              AS u(id, answer_count, consensus, confidence, method, complete, wanted, needs_review,
                   flagged, first_ask, freed)
         WHERE t.id = u.id",
        &[
            &updated,
            &counts,
            &consensus,
            &confidence,
            &names,
            &complete,
            &wanted,
            &needs_review,
            &flagged,
            &first_ask,
            &freed,
        ],
    )
    .await?;
    Ok(completed)
}

/// The `task.completed` events, each followed by `batch.completed` when its batch has no open
/// task left (cancelled tasks are not open).
async fn completed_events(
    tx: &deadpool_postgres::Transaction<'_>,
    completed: Vec<(Event, i64)>,
) -> StoreResult<Vec<Event>> {
    let mut events = Vec::with_capacity(completed.len());
    let mut batches: Vec<(i64, i64)> = Vec::new();
    for (event, batch) in completed {
        if !batches.contains(&(event.project_id, batch)) {
            batches.push((event.project_id, batch));
        }
        events.push(event);
    }
    for (project, batch) in batches {
        let done: bool = tx
            .cached_query_one(
                "SELECT NOT EXISTS(SELECT 1 FROM tasks
                     WHERE batch_id = $1 AND NOT complete AND cancelled_at IS NULL)",
                &[&batch],
            )
            .await?
            .try_get(0)?;
        if done {
            events.push(Event::batch_completed(project, batch));
        }
    }
    Ok(events)
}

//! Answers a batch brings from another tool, stored as answers of imported annotators.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use tessera_api::{AnswerPush, PushResult};
use tessera_core::ImportedAnswer;

use super::*;

/// The start of an imported annotator's token hash (see migration 0016): no SHA-256 hex
/// digest starts so, so no token signs in as them.
pub(crate) const IMPORTED: &str = "imported:";

/// A time a source recorded (RFC 3339, or Toloka's zoneless UTC), when it is one and lies
/// between 2000 and a day from `now`; else `now`.
pub(crate) fn imported_time(time: Option<&str>, now: DateTime<Utc>) -> DateTime<Utc> {
    time.and_then(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            // Toloka writes its times without a zone, in UTC.
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc())
            })
    })
    .filter(|t| t.year() >= 2000 && *t <= now + chrono::TimeDelta::days(1))
    .unwrap_or(now)
}

/// An answer a batch brought from another tool, as a push of its imported annotator. Its time
/// is the source's when the source recorded one (and it is a time), else `now`.
pub(crate) fn imported_push(
    task_id: i64,
    revision: u32,
    answer: &ImportedAnswer,
    now: DateTime<Utc>,
) -> AnswerPush {
    let answered_at = imported_time(answer.answered_at.as_deref(), now);
    AnswerPush {
        id: uuid::Uuid::now_v7(),
        task_id,
        revision,
        labels: answer.labels.clone(),
        skipped: answer.skipped,
        unsure: answer.unsure,
        skip_reason: None,
        answered_at,
        device_id: None,
        prediction_verdict: None,
        prediction_model: None,
    }
}

/// Answers named by their tasks' external ids, grouped by task (`ids` maps an external id
/// to its task); the first id `ids` lacks is `UnknownExternalId`.
pub(crate) fn answers_by_task(
    project_id: i64,
    answers: Vec<(String, ImportedAnswer)>,
    ids: &HashMap<String, i64>,
) -> StoreResult<Vec<(i64, Vec<ImportedAnswer>)>> {
    let mut at: HashMap<i64, usize> = HashMap::new();
    let mut out: Vec<(i64, Vec<ImportedAnswer>)> = Vec::new();
    for (external_id, answer) in answers {
        let Some(&task) = ids.get(&external_id) else {
            return Err(StoreError::UnknownExternalId {
                project_id,
                external_id,
            });
        };
        let slot = *at.entry(task).or_insert_with(|| {
            out.push((task, Vec::new()));
            out.len() - 1
        });
        out[slot].1.push(answer);
    }
    Ok(out)
}

/// The imported annotators a batch's answers name, each once, in order of first mention.
pub(crate) fn imported_names(imported: &[(i64, Vec<ImportedAnswer>)]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    imported
        .iter()
        .flat_map(|(_, answers)| answers)
        .filter(|a| seen.insert(a.annotator.as_str()))
        .map(|a| a.annotator.clone())
        .collect()
}

/// A batch's imported answers as each imported annotator's pushes (`people` holds them by
/// name, see [`imported_names`]; `stored` the latest revision each task and annotator already
/// holds): a further answer of one annotator to one task is their next revision.
pub(crate) fn imported_pushes(
    imported: &[(i64, Vec<ImportedAnswer>)],
    people: &HashMap<String, User>,
    stored: HashMap<(i64, i64), u32>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(User, Vec<AnswerPush>)>> {
    let mut pushes: HashMap<i64, (User, Vec<AnswerPush>)> = HashMap::new();
    // Numbered on from the revision each (task, annotator) already holds: an answer imported
    // again revises the stored one instead of repeating its revision.
    let mut revisions = stored;
    for (task_id, answers) in imported {
        for a in answers {
            let user = people
                .get(&a.annotator)
                .ok_or_else(|| StoreError::Backend(format!("no user for {:?}", a.annotator)))?;
            let revision = revisions.entry((*task_id, user.id)).or_default();
            *revision += 1;
            pushes
                .entry(user.id)
                .or_insert_with(|| (user.clone(), Vec::new()))
                .1
                .push(imported_push(*task_id, *revision, a, now));
        }
    }
    let mut out: Vec<_> = pushes.into_values().collect();
    out.sort_by_key(|(user, _)| user.id);
    Ok(out)
}

/// 1 for an imported answer stored; an answer the store refused fails the whole upload.
pub(crate) fn imported_stored(annotator: &User, result: PushResult) -> StoreResult<usize> {
    match (result.status, result.error) {
        (tessera_api::PushStatus::Accepted, _) => Ok(1),
        (_, error) => Err(StoreError::Conflict(format!(
            "an answer of {:?} could not be stored: {}",
            annotator.name,
            error.map_or_else(|| "stored twice".to_owned(), |e| e.message)
        ))),
    }
}

//! Re-fit inputs and results, gold answers, anomaly inputs and reviews on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use tessera_api::{ExportRecord, ReviewRequest};

use crate::quality::TimedAnswer;

use super::*;
use crate::store::{AnswerCount, ConsensusStore};
use crate::store::{
    ConsensusInputs, ConsensusUpdate, GoldAnswer, StoreResult, User, first_answers, latest_answers,
    parse_ts, ts, unknown_task,
};
use crate::webhooks::Event;

#[async_trait]
impl ConsensusStore for SqliteStore {
    async fn gold_answers(
        &self,
        project_id: i64,
        annotator_id: Option<i64>,
    ) -> StoreResult<Vec<GoldAnswer>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.annotator_id, t.id, t.gold, a.labels, a.skipped
                 FROM tasks t JOIN answers a ON a.task_id = t.id
                 WHERE t.project_id = ?1 AND t.gold IS NOT NULL AND (?2 IS NULL OR a.annotator_id = ?2)
                 ORDER BY a.annotator_id, t.id, a.revision DESC, a.seq DESC",
            )?;
            let mut rows = stmt.query(params![project_id, annotator_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(GoldAnswer {
                    annotator_id: r.get(0)?,
                    task_id: r.get(1)?,
                    gold: serde_json::from_str(&r.get::<_, String>(2)?)?,
                    labels: serde_json::from_str(&r.get::<_, String>(3)?)?,
                    skipped: r.get(4)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn consensus_inputs(&self, project_id: i64) -> StoreResult<ConsensusInputs> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.task_id, a.annotator_id, a.labels, a.skipped
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = ?1 AND a.counted = 1
                 ORDER BY a.task_id, a.annotator_id, a.revision DESC, a.seq DESC",
            )?;
            let mut rows = stmt.query([project_id])?;
            let mut raw = Vec::new();
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(2)?)?;
                raw.push((r.get(0)?, r.get(1)?, labels, r.get(3)?));
            }
            let mut gold = HashMap::new();
            let mut stmt = c.prepare_cached(
                "SELECT id, gold FROM tasks WHERE project_id = ?1 AND gold IS NOT NULL",
            )?;
            let mut rows = stmt.query([project_id])?;
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(1)?)?;
                if let Some(label) = labels.into_iter().next() {
                    gold.insert(r.get(0)?, label);
                }
            }
            let consensus = c
                .prepare_cached(
                    "SELECT id, json_extract(consensus, '$[0]') FROM tasks
                     WHERE project_id = ?1 AND consensus IS NOT NULL AND gold IS NULL",
                )?
                .query_map([project_id], |r| {
                    Ok((r.get(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .filter_map(|row| match row {
                    Ok((task, Some(label))) => Some(Ok((task, label))),
                    Ok((_, None)) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_, _>>()?;
            Ok(ConsensusInputs {
                answers: latest_answers(raw),
                gold,
                consensus,
            })
        })
        .await
    }

    async fn save_consensus_model(&self, project_id: i64, model: String) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO consensus_models (project_id, version, model) VALUES (?1, 1, ?2)
                 ON CONFLICT (project_id) DO UPDATE SET version = version + 1, model = ?2",
                params![project_id, model],
            )?;
            Ok(())
        })
        .await
    }

    async fn write_consensus(
        &self,
        project_id: i64,
        updates: Vec<ConsensusUpdate>,
        method: &str,
    ) -> StoreResult<()> {
        let method = method.to_owned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE tasks SET consensus = ?3, confidence = ?4, consensus_method = ?5,
                         answer_count = ?9,
                         complete = (gold IS NOT NULL OR ?6), wanted = ?7, full_until = NULL,
                         needs_review = (gold IS NULL AND (?8 OR (?6 AND flagged)))
                     WHERE id = ?1 AND project_id = ?2 AND cancelled_at IS NULL",
                )?;
                for u in &updates {
                    let any = !u.labels.is_empty();
                    update.execute(params![
                        u.task_id,
                        project_id,
                        any.then(|| serde_json::to_string(&u.labels)).transpose()?,
                        any.then_some(u.confidence),
                        any.then_some(&method),
                        u.complete,
                        u.wanted,
                        u.needs_review,
                        u.answers
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn answer_times(&self, project_id: i64) -> StoreResult<Vec<TimedAnswer>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.task_id, a.annotator_id, a.answered_at, a.labels, a.skipped
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = ?1 AND a.counted = 1
                 ORDER BY a.task_id, a.annotator_id, a.revision, a.seq",
            )?;
            let mut rows = stmt.query([project_id])?;
            let mut raw = Vec::new();
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(3)?)?;
                raw.push((
                    TimedAnswer {
                        task_id: r.get(0)?,
                        annotator_id: r.get(1)?,
                        answered_at: parse_ts(&r.get::<_, String>(2)?)?,
                        label: labels.into_iter().next().unwrap_or_default(),
                    },
                    r.get::<_, bool>(4)?,
                ));
            }
            Ok(first_answers(raw))
        })
        .await
    }

    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<AnswerCount>> {
        self.read(move |c| {
            let rows: Vec<(i64, String, i64, Option<String>)> = c
                .prepare_cached(
                    "SELECT u.id, u.name, COUNT(DISTINCT CASE WHEN NOT a.skipped THEN a.task_id END),
                            MAX(a.received_at)
                     FROM answers a JOIN tasks t ON t.id = a.task_id JOIN users u ON u.id = a.annotator_id
                     WHERE t.project_id = ?1
                     GROUP BY u.id, u.name ORDER BY u.id",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            rows.into_iter()
                .map(|(annotator_id, name, answers, last)| {
                    Ok(AnswerCount {
                        annotator_id,
                        name,
                        answers: answers.max(0) as u64,
                        last_answer_at: last.map(|t| parse_ts(&t)).transpose()?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn lift_suspension(
        &self,
        project_id: i64,
        user_id: i64,
        (answered, correct): (u64, u64),
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO suspension_lifts
                     (project_id, user_id, gold_answered, gold_correct, lifted_by, lifted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET gold_answered = excluded.gold_answered,
                     gold_correct = excluded.gold_correct, lifted_by = excluded.lifted_by,
                     lifted_at = excluded.lifted_at",
            )?
            .execute(params![
                project_id,
                user_id,
                i64::try_from(answered).unwrap_or(i64::MAX),
                i64::try_from(correct).unwrap_or(i64::MAX),
                by,
                ts(now)
            ])?;
            Ok(())
        })
        .await
    }

    async fn suspension_lifts(&self, project_id: i64) -> StoreResult<HashMap<i64, (u64, u64)>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(
                    "SELECT user_id, gold_answered, gold_correct FROM suspension_lifts
                     WHERE project_id = ?1",
                )?
                .query_map([project_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        (
                            r.get::<_, i64>(1)?.max(0) as u64,
                            r.get::<_, i64>(2)?.max(0) as u64,
                        ),
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn review_queue(&self, project_id: i64, limit: u32) -> StoreResult<Vec<ExportRecord>> {
        self.read(move |c| {
            Ok(export_tasks(c, project_id, true, 0, limit)?
                .into_iter()
                .map(|(_, r)| r)
                .collect())
        })
        .await
    }

    async fn record_review(
        &self,
        project_id: i64,
        review: ReviewRequest,
        reviewer: &User,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let reviewer = reviewer.id;
        self.write(move |c| {
            let labels = serde_json::to_string(&review.labels)?;
            let tx = c.savepoint()?;
            let updated = tx
                .prepare_cached(
                    "UPDATE tasks SET review_labels = ?3, reviewed_by = ?4, reviewed_at = ?5
                     WHERE id = ?1 AND project_id = ?2",
                )?
                .execute(params![
                    review.task_id,
                    project_id,
                    labels,
                    reviewer,
                    ts(now)
                ])?;
            if updated == 0 {
                return Err(unknown_task(project_id, review.task_id));
            }
            if super::webhooks::hooked(&tx, project_id)? {
                let event =
                    Event::review_created(project_id, review.task_id, reviewer, &review.labels);
                super::webhooks::emit_in(&tx, &[event], &ts(now))?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

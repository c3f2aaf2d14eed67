//! Re-fit inputs and results, gold answers, anomaly inputs and reviews on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{ExportRecord, ReviewRequest};

use crate::quality::TimedAnswer;
use tokio_postgres::types::Json;

use super::*;
use crate::store::{AnswerCount, ConsensusStore};
use crate::store::{
    ConsensusInputs, ConsensusUpdate, GoldAnswer, StoreResult, User, first_answers, latest_answers,
    unknown_task,
};
use crate::webhooks::Event;

#[async_trait]
impl ConsensusStore for PostgresStore {
    async fn gold_answers(
        &self,
        project_id: i64,
        annotator_id: Option<i64>,
    ) -> StoreResult<Vec<GoldAnswer>> {
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT a.annotator_id, t.id, t.gold, a.labels, a.skipped
             FROM tasks t JOIN answers a ON a.task_id = t.id
             WHERE t.project_id = $1 AND t.gold IS NOT NULL
               AND ($2::bigint IS NULL OR a.annotator_id = $2)
             ORDER BY a.annotator_id, t.id, a.revision DESC, a.seq DESC",
            &[&project_id, &annotator_id],
        )
        .await?
        .iter()
        .map(|r| {
            let Json(gold): Json<Vec<String>> = r.try_get(2)?;
            let Json(labels): Json<Vec<String>> = r.try_get(3)?;
            Ok(GoldAnswer {
                annotator_id: r.try_get(0)?,
                task_id: r.try_get(1)?,
                gold,
                labels,
                skipped: r.try_get(4)?,
            })
        })
        .collect()
    }

    async fn consensus_inputs(&self, project_id: i64) -> StoreResult<ConsensusInputs> {
        let c = self.pool.get().await?;
        let mut raw = Vec::new();
        for r in c
            .cached_query(
                "SELECT a.task_id, a.annotator_id, a.labels, a.skipped
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = $1 AND a.counted
                 ORDER BY a.task_id, a.annotator_id, a.revision DESC, a.seq DESC",
                &[&project_id],
            )
            .await?
        {
            let Json(labels): Json<Vec<String>> = r.try_get(2)?;
            raw.push((r.try_get(0)?, r.try_get(1)?, labels, r.try_get(3)?));
        }
        let mut gold = HashMap::new();
        for r in c
            .cached_query(
                "SELECT id, gold FROM tasks WHERE project_id = $1 AND gold IS NOT NULL",
                &[&project_id],
            )
            .await?
        {
            let Json(labels): Json<Vec<String>> = r.try_get(1)?;
            if let Some(label) = labels.into_iter().next() {
                gold.insert(r.try_get(0)?, label);
            }
        }
        let mut consensus = HashMap::new();
        for r in c
            .cached_query(
                "SELECT id, consensus->>0 FROM tasks
                 WHERE project_id = $1 AND consensus IS NOT NULL AND gold IS NULL",
                &[&project_id],
            )
            .await?
        {
            if let Some(label) = r.try_get::<_, Option<String>>(1)? {
                consensus.insert(r.try_get(0)?, label);
            }
        }
        Ok(ConsensusInputs {
            answers: latest_answers(raw),
            gold,
            consensus,
        })
    }

    async fn save_consensus_model(&self, project_id: i64, model: String) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.cached_execute(
            "INSERT INTO consensus_models (project_id, version, model) VALUES ($1, 1, $2)
             ON CONFLICT (project_id) DO UPDATE SET version = consensus_models.version + 1, model = $2",
            &[&project_id, &model],
        )
        .await?;
        Ok(())
    }

    async fn write_consensus(
        &self,
        project_id: i64,
        updates: Vec<ConsensusUpdate>,
        method: &str,
    ) -> StoreResult<()> {
        let c = self.pool.get().await?;
        let ids: Vec<i64> = updates.iter().map(|u| u.task_id).collect();
        let labels: Vec<Option<Json<&Vec<String>>>> = updates
            .iter()
            .map(|u| (!u.labels.is_empty()).then_some(Json(&u.labels)))
            .collect();
        let confidence: Vec<Option<f64>> = updates
            .iter()
            .map(|u| (!u.labels.is_empty()).then_some(u.confidence))
            .collect();
        let answers: Vec<i32> = updates
            .iter()
            .map(|u| i32::try_from(u.answers).unwrap_or(i32::MAX))
            .collect();
        let complete: Vec<bool> = updates.iter().map(|u| u.complete).collect();
        let wanted: Vec<i32> = updates
            .iter()
            .map(|u| i32::try_from(u.wanted).unwrap_or(i32::MAX))
            .collect();
        let needs_review: Vec<bool> = updates.iter().map(|u| u.needs_review).collect();
        c.cached_execute(
            "UPDATE tasks t SET consensus = u.consensus, confidence = u.confidence,
                 consensus_method = CASE WHEN u.consensus IS NULL THEN NULL ELSE $7 END,
                 answer_count = u.answer_count,
                 complete = (t.gold IS NOT NULL OR u.complete), wanted = u.wanted, full_until = NULL,
                 needs_review = (t.gold IS NULL AND (u.needs_review OR (u.complete AND t.flagged)))
             FROM UNNEST($1::bigint[], $2::jsonb[], $3::float8[], $4::bool[], $5::int[], $6::bool[],
                         $9::int[])
                  AS u(id, consensus, confidence, complete, wanted, needs_review, answer_count)
             WHERE t.id = u.id AND t.project_id = $8 AND t.cancelled_at IS NULL",
            &[
                &ids,
                &labels,
                &confidence,
                &complete,
                &wanted,
                &needs_review,
                &method,
                &project_id,
                &answers,
            ],
        )
        .await?;
        Ok(())
    }

    async fn answer_times(&self, project_id: i64) -> StoreResult<Vec<TimedAnswer>> {
        let c = self.pool.get().await?;
        let mut raw = Vec::new();
        for r in c
            .cached_query(
                "SELECT a.task_id, a.annotator_id, a.answered_at, a.labels, a.skipped
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = $1 AND a.counted
                 ORDER BY a.task_id, a.annotator_id, a.revision, a.seq",
                &[&project_id],
            )
            .await?
        {
            let Json(labels): Json<Vec<String>> = r.try_get(3)?;
            raw.push((
                TimedAnswer {
                    task_id: r.try_get(0)?,
                    annotator_id: r.try_get(1)?,
                    answered_at: r.try_get(2)?,
                    label: labels.into_iter().next().unwrap_or_default(),
                },
                r.try_get::<_, bool>(4)?,
            ));
        }
        Ok(first_answers(raw))
    }

    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<AnswerCount>> {
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT u.id, u.name, COUNT(DISTINCT a.task_id) FILTER (WHERE NOT a.skipped),
                    MAX(a.received_at)
             FROM answers a JOIN tasks t ON t.id = a.task_id JOIN users u ON u.id = a.annotator_id
             WHERE t.project_id = $1
             GROUP BY u.id, u.name ORDER BY u.id",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(AnswerCount {
                annotator_id: r.try_get(0)?,
                name: r.try_get(1)?,
                answers: r.try_get::<_, i64>(2)?.max(0) as u64,
                last_answer_at: r.try_get(3)?,
            })
        })
        .collect()
    }

    async fn lift_suspension(
        &self,
        project_id: i64,
        user_id: i64,
        (answered, correct): (u64, u64),
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO suspension_lifts
                 (project_id, user_id, gold_answered, gold_correct, lifted_by, lifted_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, user_id) DO UPDATE SET gold_answered = excluded.gold_answered,
                 gold_correct = excluded.gold_correct, lifted_by = excluded.lifted_by,
                 lifted_at = excluded.lifted_at",
            &[
                &project_id,
                &user_id,
                &i64::try_from(answered).unwrap_or(i64::MAX),
                &i64::try_from(correct).unwrap_or(i64::MAX),
                &by,
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn suspension_lifts(&self, project_id: i64) -> StoreResult<HashMap<i64, (u64, u64)>> {
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT user_id, gold_answered, gold_correct FROM suspension_lifts WHERE project_id = $1",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<_, i64>(0)?,
                (
                    r.try_get::<_, i64>(1)?.max(0) as u64,
                    r.try_get::<_, i64>(2)?.max(0) as u64,
                ),
            ))
        })
        .collect()
    }

    async fn review_queue(&self, project_id: i64, limit: u32) -> StoreResult<Vec<ExportRecord>> {
        let c = self.pool.get().await?;
        Ok(export_tasks(&c, project_id, true, 0, limit)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    async fn record_review(
        &self,
        project_id: i64,
        review: ReviewRequest,
        reviewer: &User,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let updated = tx
            .cached_execute(
                "UPDATE tasks SET review_labels = $3, reviewed_by = $4, reviewed_at = $5
                 WHERE id = $1 AND project_id = $2",
                &[
                    &review.task_id,
                    &project_id,
                    &Json(&review.labels),
                    &reviewer.id,
                    &now,
                ],
            )
            .await?;
        if updated == 0 {
            return Err(unknown_task(project_id, review.task_id));
        }
        if super::webhooks::hooked(&tx, project_id).await? {
            let event =
                Event::review_created(project_id, review.task_id, reviewer.id, &review.labels);
            super::webhooks::emit_in(&tx, &[event], now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

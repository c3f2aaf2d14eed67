//! Projects, batches, task uploads, cancellation, status and export pages on PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tessera_api::{
    Batch, CancelTasksRequest, CancelTasksResponse, Project, ProjectStatus, UploadResponse,
};
use tessera_core::{ConsensusMethod, EncodedTask, ImportedAnswer, ImportedReview, LabelSchema};

use tokio_postgres::types::Json;

use super::lifecycle;
use super::queue::{active_holders, lock_feed, named_tasks};
use super::*;
use crate::store::tasks::searched_text_of;
use crate::store::{
    ExportPage, ProjectsOf, StoreError, StoreResult, answers_by_task, stored_key, unknown_batch,
};
use crate::store::{LabelUsage, ProjectStore};

#[async_trait]
impl ProjectStore for PostgresStore {
    async fn create_project(
        &self,
        name: &str,
        schema: &LabelSchema,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Project> {
        let c = self.pool.get().await?;
        // One statement: the project and its first requester member, or neither.
        let row = c
            .cached_query_one(
                "WITH p AS (
                     INSERT INTO projects (name, schema, created_at, created_by) VALUES ($1, $2, $3, $4)
                     RETURNING id, name, schema, created_at, archived_at
                 ), m AS (
                     INSERT INTO memberships (project_id, user_id, role, created_at)
                     SELECT id, $4, 'requester', $3 FROM p WHERE $4::BIGINT IS NOT NULL
                 )
                 SELECT id, name, schema, created_at, archived_at FROM p",
                &[&name, &Json(schema), &now, &requester],
            )
            .await?;
        project_from(&row)
    }

    async fn projects(&self, who: ProjectsOf) -> StoreResult<Vec<Project>> {
        let (kind, user) = who.params();
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT id, name, schema, created_at, archived_at FROM projects p WHERE $1::INT = 0
               OR ($1 = 1 AND id IN (SELECT project_id FROM memberships WHERE user_id = $2 AND role = 'requester'))
               OR ($1 = 2 AND p.archived_at IS NULL
                   AND (id IN (SELECT project_id FROM memberships WHERE user_id = $2)
                               OR (NOT EXISTS (SELECT 1 FROM memberships m
                                               WHERE m.project_id = p.id AND m.role <> 'requester')
                                   AND NOT EXISTS (SELECT 1 FROM users u
                                                   WHERE u.id = $2 AND u.confined))))
             ORDER BY id",
            &[&kind, &user],
        )
        .await?
        .iter()
        .map(project_from)
        .collect()
    }

    async fn project(&self, id: i64) -> StoreResult<Project> {
        if let Some(project) = self.projects.get(id) {
            return Ok(project);
        }
        let c = self.pool.get().await?;
        self.project_in(&c, id).await
    }

    async fn task_id_key(&self, fresh: [u8; 16]) -> StoreResult<([u8; 16], i64)> {
        let c = self.pool.get().await?;
        // Replicas starting together: the first update wins, every one reads the same key.
        c.execute(
            "UPDATE task_id_key SET key = $1 WHERE id = 1 AND key IS NULL",
            &[&fresh.as_slice()],
        )
        .await?;
        let row = c
            .query_one("SELECT key, plain_up_to FROM task_id_key WHERE id = 1", &[])
            .await?;
        let key: Vec<u8> = row.try_get(0)?;
        Ok((stored_key(&key)?, row.try_get(1)?))
    }

    async fn insert_batch(
        &self,
        project_id: i64,
        tasks: Vec<EncodedTask>,
        priority: i32,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<UploadResponse> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        self.project_in(&tx, project_id).await?;
        let mut imported: Vec<(i64, Vec<ImportedAnswer>)> = Vec::new();
        let mut reviews: Vec<(i64, ImportedReview)> = Vec::new();
        let batch_id: i64 = tx
            .cached_query_one(
                "INSERT INTO batches (project_id, task_count, priority, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&project_id, &(tasks.len() as i64), &priority, &now],
            )
            .await?
            .get(0);
        // An id already in the project fails the whole upload, named (the parser already
        // refused ids repeated within it).
        let ids: Vec<&str> = tasks
            .iter()
            .filter_map(|t| t.external_id.as_deref())
            .collect();
        if let Some(row) = tx
            .cached_query_opt(
                "SELECT external_id FROM tasks WHERE project_id = $1 AND external_id = ANY($2) LIMIT 1",
                &[&project_id, &ids],
            )
            .await?
        {
            let id: String = row.try_get(0)?;
            return Err(StoreError::Conflict(format!(
                "task id {id:?} already exists in this project"
            )));
        }
        // Rows go in as arrays, a few thousand per statement, not one statement per task.
        for chunk in tasks.chunks(INSERT_CHUNK) {
            let external: Vec<Option<&str>> =
                chunk.iter().map(|t| t.external_id.as_deref()).collect();
            let data: Vec<&str> = chunk.iter().map(|t| t.data.as_str()).collect();
            let prediction: Vec<Option<&str>> =
                chunk.iter().map(|t| t.prediction.as_deref()).collect();
            let gold: Vec<Option<&str>> = chunk.iter().map(|t| t.gold.as_deref()).collect();
            let more: Vec<Option<&str>> = chunk
                .iter()
                .map(|t| t.more_predictions.as_deref())
                .collect();
            let meta: Vec<Option<&str>> = chunk.iter().map(|t| t.meta.as_deref()).collect();
            let size = |i: usize| -> Vec<Option<i32>> {
                chunk
                    .iter()
                    .map(|t| t.image_size.and_then(|s| i32::try_from(s[i]).ok()))
                    .collect()
            };
            let (width, height) = (size(0), size(1));
            let words: Vec<String> = chunk.iter().map(|t| searched_text_of(&t.data)).collect();
            // Ids are drawn in the rows' order (ORDER BY u.n), so sorted they are the chunk's.
            let mut ids: Vec<i64> = tx.cached_query(
                "INSERT INTO tasks (project_id, batch_id, external_id, data, prediction, created_at, gold, complete, priority, more_predictions, meta, image_width, image_height, words)
                 SELECT $1, $2, u.external_id, u.data::jsonb, u.prediction::jsonb, $3, u.gold::jsonb, u.gold IS NOT NULL, $8,
                        u.more::jsonb, u.meta::jsonb, u.width, u.height, to_tsvector('simple'::regconfig, u.words)
                 FROM UNNEST($4::text[], $5::text[], $6::text[], $7::text[], $9::text[], $10::text[], $11::int[], $12::int[], $13::text[]) WITH ORDINALITY
                      AS u(external_id, data, prediction, gold, more, meta, width, height, words, n)
                 ORDER BY u.n
                 RETURNING id",
                &[&project_id, &batch_id, &now, &external, &data, &prediction, &gold, &priority, &more, &meta, &width, &height, &words],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                    StoreError::Conflict(
                        "a task id of this upload was added to the project meanwhile".to_owned(),
                    )
                } else {
                    e.into()
                }
            })?
            .iter()
            .map(|r| r.get(0))
            .collect();
            ids.sort_unstable();
            for (task, id) in chunk.iter().zip(ids) {
                if !task.answers.is_empty() {
                    imported.push((id, task.answers.clone()));
                }
                if let Some(review) = &task.review {
                    reviews.push((id, review.clone()));
                }
            }
        }
        let answers_added = self
            .store_imported(&tx, &imported, now, method.as_ref())
            .await?;
        store_reviews(&tx, &reviews, now).await?;
        tx.commit().await?;
        self.analyze_after(tasks.len() + answers_added);
        Ok(UploadResponse {
            batch_id,
            tasks_added: tasks.len(),
            answers_added,
            ..UploadResponse::default()
        })
    }

    async fn import_answers(
        &self,
        project_id: i64,
        answers: Vec<(String, ImportedAnswer)>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<usize> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        self.project_in(&tx, project_id).await?;
        let externals: Vec<&str> = answers.iter().map(|(e, _)| e.as_str()).collect();
        let ids: HashMap<String, i64> = tx
            .cached_query(
                "SELECT external_id, id FROM tasks WHERE project_id = $1 AND external_id = ANY($2)",
                &[&project_id, &externals],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let by_task = answers_by_task(project_id, answers, &ids)?;
        let stored = self
            .store_imported(&tx, &by_task, now, method.as_ref())
            .await?;
        tx.commit().await?;
        self.analyze_after(stored);
        Ok(stored)
    }

    async fn batches(&self, project_id: i64) -> StoreResult<Vec<Batch>> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        // Progress in one pass over the project's tasks.
        c.cached_query(
            "SELECT b.id, b.task_count, b.priority, b.created_at,
                    COALESCE(p.complete, 0), COALESCE(p.gold, 0)
             FROM batches b LEFT JOIN (
                 SELECT batch_id, COUNT(*) FILTER (WHERE complete AND gold IS NULL) AS complete,
                        COUNT(gold) AS gold
                 FROM tasks WHERE project_id = $1 GROUP BY batch_id
             ) p ON p.batch_id = b.id
             WHERE b.project_id = $1 ORDER BY b.id",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Batch {
                id: r.try_get(0)?,
                task_count: r.try_get(1)?,
                priority: r.try_get(2)?,
                created_at: r.try_get(3)?,
                complete: r.try_get(4)?,
                gold: r.try_get(5)?,
            })
        })
        .collect()
    }

    async fn set_batch_priority(
        &self,
        project_id: i64,
        batch_id: i64,
        priority: i32,
    ) -> StoreResult<Batch> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.cached_query_opt(
            "UPDATE batches SET priority = $3 WHERE id = $1 AND project_id = $2 RETURNING id",
            &[&batch_id, &project_id, &priority],
        )
        .await?
        .ok_or_else(|| unknown_batch(project_id, batch_id))?;
        tx.cached_execute(
            "UPDATE tasks SET priority = $2 WHERE batch_id = $1",
            &[&batch_id, &priority],
        )
        .await?;
        tx.commit().await?;
        drop(c);
        self.batches(project_id)
            .await?
            .into_iter()
            .find(|b| b.id == batch_id)
            .ok_or_else(|| unknown_batch(project_id, batch_id))
    }

    async fn cancel_tasks(
        &self,
        project_id: i64,
        request: CancelTasksRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<CancelTasksResponse> {
        let mut c = self.pool.get().await?;
        // Lock order as in push and lease: the holders' feed locks first, then the task rows.
        // A lease taken between reading the holders and locking the rows means one more
        // feed to lock: start again (rare; bounded).
        for _ in 0..8 {
            let tx = c.transaction().await?;
            self.project_in(&tx, project_id).await?;
            let named = named_tasks(&tx, project_id, &request).await?;
            let holders = active_holders(&tx, &named).await?;
            for &annotator in &holders {
                lock_feed(&tx, annotator).await?;
            }
            tx.cached_execute(
                "SELECT 1 FROM tasks WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
                &[&named],
            )
            .await?;
            let now_holding = active_holders(&tx, &named).await?;
            if !now_holding.iter().all(|a| holders.binary_search(a).is_ok()) {
                tx.rollback().await?;
                continue;
            }
            let cancelled: Vec<i64> = tx
                .cached_query(
                    "UPDATE tasks SET cancelled_at = $2 WHERE id = ANY($1) AND cancelled_at IS NULL
                     RETURNING id",
                    &[&named, &now],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            // Whoever still holds one (even past its expiry, on a device that was away)
            // hears that it is withdrawn.
            tx.cached_execute(
                "INSERT INTO changes (annotator_id, kind, task_id)
                 SELECT annotator_id, 'cancel', task_id FROM leases
                 WHERE task_id = ANY($1) AND state = 'active' ORDER BY task_id, annotator_id",
                &[&cancelled],
            )
            .await?;
            tx.commit().await?;
            return Ok(CancelTasksResponse {
                cancelled: cancelled.len() as u64,
                already_cancelled: (named.len() - cancelled.len()) as u64,
            });
        }
        Err(StoreError::Conflict(
            "the tasks kept being leased while cancelling them; try again".to_owned(),
        ))
    }

    async fn status(&self, project_id: i64, now: DateTime<Utc>) -> StoreResult<ProjectStatus> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        let row = c
            .cached_query_one(
                "SELECT COUNT(*) FILTER (WHERE gold IS NULL), COALESCE(SUM(answer_count), 0)::BIGINT,
                        COUNT(*) FILTER (WHERE complete AND gold IS NULL),
                        COUNT(cancelled_at), COUNT(*) FILTER (WHERE needs_review AND review_labels IS NULL),
                        COUNT(review_labels), COUNT(gold)
                 FROM tasks WHERE project_id = $1",
                &[&project_id],
            )
            .await?;
        let (tasks, answers, complete, cancelled): (i64, i64, i64, i64) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        let (needs_review, reviewed, gold): (i64, i64, i64) =
            (row.try_get(4)?, row.try_get(5)?, row.try_get(6)?);
        let leased: i64 = c
            .cached_query_one(
                "SELECT COUNT(*) FROM leases l JOIN tasks t ON t.id = l.task_id
                 WHERE t.project_id = $1 AND l.state = 'active' AND l.expires_at > $2",
                &[&project_id, &now],
            )
            .await?
            .try_get(0)?;
        let row = c
            .cached_query_one(
                "SELECT COUNT(DISTINCT a.annotator_id), COUNT(*) FILTER (WHERE a.device_conflict),
                        COUNT(*) FILTER (WHERE NOT a.counted)
                 FROM answers a JOIN tasks t ON t.id = a.task_id WHERE t.project_id = $1",
                &[&project_id],
            )
            .await?;
        let (annotators, device_conflicts, uncounted): (i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let mut skips_by_reason = std::collections::BTreeMap::new();
        for r in c
            .cached_query(
                "SELECT COALESCE(a.skip_reason, ''), COUNT(*)
                 FROM answers a JOIN tasks t ON t.id = a.task_id
                 WHERE t.project_id = $1 AND a.skipped GROUP BY 1",
                &[&project_id],
            )
            .await?
        {
            skips_by_reason.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)? as u64);
        }
        let mut consensus_by_method = std::collections::BTreeMap::new();
        for r in c
            .cached_query(
                "SELECT consensus_method, COUNT(*) FROM tasks
                 WHERE project_id = $1 AND consensus IS NOT NULL AND consensus_method IS NOT NULL
                 GROUP BY 1",
                &[&project_id],
            )
            .await?
        {
            consensus_by_method.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)? as u64);
        }
        Ok(ProjectStatus {
            project_id,
            tasks: tasks as u64,
            answers: answers as u64,
            complete: complete as u64,
            gold_tasks: gold as u64,
            stuck: 0,
            stuck_because: None,
            leased: leased as u64,
            annotators: annotators as u64,
            device_conflicts: device_conflicts as u64,
            cancelled: cancelled as u64,
            uncounted_answers: uncounted as u64,
            needs_review: needs_review as u64,
            reviewed: reviewed as u64,
            skips_by_reason,
            consensus_by_method,
        })
    }

    async fn export_page(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        let c = self.pool.get().await?;
        let records = export_tasks(&c, project_id, false, after, limit).await?;
        Ok(ExportPage::of(records, limit))
    }

    async fn label_usage(&self, project_id: i64) -> StoreResult<LabelUsage> {
        let c = self.pool.get().await?;
        lifecycle::label_usage(&c, project_id).await
    }

    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        schema: &LabelSchema,
    ) -> StoreResult<Project> {
        let c = self.pool.get().await?;
        let project = lifecycle::update_project(&c, project_id, name, schema).await?;
        self.projects.forget(project_id);
        Ok(project)
    }

    async fn archive_project(
        &self,
        project_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<Project> {
        let c = self.pool.get().await?;
        let project = lifecycle::archive_project(&c, project_id, at).await?;
        self.projects.forget(project_id);
        Ok(project)
    }

    async fn delete_project(&self, project_id: i64) -> StoreResult<(u64, u64)> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let deleted = lifecycle::delete_project(&tx, project_id).await?;
        tx.commit().await?;
        self.projects.forget(project_id);
        Ok(deleted)
    }
}

/// Tasks one upload statement inserts.
const INSERT_CHUNK: usize = 5_000;

/// Rows written at once from which the planner's statistics are refreshed at once, not when
/// autovacuum next comes by (up to a minute or more): until then, plans made for an empty
/// table walk a million rows (the task browser's pages took 0.4 s instead of 5 ms).
const ANALYZE_AFTER: usize = 10_000;

impl PostgresStore {
    /// Refreshes the statistics of the tables a large write filled, in the background.
    fn analyze_after(&self, rows: usize) {
        if rows < ANALYZE_AFTER {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let analyzed = async {
                pool.get()
                    .await?
                    .batch_execute("ANALYZE tasks, answers, leases")
                    .await?;
                Ok::<_, StoreError>(())
            };
            if let Err(e) = analyzed.await {
                tracing::warn!(error = %e, "could not refresh statistics after a large write");
            }
        });
    }
}

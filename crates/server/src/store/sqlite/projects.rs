//! Projects, batches, task uploads, cancellation, status and export pages on SQLite.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use tessera_api::{
    Batch, CancelTasksRequest, CancelTasksResponse, Project, ProjectStatus, UploadResponse,
};
use tessera_core::{ConsensusMethod, EncodedTask, ImportedAnswer, LabelSchema};

use super::lifecycle;
use super::*;
use crate::store::tasks::searched_text_of;
use crate::store::{
    ExportPage, ProjectsOf, StoreError, StoreResult, answers_by_task, parse_ts, stored_key, ts,
    unknown_batch, unknown_external_id, unknown_task,
};
use crate::store::{LabelUsage, ProjectStore};

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn create_project(
        &self,
        name: &str,
        schema: &LabelSchema,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Project> {
        let name = name.to_owned();
        let schema_json = serde_json::to_string(schema)?;
        self.write(move |c| {
            let now = ts(now);
            c.prepare_cached(
                "INSERT INTO projects (name, schema, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, schema_json, now, requester])?;
            let id = c.last_insert_rowid();
            if let Some(user) = requester {
                c.prepare_cached(
                    "INSERT INTO memberships (project_id, user_id, role, created_at)
                     VALUES (?1, ?2, 'requester', ?3)",
                )?
                .execute(params![id, user, now])?;
            }
            project_row(c, id)
        })
        .await
    }

    async fn projects(&self, who: ProjectsOf) -> StoreResult<Vec<Project>> {
        let (kind, user) = who.params();
        self.read(move |c| {
            let ids: Vec<i64> = c
                .prepare_cached(PROJECTS_OF)?
                .query_map(params![kind, user], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.into_iter().map(|id| project_row(c, id)).collect()
        })
        .await
    }

    async fn project(&self, id: i64) -> StoreResult<Project> {
        if let Some(project) = self.projects.get(id) {
            return Ok(project);
        }
        let project = self.read(move |c| project_row(c, id)).await?;
        Ok(self.projects.keep(project))
    }

    async fn task_id_key(&self, fresh: [u8; 16]) -> StoreResult<([u8; 16], i64)> {
        self.write(move |c| {
            c.execute(
                "UPDATE task_id_key SET key = ?1 WHERE id = 1 AND key IS NULL",
                [fresh.as_slice()],
            )?;
            let (key, plain_up_to): (Vec<u8>, i64) = c.query_row(
                "SELECT key, plain_up_to FROM task_id_key WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((stored_key(&key)?, plain_up_to))
        })
        .await
    }

    async fn insert_batch(
        &self,
        project_id: i64,
        tasks: Vec<EncodedTask>,
        priority: i32,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<UploadResponse> {
        let models = Arc::clone(&self.models);
        self.write(move |c| {
            let mut tasks = tasks;
            let mut imported = Vec::new();
            let mut reviews = Vec::new();
            let tx = c.savepoint()?;
            project_row(&tx, project_id)?;
            let now_time = now;
            let now = ts(now);
            tx.prepare_cached("INSERT INTO batches (project_id, task_count, priority, created_at) VALUES (?1, ?2, ?3, ?4)")?.execute(
                params![project_id, tasks.len() as i64, priority, now],
            )?;
            let batch_id = tx.last_insert_rowid();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO tasks (project_id, batch_id, external_id, data, prediction, created_at, gold, complete, priority, more_predictions, meta, image_width, image_height)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 IS NOT NULL, ?8, ?9, ?10, ?11, ?12)",
                )?;
                let mut words = tx.prepare_cached(
                    "INSERT INTO task_words (rowid, project, words) VALUES (?1, ?2, ?3)",
                )?;
                let project_words = format!("p{project_id}");
                for task in &mut tasks {
                    insert
                        .execute(params![
                            project_id,
                            batch_id,
                            task.external_id,
                            task.data,
                            task.prediction,
                            now,
                            task.gold,
                            priority,
                            task.more_predictions,
                            task.meta,
                            task.image_size.map(|s| s[0]),
                            task.image_size.map(|s| s[1])
                        ])
                        .map_err(|e| match e.sqlite_error_code() {
                            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(format!(
                                "task id {:?} already exists in this project",
                                task.external_id.as_deref().unwrap_or("")
                            )),
                            _ => e.into(),
                        })?;
                    words.execute(params![
                        tx.last_insert_rowid(),
                        project_words,
                        searched_text_of(&task.data)
                    ])?;
                    if !task.answers.is_empty() {
                        imported.push((tx.last_insert_rowid(), std::mem::take(&mut task.answers)));
                    }
                    if let Some(review) = task.review.take() {
                        reviews.push((tx.last_insert_rowid(), review));
                    }
                }
            }
            let answers_added = store_imported(&tx, &models, &imported, now_time, method.as_ref())?;
            store_reviews(&tx, &reviews, now_time)?;
            tx.commit()?;
            Ok(UploadResponse {
                batch_id,
                tasks_added: tasks.len(),
                answers_added,
                ..UploadResponse::default()
            })
        })
        .await
    }

    async fn import_answers(
        &self,
        project_id: i64,
        answers: Vec<(String, ImportedAnswer)>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<usize> {
        let models = Arc::clone(&self.models);
        self.write(move |c| {
            let tx = c.savepoint()?;
            project_row(&tx, project_id)?;
            let mut ids = HashMap::new();
            {
                let mut find = tx.prepare_cached(
                    "SELECT id FROM tasks WHERE project_id = ?1 AND external_id = ?2",
                )?;
                for (external, _) in &answers {
                    if !ids.contains_key(external)
                        && let Some(id) = find
                            .query_row(params![project_id, external], |r| r.get::<_, i64>(0))
                            .optional()?
                    {
                        ids.insert(external.clone(), id);
                    }
                }
            }
            let by_task = answers_by_task(project_id, answers, &ids)?;
            let stored = store_imported(&tx, &models, &by_task, now, method.as_ref())?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn batches(&self, project_id: i64) -> StoreResult<Vec<Batch>> {
        self.read(move |c| {
            project_row(c, project_id)?;
            // Progress in one pass over the project's tasks.
            let progress: HashMap<i64, (i64, i64)> = c
                .prepare_cached(
                    "SELECT batch_id, COALESCE(SUM(complete AND gold IS NULL), 0), COUNT(gold)
                     FROM tasks WHERE project_id = ?1 GROUP BY batch_id",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<Result<_, _>>()?;
            let mut rows = c.prepare_cached(
                "SELECT id, task_count, priority, created_at FROM batches WHERE project_id = ?1 ORDER BY id",
            )?;
            let batches = rows
                .query_map([project_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
                })?
                .map(|row| {
                    let (id, task_count, priority, created_at) = row?;
                    let (complete, gold) = progress.get(&id).copied().unwrap_or_default();
                    Ok(Batch {
                        id,
                        task_count,
                        priority,
                        created_at: parse_ts(&created_at)?,
                        complete,
                        gold,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(batches)
        })
        .await
    }

    async fn set_batch_priority(
        &self,
        project_id: i64,
        batch_id: i64,
        priority: i32,
    ) -> StoreResult<Batch> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let found = tx
                .prepare_cached(
                    "UPDATE batches SET priority = ?3 WHERE id = ?1 AND project_id = ?2 RETURNING id",
                )?
                .query_row(params![batch_id, project_id, priority], |r| r.get::<_, i64>(0))
                .optional()?;
            found.ok_or_else(|| unknown_batch(project_id, batch_id))?;
            tx.prepare_cached("UPDATE tasks SET priority = ?2 WHERE batch_id = ?1")?
                .execute(params![batch_id, priority])?;
            tx.commit()?;
            Ok(())
        })
        .await?;
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
        self.write(move |c| {
            let tx = c.savepoint()?;
            project_row(&tx, project_id)?;
            // (task id, already cancelled) for every named task; an unknown one fails all.
            let mut named: Vec<(i64, bool)> = Vec::new();
            {
                let mut by_id = tx.prepare_cached(
                    "SELECT id, cancelled_at IS NOT NULL FROM tasks WHERE id = ?1 AND project_id = ?2",
                )?;
                for id in &request.task_ids {
                    let row = by_id
                        .query_row(params![id, project_id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    named.push(row.ok_or_else(|| unknown_task(project_id, *id))?);
                }
                let mut by_external = tx.prepare_cached(
                    "SELECT id, cancelled_at IS NOT NULL FROM tasks WHERE project_id = ?1 AND external_id = ?2",
                )?;
                for external in &request.external_ids {
                    let row = by_external
                        .query_row(params![project_id, external], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    named.push(row.ok_or_else(|| unknown_external_id(project_id, external))?);
                }
            }
            named.sort_unstable();
            named.dedup();
            let now = ts(now);
            let mut response = CancelTasksResponse { cancelled: 0, already_cancelled: 0 };
            for (id, already) in named {
                if already {
                    response.already_cancelled += 1;
                    continue;
                }
                tx.prepare_cached("UPDATE tasks SET cancelled_at = ?2 WHERE id = ?1")?.execute( params![id, now])?;
                // Whoever still holds it (even past its expiry, on a device that was away)
                // hears that it is withdrawn.
                tx.prepare_cached("INSERT INTO changes (annotator_id, kind, task_id)
                     SELECT annotator_id, 'cancel', task_id FROM leases
                     WHERE task_id = ?1 AND state = 'active' ORDER BY annotator_id")?.execute(
                    [id],
                )?;
                response.cancelled += 1;
            }
            tx.commit()?;
            Ok(response)
        })
        .await
    }

    async fn status(&self, project_id: i64, now: DateTime<Utc>) -> StoreResult<ProjectStatus> {
        self.read(move |c| {
            project_row(c, project_id)?;
            let (tasks, answers, complete, gold): (i64, i64, i64, i64) = c.prepare_cached(
                "SELECT COALESCE(SUM(gold IS NULL), 0), COALESCE(SUM(answer_count), 0),
                        COALESCE(SUM(complete AND gold IS NULL), 0), COUNT(gold)
                 FROM tasks WHERE project_id = ?1",
            )?.query_row(
                [project_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            let leased: i64 = c.prepare_cached("SELECT COUNT(*) FROM leases l JOIN tasks t ON t.id = l.task_id
                 WHERE t.project_id = ?1 AND l.state = 'active' AND l.expires_at > ?2")?.query_row(
                params![project_id, ts(now)],
                |r| r.get(0),
            )?;
            let (annotators, device_conflicts, uncounted): (i64, i64, i64) = c.prepare_cached("SELECT COUNT(DISTINCT a.annotator_id), COALESCE(SUM(a.device_conflict), 0),
                        COALESCE(SUM(NOT a.counted), 0)
                 FROM answers a JOIN tasks t ON t.id = a.task_id WHERE t.project_id = ?1")?.query_row(
                [project_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let (cancelled, needs_review, reviewed): (i64, i64, i64) = c
                .prepare_cached(
                    "SELECT COUNT(cancelled_at), COALESCE(SUM(needs_review AND review_labels IS NULL), 0),
                            COUNT(review_labels)
                     FROM tasks WHERE project_id = ?1",
                )?
                .query_row([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let skips_by_reason = c
                .prepare_cached(
                    "SELECT COALESCE(a.skip_reason, ''), COUNT(*)
                     FROM answers a JOIN tasks t ON t.id = a.task_id
                     WHERE t.project_id = ?1 AND a.skipped GROUP BY 1",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?;
            let consensus_by_method = c
                .prepare_cached(
                    "SELECT consensus_method, COUNT(*) FROM tasks
                     WHERE project_id = ?1 AND consensus IS NOT NULL AND consensus_method IS NOT NULL
                     GROUP BY 1",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?;
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
        })
        .await
    }

    async fn export_page(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        self.read(move |c| {
            let records = export_tasks(c, project_id, false, after, limit)?;
            Ok(ExportPage::of(records, limit))
        })
        .await
    }

    async fn label_usage(&self, project_id: i64) -> StoreResult<LabelUsage> {
        self.read(move |c| lifecycle::label_usage(c, project_id))
            .await
    }

    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        schema: &LabelSchema,
    ) -> StoreResult<Project> {
        let (name, schema) = (name.to_owned(), schema.clone());
        let project = self
            .write(move |c| lifecycle::update_project(c, project_id, &name, &schema))
            .await?;
        self.projects.forget(project_id);
        Ok(project)
    }

    async fn archive_project(
        &self,
        project_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<Project> {
        let project = self
            .write(move |c| lifecycle::archive_project(c, project_id, at))
            .await?;
        self.projects.forget(project_id);
        Ok(project)
    }

    async fn delete_project(&self, project_id: i64) -> StoreResult<(u64, u64)> {
        let deleted = self
            .write(move |c| {
                let tx = c.savepoint()?;
                let deleted = lifecycle::delete_project(&tx, project_id)?;
                tx.commit()?;
                Ok(deleted)
            })
            .await?;
        self.projects.forget(project_id);
        Ok(deleted)
    }
}

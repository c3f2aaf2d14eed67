//! A [`Store`] that speaks public task ids: every task id a request names is deciphered
//! before the backend sees it, and every one a reply holds is enciphered (see
//! [`TaskIdCipher`]). The server's own jobs (re-fit, quality, stats) read and write the
//! database's ids through it unchanged: they never leave the server.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{
    AnswerPush, Batch, CancelTasksRequest, CancelTasksResponse, Change, ChangesPage, ExportRecord,
    LeasedTask, Member, Project, ProjectRole, ProjectStatus, PushResult, ReviewRequest, Role,
    TaskSummary, TokenInfo, UploadResponse,
};
use tessera_core::{ConsensusMethod, EncodedTask, ImportedAnswer, LabelSchema};

use super::models::{BackendCheck, ModelStore};
use super::task_id_cipher::TaskIdCipher;
use super::{
    AnswerCount, ConsensusInputs, ConsensusStore, ConsensusUpdate, ExportPage, GoldAnswer,
    LabelUsage, LeaseQuery, PeopleStore, ProjectStore, ProjectsOf, QueueStore, Store, StoreError,
    StoreResult, TaskFilter, TaskState, TaskStore, User,
};
use super::{Attempt, DueDelivery, NewWebhook, WebhookStore};
use crate::quality::TimedAnswer;
use crate::webhooks::Event;
use serde_json::{Map, Value};
use tessera_api::{Delivery, DeliveryState, EventType, Webhook};
use tessera_api::{MlBackend, ModelRun};
use tessera_core::Prediction;

/// The database id a request's public id names; one no task can have becomes 0, which names
/// no task either (ids start at 1), so the backend refuses it as it refuses any unknown id.
const NO_TASK: i64 = 0;

pub struct PublicIds {
    inner: Box<dyn Store>,
    cipher: TaskIdCipher,
}

impl PublicIds {
    /// Wraps `inner`, with the cipher keyed by the key kept in its database (made now, at
    /// random, when it has none yet).
    pub async fn new(inner: Box<dyn Store>) -> StoreResult<Self> {
        let fresh: [u8; 16] = rand::random();
        let (key, plain_up_to) = inner.task_id_key(fresh).await?;
        Ok(Self {
            inner,
            cipher: TaskIdCipher::new(key, plain_up_to),
        })
    }

    fn stored(&self, public: i64) -> i64 {
        self.cipher.stored(public).unwrap_or(NO_TASK)
    }

    fn leased(&self, mut task: LeasedTask) -> LeasedTask {
        task.task_id = self.cipher.public(task.task_id);
        task
    }

    fn records(&self, records: Vec<ExportRecord>) -> Vec<ExportRecord> {
        records
            .into_iter()
            .map(|mut r| {
                r.task_id = self.cipher.public(r.task_id);
                r
            })
            .collect()
    }

    /// The stored ids of public `task_ids`; one that is no task id is `UnknownTask`.
    fn stored_ids(&self, project_id: i64, task_ids: &[i64]) -> StoreResult<Vec<i64>> {
        task_ids
            .iter()
            .map(|&task_id| {
                self.cipher.stored(task_id).ok_or(StoreError::UnknownTask {
                    project_id,
                    task_id,
                })
            })
            .collect()
    }

    /// An unknown task's error, naming the id the request gave.
    fn named(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::UnknownTask {
                project_id,
                task_id,
            } => StoreError::UnknownTask {
                project_id,
                task_id: self.cipher.public(task_id),
            },
            other => other,
        }
    }
}

#[async_trait]
impl PeopleStore for PublicIds {
    async fn count_admins(&self) -> StoreResult<u64> {
        self.inner.count_admins().await
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        self.inner.create_user(name, role, token_hash, now).await
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_token_hash(token_hash).await
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        self.inner.tokens().await
    }

    async fn touch_user(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        self.inner.touch_user(id, now).await
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo> {
        self.inner.revoke_token(id, now).await
    }

    async fn confine_user(&self, user_id: i64) -> StoreResult<()> {
        self.inner.confine_user(user_id).await
    }

    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()> {
        self.inner.remove_member(project_id, user_id, by).await
    }

    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        name: Option<String>,
        role: ProjectRole,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner
            .add_member(project_id, user_id, name, role, by, now)
            .await
    }

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>> {
        self.inner.members(project_id).await
    }

    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)> {
        self.inner.membership(project_id, user_id).await
    }
}

#[async_trait]
impl ProjectStore for PublicIds {
    async fn create_project(
        &self,
        name: &str,
        schema: &LabelSchema,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Project> {
        self.inner
            .create_project(name, schema, requester, now)
            .await
    }

    async fn projects(&self, who: ProjectsOf) -> StoreResult<Vec<Project>> {
        self.inner.projects(who).await
    }

    async fn project(&self, id: i64) -> StoreResult<Project> {
        self.inner.project(id).await
    }

    async fn task_id_key(&self, fresh: [u8; 16]) -> StoreResult<([u8; 16], i64)> {
        self.inner.task_id_key(fresh).await
    }

    async fn insert_batch(
        &self,
        project_id: i64,
        tasks: Vec<EncodedTask>,
        priority: i32,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<UploadResponse> {
        self.inner
            .insert_batch(project_id, tasks, priority, now, method)
            .await
    }

    async fn import_answers(
        &self,
        project_id: i64,
        answers: Vec<(String, ImportedAnswer)>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<usize> {
        self.inner
            .import_answers(project_id, answers, now, method)
            .await
    }

    async fn batches(&self, project_id: i64) -> StoreResult<Vec<Batch>> {
        self.inner.batches(project_id).await
    }

    async fn set_batch_priority(
        &self,
        project_id: i64,
        batch_id: i64,
        priority: i32,
    ) -> StoreResult<Batch> {
        self.inner
            .set_batch_priority(project_id, batch_id, priority)
            .await
    }

    async fn cancel_tasks(
        &self,
        project_id: i64,
        mut request: CancelTasksRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<CancelTasksResponse> {
        for id in &mut request.task_ids {
            *id = self.cipher.stored(*id).ok_or(StoreError::UnknownTask {
                project_id,
                task_id: *id,
            })?;
        }
        self.inner
            .cancel_tasks(project_id, request, now)
            .await
            .map_err(|e| self.named(e))
    }

    async fn status(&self, project_id: i64, now: DateTime<Utc>) -> StoreResult<ProjectStatus> {
        self.inner.status(project_id, now).await
    }

    async fn export_page(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        let mut page = self.inner.export_page(project_id, after, limit).await?;
        // The cursor is the database's id: it stays in the server.
        page.records = self.records(page.records);
        Ok(page)
    }

    async fn label_usage(&self, project_id: i64) -> StoreResult<LabelUsage> {
        self.inner.label_usage(project_id).await
    }

    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        schema: &LabelSchema,
    ) -> StoreResult<Project> {
        self.inner.update_project(project_id, name, schema).await
    }

    async fn archive_project(
        &self,
        project_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<Project> {
        self.inner.archive_project(project_id, at).await
    }

    async fn delete_project(&self, project_id: i64) -> StoreResult<(u64, u64)> {
        self.inner.delete_project(project_id).await
    }
}

#[async_trait]
impl QueueStore for PublicIds {
    async fn lease(&self, query: LeaseQuery) -> StoreResult<Vec<LeasedTask>> {
        let tasks = self.inner.lease(query).await?;
        Ok(tasks.into_iter().map(|t| self.leased(t)).collect())
    }

    async fn push_answers(
        &self,
        annotator: &User,
        mut answers: Vec<AnswerPush>,
        now: DateTime<Utc>,
        method: Arc<dyn ConsensusMethod>,
    ) -> StoreResult<Vec<PushResult>> {
        for a in &mut answers {
            a.task_id = self.stored(a.task_id);
        }
        self.inner
            .push_answers(annotator, answers, now, method)
            .await
    }

    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage> {
        let mut page = self.inner.changes(annotator_id, since, limit).await?;
        page.changes = page
            .changes
            .into_iter()
            .map(|c| match c {
                Change::Lease { seq, task } => Change::Lease {
                    seq,
                    task: self.leased(task),
                },
                Change::Answer {
                    seq,
                    task_id,
                    answer_id,
                    revision,
                    labels,
                    skipped,
                } => Change::Answer {
                    seq,
                    task_id: self.cipher.public(task_id),
                    answer_id,
                    revision,
                    labels,
                    skipped,
                },
                Change::Cancel { seq, task_id } => Change::Cancel {
                    seq,
                    task_id: self.cipher.public(task_id),
                },
            })
            .collect();
        Ok(page)
    }
}

#[async_trait]
impl ConsensusStore for PublicIds {
    async fn gold_answers(
        &self,
        project_id: i64,
        annotator_id: Option<i64>,
    ) -> StoreResult<Vec<GoldAnswer>> {
        self.inner.gold_answers(project_id, annotator_id).await
    }

    async fn consensus_inputs(&self, project_id: i64) -> StoreResult<ConsensusInputs> {
        self.inner.consensus_inputs(project_id).await
    }

    async fn save_consensus_model(&self, project_id: i64, model: String) -> StoreResult<()> {
        self.inner.save_consensus_model(project_id, model).await
    }

    async fn write_consensus(
        &self,
        project_id: i64,
        updates: Vec<ConsensusUpdate>,
        method: &str,
    ) -> StoreResult<()> {
        self.inner
            .write_consensus(project_id, updates, method)
            .await
    }

    async fn answer_times(&self, project_id: i64) -> StoreResult<Vec<TimedAnswer>> {
        self.inner.answer_times(project_id).await
    }

    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<AnswerCount>> {
        self.inner.answer_counts(project_id).await
    }

    async fn lift_suspension(
        &self,
        project_id: i64,
        user_id: i64,
        record: (u64, u64),
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner
            .lift_suspension(project_id, user_id, record, by, now)
            .await
    }

    async fn suspension_lifts(&self, project_id: i64) -> StoreResult<HashMap<i64, (u64, u64)>> {
        self.inner.suspension_lifts(project_id).await
    }

    async fn review_queue(&self, project_id: i64, limit: u32) -> StoreResult<Vec<ExportRecord>> {
        Ok(self.records(self.inner.review_queue(project_id, limit).await?))
    }

    async fn record_review(
        &self,
        project_id: i64,
        mut review: ReviewRequest,
        reviewer: &User,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let public = review.task_id;
        review.task_id = self.cipher.stored(public).ok_or(StoreError::UnknownTask {
            project_id,
            task_id: public,
        })?;
        self.inner
            .record_review(project_id, review, reviewer, now)
            .await
            .map_err(|e| self.named(e))
    }
}

#[async_trait]
impl TaskStore for PublicIds {
    async fn browse_tasks(
        &self,
        project_id: i64,
        mut filter: TaskFilter,
    ) -> StoreResult<Vec<TaskSummary>> {
        // The cursor names the last task of a page by its public id.
        if let Some((_, id)) = filter.after.as_mut() {
            *id = self.stored(*id);
        }
        for id in &mut filter.stuck {
            *id = self.stored(*id);
        }
        let mut tasks = self.inner.browse_tasks(project_id, filter).await?;
        for task in &mut tasks {
            task.task_id = self.cipher.public(task.task_id);
        }
        Ok(tasks)
    }

    async fn task(
        &self,
        project_id: i64,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<(ExportRecord, TaskState)> {
        let stored = self.cipher.stored(task_id).ok_or(StoreError::UnknownTask {
            project_id,
            task_id,
        })?;
        let (record, state) = self
            .inner
            .task(project_id, stored, now)
            .await
            .map_err(|e| self.named(e))?;
        let record =
            self.records(vec![record])
                .into_iter()
                .next()
                .ok_or(StoreError::UnknownTask {
                    project_id,
                    task_id,
                })?;
        Ok((record, state))
    }

    async fn send_to_review(&self, project_id: i64, task_ids: Vec<i64>) -> StoreResult<u64> {
        let stored = self.stored_ids(project_id, &task_ids)?;
        self.inner
            .send_to_review(project_id, stored)
            .await
            .map_err(|e| self.named(e))
    }

    async fn set_task_priority(
        &self,
        project_id: i64,
        task_ids: Vec<i64>,
        priority: i32,
    ) -> StoreResult<u64> {
        let stored = self.stored_ids(project_id, &task_ids)?;
        self.inner
            .set_task_priority(project_id, stored, priority)
            .await
            .map_err(|e| self.named(e))
    }

    async fn project_annotators(&self, project_id: i64) -> StoreResult<Vec<i64>> {
        self.inner.project_annotators(project_id).await
    }

    async fn stuck_tasks(
        &self,
        project_id: i64,
        eligible: Vec<i64>,
        now: DateTime<Utc>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<i64>> {
        let after = if after == 0 { 0 } else { self.stored(after) };
        let stuck = self
            .inner
            .stuck_tasks(project_id, eligible, now, after, limit)
            .await?;
        Ok(stuck.into_iter().map(|id| self.cipher.public(id)).collect())
    }
}

/// Rewrites the task id an event's data holds (under `task_id`) with `map`.
fn map_task_id(data: &mut serde_json::Value, map: impl Fn(i64) -> i64) {
    if let Some(id) = data.get_mut("task_id")
        && let Some(n) = id.as_i64()
    {
        *id = serde_json::Value::from(map(n));
    }
}

#[async_trait]
impl WebhookStore for PublicIds {
    async fn create_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook> {
        self.inner.create_webhook(webhook).await
    }

    async fn webhooks(&self, project_id: i64) -> StoreResult<Vec<Webhook>> {
        self.inner.webhooks(project_id).await
    }

    async fn delete_webhook(&self, project_id: i64, webhook_id: i64) -> StoreResult<()> {
        self.inner.delete_webhook(project_id, webhook_id).await
    }

    async fn deliveries(
        &self,
        project_id: i64,
        webhook_id: Option<i64>,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.inner
            .deliveries(project_id, webhook_id, state, before, limit)
            .await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        hold: chrono::Duration,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        let mut due = self.inner.claim_deliveries(now, hold, limit).await?;
        for d in &mut due {
            map_task_id(&mut d.data, |id| self.cipher.public(id));
        }
        Ok(due)
    }

    async fn record_attempt(&self, delivery_id: i64, attempt: Attempt) -> StoreResult<()> {
        self.inner.record_attempt(delivery_id, attempt).await
    }

    async fn emit(&self, mut events: Vec<Event>, now: DateTime<Utc>) -> StoreResult<()> {
        for e in &mut events {
            map_task_id(&mut e.data, |id| self.stored(id));
        }
        self.inner.emit(events, now).await
    }

    async fn note_suspension(
        &self,
        project_id: i64,
        annotator_id: i64,
        lifted_at_answers: u64,
        event: Event,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .note_suspension(project_id, annotator_id, lifted_at_answers, event, now)
            .await
    }

    async fn projects_wanting(&self, event: EventType) -> StoreResult<Vec<i64>> {
        self.inner.projects_wanting(event).await
    }
}

#[async_trait]
impl ModelStore for PublicIds {
    async fn create_ml_backend(
        &self,
        project_id: i64,
        name: &str,
        url: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<MlBackend> {
        self.inner
            .create_ml_backend(project_id, name, url, now)
            .await
    }

    async fn ml_backends(
        &self,
        project_id: Option<i64>,
        counts: bool,
    ) -> StoreResult<Vec<MlBackend>> {
        self.inner.ml_backends(project_id, counts).await
    }

    async fn delete_ml_backend(&self, project_id: i64, backend_id: i64) -> StoreResult<()> {
        self.inner.delete_ml_backend(project_id, backend_id).await
    }

    async fn record_backend_check(&self, backend_id: i64, check: BackendCheck) -> StoreResult<()> {
        self.inner.record_backend_check(backend_id, check).await
    }

    async fn tasks_to_predict(
        &self,
        project_id: i64,
        source: &str,
        backend_id: Option<i64>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
        let tasks = self
            .inner
            .tasks_to_predict(project_id, source, backend_id, now, limit)
            .await?;
        Ok(self.public_tasks(tasks))
    }

    async fn save_predictions(
        &self,
        source: &str,
        predictions: Vec<(i64, Prediction)>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let stored = predictions
            .into_iter()
            .map(|(id, p)| (self.stored(id), p))
            .collect();
        self.inner.save_predictions(source, stored, now).await
    }

    async fn prediction_failed(
        &self,
        backend_id: i64,
        task_ids: Vec<i64>,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let stored = task_ids.iter().map(|&id| self.stored(id)).collect();
        let given_up = self
            .inner
            .prediction_failed(backend_id, stored, error, retry_at)
            .await?;
        Ok(given_up
            .into_iter()
            .map(|id| self.cipher.public(id))
            .collect())
    }

    async fn training_set_size(&self, project_id: i64) -> StoreResult<u64> {
        self.inner.training_set_size(project_id).await
    }

    async fn training_set(
        &self,
        project_id: i64,
    ) -> StoreResult<Vec<(i64, Map<String, Value>, String)>> {
        Ok(self
            .inner
            .training_set(project_id)
            .await?
            .into_iter()
            .map(|(id, data, label)| (self.cipher.public(id), data, label))
            .collect())
    }

    async fn tasks_for_builtin(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
        let after = if after == 0 { 0 } else { self.stored(after) };
        let tasks = self
            .inner
            .tasks_for_builtin(project_id, after, limit)
            .await?;
        Ok(self.public_tasks(tasks))
    }

    async fn score_builtin(&self, project_id: i64) -> StoreResult<(u64, u64)> {
        self.inner.score_builtin(project_id).await
    }

    async fn record_model_run(&self, project_id: i64, run: ModelRun) -> StoreResult<()> {
        self.inner.record_model_run(project_id, run).await
    }

    async fn model_runs(&self, project_id: i64) -> StoreResult<Vec<ModelRun>> {
        self.inner.model_runs(project_id).await
    }
}

impl PublicIds {
    fn public_tasks(
        &self,
        tasks: Vec<(i64, Map<String, Value>)>,
    ) -> Vec<(i64, Map<String, Value>)> {
        tasks
            .into_iter()
            .map(|(id, data)| (self.cipher.public(id), data))
            .collect()
    }
}

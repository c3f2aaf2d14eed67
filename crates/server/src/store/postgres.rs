//! The PostgreSQL backend, for any number of stateless server replicas on one database.
//!
//! Concurrency rules:
//! - Leasing locks candidate task rows with `FOR UPDATE SKIP LOCKED`, then re-counts each
//!   locked task's leases in a fresh statement: anyone adding a lease to a task holds its row
//!   lock, so the re-count is exact and no task is ever over-assigned.
//! - Pushing answers locks each touched task row before recomputing its consensus, so two
//!   replicas storing answers to one task never overwrite each other's consensus.
//! - Every transaction that writes an annotator's change feed holds that annotator's advisory
//!   lock until it commits, so within a feed, sequence order is commit order and a cursor
//!   never skips a change committed late.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Map, Value};
use tessera_api::{
    AnswerPush, Change, ChangesPage, ExportAnswer, ExportConsensus, ExportRecord, LeasedTask,
    Project, ProjectStatus, PushResult, PushStatus, Role, UploadResponse,
};
use tessera_core::{ConsensusMethod, LabelSchema, Prediction, TaskInput};
use tokio_postgres::types::Json;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::{LeaseQuery, Store, StoreError, StoreResult, User, rejected};

const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];
/// Advisory lock key under which migrations run, so replicas starting together do not race.
const MIGRATION_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("connection pool: {e}"))
    }
}

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("bad PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            .await?;
        let done: i64 = tx
            .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
            .await?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&(i as i32 + 1)],
            )
            .await?;
            tracing::info!(migration = i + 1, "applied PostgreSQL migration");
        }
        tx.commit().await?;
        Ok(())
    }
}

fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown role {s:?} in database")))
}

fn project_from(row: &Row) -> StoreResult<Project> {
    let Json(schema): Json<LabelSchema> = row.try_get("schema")?;
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        schema,
        created_at: row.try_get("created_at")?,
    })
}

async fn project_row(c: &impl GenericClient, id: i64) -> StoreResult<Project> {
    let row = c
        .query_opt(
            "SELECT id, name, schema, created_at FROM projects WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    project_from(&row)
}

async fn leased_task(
    c: &impl GenericClient,
    task_id: i64,
    annotator_id: i64,
) -> StoreResult<LeasedTask> {
    let row = c
        .query_one(
            "SELECT t.project_id, t.data, t.prediction, l.expires_at
             FROM tasks t JOIN leases l ON l.task_id = t.id AND l.annotator_id = $2 WHERE t.id = $1",
            &[&task_id, &annotator_id],
        )
        .await?;
    let Json(data): Json<Map<String, Value>> = row.try_get(1)?;
    let prediction: Option<Json<Prediction>> = row.try_get(2)?;
    Ok(LeasedTask {
        task_id,
        project_id: row.try_get(0)?,
        data,
        prediction: prediction.map(|Json(p)| p),
        expires_at: row.try_get(3)?,
    })
}

/// The current (latest-revision, not skipped) answers to a task, one per annotator.
async fn current_answers(c: &impl GenericClient, task_id: i64) -> StoreResult<Vec<Row>> {
    Ok(c.query(
        "SELECT * FROM (
             SELECT DISTINCT ON (annotator_id) annotator_id, labels, revision, skipped, answered_at, received_at
             FROM answers WHERE task_id = $1 ORDER BY annotator_id, revision DESC, seq DESC
         ) current WHERE NOT skipped ORDER BY annotator_id",
        &[&task_id],
    )
    .await?)
}

async fn lock_feed(c: &impl GenericClient, annotator_id: i64) -> StoreResult<()> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&annotator_id])
        .await?;
    Ok(())
}

async fn push_one(
    tx: &deadpool_postgres::Transaction<'_>,
    annotator: &User,
    answer: &AnswerPush,
    now: DateTime<Utc>,
    schemas: &mut HashMap<i64, LabelSchema>,
) -> StoreResult<(PushResult, Option<i64>)> {
    let owner = tx
        .query_opt(
            "SELECT annotator_id FROM answers WHERE id = $1",
            &[&answer.id],
        )
        .await?;
    if let Some(row) = owner {
        let owner: i64 = row.try_get(0)?;
        let result = if owner == annotator.id {
            PushResult {
                id: answer.id,
                status: PushStatus::Duplicate,
                error: None,
            }
        } else {
            rejected(
                answer.id,
                "answer_id_taken",
                "this answer id belongs to another annotator".to_owned(),
            )
        };
        return Ok((result, None));
    }
    let Some(row) = tx
        .query_opt(
            "SELECT project_id FROM tasks WHERE id = $1",
            &[&answer.task_id],
        )
        .await?
    else {
        return Ok((
            rejected(
                answer.id,
                "not_found",
                format!("task {} does not exist", answer.task_id),
            ),
            None,
        ));
    };
    let project_id: i64 = row.try_get(0)?;
    if let std::collections::hash_map::Entry::Vacant(slot) = schemas.entry(project_id) {
        slot.insert(project_row(tx, project_id).await?.schema);
    }
    if !answer.skipped
        && let Some(Err(e)) = schemas
            .get(&project_id)
            .map(|s| s.check_answer(&answer.labels))
    {
        return Ok((rejected(answer.id, "invalid_answer", e.to_string()), None));
    }
    let leased = tx
        .query_opt(
            "SELECT 1 FROM leases WHERE task_id = $1 AND annotator_id = $2",
            &[&answer.task_id, &annotator.id],
        )
        .await?;
    if leased.is_none() {
        return Ok((
            rejected(
                answer.id,
                "not_leased",
                format!("task {} was never leased to you", answer.task_id),
            ),
            None,
        ));
    }
    let revision = i32::try_from(answer.revision)
        .map_err(|_| StoreError::Conflict("revision too large".to_owned()))?;
    // ON CONFLICT: a concurrent push of the same id on another replica won the race.
    let inserted = tx
        .execute(
            "INSERT INTO answers (id, task_id, annotator_id, revision, labels, skipped, answered_at, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            &[&answer.id, &answer.task_id, &annotator.id, &revision, &Json(&answer.labels), &answer.skipped, &answer.answered_at, &now],
        )
        .await?;
    if inserted == 0 {
        return Ok((
            PushResult {
                id: answer.id,
                status: PushStatus::Duplicate,
                error: None,
            },
            None,
        ));
    }
    tx.execute(
        "INSERT INTO changes (annotator_id, kind, task_id, answer_id) VALUES ($1, 'answer', $2, $3)",
        &[&annotator.id, &answer.task_id, &answer.id],
    )
    .await?;
    tx.execute(
        "UPDATE leases SET state = CASE WHEN (SELECT skipped FROM answers WHERE task_id = $1 AND annotator_id = $2
             ORDER BY revision DESC, seq DESC LIMIT 1) THEN 'skipped' ELSE 'answered' END
         WHERE task_id = $1 AND annotator_id = $2",
        &[&answer.task_id, &annotator.id],
    )
    .await?;
    Ok((
        PushResult {
            id: answer.id,
            status: PushStatus::Accepted,
            error: None,
        },
        Some(project_id),
    ))
}

async fn update_consensus(
    tx: &deadpool_postgres::Transaction<'_>,
    task_id: i64,
    schema: &LabelSchema,
    method: &dyn ConsensusMethod,
) -> StoreResult<()> {
    let mut answers = Vec::new();
    for row in current_answers(tx, task_id).await? {
        let Json(labels): Json<Vec<String>> = row.try_get("labels")?;
        answers.push(labels);
    }
    let consensus = method.aggregate(schema, &answers);
    let count = answers.len() as i32;
    tx.execute(
        "UPDATE tasks SET answer_count = $2, consensus = $3, confidence = $4, consensus_method = $5, complete = $6 WHERE id = $1",
        &[
            &task_id,
            &count,
            &consensus.as_ref().map(|c| Json(c.labels.clone())),
            &consensus.as_ref().map(|c| c.confidence),
            &consensus.as_ref().map(|_| method.name()),
            &(answers.len() as u32 >= schema.overlap),
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM users WHERE role = 'admin'", &[])
            .await?
            .get(0);
        Ok(n as u64)
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name, &role.as_str(), &token_hash, &now],
            )
            .await?;
        Ok(User {
            id: row.try_get(0)?,
            name: name.to_owned(),
            role,
        })
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                "SELECT id, name, role FROM users WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?;
        row.map(|r| {
            Ok(User {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: role_of(r.try_get(2)?)?,
            })
        })
        .transpose()
    }

    async fn create_project(
        &self,
        name: &str,
        schema: &LabelSchema,
        now: DateTime<Utc>,
    ) -> StoreResult<Project> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "INSERT INTO projects (name, schema, created_at) VALUES ($1, $2, $3) RETURNING id, name, schema, created_at",
                &[&name, &Json(schema), &now],
            )
            .await?;
        project_from(&row)
    }

    async fn projects(&self) -> StoreResult<Vec<Project>> {
        let c = self.pool.get().await?;
        c.query(
            "SELECT id, name, schema, created_at FROM projects ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(project_from)
        .collect()
    }

    async fn project(&self, id: i64) -> StoreResult<Project> {
        let c = self.pool.get().await?;
        project_row(&c, id).await
    }

    async fn insert_batch(
        &self,
        project_id: i64,
        tasks: Vec<TaskInput>,
        now: DateTime<Utc>,
    ) -> StoreResult<UploadResponse> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        project_row(&tx, project_id).await?;
        let batch_id: i64 = tx
            .query_one(
                "INSERT INTO batches (project_id, task_count, created_at) VALUES ($1, $2, $3) RETURNING id",
                &[&project_id, &(tasks.len() as i64), &now],
            )
            .await?
            .get(0);
        let insert = tx
            .prepare(
                "INSERT INTO tasks (project_id, batch_id, external_id, data, prediction, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await?;
        for task in &tasks {
            let prediction = task.prediction.as_ref().map(Json);
            tx.execute(
                &insert,
                &[
                    &project_id,
                    &batch_id,
                    &task.external_id,
                    &Json(&task.data),
                    &prediction,
                    &now,
                ],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                    StoreError::Conflict(format!(
                        "task id {:?} already exists in this project",
                        task.external_id.as_deref().unwrap_or("")
                    ))
                } else {
                    e.into()
                }
            })?;
        }
        tx.commit().await?;
        Ok(UploadResponse {
            batch_id,
            tasks_added: tasks.len(),
        })
    }

    async fn lease(&self, q: LeaseQuery) -> StoreResult<Vec<LeasedTask>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let overlap = i64::from(project_row(&tx, q.project_id).await?.schema.overlap);
        lock_feed(&tx, q.annotator_id).await?;
        let limit = i64::from(q.limit);
        let mut held: Vec<i64> = tx
            .query(
                "SELECT l.task_id FROM leases l JOIN tasks t ON t.id = l.task_id
                 WHERE l.annotator_id = $1 AND t.project_id = $2 AND l.state = 'active' AND l.expires_at > $3
                 ORDER BY l.leased_at, l.task_id LIMIT $4",
                &[&q.annotator_id, &q.project_id, &q.now, &limit],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.execute(
            "UPDATE leases SET expires_at = $3 WHERE annotator_id = $1 AND task_id = ANY($2)",
            &[&q.annotator_id, &held, &q.expires_at],
        )
        .await?;
        let wanted = limit - held.len() as i64;
        if wanted > 0 {
            let candidates: Vec<i64> = tx
                .query(
                    "SELECT t.id FROM tasks t
                     WHERE t.project_id = $1 AND NOT t.complete
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2
                                       AND (l.state <> 'active' OR l.expires_at > $3))
                       AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = t.id
                            AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > $3))) < $4
                     ORDER BY t.answer_count DESC, t.id
                     LIMIT $5
                     FOR UPDATE OF t SKIP LOCKED",
                    &[&q.project_id, &q.annotator_id, &q.now, &overlap, &wanted],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            // Re-count under the row locks with a fresh snapshot: leases committed by other
            // replicas since the candidate query started are seen now.
            let fresh: Vec<i64> = tx
                .query(
                    "SELECT t.id FROM tasks t WHERE t.id = ANY($1)
                       AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = t.id
                            AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > $2))) < $3
                     ORDER BY t.answer_count DESC, t.id",
                    &[&candidates, &q.now, &overlap],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for id in &fresh {
                tx.execute(
                    "INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at) VALUES ($1, $2, 'active', $3, $4)
                     ON CONFLICT (task_id, annotator_id) DO UPDATE SET state = 'active', expires_at = $3, leased_at = $4",
                    &[id, &q.annotator_id, &q.expires_at, &q.now],
                )
                .await?;
                tx.execute(
                    "INSERT INTO changes (annotator_id, kind, task_id) VALUES ($1, 'lease', $2)",
                    &[&q.annotator_id, id],
                )
                .await?;
            }
            held.extend(fresh);
        }
        let mut tasks = Vec::with_capacity(held.len());
        for id in held {
            tasks.push(leased_task(&tx, id, q.annotator_id).await?);
        }
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
        lock_feed(&tx, annotator.id).await?;
        let mut schemas = HashMap::new();
        let mut touched: Vec<(i64, i64)> = Vec::new();
        let mut results = Vec::with_capacity(answers.len());
        for answer in &answers {
            let (result, project) = push_one(&tx, annotator, answer, now, &mut schemas).await?;
            if let Some(project) = project
                && !touched.iter().any(|&(t, _)| t == answer.task_id)
            {
                touched.push((answer.task_id, project));
            }
            results.push(result);
        }
        // Lock in id order so concurrent pushes touching the same tasks cannot deadlock.
        touched.sort_unstable();
        for (task_id, project_id) in touched {
            tx.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", &[&task_id])
                .await?;
            if let Some(schema) = schemas.get(&project_id) {
                update_consensus(&tx, task_id, schema, method.as_ref()).await?;
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT c.seq, c.kind, c.task_id, c.answer_id, a.revision, a.labels, a.skipped
                 FROM changes c LEFT JOIN answers a ON a.id = c.answer_id
                 WHERE c.annotator_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3",
                &[&annotator_id, &since, &(i64::from(limit) + 1)],
            )
            .await?;
        let has_more = rows.len() > limit as usize;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            let seq: i64 = row.try_get(0)?;
            let kind: &str = row.try_get(1)?;
            let task_id: i64 = row.try_get(2)?;
            let change = match kind {
                "lease" => Change::Lease {
                    seq,
                    task: leased_task(&c, task_id, annotator_id).await?,
                },
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

    async fn status(&self, project_id: i64, now: DateTime<Utc>) -> StoreResult<ProjectStatus> {
        let c = self.pool.get().await?;
        project_row(&c, project_id).await?;
        let row = c
            .query_one(
                "SELECT COUNT(*), COALESCE(SUM(answer_count), 0)::BIGINT, COUNT(*) FILTER (WHERE complete) FROM tasks WHERE project_id = $1",
                &[&project_id],
            )
            .await?;
        let (tasks, answers, complete): (i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let leased: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM leases l JOIN tasks t ON t.id = l.task_id
                 WHERE t.project_id = $1 AND l.state = 'active' AND l.expires_at > $2",
                &[&project_id, &now],
            )
            .await?
            .try_get(0)?;
        let annotators: i64 = c
            .query_one(
                "SELECT COUNT(DISTINCT a.annotator_id) FROM answers a JOIN tasks t ON t.id = a.task_id WHERE t.project_id = $1",
                &[&project_id],
            )
            .await?
            .try_get(0)?;
        Ok(ProjectStatus {
            project_id,
            tasks: tasks as u64,
            answers: answers as u64,
            complete: complete as u64,
            leased: leased as u64,
            annotators: annotators as u64,
        })
    }

    async fn export(&self, project_id: i64) -> StoreResult<Vec<ExportRecord>> {
        let c = self.pool.get().await?;
        project_row(&c, project_id).await?;
        let names: HashMap<i64, String> = c
            .query("SELECT id, name FROM users", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let rows = c
            .query(
                "SELECT id, external_id, data, prediction, consensus, confidence, consensus_method, complete, answer_count
                 FROM tasks WHERE project_id = $1 ORDER BY id",
                &[&project_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let task_id: i64 = r.try_get(0)?;
            let answer_count: i32 = r.try_get(8)?;
            let mut answers = Vec::new();
            if answer_count > 0 {
                for a in current_answers(&c, task_id).await? {
                    let annotator: i64 = a.try_get("annotator_id")?;
                    let Json(labels): Json<Vec<String>> = a.try_get("labels")?;
                    let revision: i32 = a.try_get("revision")?;
                    answers.push(ExportAnswer {
                        annotator: names
                            .get(&annotator)
                            .cloned()
                            .unwrap_or_else(|| annotator.to_string()),
                        labels,
                        revision: revision.max(0) as u32,
                        answered_at: a.try_get("answered_at")?,
                        received_at: a.try_get("received_at")?,
                    });
                }
            }
            let consensus: Option<Json<Vec<String>>> = r.try_get(4)?;
            let confidence: Option<f64> = r.try_get(5)?;
            let consensus = match (consensus, confidence) {
                (Some(Json(labels)), Some(confidence)) => Some(ExportConsensus {
                    label: labels.first().cloned(),
                    labels,
                    confidence,
                    method: r.try_get::<_, Option<String>>(6)?.unwrap_or_default(),
                }),
                _ => None,
            };
            let Json(data): Json<Map<String, Value>> = r.try_get(2)?;
            let prediction: Option<Json<Prediction>> = r.try_get(3)?;
            out.push(ExportRecord {
                task_id,
                external_id: r.try_get(1)?,
                data,
                prediction: prediction.map(|Json(p)| p),
                answers,
                consensus,
                complete: r.try_get(7)?,
            });
        }
        Ok(out)
    }
}

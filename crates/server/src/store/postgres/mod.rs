//! The PostgreSQL backend, for any number of stateless server replicas on one database.
//!
//! Concurrency rules:
//! - Leasing locks candidate task rows with `FOR NO KEY UPDATE SKIP LOCKED`, then re-counts
//!   each locked task's leases in a fresh statement: anyone adding a lease to a task holds its
//!   row lock, so the re-count is exact and no task is ever over-assigned.
//! - Pushing answers locks each touched task row (`FOR NO KEY UPDATE`, in id order) before
//!   recomputing its consensus, so two replicas storing answers to one task never overwrite
//!   each other's consensus.
//! - Task rows are never locked `FOR UPDATE`: that conflicts with the key-share locks the
//!   foreign keys of inserted answers and leases take, and concurrent pushes deadlocked on it
//!   (found by `tessera bench queue`). `NO KEY UPDATE` excludes the same writers and not those.
//! - Every transaction that writes an annotator's change feed holds that annotator's advisory
//!   lock until it commits, so within a feed, sequence order is commit order and a cursor
//!   never skips a change committed late.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Map, Value};
use tessera_api::{
    AnswerPush, Batch, CancelTasksRequest, CancelTasksResponse, Change, ChangesPage, ExportAnswer,
    ExportConsensus, ExportRecord, ExportReview, LeasedTask, Member, Project, ProjectRole,
    ProjectStatus, PushResult, PushStatus, ReviewRequest, Role, TokenInfo, UploadResponse,
};
use tessera_core::aggregate::FittedConsensus;
use tessera_core::{
    ConsensusMethod, EncodedTask, ImportedAnswer, ImportedReview, LabelSchema, Prediction, Vote,
};

use crate::quality::TimedAnswer;
use tokio_postgres::types::Json;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::{
    ConsensusInputs, ConsensusUpdate, ExportPage, GoldAnswer, IMPORTED, LeaseQuery, ModelCache,
    ProjectCache, ProjectsOf, Store, StoreError, StoreResult, StoredAnswer, User, answers_by_task,
    creator_only, first_answers, imported_names, imported_pushes, imported_stored, imported_time,
    last_admin, last_requester, latest_answers, no_such_user, not_a_member, project_role, rejected,
    repeated, role_of, stored_key, unknown_batch, unknown_external_id, unknown_task,
};

/// Tasks one upload statement inserts.
const INSERT_CHUNK: usize = 5_000;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_devices.sql"),
    include_str!("../../../migrations/postgres/0003_cancel_offline.sql"),
    include_str!("../../../migrations/postgres/0004_queue_index.sql"),
    include_str!("../../../migrations/postgres/0005_adaptive_overlap_review.sql"),
    include_str!("../../../migrations/postgres/0006_gold.sql"),
    include_str!("../../../migrations/postgres/0007_memberships.sql"),
    include_str!("../../../migrations/postgres/0008_answer_flags.sql"),
    include_str!("../../../migrations/postgres/0009_consensus_models.sql"),
    include_str!("../../../migrations/postgres/0010_project_requesters.sql"),
    include_str!("../../../migrations/postgres/0011_batch_priority.sql"),
    include_str!("../../../migrations/postgres/0012_full_until.sql"),
    include_str!("../../../migrations/postgres/0013_token_revocation.sql"),
    include_str!("../../../migrations/postgres/0014_project_creator.sql"),
    include_str!("../../../migrations/postgres/0015_task_id_key.sql"),
    include_str!("../../../migrations/postgres/0016_imported_work.sql"),
    include_str!("../../../migrations/postgres/0017_confined_users.sql"),
];
/// Statements through the connection's statement cache: each SQL text is parsed and
/// planned once per pooled connection (deadpool keeps it; connections are recycled without
/// DISCARD), not on every call.
trait Cached: GenericClient {
    fn cached_query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send {
        async move { self.query(&self.prepare_cached(sql).await?, params).await }
    }

    fn cached_query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Row, tokio_postgres::Error>> + Send {
        async move {
            self.query_one(&self.prepare_cached(sql).await?, params)
                .await
        }
    }

    fn cached_query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, tokio_postgres::Error>> + Send {
        async move {
            self.query_opt(&self.prepare_cached(sql).await?, params)
                .await
        }
    }

    fn cached_execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send {
        async move { self.execute(&self.prepare_cached(sql).await?, params).await }
    }
}

impl<C: GenericClient> Cached for C {}

/// Advisory lock key under which migrations run, so replicas starting together do not race.
const MIGRATION_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message (e.g. "deadlock detected") is the useful part.
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!("{}: {}", db.code().code(), db.message())),
            None => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("connection pool: {e}"))
    }
}

pub struct PostgresStore {
    pool: Pool,
    models: ModelCache,
    /// Saves the lease and push paths a statement each.
    projects: ProjectCache,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("bad PostgreSQL URL: {e}")))?;
        Self::connect_with(config).await
    }

    /// Connects with `config` and runs pending migrations.
    pub async fn connect_with(mut config: tokio_postgres::Config) -> StoreResult<Self> {
        // Session defaults, before the URL's own options so those still win:
        // - The queue's statements are short, and prepared once per connection: PostgreSQL
        //   JIT-compiles a generic plan whose estimate looks high — hundreds of milliseconds
        //   per execution, never reused — so JIT is off.
        // - A connection plans its cached statements once, often while the answers table is
        //   still small and never analyzed; at the default random_page_cost (4, for spinning
        //   disks) a seq scan then looks cheaper than the primary-key lookup, and that generic
        //   plan stays until autovacuum analyzes the table — minutes, during which every push
        //   scanned every answer (measured: 1.5–6.5 ms per lookup after 10 s of load, against
        //   0.03–0.15 ms with 1.1). 1.1 is the usual setting for SSD storage, and keeps
        //   lookups on their indexes whatever the statistics say.
        let options = format!(
            "-c jit=off -c random_page_cost=1.1 {}",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim());
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
        let store = Self {
            pool,
            models: ModelCache::default(),
            projects: ProjectCache::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Stores `answers` of `annotator` (see [`Store::push_answers`]) and updates the consensus
    /// of every task they touched, inside the caller's transaction: a page of answers in a
    /// fixed number of set queries, not several per answer.
    async fn push_in(
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
        for (answer, verdict) in answers.iter().zip(verdicts) {
            results.push(match verdict {
                Ok(project) if inserted.ids.contains(&answer.id) => {
                    touched.push((answer.task_id, project));
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
        update_consensus(tx, &touched, &skipped, &schemas, &fitted, method).await?;
        Ok(results)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Migration statements run once: not worth a place in the statement cache.
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

    /// Project `id`, from the cache or read through `c`.
    async fn project_in(&self, c: &impl GenericClient, id: i64) -> StoreResult<Project> {
        match self.projects.get(id) {
            Some(project) => Ok(project),
            None => Ok(self.projects.keep(project_row(c, id).await?)),
        }
    }

    /// The fitted consensus models of the projects in `versions` (project → stored model
    /// version), parsed again only when the version changed.
    async fn fitted_models(
        &self,
        tx: &impl GenericClient,
        versions: &HashMap<i64, i64>,
    ) -> StoreResult<HashMap<i64, Arc<FittedConsensus>>> {
        let mut out = HashMap::new();
        for (&project, &version) in versions {
            let model = match self.models.get(project, version) {
                Some(model) => model,
                None => {
                    let json: String = tx
                        .cached_query_one(
                            "SELECT model FROM consensus_models WHERE project_id = $1",
                            &[&project],
                        )
                        .await?
                        .try_get(0)?;
                    self.models.load(project, version, &json)?
                }
            };
            out.insert(project, model);
        }
        Ok(out)
    }
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
        .cached_query_opt(
            "SELECT id, name, schema, created_at FROM projects WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    project_from(&row)
}

/// Leased tasks as the annotator sees them (data, prediction, lease expiry), by task id,
/// in one query.
async fn leased_tasks(
    c: &impl GenericClient,
    task_ids: &[i64],
    annotator_id: i64,
) -> StoreResult<HashMap<i64, LeasedTask>> {
    let rows = c
        .cached_query(
            "SELECT t.id, t.project_id, t.data, t.prediction, l.expires_at
             FROM tasks t JOIN leases l ON l.task_id = t.id AND l.annotator_id = $2
             WHERE t.id = ANY($1)",
            &[&task_ids, &annotator_id],
        )
        .await?;
    let mut tasks = HashMap::with_capacity(rows.len());
    for row in rows {
        let task = leased_task_from(&row, row.try_get(4)?)?;
        tasks.insert(task.task_id, task);
    }
    Ok(tasks)
}

/// A leased task from a row of its id, project id, data and prediction.
fn leased_task_from(row: &Row, expires_at: DateTime<Utc>) -> StoreResult<LeasedTask> {
    let Json(data): Json<Map<String, Value>> = row.try_get(2)?;
    let prediction: Option<Json<Prediction>> = row.try_get(3)?;
    Ok(LeasedTask {
        task_id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        data,
        prediction: prediction.map(|Json(p)| p),
        expires_at,
    })
}

/// The ids of the tasks a cancel request names, sorted; an unknown one fails the request.
async fn named_tasks(
    c: &impl GenericClient,
    project_id: i64,
    request: &CancelTasksRequest,
) -> StoreResult<Vec<i64>> {
    let mut ids = HashSet::new();
    let mut externals = HashSet::new();
    for row in c
        .cached_query(
            "SELECT id, external_id FROM tasks
             WHERE project_id = $1 AND (id = ANY($2) OR external_id = ANY($3))",
            &[&project_id, &request.task_ids, &request.external_ids],
        )
        .await?
    {
        ids.insert(row.try_get::<_, i64>(0)?);
        if let Some(external) = row.try_get::<_, Option<String>>(1)? {
            externals.insert(external);
        }
    }
    if let Some(id) = request.task_ids.iter().find(|id| !ids.contains(id)) {
        return Err(unknown_task(project_id, *id));
    }
    if let Some(external) = request
        .external_ids
        .iter()
        .find(|e| !externals.contains(*e))
    {
        return Err(unknown_external_id(project_id, external));
    }
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Annotators holding an unanswered lease on any of `tasks`, sorted.
async fn active_holders(c: &impl GenericClient, tasks: &[i64]) -> StoreResult<Vec<i64>> {
    c.cached_query(
        "SELECT DISTINCT annotator_id FROM leases
         WHERE task_id = ANY($1) AND state = 'active' ORDER BY annotator_id",
        &[&tasks],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0).map_err(StoreError::from))
    .collect()
}

/// New leases of `tasks` for the query's annotator (their changes are noted once the whole
/// request is leased, see [`note_leases`]).
async fn insert_leases(
    tx: &deadpool_postgres::Transaction<'_>,
    q: &LeaseQuery,
    tasks: &[i64],
) -> StoreResult<()> {
    tx.cached_execute(
        "INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at, offline)
         SELECT u.id, $2, 'active', $3, $4, $5 FROM UNNEST($1::bigint[]) AS u(id)
         ON CONFLICT (task_id, annotator_id) DO UPDATE
         SET state = 'active', expires_at = $3, leased_at = $4, offline = $5",
        &[&tasks, &q.annotator_id, &q.expires_at, &q.now, &q.offline],
    )
    .await?;
    Ok(())
}

/// The change-feed entries of one request's new leases, in the order of `tasks` (shuffled by
/// the caller, so the feed says nothing of which were gold).
async fn note_leases(
    tx: &deadpool_postgres::Transaction<'_>,
    annotator_id: i64,
    tasks: &[i64],
) -> StoreResult<()> {
    tx.cached_execute(
        "INSERT INTO changes (annotator_id, kind, task_id)
         SELECT $2, 'lease', u.id FROM UNNEST($1::bigint[]) WITH ORDINALITY AS u(id, n)
         ORDER BY u.n",
        &[&tasks, &annotator_id],
    )
    .await?;
    Ok(())
}

/// Leases those of the locked `candidates` that still have room, counted afresh: this
/// statement's snapshot is taken after the candidates' row locks were granted, so it sees
/// every lease another replica committed on them. Returns the leased tasks in queue order;
/// their leases are written by the same statement.
async fn lease_with_room(
    tx: &deadpool_postgres::Transaction<'_>,
    q: &LeaseQuery,
    candidates: &[i64],
    first_ask: i64,
) -> StoreResult<Vec<LeasedTask>> {
    tx.cached_query(
        "WITH fresh AS (
             SELECT t.id, t.project_id, t.data, t.prediction, t.answer_count, t.priority,
                    h.held, h.first_expiry, COALESCE(t.wanted::bigint, $3) AS capacity
             FROM tasks t, LATERAL (
                 SELECT COUNT(*) AS held,
                        MIN(l.expires_at) FILTER (WHERE l.state = 'active') AS first_expiry
                 FROM leases l WHERE l.task_id = t.id
                   AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > $2))
             ) h
             WHERE t.id = ANY($1) AND h.held < COALESCE(t.wanted::bigint, $3)
         ), hinted AS (
             -- The tasks this lease fills: see migration 0012.
             UPDATE tasks t SET full_until = LEAST(f.first_expiry, $5)
             FROM fresh f WHERE t.id = f.id AND f.held + 1 >= f.capacity
         ), leased AS (
             INSERT INTO leases (task_id, annotator_id, state, expires_at, leased_at, offline)
             SELECT f.id, $4, 'active', $5, $2, $6 FROM fresh f ORDER BY f.priority DESC, f.answer_count DESC, f.id
             ON CONFLICT (task_id, annotator_id) DO UPDATE
             SET state = 'active', expires_at = $5, leased_at = $2, offline = $6
         )
         SELECT id, project_id, data, prediction FROM fresh ORDER BY priority DESC, answer_count DESC, id",
        &[
            &candidates,
            &q.now,
            &first_ask,
            &q.annotator_id,
            &q.expires_at,
            &q.offline,
        ],
    )
    .await?
    .iter()
    .map(|row| leased_task_from(row, q.expires_at))
    .collect()
}

/// Candidate rounds one lease request may take before settling for fewer tasks.
const MAX_LEASE_ROUNDS: usize = 4;

async fn lock_feed(c: &impl GenericClient, annotator_id: i64) -> StoreResult<()> {
    c.cached_execute("SELECT pg_advisory_xact_lock($1)", &[&annotator_id])
        .await?;
    Ok(())
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
    for row in tx
        .cached_query(
            "SELECT t.id, t.project_id, t.cancelled_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2),
                    (SELECT m.version FROM consensus_models m WHERE m.project_id = t.project_id)
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
    }
    Ok(PushContext {
        stored,
        projects,
        cancelled,
        leased,
        model_versions,
    })
}

/// A `users` row (id, name, role, created_at, revoked_at) as the admin's token list shows it.
fn token_info(r: &tokio_postgres::Row) -> StoreResult<TokenInfo> {
    Ok(TokenInfo {
        user_id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: role_of(r.try_get(2)?)?,
        created_at: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
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
                                      received_at, device_id, device_conflict, counted, unsure, skip_reason)
                 SELECT u.id, u.task_id, $7, u.revision, u.labels, u.skipped, u.answered_at, $8,
                        u.device_id, u.device_conflict, u.counted, u.unsure, u.skip_reason
                 FROM UNNEST($1::uuid[], $2::bigint[], $3::int[], $4::jsonb[], $5::bool[], $6::timestamptz[],
                             $9::uuid[], $10::bool[], $11::bool[], $12::bool[], $13::text[])
                      WITH ORDINALITY AS u(id, task_id, revision, labels, skipped, answered_at, device_id,
                                           device_conflict, counted, unsure, skip_reason, n)
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
              &counted, &unsure, &reasons],
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
async fn update_consensus(
    tx: &deadpool_postgres::Transaction<'_>,
    tasks: &[(i64, i64)],
    skipped: &HashSet<i64>,
    schemas: &HashMap<i64, LabelSchema>,
    fitted: &HashMap<i64, Arc<FittedConsensus>>,
    fallback: &dyn ConsensusMethod,
) -> StoreResult<()> {
    let ids: Vec<i64> = tasks.iter().map(|&(t, _)| t).collect();
    tx.cached_execute(
        "SELECT 1 FROM tasks WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        &[&ids],
    )
    .await?;
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
        let result = method.aggregate(schema, &answers);
        updated.push(task);
        counts.push(answers.len() as i32);
        let progress = schema.progress(answers.len() as u32, result.as_ref().map(|c| c.confidence));
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
    Ok(())
}

/// Locks project `project_id` for a membership change — one at a time, so two requesters
/// stepping down at once cannot leave it with none — and returns its creator.
async fn lock_for_membership(
    tx: &deadpool_postgres::Transaction<'_>,
    project_id: i64,
) -> StoreResult<Option<i64>> {
    Ok(tx
        .query_one(
            "SELECT created_by FROM projects WHERE id = $1 FOR UPDATE",
            &[&project_id],
        )
        .await?
        .try_get(0)?)
}

/// How many requesters the project has.
async fn requesters(tx: &deadpool_postgres::Transaction<'_>, project_id: i64) -> StoreResult<i64> {
    Ok(tx
        .query_one(
            "SELECT COUNT(*) FROM memberships WHERE project_id = $1 AND role = 'requester'",
            &[&project_id],
        )
        .await?
        .try_get(0)?)
}

#[async_trait]
impl Store for PostgresStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c
            .cached_query_one("SELECT COUNT(*) FROM users WHERE role = 'admin'", &[])
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
            .cached_query_one(
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
            .cached_query_opt(
                "SELECT id, name, role FROM users WHERE token_hash = $1 AND revoked_at IS NULL",
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

    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let c = self.pool.get().await?;
        c.query(
            "SELECT id, name, role, created_at, revoked_at FROM users ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(token_info)
        .collect()
    }

    async fn confine_user(&self, user_id: i64) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "UPDATE users SET confined = TRUE WHERE id = $1",
            &[&user_id],
        )
        .await?;
        Ok(())
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Admins revoking each other at once: one at a time, so one always remains.
        tx.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE", &[])
            .await?;
        let role: Option<String> = tx
            .query_opt(
                "SELECT role FROM users WHERE id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if role.as_deref() == Some("admin") {
            let admins: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND revoked_at IS NULL",
                    &[],
                )
                .await?
                .try_get(0)?;
            if admins <= 1 {
                return Err(last_admin());
            }
        }
        let row = tx
            .query_opt(
                "UPDATE users SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
                 RETURNING id, name, role, created_at, revoked_at",
                &[&id, &now],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let info = token_info(&row)?;
        tx.commit().await?;
        Ok(info)
    }

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
                     RETURNING id, name, schema, created_at
                 ), m AS (
                     INSERT INTO memberships (project_id, user_id, role, created_at)
                     SELECT id, $4, 'requester', $3 FROM p WHERE $4::BIGINT IS NOT NULL
                 )
                 SELECT id, name, schema, created_at FROM p",
                &[&name, &Json(schema), &now, &requester],
            )
            .await?;
        project_from(&row)
    }

    async fn projects(&self, who: ProjectsOf) -> StoreResult<Vec<Project>> {
        let (kind, user) = who.params();
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT id, name, schema, created_at FROM projects p WHERE $1::INT = 0
               OR ($1 = 1 AND id IN (SELECT project_id FROM memberships WHERE user_id = $2 AND role = 'requester'))
               OR ($1 = 2 AND (id IN (SELECT project_id FROM memberships WHERE user_id = $2)
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
            // Ids are drawn in the rows' order (ORDER BY u.n), so sorted they are the chunk's.
            let mut ids: Vec<i64> = tx.cached_query(
                "INSERT INTO tasks (project_id, batch_id, external_id, data, prediction, created_at, gold, complete, priority, more_predictions, meta, image_width, image_height)
                 SELECT $1, $2, u.external_id, u.data::jsonb, u.prediction::jsonb, $3, u.gold::jsonb, u.gold IS NOT NULL, $8,
                        u.more::jsonb, u.meta::jsonb, u.width, u.height
                 FROM UNNEST($4::text[], $5::text[], $6::text[], $7::text[], $9::text[], $10::text[], $11::int[], $12::int[]) WITH ORDINALITY
                      AS u(external_id, data, prediction, gold, more, meta, width, height, n)
                 ORDER BY u.n
                 RETURNING id",
                &[&project_id, &batch_id, &now, &external, &data, &prediction, &gold, &priority, &more, &meta, &width, &height],
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
        Ok(stored)
    }

    async fn batches(&self, project_id: i64) -> StoreResult<Vec<Batch>> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        c.cached_query(
            "SELECT id, task_count, priority, created_at FROM batches WHERE project_id = $1 ORDER BY id",
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
        let row = tx
            .cached_query_opt(
                "UPDATE batches SET priority = $3 WHERE id = $1 AND project_id = $2
                 RETURNING task_count, created_at",
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
        Ok(Batch {
            id: batch_id,
            task_count: row.try_get(0)?,
            priority,
            created_at: row.try_get(1)?,
        })
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

    async fn lease(&self, q: LeaseQuery) -> StoreResult<Vec<LeasedTask>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // A task's capacity: what its answers so far want, or the schema's first ask.
        let first_ask = i64::from(
            self.project_in(&tx, q.project_id)
                .await?
                .schema
                .progress(0, None)
                .wanted,
        );
        lock_feed(&tx, q.annotator_id).await?;
        let limit = i64::from(q.limit);
        // Tasks this annotator already holds come first, their leases extended to this one's
        // expiry, in one statement.
        let mut held: Vec<i64> = tx
            .cached_query(
                "WITH held AS (
                     SELECT l.task_id,
                            row_number() OVER (ORDER BY $5 AND l.offline DESC, l.leased_at, l.task_id) AS n
                     FROM leases l JOIN tasks t ON t.id = l.task_id
                     WHERE l.annotator_id = $1 AND t.project_id = $2 AND l.state = 'active'
                       AND l.expires_at > $3 AND t.cancelled_at IS NULL
                     ORDER BY n LIMIT $4
                 ), extended AS (
                     UPDATE leases SET expires_at = GREATEST(expires_at, $6), offline = offline OR $5
                     WHERE annotator_id = $1 AND task_id IN (SELECT task_id FROM held)
                 )
                 SELECT task_id FROM held ORDER BY n",
                &[&q.annotator_id, &q.project_id, &q.now, &limit, &q.offline, &q.expires_at],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let already_held = held.len();
        // Concurrent leasers see the same candidates: some are locked by others (skipped),
        // some turn out full once locked. Another round looks further down the queue, so an
        // annotator never hears "no tasks" while suitable tasks remain.
        // Gold first (as many as the handler drew), drawn at random from those this annotator
        // never had; they have no overlap to respect, so no row locks.
        let room = limit - held.len() as i64;
        if q.gold_slots > 0 && room > 0 {
            let gold: Vec<i64> = tx
                .cached_query(
                    "SELECT t.id FROM tasks t
                     WHERE t.project_id = $1 AND t.gold IS NOT NULL AND t.cancelled_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2)
                     ORDER BY random() LIMIT $3",
                    &[&q.project_id, &q.annotator_id, &room.min(i64::from(q.gold_slots))],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            insert_leases(&tx, &q, &gold).await?;
            held.extend(gold);
        }
        let mut full: Vec<i64> = Vec::new();
        let mut fetched: HashMap<i64, LeasedTask> = HashMap::new();
        for _round in 0..MAX_LEASE_ROUNDS {
            let wanted = limit - held.len() as i64;
            if wanted <= 0 {
                break;
            }
            let candidates: Vec<i64> = tx
                .cached_query(
                    "SELECT t.id FROM tasks t
                     WHERE t.project_id = $1 AND NOT t.complete AND t.cancelled_at IS NULL
                       AND (t.full_until IS NULL OR t.full_until <= $3)
                       AND t.id <> ALL($6)
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.task_id = t.id AND l.annotator_id = $2
                                       AND (l.state <> 'active' OR l.expires_at > $3))
                       AND (SELECT COUNT(*) FROM leases l WHERE l.task_id = t.id
                            AND (l.state = 'answered' OR (l.state = 'active' AND l.expires_at > $3)))
                           < COALESCE(t.wanted::bigint, $4)
                     ORDER BY t.priority DESC, t.answer_count DESC, t.id
                     LIMIT $5
                     FOR NO KEY UPDATE OF t SKIP LOCKED",
                    &[&q.project_id, &q.annotator_id, &q.now, &first_ask, &wanted, &full],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if candidates.is_empty() {
                break;
            }
            let fresh = lease_with_room(&tx, &q, &candidates, first_ask).await?;
            full.extend(
                candidates
                    .iter()
                    .filter(|id| !fresh.iter().any(|t| t.task_id == **id)),
            );
            for task in fresh {
                held.push(task.task_id);
                fetched.insert(task.task_id, task);
            }
        }
        // The new leases in random order, in the reply and in the change feed: where gold sits
        // says nothing.
        let new = &mut held[already_held..];
        rand::seq::SliceRandom::shuffle(new, &mut rand::rng());
        note_leases(&tx, q.annotator_id, new).await?;
        // Held and gold tasks are read now; those leased in the rounds came with their lease.
        let unread: Vec<i64> = held
            .iter()
            .filter(|id| !fetched.contains_key(id))
            .copied()
            .collect();
        if !unread.is_empty() {
            fetched.extend(leased_tasks(&tx, &unread, q.annotator_id).await?);
        }
        let tasks = held
            .iter()
            .map(|id| {
                fetched
                    .remove(id)
                    .ok_or_else(|| StoreError::Backend(format!("leased task {id} vanished")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
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
        let results = self
            .push_in(&tx, annotator, &answers, now, method.as_ref())
            .await?;
        tx.commit().await?;
        Ok(results)
    }

    async fn changes(&self, annotator_id: i64, since: i64, limit: u32) -> StoreResult<ChangesPage> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT c.seq, c.kind, c.task_id, c.answer_id, a.revision, a.labels, a.skipped
                 FROM changes c LEFT JOIN answers a ON a.id = c.answer_id
                 WHERE c.annotator_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3",
                &[&annotator_id, &since, &(i64::from(limit) + 1)],
            )
            .await?;
        let has_more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        // The page's leased tasks in one query.
        let mut lease_ids = Vec::new();
        for row in rows {
            if row.try_get::<_, &str>(1)? == "lease" {
                lease_ids.push(row.try_get::<_, i64>(2)?);
            }
        }
        let leased = leased_tasks(&c, &lease_ids, annotator_id).await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get(0)?;
            let kind: &str = row.try_get(1)?;
            let task_id: i64 = row.try_get(2)?;
            let change = match kind {
                "lease" => Change::Lease {
                    seq,
                    task: leased.get(&task_id).cloned().ok_or_else(|| {
                        StoreError::Backend(format!("change {seq} names a task not leased"))
                    })?,
                },
                "cancel" => Change::Cancel { seq, task_id },
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
        self.project_in(&c, project_id).await?;
        let row = c
            .cached_query_one(
                "SELECT COUNT(*), COALESCE(SUM(answer_count), 0)::BIGINT, COUNT(*) FILTER (WHERE complete),
                        COUNT(cancelled_at), COUNT(*) FILTER (WHERE needs_review AND review_labels IS NULL),
                        COUNT(review_labels)
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
        let (needs_review, reviewed): (i64, i64) = (row.try_get(4)?, row.try_get(5)?);
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
        Ok(ConsensusInputs {
            answers: latest_answers(raw),
            gold,
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
        let labels: Vec<Json<&Vec<String>>> = updates.iter().map(|u| Json(&u.labels)).collect();
        let confidence: Vec<f64> = updates.iter().map(|u| u.confidence).collect();
        let complete: Vec<bool> = updates.iter().map(|u| u.complete).collect();
        let wanted: Vec<i32> = updates
            .iter()
            .map(|u| i32::try_from(u.wanted).unwrap_or(i32::MAX))
            .collect();
        let needs_review: Vec<bool> = updates.iter().map(|u| u.needs_review).collect();
        c.cached_execute(
            "UPDATE tasks t SET consensus = u.consensus, confidence = u.confidence, consensus_method = $7,
                 complete = (t.gold IS NOT NULL OR u.complete), wanted = u.wanted, full_until = NULL,
                 needs_review = (t.gold IS NULL AND (u.needs_review OR (u.complete AND t.flagged)))
             FROM UNNEST($1::bigint[], $2::jsonb[], $3::float8[], $4::bool[], $5::int[], $6::bool[])
                  AS u(id, consensus, confidence, complete, wanted, needs_review)
             WHERE t.id = u.id AND t.project_id = $8 AND t.cancelled_at IS NULL",
            &[&ids, &labels, &confidence, &complete, &wanted, &needs_review, &method, &project_id],
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

    async fn answer_counts(&self, project_id: i64) -> StoreResult<Vec<(i64, String, u64)>> {
        let c = self.pool.get().await?;
        c.cached_query(
            "SELECT u.id, u.name, COUNT(DISTINCT a.task_id)
             FROM answers a JOIN tasks t ON t.id = a.task_id JOIN users u ON u.id = a.annotator_id
             WHERE t.project_id = $1 AND NOT a.skipped
             GROUP BY u.id, u.name ORDER BY u.id",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<_, i64>(2)? as u64)))
        .collect()
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
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        let known: bool = c
            .cached_query_one(
                "SELECT EXISTS(SELECT 1 FROM users WHERE id = $1 AND ($2::TEXT IS NULL OR name = $2))",
                &[&user_id, &name],
            )
            .await?
            .try_get(0)?;
        if !known {
            return Err(no_such_user(user_id, name.as_deref()));
        }
        let mut c = c;
        let tx = c.transaction().await?;
        let creator = lock_for_membership(&tx, project_id).await?;
        if creator == Some(user_id) && by != Some(user_id) && role != ProjectRole::Requester {
            return Err(creator_only(project_id));
        }
        let was_requester: bool = tx
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = $1 AND user_id = $2 AND role = 'requester')",
                &[&project_id, &user_id],
            )
            .await?
            .try_get(0)?;
        tx.execute(
            "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = $3",
            &[&project_id, &user_id, &role.as_str(), &now],
        )
        .await?;
        if was_requester && requesters(&tx, project_id).await? == 0 {
            return Err(last_requester(project_id)); // dropping the transaction undoes it
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        let tx = c.transaction().await?;
        let creator = lock_for_membership(&tx, project_id).await?;
        if creator == Some(user_id) && by != Some(user_id) {
            return Err(creator_only(project_id));
        }
        let Some(row) = tx
            .query_opt(
                "DELETE FROM memberships WHERE project_id = $1 AND user_id = $2 RETURNING role",
                &[&project_id, &user_id],
            )
            .await?
        else {
            return Err(not_a_member(project_id, user_id));
        };
        let role: String = row.try_get(0)?;
        if role == "requester" && requesters(&tx, project_id).await? == 0 {
            return Err(last_requester(project_id)); // dropping the transaction undoes it
        }
        tx.commit().await?;
        Ok(())
    }

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        c.cached_query(
            "SELECT m.user_id, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 ORDER BY m.user_id",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Member {
                user_id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: project_role(r.try_get(2)?)?,
            })
        })
        .collect()
    }

    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)> {
        let c = self.pool.get().await?;
        let row = c
            .cached_query_one(
                "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = $1 AND role <> 'requester')
                          OR EXISTS(SELECT 1 FROM users WHERE id = $2 AND confined),
                        (SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2)",
                &[&project_id, &user_id],
            )
            .await?;
        let role: Option<&str> = row.try_get(1)?;
        Ok((row.try_get(0)?, role.map(project_role).transpose()?))
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
        let c = self.pool.get().await?;
        let updated = c
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
        Ok(())
    }
}

mod transfer;

use transfer::{export_tasks, store_reviews};

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database on the server `TESSERA_TEST_DATABASE_URL` names (scripts/test.sh
    /// starts one), with the store's migrations run.
    async fn fresh_store() -> PostgresStore {
        let url = std::env::var("TESSERA_TEST_DATABASE_URL")
            .expect("TESSERA_TEST_DATABASE_URL is not set: scripts/test.sh starts a server");
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connect to TESSERA_TEST_DATABASE_URL");
        tokio::spawn(connection);
        let name = format!("tessera_unit_{}", Uuid::now_v7().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let mut config: tokio_postgres::Config = url.parse().expect("URL");
        config.dbname(&name);
        PostgresStore::connect_with(config).await.expect("store")
    }

    #[tokio::test]
    async fn key_lookups_plan_on_their_index_before_the_table_was_ever_analyzed() {
        let store = fresh_store().await;
        let c = store.pool.get().await.expect("connection");
        // The first pushes to a new database: a few hundred answers, no statistics yet.
        c.batch_execute(
            "INSERT INTO users (name, role, token_hash, created_at)
                 VALUES ('a', 'annotator', 'h', now());
             INSERT INTO projects (name, schema, created_at) VALUES ('p', '{}', now());
             INSERT INTO batches (project_id, task_count, created_at) VALUES (1, 300, now());
             INSERT INTO tasks (project_id, batch_id, data, created_at)
                 SELECT 1, 1, '{}', now() FROM generate_series(1, 300);
             INSERT INTO answers (id, task_id, annotator_id, revision, labels, skipped,
                                  answered_at, received_at)
                 SELECT gen_random_uuid(), g, 1, 1, '[\"x\"]', false, now(), now()
                 FROM generate_series(1, 300) g;",
        )
        .await
        .expect("first answers");
        // What a pooled connection's statement cache keeps after a few runs: the generic plan,
        // made now.
        c.batch_execute(
            "SET plan_cache_mode = force_generic_plan;
             PREPARE owners AS SELECT id, annotator_id FROM answers WHERE id = ANY($1::uuid[]);
             PREPARE current AS SELECT task_id, labels FROM answers
                 WHERE task_id = ANY($1::bigint[]) AND counted",
        )
        .await
        .expect("prepare");
        for statement in ["owners", "current"] {
            let plan: Vec<String> = c
                .query(&format!("EXPLAIN EXECUTE {statement}('{{}}')"), &[])
                .await
                .expect("explain")
                .iter()
                .map(|r| r.get(0))
                .collect();
            let plan = plan.join("\n");
            assert!(
                !plan.contains("Seq Scan"),
                "{statement} scans every answer:\n{plan}"
            );
        }
    }
}

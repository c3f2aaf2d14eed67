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

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Map, Value};
use tessera_api::{ExportAnswer, ExportConsensus, ExportRecord, ExportReview, Project, Role};
use tessera_core::aggregate::FittedConsensus;
use tessera_core::{ConsensusMethod, ImportedAnswer, ImportedReview, LabelSchema, Prediction};

use tokio_postgres::types::Json;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{
    IMPORTED, ModelCache, ProjectCache, StoreError, StoreResult, User, imported_names,
    imported_pushes, imported_stored, imported_time,
};

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
    include_str!("../../../migrations/postgres/0018_suspension_lifts.sql"),
    include_str!("../../../migrations/postgres/0019_task_browser.sql"),
    include_str!("../../../migrations/postgres/0020_project_archive.sql"),
    include_str!("../../../migrations/postgres/0021_prediction_verdict.sql"),
    include_str!("../../../migrations/postgres/0022_task_words.sql"),
    include_str!("../../../migrations/postgres/0023_webhooks.sql"),
    include_str!("../../../migrations/postgres/0024_models.sql"),
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
        if done > MIGRATIONS.len() as i64 {
            return Err(StoreError::NewerSchema {
                found: done,
                known: MIGRATIONS.len(),
            });
        }
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
        archived_at: row.try_get("archived_at")?,
    })
}

async fn project_row(c: &impl GenericClient, id: i64) -> StoreResult<Project> {
    let row = c
        .cached_query_opt(
            "SELECT id, name, schema, created_at, archived_at FROM projects WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    project_from(&row)
}

mod consensus;
mod lifecycle;
mod models;
mod people;
mod projects;
mod push;
mod queue;
mod tasks;
mod transfer;
mod webhooks;

use transfer::{export_tasks, store_reviews};

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

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

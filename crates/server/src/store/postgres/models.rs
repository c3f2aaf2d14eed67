//! Models in the loop on PostgreSQL: ML backends, model predictions and the built-in model's
//! runs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use tessera_api::{MlBackend, ModelRun};
use tessera_core::Prediction;
use tokio_postgres::types::Json;

use super::*;
use crate::store::models::{
    BUILTIN, BackendCheck, ModelStore, PREDICTION_ATTEMPTS, backend_source,
};

fn no_such_backend(project_id: i64, id: i64) -> StoreError {
    StoreError::NotFound(format!("ML backend {id} of project {project_id}"))
}

async fn backend_rows(
    c: &impl GenericClient,
    project_id: Option<i64>,
    id: Option<i64>,
    counts: bool,
) -> StoreResult<Vec<MlBackend>> {
    let rows = c
        .cached_query(
            "SELECT b.id, b.project_id, b.name, b.url, b.created_at, b.healthy, b.checked_at,
                    b.last_error, b.model_version, b.set_up,
                    (SELECT w.id FROM webhooks w WHERE w.ml_backend_id = b.id)
             FROM ml_backends b
             WHERE ($1::bigint IS NULL OR b.project_id = $1) AND ($2::bigint IS NULL OR b.id = $2)
             ORDER BY b.id",
            &[&project_id, &id],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut b = MlBackend {
            id: r.try_get(0)?,
            project_id: r.try_get(1)?,
            name: r.try_get(2)?,
            url: r.try_get(3)?,
            created_at: r.try_get(4)?,
            healthy: r.try_get(5)?,
            checked_at: r.try_get(6)?,
            last_error: r.try_get(7)?,
            model_version: r.try_get(8)?,
            set_up: r.try_get(9)?,
            predictions: 0,
            queue: 0,
            failed: 0,
            webhook_id: r.try_get(10)?,
        };
        if counts {
            let n = c
                .cached_query_one(
                    "SELECT
                        (SELECT COUNT(*) FROM model_predictions m JOIN tasks t ON t.id = m.task_id
                         WHERE m.source = $2 AND t.project_id = $1),
                        (SELECT COUNT(*) FROM tasks t WHERE t.project_id = $1 AND t.cancelled_at IS NULL
                         AND NOT EXISTS (SELECT 1 FROM model_predictions m WHERE m.task_id = t.id AND m.source = $2)
                         AND NOT EXISTS (SELECT 1 FROM prediction_failures f
                                         WHERE f.backend_id = $3 AND f.task_id = t.id AND f.retry_at IS NULL)),
                        (SELECT COUNT(*) FROM prediction_failures f WHERE f.backend_id = $3 AND f.retry_at IS NULL)",
                    &[&b.project_id, &backend_source(b.id), &b.id],
                )
                .await?;
            b.predictions = n.try_get::<_, i64>(0)?.max(0) as u64;
            b.queue = n.try_get::<_, i64>(1)?.max(0) as u64;
            b.failed = n.try_get::<_, i64>(2)?.max(0) as u64;
        }
        out.push(b);
    }
    Ok(out)
}

fn data_rows(rows: &[Row]) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
    rows.iter()
        .map(|r| {
            let Json(data): Json<Map<String, Value>> = r.try_get(1)?;
            Ok((r.try_get(0)?, data))
        })
        .collect()
}

#[async_trait]
impl ModelStore for PostgresStore {
    async fn create_ml_backend(
        &self,
        project_id: i64,
        name: &str,
        url: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<MlBackend> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        let id: i64 = c
            .cached_query_one(
                "INSERT INTO ml_backends (project_id, name, url, created_at) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[&project_id, &name, &url, &now],
            )
            .await?
            .try_get(0)?;
        backend_rows(&c, Some(project_id), Some(id), false)
            .await?
            .pop()
            .ok_or_else(|| no_such_backend(project_id, id))
    }

    async fn ml_backends(
        &self,
        project_id: Option<i64>,
        counts: bool,
    ) -> StoreResult<Vec<MlBackend>> {
        let c = self.pool.get().await?;
        backend_rows(&c, project_id, None, counts).await
    }

    async fn delete_ml_backend(&self, project_id: i64, backend_id: i64) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let deleted = tx
            .cached_execute(
                "DELETE FROM ml_backends WHERE id = $1 AND project_id = $2",
                &[&backend_id, &project_id],
            )
            .await?;
        if deleted == 0 {
            return Err(no_such_backend(project_id, backend_id));
        }
        tx.cached_execute(
            "DELETE FROM model_predictions WHERE source = $1",
            &[&backend_source(backend_id)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_backend_check(&self, backend_id: i64, check: BackendCheck) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.cached_execute(
            "UPDATE ml_backends SET healthy = $2, checked_at = $3,
                 last_error = CASE WHEN $7 THEN last_error ELSE $4 END,
                 model_version = COALESCE($5, model_version), set_up = COALESCE($6, set_up)
             WHERE id = $1",
            &[
                &backend_id,
                &check.healthy,
                &check.at,
                &check.error,
                &check.model_version,
                &check.set_up,
                &check.keep_error,
            ],
        )
        .await?;
        Ok(())
    }

    async fn tasks_to_predict(
        &self,
        project_id: i64,
        source: &str,
        backend_id: Option<i64>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT t.id, t.data FROM tasks t
                 WHERE t.project_id = $1 AND t.cancelled_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM model_predictions m WHERE m.task_id = t.id AND m.source = $2)
                   AND NOT EXISTS (SELECT 1 FROM prediction_failures f WHERE f.backend_id = $3
                                   AND f.task_id = t.id AND (f.retry_at IS NULL OR f.retry_at > $4))
                 ORDER BY t.id LIMIT $5",
                &[&project_id, &source, &backend_id, &now, &i64::from(limit)],
            )
            .await?;
        data_rows(&rows)
    }

    async fn save_predictions(
        &self,
        source: &str,
        predictions: Vec<(i64, Prediction)>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let ids: Vec<i64> = predictions.iter().map(|(t, _)| *t).collect();
        let labels: Vec<Json<&Vec<String>>> =
            predictions.iter().map(|(_, p)| Json(&p.labels)).collect();
        let scores: Vec<Option<f64>> = predictions.iter().map(|(_, p)| p.score).collect();
        let versions: Vec<Option<&str>> = predictions
            .iter()
            .map(|(_, p)| p.model_version.as_deref())
            .collect();
        tx.cached_execute(
            "WITH stored AS (
                 INSERT INTO model_predictions (task_id, source, labels, score, model_version, created_at)
                 SELECT u.task_id, $5, u.labels, u.score, u.model_version, $6
                 FROM UNNEST($1::bigint[], $2::jsonb[], $3::float8[], $4::text[])
                      AS u(task_id, labels, score, model_version)
                 JOIN tasks t ON t.id = u.task_id AND t.cancelled_at IS NULL
                 ON CONFLICT (task_id, source) DO UPDATE
                 SET labels = EXCLUDED.labels, score = EXCLUDED.score,
                     model_version = EXCLUDED.model_version, created_at = EXCLUDED.created_at,
                     evaluated = FALSE
                 RETURNING task_id, score
             )
             UPDATE tasks t SET model_certainty = COALESCE(s.score, 1) FROM stored s WHERE t.id = s.task_id",
            &[&ids, &labels, &scores, &versions, &source, &now],
        )
        .await?;
        if let Some(backend) = source
            .strip_prefix("ml:")
            .and_then(|b| b.parse::<i64>().ok())
        {
            tx.cached_execute(
                "DELETE FROM prediction_failures WHERE backend_id = $1 AND task_id = ANY($2)",
                &[&backend, &ids],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn prediction_failed(
        &self,
        backend_id: i64,
        task_ids: Vec<i64>,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "INSERT INTO prediction_failures (backend_id, task_id, attempts, last_error, retry_at)
                 SELECT $1, u.task_id, 1, $3, $4 FROM UNNEST($2::bigint[]) AS u(task_id)
                 ON CONFLICT (backend_id, task_id) DO UPDATE
                 SET attempts = prediction_failures.attempts + 1, last_error = $3,
                     retry_at = CASE WHEN prediction_failures.attempts + 1 >= $5 THEN NULL ELSE $4 END
                 RETURNING task_id, attempts",
                &[
                    &backend_id,
                    &task_ids,
                    &error,
                    &retry_at,
                    &i32::try_from(PREDICTION_ATTEMPTS).unwrap_or(i32::MAX),
                ],
            )
            .await?;
        let mut given_up = Vec::new();
        for r in rows {
            if r.try_get::<_, i32>(1)?.max(0) as u32 >= PREDICTION_ATTEMPTS {
                given_up.push(r.try_get(0)?);
            }
        }
        Ok(given_up)
    }

    async fn training_set_size(&self, project_id: i64) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c
            .cached_query_one(
                "SELECT COUNT(*) FROM tasks
                 WHERE project_id = $1 AND complete AND gold IS NULL AND cancelled_at IS NULL
                   AND consensus IS NOT NULL AND jsonb_array_length(consensus) = 1",
                &[&project_id],
            )
            .await?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    }

    async fn training_set(
        &self,
        project_id: i64,
    ) -> StoreResult<Vec<(i64, Map<String, Value>, String)>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT id, data, consensus FROM tasks
                 WHERE project_id = $1 AND complete AND gold IS NULL AND cancelled_at IS NULL
                   AND consensus IS NOT NULL ORDER BY id",
                &[&project_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Json(labels): Json<Vec<String>> = r.try_get(2)?;
            if let [label] = labels.as_slice() {
                let Json(data): Json<Map<String, Value>> = r.try_get(1)?;
                out.push((r.try_get(0)?, data, label.clone()));
            }
        }
        Ok(out)
    }

    async fn tasks_for_builtin(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT id, data FROM tasks
                 WHERE project_id = $1 AND id > $2 AND cancelled_at IS NULL
                   AND (NOT complete OR gold IS NOT NULL)
                 ORDER BY id LIMIT $3",
                &[&project_id, &after, &i64::from(limit)],
            )
            .await?;
        data_rows(&rows)
    }

    async fn score_builtin(&self, project_id: i64) -> StoreResult<(u64, u64)> {
        let c = self.pool.get().await?;
        let row = c
            .cached_query_one(
                "WITH scored AS (
                     UPDATE model_predictions m SET evaluated = TRUE
                     FROM tasks t
                     WHERE t.id = m.task_id AND m.source = $2 AND NOT m.evaluated
                       AND t.project_id = $1 AND t.complete AND t.gold IS NULL
                       AND t.consensus IS NOT NULL
                     RETURNING m.labels = t.consensus AS correct
                 )
                 SELECT COUNT(*), COUNT(*) FILTER (WHERE correct) FROM scored",
                &[&project_id, &BUILTIN],
            )
            .await?;
        Ok((
            row.try_get::<_, i64>(0)?.max(0) as u64,
            row.try_get::<_, i64>(1)?.max(0) as u64,
        ))
    }

    async fn record_model_run(&self, project_id: i64, run: ModelRun) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.cached_execute(
            "INSERT INTO model_runs (project_id, version, trained_at, trained_on, seconds, held_out, correct)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, version) DO NOTHING",
            &[
                &project_id,
                &run.version,
                &run.trained_at,
                &i64::try_from(run.trained_on).unwrap_or(i64::MAX),
                &run.seconds,
                &i64::try_from(run.held_out).unwrap_or(i64::MAX),
                &i64::try_from(run.correct).unwrap_or(i64::MAX),
            ],
        )
        .await?;
        Ok(())
    }

    async fn model_runs(&self, project_id: i64) -> StoreResult<Vec<ModelRun>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT version, trained_at, trained_on, seconds, held_out, correct
                 FROM model_runs WHERE project_id = $1 ORDER BY version",
                &[&project_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ModelRun {
                    version: r.try_get(0)?,
                    trained_at: r.try_get(1)?,
                    trained_on: r.try_get::<_, i64>(2)?.max(0) as u64,
                    seconds: r.try_get(3)?,
                    held_out: r.try_get::<_, i64>(4)?.max(0) as u64,
                    correct: r.try_get::<_, i64>(5)?.max(0) as u64,
                })
            })
            .collect()
    }
}

//! Models in the loop on SQLite: ML backends, model predictions and the built-in model's runs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::{Map, Value};
use tessera_api::{MlBackend, ModelRun};
use tessera_core::Prediction;

use super::*;
use crate::store::models::{
    BUILTIN, BackendCheck, ModelStore, PREDICTION_ATTEMPTS, backend_source,
};

fn no_such_backend(project_id: i64, id: i64) -> StoreError {
    StoreError::NotFound(format!("ML backend {id} of project {project_id}"))
}

fn backend_rows(
    c: &Connection,
    project_id: Option<i64>,
    id: Option<i64>,
    counts: bool,
) -> StoreResult<Vec<MlBackend>> {
    let mut stmt = c.prepare_cached(
        "SELECT b.id, b.project_id, b.name, b.url, b.created_at, b.healthy, b.checked_at,
                b.last_error, b.model_version, b.set_up,
                (SELECT w.id FROM webhooks w WHERE w.ml_backend_id = b.id)
         FROM ml_backends b
         WHERE (?1 IS NULL OR b.project_id = ?1) AND (?2 IS NULL OR b.id = ?2) ORDER BY b.id",
    )?;
    let mut rows = stmt.query(params![project_id, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(MlBackend {
            id: r.get(0)?,
            project_id: r.get(1)?,
            name: r.get(2)?,
            url: r.get(3)?,
            created_at: parse_ts(&r.get::<_, String>(4)?)?,
            healthy: r.get(5)?,
            checked_at: r
                .get::<_, Option<String>>(6)?
                .map(|t| parse_ts(&t))
                .transpose()?,
            last_error: r.get(7)?,
            model_version: r.get(8)?,
            set_up: r.get(9)?,
            predictions: 0,
            queue: 0,
            failed: 0,
            webhook_id: r.get(10)?,
        });
    }
    drop(rows);
    if counts {
        for b in &mut out {
            let (predictions, queue, failed): (i64, i64, i64) = c
                .prepare_cached(
                    "SELECT
                        (SELECT COUNT(*) FROM model_predictions m JOIN tasks t ON t.id = m.task_id
                         WHERE m.source = ?2 AND t.project_id = ?1),
                        (SELECT COUNT(*) FROM tasks t WHERE t.project_id = ?1 AND t.cancelled_at IS NULL
                         AND NOT EXISTS (SELECT 1 FROM model_predictions m WHERE m.task_id = t.id AND m.source = ?2)
                         AND NOT EXISTS (SELECT 1 FROM prediction_failures f
                                         WHERE f.backend_id = ?3 AND f.task_id = t.id AND f.retry_at IS NULL)),
                        (SELECT COUNT(*) FROM prediction_failures f WHERE f.backend_id = ?3 AND f.retry_at IS NULL)",
                )?
                .query_row(params![b.project_id, backend_source(b.id), b.id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            b.predictions = predictions.max(0) as u64;
            b.queue = queue.max(0) as u64;
            b.failed = failed.max(0) as u64;
        }
    }
    Ok(out)
}

fn data_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push((r.get(0)?, json_map(&r.get::<_, String>(1)?)?));
    }
    Ok(out)
}

#[async_trait]
impl ModelStore for SqliteStore {
    async fn create_ml_backend(
        &self,
        project_id: i64,
        name: &str,
        url: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<MlBackend> {
        let (name, url) = (name.to_owned(), url.to_owned());
        self.write(move |c| {
            project_row(c, project_id)?;
            c.prepare_cached(
                "INSERT INTO ml_backends (project_id, name, url, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![project_id, name, url, ts(now)])?;
            let id = c.last_insert_rowid();
            backend_rows(c, Some(project_id), Some(id), false)?
                .pop()
                .ok_or_else(|| no_such_backend(project_id, id))
        })
        .await
    }

    async fn ml_backends(
        &self,
        project_id: Option<i64>,
        counts: bool,
    ) -> StoreResult<Vec<MlBackend>> {
        self.read(move |c| backend_rows(c, project_id, None, counts))
            .await
    }

    async fn delete_ml_backend(&self, project_id: i64, backend_id: i64) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let deleted = tx.execute(
                "DELETE FROM ml_backends WHERE id = ?1 AND project_id = ?2",
                params![backend_id, project_id],
            )?;
            if deleted == 0 {
                return Err(no_such_backend(project_id, backend_id));
            }
            // Its predictions go with it (a task's certainty stays as its last score said).
            tx.execute(
                "DELETE FROM model_predictions WHERE source = ?1",
                [backend_source(backend_id)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn record_backend_check(&self, backend_id: i64, check: BackendCheck) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE ml_backends SET healthy = ?2, checked_at = ?3,
                     last_error = CASE WHEN ?7 THEN last_error ELSE ?4 END,
                     model_version = COALESCE(?5, model_version), set_up = COALESCE(?6, set_up)
                 WHERE id = ?1",
            )?
            .execute(params![
                backend_id,
                check.healthy,
                ts(check.at),
                check.error,
                check.model_version,
                check.set_up,
                check.keep_error
            ])?;
            Ok(())
        })
        .await
    }

    async fn tasks_to_predict(
        &self,
        project_id: i64,
        source: &str,
        backend_id: Option<i64>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
        let source = source.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT t.id, t.data FROM tasks t
                 WHERE t.project_id = ?1 AND t.cancelled_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM model_predictions m WHERE m.task_id = t.id AND m.source = ?2)
                   AND NOT EXISTS (SELECT 1 FROM prediction_failures f WHERE f.backend_id = ?3
                                   AND f.task_id = t.id AND (f.retry_at IS NULL OR f.retry_at > ?4))
                 ORDER BY t.id LIMIT ?5",
            )?;
            data_rows(&mut stmt, params![project_id, source, backend_id, ts(now), limit])
        })
        .await
    }

    async fn save_predictions(
        &self,
        source: &str,
        predictions: Vec<(i64, Prediction)>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let source = source.to_owned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let now = ts(now);
            for (task_id, p) in &predictions {
                let stored = tx
                    .prepare_cached(
                        "INSERT INTO model_predictions (task_id, source, labels, score, model_version, created_at)
                         SELECT id, ?2, ?3, ?4, ?5, ?6 FROM tasks WHERE id = ?1 AND cancelled_at IS NULL
                         ON CONFLICT (task_id, source) DO UPDATE
                         SET labels = ?3, score = ?4, model_version = ?5, created_at = ?6, evaluated = 0",
                    )?
                    .execute(params![
                        task_id,
                        source,
                        serde_json::to_string(&p.labels)?,
                        p.score,
                        p.model_version,
                        now
                    ])?;
                if stored > 0 {
                    tx.prepare_cached("UPDATE tasks SET model_certainty = ?2 WHERE id = ?1")?
                        .execute(params![task_id, p.score.unwrap_or(1.0)])?;
                }
            }
            if let Some(backend) = source.strip_prefix("ml:").and_then(|b| b.parse::<i64>().ok())
            {
                for (task_id, _) in &predictions {
                    tx.prepare_cached(
                        "DELETE FROM prediction_failures WHERE backend_id = ?1 AND task_id = ?2",
                    )?
                    .execute(params![backend, task_id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn prediction_failed(
        &self,
        backend_id: i64,
        task_ids: Vec<i64>,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let error = error.to_owned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let mut given_up = Vec::new();
            for task_id in task_ids {
                let attempts: u32 = tx
                    .prepare_cached(
                        "INSERT INTO prediction_failures (backend_id, task_id, attempts, last_error, retry_at)
                         VALUES (?1, ?2, 1, ?3, ?4)
                         ON CONFLICT (backend_id, task_id) DO UPDATE
                         SET attempts = attempts + 1, last_error = ?3, retry_at = ?4
                         RETURNING attempts",
                    )?
                    .query_row(params![backend_id, task_id, error, ts(retry_at)], |r| r.get(0))?;
                if attempts >= PREDICTION_ATTEMPTS {
                    tx.prepare_cached(
                        "UPDATE prediction_failures SET retry_at = NULL WHERE backend_id = ?1 AND task_id = ?2",
                    )?
                    .execute(params![backend_id, task_id])?;
                    given_up.push(task_id);
                }
            }
            tx.commit()?;
            Ok(given_up)
        })
        .await
    }

    async fn training_set_size(&self, project_id: i64) -> StoreResult<u64> {
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM tasks
                     WHERE project_id = ?1 AND complete = 1 AND gold IS NULL AND cancelled_at IS NULL
                       AND consensus IS NOT NULL AND json_array_length(consensus) = 1",
                )?
                .query_row([project_id], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn training_set(
        &self,
        project_id: i64,
    ) -> StoreResult<Vec<(i64, Map<String, Value>, String)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, data, consensus FROM tasks
                 WHERE project_id = ?1 AND complete = 1 AND gold IS NULL AND cancelled_at IS NULL
                   AND consensus IS NOT NULL ORDER BY id",
            )?;
            let mut rows = stmt.query([project_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let labels: Vec<String> = serde_json::from_str(&r.get::<_, String>(2)?)?;
                if let [label] = labels.as_slice() {
                    out.push((r.get(0)?, json_map(&r.get::<_, String>(1)?)?, label.clone()));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn tasks_for_builtin(
        &self,
        project_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Map<String, Value>)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, data FROM tasks
                 WHERE project_id = ?1 AND id > ?2 AND cancelled_at IS NULL
                   AND (complete = 0 OR gold IS NOT NULL)
                 ORDER BY id LIMIT ?3",
            )?;
            data_rows(&mut stmt, params![project_id, after, limit])
        })
        .await
    }

    async fn score_builtin(&self, project_id: i64) -> StoreResult<(u64, u64)> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let rows: Vec<(i64, String, String)> = tx
                .prepare_cached(
                    "SELECT t.id, m.labels, t.consensus FROM model_predictions m
                     JOIN tasks t ON t.id = m.task_id
                     WHERE m.source = ?2 AND m.evaluated = 0 AND t.project_id = ?1
                       AND t.complete = 1 AND t.gold IS NULL AND t.consensus IS NOT NULL",
                )?
                .query_map(params![project_id, BUILTIN], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut correct = 0;
            for (task_id, predicted, consensus) in &rows {
                let predicted: Vec<String> = serde_json::from_str(predicted)?;
                let consensus: Vec<String> = serde_json::from_str(consensus)?;
                if predicted == consensus {
                    correct += 1;
                }
                tx.prepare_cached(
                    "UPDATE model_predictions SET evaluated = 1 WHERE task_id = ?1 AND source = ?2",
                )?
                .execute(params![task_id, BUILTIN])?;
            }
            tx.commit()?;
            Ok((rows.len() as u64, correct))
        })
        .await
    }

    async fn record_model_run(&self, project_id: i64, run: ModelRun) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO model_runs (project_id, version, trained_at, trained_on, seconds, held_out, correct)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (project_id, version) DO NOTHING",
            )?
            .execute(params![
                project_id,
                run.version,
                ts(run.trained_at),
                i64::try_from(run.trained_on).unwrap_or(i64::MAX),
                run.seconds,
                i64::try_from(run.held_out).unwrap_or(i64::MAX),
                i64::try_from(run.correct).unwrap_or(i64::MAX)
            ])?;
            Ok(())
        })
        .await
    }

    async fn model_runs(&self, project_id: i64) -> StoreResult<Vec<ModelRun>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT version, trained_at, trained_on, seconds, held_out, correct
                 FROM model_runs WHERE project_id = ?1 ORDER BY version",
            )?;
            let mut rows = stmt.query([project_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(ModelRun {
                    version: r.get(0)?,
                    trained_at: parse_ts(&r.get::<_, String>(1)?)?,
                    trained_on: r.get::<_, i64>(2)?.max(0) as u64,
                    seconds: r.get(3)?,
                    held_out: r.get::<_, i64>(4)?.max(0) as u64,
                    correct: r.get::<_, i64>(5)?.max(0) as u64,
                });
            }
            Ok(out)
        })
        .await
    }
}

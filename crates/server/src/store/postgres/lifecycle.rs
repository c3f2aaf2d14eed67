//! A project's life after creation on PostgreSQL: how it uses its labels (for a schema
//! edit), editing, archiving and deleting it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tessera_api::Project;
use tessera_core::LabelSchema;
use tokio_postgres::types::Json;

use super::{project_from, project_row};
use crate::store::{LabelUsage, StoreError, StoreResult};

pub(super) async fn label_usage(
    c: &impl GenericClient,
    project_id: i64,
) -> StoreResult<LabelUsage> {
    project_row(c, project_id).await?;
    let tasks: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM tasks WHERE project_id = $1",
            &[&project_id],
        )
        .await?
        .try_get(0)?;
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    for sql in [
        "SELECT j, COUNT(*) FROM answers a JOIN tasks t ON t.id = a.task_id,
             jsonb_array_elements_text(a.labels) j
         WHERE t.project_id = $1 GROUP BY j",
        "SELECT j, COUNT(*) FROM tasks t, jsonb_array_elements_text(t.gold) j
         WHERE t.project_id = $1 AND t.gold IS NOT NULL GROUP BY j",
        "SELECT j, COUNT(*) FROM tasks t, jsonb_array_elements_text(t.review_labels) j
         WHERE t.project_id = $1 AND t.review_labels IS NOT NULL GROUP BY j",
        "SELECT j, COUNT(*) FROM tasks t, jsonb_array_elements_text(t.consensus) j
         WHERE t.project_id = $1 AND t.consensus IS NOT NULL GROUP BY j",
        "SELECT j, COUNT(*) FROM tasks t, jsonb_array_elements_text(t.prediction -> 'labels') j
         WHERE t.project_id = $1 AND t.prediction IS NOT NULL GROUP BY j",
    ] {
        for row in c.query(sql, &[&project_id]).await? {
            let n: i64 = row.try_get(1)?;
            *labels.entry(row.try_get(0)?).or_default() += n.max(0) as u64;
        }
    }
    let multi: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM answers a JOIN tasks t ON t.id = a.task_id
             WHERE t.project_id = $1 AND jsonb_array_length(a.labels) > 1",
            &[&project_id],
        )
        .await?
        .try_get(0)?;
    Ok(LabelUsage {
        tasks: tasks.max(0) as u64,
        labels,
        multi_label_answers: multi.max(0) as u64,
    })
}

pub(super) async fn update_project(
    c: &impl GenericClient,
    project_id: i64,
    name: &str,
    schema: &LabelSchema,
) -> StoreResult<Project> {
    let row = c
        .query_opt(
            "UPDATE projects SET name = $2, schema = $3 WHERE id = $1
             RETURNING id, name, schema, created_at, archived_at",
            &[&project_id, &name, &Json(schema)],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("project {project_id}")))?;
    project_from(&row)
}

pub(super) async fn archive_project(
    c: &impl GenericClient,
    project_id: i64,
    at: Option<DateTime<Utc>>,
) -> StoreResult<Project> {
    let row = c
        .query_opt(
            "UPDATE projects SET archived_at = $2 WHERE id = $1
             RETURNING id, name, schema, created_at, archived_at",
            &[&project_id, &at],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("project {project_id}")))?;
    project_from(&row)
}

pub(super) async fn delete_project(
    tx: &deadpool_postgres::Transaction<'_>,
    project_id: i64,
) -> StoreResult<(u64, u64)> {
    // Uploads, pushes and membership changes to the project wait for the delete, or fail.
    tx.query_opt(
        "SELECT id FROM projects WHERE id = $1 FOR UPDATE",
        &[&project_id],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("project {project_id}")))?;
    const OF_PROJECT: &str = "(SELECT id FROM tasks WHERE project_id = $1)";
    // Each annotator's feed is written under their advisory lock (see the module's rules):
    // take those of everyone with a change of the project's tasks, in id order.
    tx.execute(
        &format!(
            "SELECT pg_advisory_xact_lock(annotator_id) FROM (
                 SELECT DISTINCT annotator_id FROM changes WHERE task_id IN {OF_PROJECT}
                 ORDER BY annotator_id) a"
        ),
        &[&project_id],
    )
    .await?;
    // Devices hear that the project's tasks are gone: what their feeds said of them becomes a
    // cancellation, and whoever holds one now gets one more.
    tx.execute(
        &format!(
            "UPDATE changes SET kind = 'cancel', answer_id = NULL
             WHERE task_id IN {OF_PROJECT} AND kind <> 'cancel'"
        ),
        &[&project_id],
    )
    .await?;
    tx.execute(
        &format!(
            "INSERT INTO changes (annotator_id, kind, task_id)
             SELECT annotator_id, 'cancel', task_id FROM leases
             WHERE task_id IN {OF_PROJECT} AND state = 'active' ORDER BY annotator_id, task_id"
        ),
        &[&project_id],
    )
    .await?;
    tx.execute(
        &format!("DELETE FROM leases WHERE task_id IN {OF_PROJECT}"),
        &[&project_id],
    )
    .await?;
    let answers = tx
        .execute(
            &format!("DELETE FROM answers WHERE task_id IN {OF_PROJECT}"),
            &[&project_id],
        )
        .await?;
    let tasks = tx
        .execute("DELETE FROM tasks WHERE project_id = $1", &[&project_id])
        .await?;
    for table in [
        "batches",
        "memberships",
        "consensus_models",
        "suspension_lifts",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE project_id = $1"),
            &[&project_id],
        )
        .await?;
    }
    tx.execute("DELETE FROM projects WHERE id = $1", &[&project_id])
        .await?;
    Ok((tasks, answers))
}

//! A project's life after creation on SQLite: how it uses its labels (for a schema edit),
//! editing, archiving and deleting it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tessera_api::Project;
use tessera_core::LabelSchema;

use super::project_row;
use crate::store::{LabelUsage, StoreResult, ts};

pub(super) fn label_usage(c: &Connection, project_id: i64) -> StoreResult<LabelUsage> {
    project_row(c, project_id)?;
    let tasks: i64 = c.query_row(
        "SELECT COUNT(*) FROM tasks WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    for sql in [
        "SELECT j.value, COUNT(*) FROM answers a JOIN tasks t ON t.id = a.task_id, json_each(a.labels) j
         WHERE t.project_id = ?1 GROUP BY j.value",
        "SELECT j.value, COUNT(*) FROM tasks t, json_each(t.gold) j
         WHERE t.project_id = ?1 AND t.gold IS NOT NULL GROUP BY j.value",
        "SELECT j.value, COUNT(*) FROM tasks t, json_each(t.review_labels) j
         WHERE t.project_id = ?1 AND t.review_labels IS NOT NULL GROUP BY j.value",
        "SELECT j.value, COUNT(*) FROM tasks t, json_each(t.consensus) j
         WHERE t.project_id = ?1 AND t.consensus IS NOT NULL GROUP BY j.value",
        "SELECT j.value, COUNT(*) FROM tasks t, json_each(t.prediction, '$.labels') j
         WHERE t.project_id = ?1 AND t.prediction IS NOT NULL GROUP BY j.value",
    ] {
        let rows: Vec<(String, i64)> = c
            .prepare(sql)?
            .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (label, n) in rows {
            *labels.entry(label).or_default() += n.max(0) as u64;
        }
    }
    let multi: i64 = c.query_row(
        "SELECT COUNT(*) FROM answers a JOIN tasks t ON t.id = a.task_id
         WHERE t.project_id = ?1 AND json_array_length(a.labels) > 1",
        [project_id],
        |r| r.get(0),
    )?;
    Ok(LabelUsage {
        tasks: tasks.max(0) as u64,
        labels,
        multi_label_answers: multi.max(0) as u64,
    })
}

pub(super) fn update_project(
    c: &Connection,
    project_id: i64,
    name: &str,
    schema: &LabelSchema,
) -> StoreResult<Project> {
    project_row(c, project_id)?;
    c.execute(
        "UPDATE projects SET name = ?2, schema = ?3 WHERE id = ?1",
        params![project_id, name, serde_json::to_string(schema)?],
    )?;
    project_row(c, project_id)
}

pub(super) fn archive_project(
    c: &Connection,
    project_id: i64,
    at: Option<DateTime<Utc>>,
) -> StoreResult<Project> {
    project_row(c, project_id)?;
    c.execute(
        "UPDATE projects SET archived_at = ?2 WHERE id = ?1",
        params![project_id, at.map(ts)],
    )?;
    project_row(c, project_id)
}

pub(super) fn delete_project(c: &Connection, project_id: i64) -> StoreResult<(u64, u64)> {
    project_row(c, project_id)?;
    const OF_PROJECT: &str = "(SELECT id FROM tasks WHERE project_id = ?1)";
    // Devices hear that the project's tasks are gone: what their feeds said of them becomes a
    // cancellation, and whoever holds one now gets one more.
    c.execute(
        &format!(
            "UPDATE changes SET kind = 'cancel', answer_id = NULL
             WHERE task_id IN {OF_PROJECT} AND kind <> 'cancel'"
        ),
        [project_id],
    )?;
    c.execute(
        &format!(
            "INSERT INTO changes (annotator_id, kind, task_id)
             SELECT annotator_id, 'cancel', task_id FROM leases
             WHERE task_id IN {OF_PROJECT} AND state = 'active' ORDER BY annotator_id, task_id"
        ),
        [project_id],
    )?;
    c.execute(
        &format!("DELETE FROM leases WHERE task_id IN {OF_PROJECT}"),
        [project_id],
    )?;
    let answers = c.execute(
        &format!("DELETE FROM answers WHERE task_id IN {OF_PROJECT}"),
        [project_id],
    )?;
    let tasks = c.execute("DELETE FROM tasks WHERE project_id = ?1", [project_id])?;
    for table in [
        "batches",
        "memberships",
        "consensus_models",
        "suspension_lifts",
    ] {
        c.execute(
            &format!("DELETE FROM {table} WHERE project_id = ?1"),
            [project_id],
        )?;
    }
    c.execute("DELETE FROM projects WHERE id = ?1", [project_id])?;
    Ok((tasks as u64, answers as u64))
}

//! Events as Label Studio's webhooks (and its ML backends' `/webhook`) shape them:
//! `{"action": "ANNOTATION_CREATED", "annotation": …, "task": …, "project": …}`.
//!
//! Label Studio has no action for a completed task or batch, a suspension or a failed
//! prediction; those keep Tessera's meaning under an action named in Label Studio's style
//! (`TASK_COMPLETED`, …), with the task and project in Label Studio's shape where there is one.

use serde_json::{Value, json};
use tessera_api::{EventType, ExportRecord, Project};

use crate::export::label_studio::{label_config, result};

/// The action a Label Studio receiver dispatches on.
pub fn action(event: EventType, data: &Value) -> &'static str {
    match event {
        // A device's first answer to a task is revision 1; each revision after updates it.
        EventType::AnswerCreated if data["revision"].as_u64().unwrap_or(1) > 1 => {
            "ANNOTATION_UPDATED"
        }
        EventType::AnswerCreated => "ANNOTATION_CREATED",
        EventType::TaskCompleted => "TASK_COMPLETED",
        EventType::BatchCompleted => "BATCH_COMPLETED",
        EventType::ReviewCreated => "REVIEW_CREATED",
        EventType::AnnotatorSuspended => "ANNOTATOR_SUSPENDED",
        EventType::PredictionFailed => "PREDICTION_FAILED",
    }
}

/// The project as Label Studio describes one: with its labeling config.
pub fn project(project: &Project) -> Value {
    json!({
        "id": project.id,
        "title": project.name,
        "label_config": label_config(&project.schema),
    })
}

/// A task as Label Studio describes one (its data, id and project).
pub fn task(project: &Project, record: &ExportRecord) -> Value {
    json!({
        "id": record.task_id,
        "data": record.data,
        "project": project.id,
        "is_labeled": record.complete,
        "total_annotations": record.answers.len(),
    })
}

/// The request body for `event` with `data` (task ids public), given the project and, for
/// events about a task, the task.
pub fn payload(
    event: EventType,
    data: &Value,
    project_: &Project,
    record: Option<&ExportRecord>,
) -> Value {
    let mut body = json!({
        "action": action(event, data),
        "project": project(project_),
    });
    if let Some(record) = record {
        body["task"] = task(project_, record);
    }
    let labels = |key: &str| -> Vec<String> {
        data[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let regions = |labels: &[String]| match record {
        Some(r) => Value::from(result(&project_.schema, r, labels)),
        None => Value::Array(Vec::new()),
    };
    match event {
        EventType::AnswerCreated => {
            body["annotation"] = json!({
                "id": data["answer_id"],
                "task": data["task_id"],
                "project": project_.id,
                "completed_by": data["annotator_id"],
                "result": regions(&labels("labels")),
                "was_cancelled": data["skipped"],
                "ground_truth": false,
                "created_at": data["answered_at"],
                "updated_at": data["received_at"],
            });
        }
        EventType::ReviewCreated => {
            body["review"] = json!({
                "task": data["task_id"],
                "created_by": data["reviewer_id"],
                "accepted": true,
                "result": regions(&labels("labels")),
            });
        }
        EventType::TaskCompleted => {
            let consensus: Vec<String> = data["consensus"]["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            body["consensus"] = json!({
                "result": regions(&consensus),
                "score": data["consensus"]["confidence"],
            });
        }
        _ => {}
    }
    // What Label Studio has no field for rides along as Tessera gave it.
    body["tessera"] = data.clone();
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::LabelSchema;

    fn sentiment() -> Project {
        let schema: LabelSchema =
            serde_json::from_value(json!({"kind": "classification", "labels": ["pos", "neg"]}))
                .unwrap_or_else(|e| panic!("schema: {e}"));
        Project {
            id: 7,
            name: "Tweets".to_owned(),
            schema,
            created_at: chrono::Utc::now(),
            archived_at: None,
        }
    }

    #[test]
    fn an_answer_is_an_annotation_with_choices_and_a_revision_an_update() {
        let project = sentiment();
        let record: ExportRecord = serde_json::from_value(json!({
            "task_id": 42, "data": {"text": "great"}, "answers": [], "consensus": null,
            "complete": false
        }))
        .unwrap_or_else(|e| panic!("record: {e}"));
        let data = json!({"task_id": 42, "answer_id": "a1", "annotator_id": 3, "revision": 1,
                          "labels": ["pos"], "skipped": false});
        let body = payload(EventType::AnswerCreated, &data, &project, Some(&record));
        assert_eq!(body["action"], "ANNOTATION_CREATED");
        assert_eq!(body["task"]["data"]["text"], "great");
        assert_eq!(body["project"]["id"], 7);
        assert!(
            body["project"]["label_config"]
                .as_str()
                .is_some_and(|c| c.contains("<Choices"))
        );
        let result = &body["annotation"]["result"][0];
        assert_eq!(result["type"], "choices");
        assert_eq!(result["value"]["choices"], json!(["pos"]));
        let revised = json!({"task_id": 42, "revision": 2, "labels": ["neg"]});
        assert_eq!(
            action(EventType::AnswerCreated, &revised),
            "ANNOTATION_UPDATED"
        );
    }
}

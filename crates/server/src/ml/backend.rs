//! Calls to an ML backend in Label Studio's protocol: `/health`, `/setup`, `/predict` and
//! `/webhook` (for `START_TRAINING`). Every call has a timeout; what a backend answers is
//! checked, never trusted.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tessera_api::Project;
use tessera_core::{Prediction, label_studio_prediction};

use crate::export::label_studio::label_config;
use crate::outbound::describe;

/// The longest part of a backend's reply kept in an error.
const KEPT_REPLY: usize = 300;

/// An HTTP client for backends.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The project as Label Studio names one to its backends: `{id}.{created, as a Unix time}`.
pub fn project_key(project: &Project) -> String {
    format!("{}.{}", project.id, project.created_at.timestamp())
}

fn endpoint(base: &str, path: &str) -> String {
    format!("{}/{path}", base.trim_end_matches('/'))
}

/// POSTs `body`: the 2xx status and the reply's text; why not, in a sentence.
async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(u16, String), String> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| describe(url, &e))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{url}: the reply was cut off: {e}"))?;
    if !status.is_success() {
        let text: String = text.chars().take(KEPT_REPLY).collect();
        return Err(format!("{url} answered {status}: {text}"));
    }
    Ok((status.as_u16(), text))
}

/// POSTs `body` and reads a JSON object back.
async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Result<Value, String> {
    let (_, text) = post(client, url, body).await?;
    serde_json::from_str(&text).map_err(|e| {
        let start: String = text.chars().take(80).collect();
        format!("{url} answered something that is not JSON ({e}): {start:?}")
    })
}

/// `GET /health`: up when it answers 2xx.
pub async fn health(client: &reqwest::Client, base: &str) -> Result<(), String> {
    let url = endpoint(base, "health");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| describe(&url, &e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

/// `POST /setup` with the project's labeling config: the model version it reports.
pub async fn setup(
    client: &reqwest::Client,
    base: &str,
    project: &Project,
) -> Result<Option<String>, String> {
    let body = json!({
        "project": project_key(project),
        "schema": label_config(&project.schema),
        "hostname": "",
        "access_token": "",
        "model_version": null,
    });
    let reply = post_json(client, &endpoint(base, "setup"), &body).await?;
    Ok(version_of(&reply))
}

fn version_of(reply: &Value) -> Option<String> {
    match reply.get("model_version") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// What `/predict` made of a page of tasks: each task's prediction, or why it has none.
pub type Predicted = Vec<(i64, Result<Prediction, String>)>;

/// `POST /predict` with a page of tasks (`(id, data)`): each task's prediction read for the
/// project's schema. A reply that is not one result per task fails the whole page.
pub async fn predict(
    client: &reqwest::Client,
    base: &str,
    project: &Project,
    tasks: &[(i64, Map<String, Value>)],
    backend_name: &str,
) -> Result<Predicted, String> {
    let body = json!({
        "tasks": tasks.iter().map(|(id, data)| json!({"id": id, "data": data, "project": project.id})).collect::<Vec<_>>(),
        "project": project_key(project),
        "label_config": label_config(&project.schema),
        "params": {"login": null, "password": null, "context": null},
    });
    let url = endpoint(base, "predict");
    let reply = post_json(client, &url, &body).await?;
    let results = reply
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{url} answered without a \"results\" list"))?;
    if results.len() != tasks.len() {
        return Err(format!(
            "{url} answered {} results for {} tasks",
            results.len(),
            tasks.len()
        ));
    }
    let version = version_of(&reply);
    Ok(tasks
        .iter()
        .zip(results)
        .map(|((id, _), result)| {
            let read = label_studio_prediction(result.clone(), &project.schema)
                .map(|mut p| {
                    if p.model_version.is_none() {
                        p.model_version =
                            Some(version.clone().unwrap_or_else(|| backend_name.to_owned()));
                    }
                    p
                })
                .map_err(|e| format!("{url}: its prediction of task {id} does not fit: {e}"));
            (*id, read)
        })
        .collect())
}

/// `POST /webhook` with `START_TRAINING`: the backend's status and reply.
pub async fn start_training(
    client: &reqwest::Client,
    base: &str,
    project: &Project,
) -> Result<(u16, Value), String> {
    let url = endpoint(base, "webhook");
    let body = json!({
        "action": "START_TRAINING",
        "project": crate::webhooks::label_studio::project(project),
    });
    let (status, text) = post(client, &url, &body).await?;
    let reply = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, reply))
}

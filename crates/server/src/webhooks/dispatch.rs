//! Sends the outbox: claims due deliveries, signs each as Standard Webhooks says, POSTs it,
//! and records the outcome (retry with backoff, or give up after a day).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tessera_api::WebhookFormat;
use tokio::sync::Semaphore;

use super::{label_studio, next_attempt};
use crate::AppState;
use crate::store::{Attempt, DueDelivery};

/// How the sender paces itself.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Whether this server sends webhooks at all (events are kept in the outbox either way,
    /// for a replica that does).
    pub enabled: bool,
    /// How often to look for due deliveries when there were none.
    pub poll: Duration,
    /// A receiver gets this long to answer.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How often to look for new suspensions to announce.
    pub suspensions_every: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            concurrency: 16,
            suspensions_every: Duration::from_secs(2),
        }
    }
}

/// The longest part of a receiver's reply kept in the delivery log.
const KEPT_REPLY: usize = 300;

/// Sends due deliveries until the task is dropped.
pub async fn deliver(state: Arc<AppState>, config: DispatchConfig) {
    if !config.enabled {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(config.timeout)
        // A receiver's redirect is not followed: the URL the requester gave is where events go.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client: no webhooks will be sent");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // A claimed delivery is held past the receiver's timeout, so no one else sends it meanwhile.
    let hold = chrono::Duration::from_std(config.timeout * 3).unwrap_or(chrono::Duration::MAX);
    let mut last_look = std::time::Instant::now();
    loop {
        if last_look.elapsed() >= config.suspensions_every {
            last_look = std::time::Instant::now();
            if let Err(e) = super::suspensions::announce(&state).await {
                tracing::warn!(error = %e, "cannot look for new suspensions");
            }
        }
        let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            state
                .store
                .claim_deliveries(state.clock.now(), hold, free)
                .await
        };
        let due = match claimed {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook outbox");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::time::sleep(config.poll).await;
            continue;
        }
        for delivery in due {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (state, client) = (Arc::clone(&state), client.clone());
            tokio::spawn(async move {
                send(&state, &client, delivery).await;
                drop(permit);
            });
        }
    }
}

/// One attempt at one delivery, recorded.
async fn send(state: &AppState, client: &reqwest::Client, delivery: DueDelivery) {
    let outcome = match body(state, &delivery).await {
        Ok(body) => post(client, &delivery, body).await,
        Err(e) => Err((None, e)),
    };
    let at = state.clock.now();
    let attempt = match outcome {
        Ok(status) => Attempt {
            at,
            status: Some(status),
            error: None,
            retry_at: None,
        },
        Err((status, error)) => {
            tracing::info!(delivery = delivery.id, url = %delivery.url, %error, "webhook attempt failed");
            Attempt {
                at,
                status,
                error: Some(error),
                retry_at: next_attempt(delivery.created_at, delivery.attempts + 1, at),
            }
        }
    };
    if let Err(e) = state.store.record_attempt(delivery.id, attempt).await {
        // The delivery stays claimed until its hold ends, then is sent again: at least once.
        tracing::warn!(delivery = delivery.id, error = %e, "cannot record a webhook attempt");
    }
}

/// The request body in the webhook's format.
async fn body(state: &AppState, d: &DueDelivery) -> Result<String, String> {
    let value = match d.format {
        WebhookFormat::Standard => json!({
            "type": d.event.name(),
            "timestamp": d.created_at,
            "data": d.data,
        }),
        WebhookFormat::LabelStudio => {
            let project = state
                .store
                .project(d.project_id)
                .await
                .map_err(|e| format!("cannot read project {}: {e}", d.project_id))?;
            let record = match d.data.get("task_id").and_then(serde_json::Value::as_i64) {
                Some(task_id) => Some(
                    state
                        .store
                        .task(d.project_id, task_id, state.clock.now())
                        .await
                        .map_err(|e| format!("cannot read task {task_id}: {e}"))?
                        .0,
                ),
                None => None,
            };
            label_studio::payload(d.event, &d.data, &project, record.as_ref())
        }
    };
    Ok(value.to_string())
}

/// POSTs a signed `body`: the 2xx status, or the status (when there was one) and why not.
async fn post(
    client: &reqwest::Client,
    d: &DueDelivery,
    body: String,
) -> Result<u16, (Option<u16>, String)> {
    let signer = standardwebhooks::Webhook::new(&d.secret)
        .map_err(|e| (None, format!("the webhook's secret is unusable: {e}")))?;
    // The signature's time is the wall clock's: receivers check it against theirs.
    let timestamp = Utc::now().timestamp();
    let signature = signer
        .sign(&d.message_id, timestamp, body.as_bytes())
        .map_err(|e| (None, format!("cannot sign: {e}")))?;
    let response = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| (None, crate::outbound::describe("the receiver", &e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let reply = response.text().await.unwrap_or_default();
    let reply: String = reply.chars().take(KEPT_REPLY).collect();
    Err((
        Some(status.as_u16()),
        format!("the receiver answered {status}: {reply}"),
    ))
}

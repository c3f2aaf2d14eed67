//! Webhook subscriptions and their outbox.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tessera_api::{Delivery, DeliveryState, EventType, Webhook, WebhookFormat};

use super::*;
use crate::webhooks::Event;

/// A new subscription, as the requester asked for it.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub project_id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub format: WebhookFormat,
    pub secret: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    /// The ML backend this webhook sends answers to (removed with it).
    pub ml_backend_id: Option<i64>,
}

/// A delivery claimed for an attempt, with what sending it takes.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub message_id: String,
    pub event: EventType,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub project_id: i64,
    pub url: String,
    pub secret: String,
    pub format: WebhookFormat,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed; `None` on a 2xx.
    pub error: Option<String>,
    /// When to try again (failed attempts only); `None` gives up.
    pub retry_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook>;

    /// The project's webhooks, oldest first, with their deliveries counted by state.
    async fn webhooks(&self, project_id: i64) -> StoreResult<Vec<Webhook>>;

    /// Deletes a webhook with its undelivered events.
    async fn delete_webhook(&self, project_id: i64, webhook_id: i64) -> StoreResult<()>;

    /// The project's deliveries newest first (of one webhook, and in one state, when given),
    /// those with ids below `before` when given.
    async fn deliveries(
        &self,
        project_id: i64,
        webhook_id: Option<i64>,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;

    /// Up to `limit` deliveries due at `now`, oldest due first, each held until `now + hold`
    /// (so another replica does not send it meanwhile; a sender that dies lets it come due
    /// again then).
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        hold: Duration,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>>;

    async fn record_attempt(&self, delivery_id: i64, attempt: Attempt) -> StoreResult<()>;

    /// Writes `events` to the outbox of the webhooks that want them.
    async fn emit(&self, events: Vec<Event>, now: DateTime<Utc>) -> StoreResult<()>;

    /// Announces an annotator's suspension once per lift (`lifted_at_answers`: their gold
    /// answers at the last lift, 0 before any): writes `event` and returns true the first time.
    async fn note_suspension(
        &self,
        project_id: i64,
        annotator_id: i64,
        lifted_at_answers: u64,
        event: Event,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The projects with a webhook that wants `event`, in id order.
    async fn projects_wanting(&self, event: EventType) -> StoreResult<Vec<i64>>;
}

/// The event names a webhook stores, as JSON.
pub(crate) fn event_names(events: &[EventType]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
    serde_json::Value::from(names).to_string()
}

/// The events a stored JSON array names (names this version does not know are left out).
pub(crate) fn parse_events(json: &str) -> StoreResult<Vec<EventType>> {
    let names: Vec<String> = serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("bad webhook events in database: {e}")))?;
    Ok(names.iter().filter_map(|n| EventType::parse(n)).collect())
}

pub(crate) fn parse_event(name: &str) -> StoreResult<EventType> {
    EventType::parse(name)
        .ok_or_else(|| StoreError::Backend(format!("unknown event {name:?} in database")))
}

pub(crate) fn parse_format(name: &str) -> StoreResult<WebhookFormat> {
    WebhookFormat::parse(name)
        .ok_or_else(|| StoreError::Backend(format!("unknown webhook format {name:?} in database")))
}

pub(crate) fn parse_state(name: &str) -> StoreResult<DeliveryState> {
    match name {
        "pending" => Ok(DeliveryState::Pending),
        "delivered" => Ok(DeliveryState::Delivered),
        "failed" => Ok(DeliveryState::Failed),
        other => Err(StoreError::Backend(format!(
            "unknown delivery state {other:?} in database"
        ))),
    }
}

pub(crate) fn state_name(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
    }
}

/// The state an attempt leaves its delivery in.
pub(crate) fn state_after(attempt: &Attempt) -> DeliveryState {
    match (&attempt.error, attempt.retry_at) {
        (None, _) => DeliveryState::Delivered,
        (Some(_), Some(_)) => DeliveryState::Pending,
        (Some(_), None) => DeliveryState::Failed,
    }
}

pub(crate) fn no_such_webhook(project_id: i64, webhook_id: i64) -> StoreError {
    StoreError::NotFound(format!("webhook {webhook_id} of project {project_id}"))
}

/// The subscriptions of a project that want each event: `(webhook id, events)` pairs as
/// stored, matched against `events`; each match a delivery to write.
pub(crate) fn fan_out<'a>(
    subscriptions: &'a [(i64, i64, Vec<EventType>)],
    events: &'a [Event],
) -> impl Iterator<Item = (i64, &'a Event)> + 'a {
    events.iter().flat_map(move |event| {
        subscriptions
            .iter()
            .filter(move |(_, project, wants)| {
                *project == event.project_id && wants.contains(&event.kind)
            })
            .map(move |(id, _, _)| (*id, event))
    })
}

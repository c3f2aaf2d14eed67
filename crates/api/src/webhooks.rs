//! Webhooks on the wire: a requester's subscriptions, the events Tessera announces, and the
//! delivery log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happened, as a webhook's `type` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum EventType {
    /// A task's consensus reached its target (gold tasks never complete this way).
    #[serde(rename = "task.completed")]
    TaskCompleted,
    /// The last open task of a batch completed (cancelled tasks do not count as open).
    #[serde(rename = "batch.completed")]
    BatchCompleted,
    /// An annotator's answer (or a revision of it) was stored.
    #[serde(rename = "answer.created")]
    AnswerCreated,
    /// A reviewer settled a task's labels.
    #[serde(rename = "review.created")]
    ReviewCreated,
    /// An annotator's gold record fell below the project's bar: they lease no more tasks.
    #[serde(rename = "annotator.suspended")]
    AnnotatorSuspended,
    /// An ML backend could not predict a task (after its retries).
    #[serde(rename = "prediction.failed")]
    PredictionFailed,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::TaskCompleted,
        EventType::BatchCompleted,
        EventType::AnswerCreated,
        EventType::ReviewCreated,
        EventType::AnnotatorSuspended,
        EventType::PredictionFailed,
    ];

    /// The name on the wire, e.g. `task.completed`.
    pub fn name(self) -> &'static str {
        match self {
            EventType::TaskCompleted => "task.completed",
            EventType::BatchCompleted => "batch.completed",
            EventType::AnswerCreated => "answer.created",
            EventType::ReviewCreated => "review.created",
            EventType::AnnotatorSuspended => "annotator.suspended",
            EventType::PredictionFailed => "prediction.failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// How a webhook's requests are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// Standard Webhooks: `{"type", "timestamp", "data"}`.
    #[default]
    Standard,
    /// Label Studio's: `{"action": "ANNOTATION_CREATED", "annotation", "task", "project"}`.
    LabelStudio,
}

impl WebhookFormat {
    pub fn name(self) -> &'static str {
        match self {
            WebhookFormat::Standard => "standard",
            WebhookFormat::LabelStudio => "label-studio",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [WebhookFormat::Standard, WebhookFormat::LabelStudio]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where to POST events: `http://` or `https://`.
    pub url: String,
    /// The events to send; every event when absent.
    #[serde(default)]
    pub events: Option<Vec<EventType>>,
    #[serde(default)]
    pub format: WebhookFormat,
}

/// A subscription, as listed (its secret is shown once, when it is made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub project_id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub format: WebhookFormat,
    pub created_at: DateTime<Utc>,
    /// Deliveries waiting for their next attempt.
    pub pending: u64,
    /// Deliveries given up on after a day of retries.
    pub failed: u64,
    pub delivered: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateWebhookResponse {
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`): shown only now. Verify each request's
    /// `webhook-signature` with it, as the Standard Webhooks specification says.
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// A day of retries without a 2xx: given up.
    Failed,
}

/// One event sent (or to be sent) to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    /// The `webhook-id` header: the same on every attempt, for the receiver to drop repeats.
    pub message_id: String,
    pub event: EventType,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status at the last attempt, when it answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// `GET /api/projects/{id}/webhooks/deliveries`: which deliveries, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Deliveries of this webhook only.
    pub webhook: Option<i64>,
    pub state: Option<DeliveryState>,
    /// Deliveries older than this delivery id (the last one of the previous page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

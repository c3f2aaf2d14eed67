//! Webhooks: what happened in a project, announced to the requester's receivers.
//!
//! Each event is written to the outbox (one delivery per subscribed webhook) in the same
//! transaction as what caused it, so a crash never loses one; [`dispatch`] sends them, signed
//! as the Standard Webhooks specification says, and retries failures with exponential backoff
//! for a day.

pub mod dispatch;
pub(crate) mod label_studio;
mod suspensions;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tessera_api::{AnswerPush, EventType};

/// How long a delivery is retried before it is given up.
pub const RETRY_FOR: Duration = Duration::days(1);

/// One event of one project, before it is fanned out to the webhooks that want it. Task ids in
/// `data` (under `task_id`) are the database's; they are enciphered when sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub project_id: i64,
    pub data: Value,
}

impl Event {
    pub fn answer_created(
        project_id: i64,
        annotator_id: i64,
        answer: &AnswerPush,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind: EventType::AnswerCreated,
            project_id,
            data: json!({
                "project_id": project_id,
                "task_id": answer.task_id,
                "answer_id": answer.id,
                "annotator_id": annotator_id,
                "revision": answer.revision,
                "labels": answer.labels,
                "skipped": answer.skipped,
                "unsure": answer.unsure,
                "answered_at": answer.answered_at,
                "received_at": received_at,
            }),
        }
    }

    pub fn task_completed(
        project_id: i64,
        task_id: i64,
        batch_id: i64,
        labels: Option<&[String]>,
        confidence: Option<f64>,
        answers: usize,
    ) -> Self {
        Self {
            kind: EventType::TaskCompleted,
            project_id,
            data: json!({
                "project_id": project_id,
                "task_id": task_id,
                "batch_id": batch_id,
                "consensus": labels.map(|l| json!({"labels": l, "confidence": confidence})),
                "answers": answers,
            }),
        }
    }

    pub fn batch_completed(project_id: i64, batch_id: i64) -> Self {
        Self {
            kind: EventType::BatchCompleted,
            project_id,
            data: json!({"project_id": project_id, "batch_id": batch_id}),
        }
    }

    pub fn review_created(
        project_id: i64,
        task_id: i64,
        reviewer_id: i64,
        labels: &[String],
    ) -> Self {
        Self {
            kind: EventType::ReviewCreated,
            project_id,
            data: json!({
                "project_id": project_id,
                "task_id": task_id,
                "reviewer_id": reviewer_id,
                "labels": labels,
            }),
        }
    }

    pub fn annotator_suspended(
        project_id: i64,
        annotator_id: i64,
        (gold_answered, gold_correct): (u64, u64),
    ) -> Self {
        Self {
            kind: EventType::AnnotatorSuspended,
            project_id,
            data: json!({
                "project_id": project_id,
                "annotator_id": annotator_id,
                "gold_answered": gold_answered,
                "gold_correct": gold_correct,
            }),
        }
    }

    pub fn prediction_failed(project_id: i64, task_id: i64, backend: &str, error: &str) -> Self {
        Self {
            kind: EventType::PredictionFailed,
            project_id,
            data: json!({
                "project_id": project_id,
                "task_id": task_id,
                "backend": backend,
                "error": error,
            }),
        }
    }
}

/// A new delivery's `webhook-id`: unique, the same on every attempt.
pub fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// A new signing secret: 32 random bytes, as Standard Webhooks writes them (`whsec_` and
/// base64).
pub fn new_secret() -> String {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// When a delivery that failed its `attempts`-th attempt at `now` is tried next: 5 s after the
/// first failure, doubling to at most two hours between tries; `None` once a day has passed
/// since the event (it is given up).
pub fn next_attempt(
    created_at: DateTime<Utc>,
    attempts: u32,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let doublings = attempts.saturating_sub(1).min(20);
    let wait = Duration::seconds(5)
        .checked_mul(1 << doublings)
        .unwrap_or(Duration::hours(2))
        .min(Duration::hours(2));
    let next = now + wait;
    let deadline = created_at + RETRY_FOR;
    if now >= deadline {
        None
    } else {
        // The last try falls on the deadline rather than past it.
        Some(next.min(deadline))
    }
}

/// Whether a URL may receive webhooks: absolute `http` or `https`, with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{url:?}: a webhook URL must be http:// or https://"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_five_seconds_to_two_hours_and_stop_after_a_day() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(next_attempt(t0, 1, t0), Some(t0 + Duration::seconds(5)));
        assert_eq!(next_attempt(t0, 2, t0), Some(t0 + Duration::seconds(10)));
        assert_eq!(next_attempt(t0, 4, t0), Some(t0 + Duration::seconds(40)));
        assert_eq!(next_attempt(t0, 15, t0), Some(t0 + Duration::hours(2)));
        assert_eq!(
            next_attempt(t0, u32::MAX, t0),
            Some(t0 + Duration::hours(2))
        );
        // Near the deadline the last try lands on it; at the deadline it is given up.
        let late = t0 + Duration::hours(23) + Duration::minutes(30);
        assert_eq!(next_attempt(t0, 15, late), Some(t0 + RETRY_FOR));
        assert_eq!(next_attempt(t0, 16, t0 + RETRY_FOR), None);
        // A whole day of failures is about twenty attempts, not thousands.
        let (mut now, mut attempts) = (t0, 0);
        while let Some(next) = next_attempt(t0, attempts + 1, now) {
            attempts += 1;
            now = next;
        }
        assert!((15..30).contains(&attempts), "{attempts} attempts");
    }

    #[test]
    fn secrets_are_standard_webhooks_keys_and_differ() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert!(standardwebhooks::Webhook::new(&a).is_ok());
        assert_ne!(a, new_secret());
        assert_ne!(message_id(), message_id());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(check_url("http://127.0.0.1:9/hook").is_ok());
        assert!(check_url("https://example.org/x").is_ok());
        assert!(check_url("ftp://example.org/").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
    }
}

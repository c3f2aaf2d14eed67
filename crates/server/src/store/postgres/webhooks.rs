//! Webhook subscriptions and their outbox on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::GenericClient;
use tessera_api::{Delivery, DeliveryState, EventType, Webhook};
use tokio_postgres::types::Json;

use super::*;
use crate::store::webhooks::{
    Attempt, DueDelivery, NewWebhook, WebhookStore, fan_out, no_such_webhook, parse_event,
    parse_format, parse_state, state_after, state_name,
};
use crate::webhooks::{Event, message_id};

/// The webhooks of `projects` (id, project, events), for fanning events out.
async fn subscriptions(
    c: &impl GenericClient,
    projects: &[i64],
) -> StoreResult<Vec<(i64, i64, Vec<EventType>)>> {
    let mut out = Vec::new();
    for row in c
        .cached_query(
            "SELECT id, project_id, events FROM webhooks WHERE project_id = ANY($1) ORDER BY id",
            &[&projects],
        )
        .await?
    {
        let Json(names): Json<Vec<String>> = row.try_get(2)?;
        let events = names.iter().filter_map(|n| EventType::parse(n)).collect();
        out.push((row.try_get(0)?, row.try_get(1)?, events));
    }
    Ok(out)
}

/// Writes `events` to the outbox of the webhooks that want them, inside the caller's
/// transaction.
pub(super) async fn emit_in(
    c: &impl GenericClient,
    events: &[Event],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut projects: Vec<i64> = events.iter().map(|e| e.project_id).collect();
    projects.sort_unstable();
    projects.dedup();
    let subs = subscriptions(c, &projects).await?;
    let (mut hooks, mut ids, mut kinds, mut data) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (webhook, event) in fan_out(&subs, events) {
        hooks.push(webhook);
        ids.push(message_id());
        kinds.push(event.kind.name());
        data.push(Json(&event.data));
    }
    if hooks.is_empty() {
        return Ok(());
    }
    c.cached_execute(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, event, data, created_at, next_attempt_at)
         SELECT u.webhook_id, u.message_id, u.event, u.data, $5, $5
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::jsonb[])
              AS u(webhook_id, message_id, event, data)",
        &[&hooks, &ids, &kinds, &data, &now],
    )
    .await?;
    Ok(())
}

/// Whether `project_id` has webhooks.
pub(super) async fn hooked(c: &impl GenericClient, project_id: i64) -> StoreResult<bool> {
    Ok(c.cached_query_one(
        "SELECT EXISTS(SELECT 1 FROM webhooks WHERE project_id = $1)",
        &[&project_id],
    )
    .await?
    .try_get(0)?)
}

async fn webhook_rows(
    c: &impl GenericClient,
    project_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<Webhook>> {
    let rows = c
        .cached_query(
            "SELECT w.id, w.url, w.events, w.format, w.created_at,
                    COUNT(d.id) FILTER (WHERE d.state = 'pending'),
                    COUNT(d.id) FILTER (WHERE d.state = 'failed'),
                    COUNT(d.id) FILTER (WHERE d.state = 'delivered')
             FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
             WHERE w.project_id = $1 AND ($2::bigint IS NULL OR w.id = $2)
             GROUP BY w.id ORDER BY w.id",
            &[&project_id, &id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let Json(names): Json<Vec<String>> = r.try_get(2)?;
            Ok(Webhook {
                id: r.try_get(0)?,
                project_id,
                url: r.try_get(1)?,
                events: names.iter().filter_map(|n| EventType::parse(n)).collect(),
                format: parse_format(r.try_get(3)?)?,
                created_at: r.try_get(4)?,
                pending: r.try_get::<_, i64>(5)?.max(0) as u64,
                failed: r.try_get::<_, i64>(6)?.max(0) as u64,
                delivered: r.try_get::<_, i64>(7)?.max(0) as u64,
            })
        })
        .collect()
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_webhook(&self, w: NewWebhook) -> StoreResult<Webhook> {
        let c = self.pool.get().await?;
        self.project_in(&c, w.project_id).await?;
        let names: Vec<&str> = w.events.iter().map(|e| e.name()).collect();
        let id: i64 = c
            .cached_query_one(
                "INSERT INTO webhooks (project_id, url, events, format, secret, created_by, created_at,
                                       ml_backend_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &w.project_id,
                    &w.url,
                    &Json(&names),
                    &w.format.name(),
                    &w.secret,
                    &w.created_by,
                    &w.created_at,
                    &w.ml_backend_id,
                ],
            )
            .await?
            .try_get(0)?;
        webhook_rows(&c, w.project_id, Some(id))
            .await?
            .pop()
            .ok_or_else(|| no_such_webhook(w.project_id, id))
    }

    async fn webhooks(&self, project_id: i64) -> StoreResult<Vec<Webhook>> {
        let c = self.pool.get().await?;
        webhook_rows(&c, project_id, None).await
    }

    async fn delete_webhook(&self, project_id: i64, webhook_id: i64) -> StoreResult<()> {
        let c = self.pool.get().await?;
        let deleted = c
            .cached_execute(
                "DELETE FROM webhooks WHERE id = $1 AND project_id = $2",
                &[&webhook_id, &project_id],
            )
            .await?;
        if deleted == 0 {
            return Err(no_such_webhook(project_id, webhook_id));
        }
        Ok(())
    }

    async fn deliveries(
        &self,
        project_id: i64,
        webhook_id: Option<i64>,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT d.id, d.webhook_id, d.message_id, d.event, d.state, d.created_at, d.attempts,
                        d.last_attempt_at, d.last_status, d.last_error, d.next_attempt_at, d.delivered_at
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE w.project_id = $1 AND ($2::bigint IS NULL OR d.webhook_id = $2)
                   AND ($3::text IS NULL OR d.state = $3) AND ($4::bigint IS NULL OR d.id < $4)
                 ORDER BY d.id DESC LIMIT $5",
                &[
                    &project_id,
                    &webhook_id,
                    &state.map(state_name),
                    &before,
                    &i64::from(limit),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get(0)?,
                    webhook_id: r.try_get(1)?,
                    message_id: r.try_get(2)?,
                    event: parse_event(r.try_get(3)?)?,
                    state: parse_state(r.try_get(4)?)?,
                    created_at: r.try_get(5)?,
                    attempts: r.try_get::<_, i32>(6)?.max(0) as u32,
                    last_attempt_at: r.try_get(7)?,
                    last_status: r
                        .try_get::<_, Option<i32>>(8)?
                        .and_then(|s| u16::try_from(s).ok()),
                    last_error: r.try_get(9)?,
                    next_attempt_at: r.try_get(10)?,
                    delivered_at: r.try_get(11)?,
                })
            })
            .collect()
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        hold: Duration,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        let c = self.pool.get().await?;
        // SKIP LOCKED: replicas claiming at once take different deliveries.
        let rows = c
            .cached_query(
                "WITH due AS (
                     SELECT id FROM webhook_deliveries
                     WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1
                     ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
                 ), held AS (
                     UPDATE webhook_deliveries d SET next_attempt_at = $2
                     FROM due WHERE d.id = due.id
                     RETURNING d.id, d.message_id, d.event, d.data, d.created_at, d.attempts, d.webhook_id
                 )
                 SELECT h.id, h.message_id, h.event, h.data, h.created_at, h.attempts,
                        w.project_id, w.url, w.secret, w.format
                 FROM held h JOIN webhooks w ON w.id = h.webhook_id ORDER BY h.id",
                &[&now, &(now + hold), &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let Json(data): Json<serde_json::Value> = r.try_get(3)?;
                Ok(DueDelivery {
                    id: r.try_get(0)?,
                    message_id: r.try_get(1)?,
                    event: parse_event(r.try_get(2)?)?,
                    data,
                    created_at: r.try_get(4)?,
                    attempts: r.try_get::<_, i32>(5)?.max(0) as u32,
                    project_id: r.try_get(6)?,
                    url: r.try_get(7)?,
                    secret: r.try_get(8)?,
                    format: parse_format(r.try_get(9)?)?,
                })
            })
            .collect()
    }

    async fn record_attempt(&self, delivery_id: i64, attempt: Attempt) -> StoreResult<()> {
        let c = self.pool.get().await?;
        let state = state_after(&attempt);
        let next = match state {
            DeliveryState::Pending => attempt.retry_at,
            _ => None,
        };
        c.cached_execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $2,
                 last_status = $3, last_error = $4, state = $5, next_attempt_at = $6,
                 delivered_at = CASE WHEN $5 = 'delivered' THEN $2 ELSE delivered_at END
             WHERE id = $1",
            &[
                &delivery_id,
                &attempt.at,
                &attempt.status.map(i32::from),
                &attempt.error,
                &state_name(state),
                &next,
            ],
        )
        .await?;
        Ok(())
    }

    async fn emit(&self, events: Vec<Event>, now: DateTime<Utc>) -> StoreResult<()> {
        let c = self.pool.get().await?;
        emit_in(&c, &events, now).await
    }

    async fn note_suspension(
        &self,
        project_id: i64,
        annotator_id: i64,
        lifted_at_answers: u64,
        event: Event,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let noted = tx
            .cached_execute(
                "INSERT INTO suspension_notices (project_id, annotator_id, lifted_at_answers)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[
                    &project_id,
                    &annotator_id,
                    &i64::try_from(lifted_at_answers).unwrap_or(i64::MAX),
                ],
            )
            .await?;
        if noted > 0 {
            emit_in(&tx, &[event], now).await?;
        }
        tx.commit().await?;
        Ok(noted > 0)
    }

    async fn projects_wanting(&self, event: EventType) -> StoreResult<Vec<i64>> {
        let c = self.pool.get().await?;
        let rows = c
            .cached_query(
                "SELECT DISTINCT project_id FROM webhooks WHERE events ? $1 ORDER BY project_id",
                &[&event.name()],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

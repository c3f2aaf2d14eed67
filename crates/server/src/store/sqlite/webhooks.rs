//! Webhook subscriptions and their outbox on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tessera_api::{Delivery, DeliveryState, EventType, Webhook};

use super::*;
use crate::store::webhooks::{
    Attempt, DueDelivery, NewWebhook, WebhookStore, event_names, fan_out, no_such_webhook,
    parse_event, parse_events, parse_format, parse_state, state_after, state_name,
};
use crate::webhooks::{Event, message_id};

/// The webhooks of `project_id` (id, project, events), for fanning events out.
pub(super) fn subscriptions(
    tx: &Connection,
    project_id: i64,
) -> StoreResult<Vec<(i64, i64, Vec<EventType>)>> {
    let mut stmt =
        tx.prepare_cached("SELECT id, events FROM webhooks WHERE project_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([project_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, events) = row?;
        out.push((id, project_id, parse_events(&events)?));
    }
    Ok(out)
}

/// Whether any webhook of the project wants events at all.
pub(super) fn hooked(tx: &Connection, project_id: i64) -> StoreResult<bool> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM webhooks WHERE project_id = ?1)")?
        .query_row([project_id], |r| r.get(0))?)
}

/// Writes `events` to the outbox of the webhooks that want them, inside the caller's
/// transaction.
pub(super) fn emit_in(tx: &Connection, events: &[Event], now: &str) -> StoreResult<()> {
    let mut projects: Vec<i64> = events.iter().map(|e| e.project_id).collect();
    projects.sort_unstable();
    projects.dedup();
    let mut subs = Vec::new();
    for project in projects {
        subs.extend(subscriptions(tx, project)?);
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, event, data, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?;
    for (webhook, event) in fan_out(&subs, events) {
        insert.execute(params![
            webhook,
            message_id(),
            event.kind.name(),
            event.data.to_string(),
            now
        ])?;
    }
    Ok(())
}

fn webhook_row(c: &Connection, project_id: i64, id: i64) -> StoreResult<Webhook> {
    let row = c
        .prepare_cached(
            "SELECT w.url, w.events, w.format, w.created_at,
                    COUNT(d.id) FILTER (WHERE d.state = 'pending'),
                    COUNT(d.id) FILTER (WHERE d.state = 'failed'),
                    COUNT(d.id) FILTER (WHERE d.state = 'delivered')
             FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
             WHERE w.id = ?1 AND w.project_id = ?2 GROUP BY w.id",
        )?
        .query_row(params![id, project_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })
        .optional()?;
    let (url, events, format, created_at, pending, failed, delivered) =
        row.ok_or_else(|| no_such_webhook(project_id, id))?;
    Ok(Webhook {
        id,
        project_id,
        url,
        events: parse_events(&events)?,
        format: parse_format(&format)?,
        created_at: parse_ts(&created_at)?,
        pending: pending.max(0) as u64,
        failed: failed.max(0) as u64,
        delivered: delivered.max(0) as u64,
    })
}

fn opt_ts(s: Option<String>) -> StoreResult<Option<DateTime<Utc>>> {
    s.map(|t| parse_ts(&t)).transpose()
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, w: NewWebhook) -> StoreResult<Webhook> {
        self.write(move |c| {
            project_row(c, w.project_id)?;
            c.prepare_cached(
                "INSERT INTO webhooks (project_id, url, events, format, secret, created_by, created_at,
                                       ml_backend_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                w.project_id,
                w.url,
                event_names(&w.events),
                w.format.name(),
                w.secret,
                w.created_by,
                ts(w.created_at),
                w.ml_backend_id
            ])?;
            webhook_row(c, w.project_id, c.last_insert_rowid())
        })
        .await
    }

    async fn webhooks(&self, project_id: i64) -> StoreResult<Vec<Webhook>> {
        self.read(move |c| {
            let ids: Vec<i64> = c
                .prepare_cached("SELECT id FROM webhooks WHERE project_id = ?1 ORDER BY id")?
                .query_map([project_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.into_iter()
                .map(|id| webhook_row(c, project_id, id))
                .collect()
        })
        .await
    }

    async fn delete_webhook(&self, project_id: i64, webhook_id: i64) -> StoreResult<()> {
        self.write(move |c| {
            let deleted = c.execute(
                "DELETE FROM webhooks WHERE id = ?1 AND project_id = ?2",
                params![webhook_id, project_id],
            )?;
            if deleted == 0 {
                return Err(no_such_webhook(project_id, webhook_id));
            }
            Ok(())
        })
        .await
    }

    async fn deliveries(
        &self,
        project_id: i64,
        webhook_id: Option<i64>,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT d.id, d.webhook_id, d.message_id, d.event, d.state, d.created_at, d.attempts,
                        d.last_attempt_at, d.last_status, d.last_error, d.next_attempt_at, d.delivered_at
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE w.project_id = ?1 AND (?2 IS NULL OR d.webhook_id = ?2)
                   AND (?3 IS NULL OR d.state = ?3) AND (?4 IS NULL OR d.id < ?4)
                 ORDER BY d.id DESC LIMIT ?5",
            )?;
            let mut rows = stmt.query(params![
                project_id,
                webhook_id,
                state.map(state_name),
                before,
                limit
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(Delivery {
                    id: r.get(0)?,
                    webhook_id: r.get(1)?,
                    message_id: r.get(2)?,
                    event: parse_event(&r.get::<_, String>(3)?)?,
                    state: parse_state(&r.get::<_, String>(4)?)?,
                    created_at: parse_ts(&r.get::<_, String>(5)?)?,
                    attempts: r.get(6)?,
                    last_attempt_at: opt_ts(r.get(7)?)?,
                    last_status: r.get(8)?,
                    last_error: r.get(9)?,
                    next_attempt_at: opt_ts(r.get(10)?)?,
                    delivered_at: opt_ts(r.get(11)?)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        hold: Duration,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let due: Vec<i64> = tx
                .prepare_cached(
                    "SELECT id FROM webhook_deliveries
                     WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at LIMIT ?2",
                )?
                .query_map(params![ts(now), limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(due.len());
            for id in due {
                tx.prepare_cached(
                    "UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id = ?1",
                )?
                .execute(params![id, ts(now + hold)])?;
                let row = tx
                    .prepare_cached(
                        "SELECT d.message_id, d.event, d.data, d.created_at, d.attempts,
                                w.project_id, w.url, w.secret, w.format
                         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                         WHERE d.id = ?1",
                    )?
                    .query_row([id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, u32>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, String>(7)?,
                            r.get::<_, String>(8)?,
                        ))
                    })?;
                let (
                    message_id,
                    event,
                    data,
                    created_at,
                    attempts,
                    project_id,
                    url,
                    secret,
                    format,
                ) = row;
                out.push(DueDelivery {
                    id,
                    message_id,
                    event: parse_event(&event)?,
                    data: serde_json::from_str(&data)?,
                    created_at: parse_ts(&created_at)?,
                    attempts,
                    project_id,
                    url,
                    secret,
                    format: parse_format(&format)?,
                });
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn record_attempt(&self, delivery_id: i64, attempt: Attempt) -> StoreResult<()> {
        self.write(move |c| {
            let state = state_after(&attempt);
            c.prepare_cached(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?2,
                     last_status = ?3, last_error = ?4, state = ?5, next_attempt_at = ?6,
                     delivered_at = CASE WHEN ?5 = 'delivered' THEN ?2 ELSE delivered_at END
                 WHERE id = ?1",
            )?
            .execute(params![
                delivery_id,
                ts(attempt.at),
                attempt.status,
                attempt.error,
                state_name(state),
                match state {
                    DeliveryState::Pending => attempt.retry_at.map(ts),
                    _ => None,
                }
            ])?;
            Ok(())
        })
        .await
    }

    async fn emit(&self, events: Vec<Event>, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| emit_in(c, &events, &ts(now))).await
    }

    async fn note_suspension(
        &self,
        project_id: i64,
        annotator_id: i64,
        lifted_at_answers: u64,
        event: Event,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let noted = tx
                .prepare_cached(
                    "INSERT INTO suspension_notices (project_id, annotator_id, lifted_at_answers)
                     VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    project_id,
                    annotator_id,
                    i64::try_from(lifted_at_answers).unwrap_or(i64::MAX)
                ])?;
            if noted > 0 {
                emit_in(&tx, &[event], &ts(now))?;
            }
            tx.commit()?;
            Ok(noted > 0)
        })
        .await
    }

    async fn projects_wanting(&self, event: EventType) -> StoreResult<Vec<i64>> {
        self.read(move |c| {
            let mut out: Vec<i64> = Vec::new();
            let mut stmt =
                c.prepare_cached("SELECT project_id, events FROM webhooks ORDER BY project_id")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let project: i64 = r.get(0)?;
                if out.last() != Some(&project)
                    && parse_events(&r.get::<_, String>(1)?)?.contains(&event)
                {
                    out.push(project);
                }
            }
            Ok(out)
        })
        .await
    }
}

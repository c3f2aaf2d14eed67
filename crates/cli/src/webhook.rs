//! `tessera webhook`: a project's webhooks — subscribe a URL to its events, list and remove
//! them, and read the delivery log.

use anyhow::{Result, bail};
use clap::Subcommand;
use tessera_api::{CreateWebhookRequest, DeliveryQuery, DeliveryState, EventType, WebhookFormat};

use crate::Remote;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Send the project's events to URL. Prints the signing secret once: receivers verify
    /// each request's `webhook-signature` with it (Standard Webhooks).
    Add {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        url: String,
        /// Events to send, comma-separated: task.completed, batch.completed, answer.created,
        /// review.created, annotator.suspended, prediction.failed (all when left out).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// `standard` (`{"type","timestamp","data"}`) or `label-studio` (Label Studio's action
        /// names and payload shape).
        #[arg(long, default_value = "standard")]
        format: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the project's webhooks with their deliveries counted by state.
    List {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a webhook; its undelivered events go with it.
    Remove { project: i64, webhook_id: i64 },
    /// The delivery log, newest first: each event per webhook, its attempts, the receiver's
    /// last status and why the last attempt failed.
    Deliveries {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// One webhook's deliveries only.
        #[arg(long)]
        webhook: Option<i64>,
        /// pending, delivered or failed.
        #[arg(long)]
        state: Option<String>,
        /// Deliveries older than this delivery id (to page on).
        #[arg(long)]
        before: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn webhook(command: WebhookCommand, remote: &Remote) -> Result<()> {
    let client = remote.client()?;
    match command {
        WebhookCommand::Add {
            project,
            url,
            events,
            format,
            json,
        } => {
            let events = if events.is_empty() {
                None
            } else {
                Some(
                    events
                        .iter()
                        .map(|name| {
                            EventType::parse(name.trim()).ok_or_else(|| {
                                anyhow::anyhow!(
                                    "unknown event {name:?}: use {}",
                                    EventType::ALL.map(EventType::name).join(", ")
                                )
                            })
                        })
                        .collect::<Result<Vec<_>>>()?,
                )
            };
            let Some(format) = WebhookFormat::parse(&format) else {
                bail!("unknown format {format:?}: use standard or label-studio");
            };
            let made = client
                .create_webhook(
                    project,
                    &CreateWebhookRequest {
                        url,
                        events,
                        format,
                    },
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&made)?);
                return Ok(());
            }
            let w = &made.webhook;
            println!(
                "webhook {} of project {project}: {} ({}), events {}",
                w.id,
                w.url,
                w.format.name(),
                names(&w.events)
            );
            println!("secret (shown only now): {}", made.secret);
        }
        WebhookCommand::List { project, json } => {
            let hooks = client.webhooks(project).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hooks)?);
                return Ok(());
            }
            for w in hooks {
                println!(
                    "{}\t{}\t{}\t{}\t{} delivered\t{} pending\t{} failed",
                    w.id,
                    w.url,
                    w.format.name(),
                    names(&w.events),
                    w.delivered,
                    w.pending,
                    w.failed
                );
            }
        }
        WebhookCommand::Remove {
            project,
            webhook_id,
        } => {
            client.delete_webhook(project, webhook_id).await?;
            println!("removed webhook {webhook_id} of project {project}");
        }
        WebhookCommand::Deliveries {
            project,
            webhook,
            state,
            before,
            limit,
            json,
        } => {
            let state = state.as_deref().map(parse_state).transpose()?;
            let query = DeliveryQuery {
                webhook,
                state,
                before,
                limit: Some(limit),
            };
            let log = client.deliveries(project, &query).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&log)?);
                return Ok(());
            }
            for d in log {
                let status = d
                    .last_status
                    .map_or_else(|| "-".to_owned(), |s| s.to_string());
                let next = d.next_attempt_at.map_or_else(
                    || "-".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                );
                println!(
                    "{}\twebhook {}\t{}\t{}\t{:?}\t{} attempts\tlast status {status}\tnext {next}\t{}",
                    d.id,
                    d.webhook_id,
                    d.event.name(),
                    d.message_id,
                    d.state,
                    d.attempts,
                    d.last_error.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

fn names(events: &[EventType]) -> String {
    events
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_state(s: &str) -> Result<DeliveryState> {
    Ok(match s {
        "pending" => DeliveryState::Pending,
        "delivered" => DeliveryState::Delivered,
        "failed" => DeliveryState::Failed,
        other => bail!("unknown state {other:?}: use pending, delivered or failed"),
    })
}

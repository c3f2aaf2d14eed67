//! `tessera work`: a headless annotator on the same client crate as the desktop app. Answers are
//! written to the local store first, so `work answer` works with the server down.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use tessera_api::LeaseRequest;
use tessera_client::LocalStore;
use tessera_client::device::{Account, Device};
use tessera_client::local::AnswerFlags;
use tessera_client::sync::{checkout_with, sync_once};

use crate::Remote;

#[derive(Subcommand)]
pub enum WorkCommand {
    /// Lease tasks of a project into the local store.
    Checkout {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Lease length in seconds (the server's default: 30 minutes, 3 days offline).
        #[arg(long)]
        ttl: Option<u32>,
        /// Take the tasks for offline work: a long lease, up to the project's offline quota.
        #[arg(long)]
        offline: bool,
    },
    /// Show the next unanswered local task.
    Next {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        project: Option<i64>,
    },
    /// Answer a task (works offline).
    Answer {
        task_id: i64,
        /// One label, or several for a multiple-choice project.
        #[arg(required = true)]
        labels: Vec<String>,
        /// Unsure of it: the task goes to review once complete.
        #[arg(long)]
        unsure: bool,
        /// The task's prediction is wrong (recorded with the answer; otherwise an answer
        /// the same as the prediction accepts it, and a different one corrects it).
        #[arg(long)]
        reject: bool,
    },
    /// Skip a task (works offline); it goes back to other annotators.
    Skip {
        task_id: i64,
        /// Why: unclear, broken, offensive, or your own words (the requester sees it).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Push pending answers and pull changes.
    Sync,
    /// Show local counts, and why the server refused any answers.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the answers the server refused: task, answer and reason. A task whose answer can
    /// be given again (e.g. a label the schema no longer has) is back among the open tasks.
    Refused {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn home() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_HOME") {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from(".tessera"),
        |h| PathBuf::from(h).join(".tessera"),
    )
}

/// The local store of the person `remote`'s token names: each person who works on this
/// device has their own. A token used here before is known offline; a new one is looked up
/// once with the server.
async fn open_store(remote: &Remote) -> Result<LocalStore> {
    let dir = home();
    let device = Device::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
    let api = remote.annotator_client()?;
    let (server, token) = (api.base_url().to_owned(), remote.token_text()?);
    let account = match device.account(&server, &token)? {
        Some(account) => account,
        None => {
            let me = api.me().await.context(
                "this token was not used on this device before, and the server could not say whose it is",
            )?;
            let account = Account {
                server: server.clone(),
                user_id: me.user_id,
                name: me.name,
            };
            device.remember(&token, &account)?;
            account
        }
    };
    let path = device.store_path(&server, account.user_id);
    device
        .open_store(&server, account.user_id, &token)
        .with_context(|| format!("opening {}", path.display()))
}

pub async fn run(command: WorkCommand, remote: &Remote) -> Result<()> {
    let store = open_store(remote).await?;
    match command {
        WorkCommand::Checkout {
            project,
            limit,
            ttl,
            offline,
        } => {
            let api = remote.annotator_client()?;
            let request = LeaseRequest {
                limit,
                ttl_seconds: ttl,
                offline,
            };
            let held = checkout_with(&api, &store, project, &request).await?;
            if offline {
                let quota = store.schema(project)?.offline_quota;
                let capped = if limit > quota {
                    format!(" (the project's offline quota is {quota})")
                } else {
                    String::new()
                };
                println!("{held} tasks checked out for offline work{capped}");
            } else {
                println!("{held} tasks checked out");
            }
        }
        WorkCommand::Next { json, project } => {
            let task = store.next_task(project)?;
            if json {
                println!("{}", serde_json::to_string(&task)?);
            } else if let Some(t) = task {
                let schema = store.schema(t.project_id)?;
                println!("task {}", t.id);
                for (k, v) in &t.data {
                    println!(
                        "  {k}: {}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    );
                }
                if let Some(p) = &t.prediction {
                    let score = p.score.map(|s| format!(" ({s:.2})")).unwrap_or_default();
                    println!("  machine prediction: {}{score}", p.labels.join(", "));
                }
                println!("  labels: {}", schema.labels.join(", "));
            } else {
                println!("no tasks left; run `tessera work checkout PROJECT`");
            }
        }
        WorkCommand::Answer {
            task_id,
            labels,
            unsure,
            reject,
        } => {
            let flags = AnswerFlags {
                unsure,
                skip_reason: None,
                rejected: reject,
            };
            let answer = store.record_flagged(task_id, labels, false, flags, Utc::now())?;
            let pending = store.counts(None, Utc::now())?.pending;
            println!(
                "recorded answer {} to task {task_id} (revision {}); {pending} waiting to sync",
                answer.id, answer.revision
            );
        }
        WorkCommand::Skip { task_id, reason } => {
            let flags = AnswerFlags {
                unsure: false,
                skip_reason: reason,
                rejected: false,
            };
            store.record_flagged(task_id, Vec::new(), true, flags, Utc::now())?;
            println!("skipped task {task_id}");
        }
        WorkCommand::Sync => {
            let api = remote.annotator_client()?;
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("syncing {bar:40} {pos}/{len} answers")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let report = sync_once(&api, &store, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await;
            bar.finish_and_clear();
            let report = report?;
            println!(
                "pushed {} answers ({} rejected), pulled {} changes",
                report.pushed, report.rejected, report.pulled
            );
        }
        WorkCommand::Status { json } => {
            let c = store.counts(None, Utc::now())?;
            if json {
                println!("{}", serde_json::to_string(&c)?);
            } else {
                println!(
                    "{} answers waiting to sync, {} tasks leased, {} done today",
                    c.pending, c.leased, c.done_today
                );
                if c.rejected > 0 {
                    println!(
                        "{} answers were refused by the server (see `tessera work refused`):",
                        c.rejected
                    );
                    for (reason, n) in store.refusal_reasons()? {
                        println!("  {n} × {reason}");
                    }
                }
            }
        }
        WorkCommand::Refused { json } => {
            let refused = store.refused_answers()?;
            if json {
                println!("{}", serde_json::to_string(&refused)?);
            } else if refused.is_empty() {
                println!("the server refused none of your answers");
            } else {
                for r in refused {
                    let answer = if r.skipped {
                        "(skipped)".to_owned()
                    } else {
                        r.labels.join(", ")
                    };
                    let next = if r.answer_again {
                        "answer it again: it is back among your open tasks"
                    } else {
                        "nothing to redo"
                    };
                    println!(
                        "task {}: {answer}\n  refused: {}\n  {next}",
                        r.task_id, r.reason
                    );
                }
            }
        }
    }
    Ok(())
}

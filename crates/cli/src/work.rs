//! `tessera work`: a headless annotator on the same client crate as the desktop app. Answers are
//! written to the local store first, so `work answer` works with the server down.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use tessera_api::LeaseRequest;
use tessera_client::LocalStore;
use tessera_client::sync::{checkout_with, sync_once};

use crate::Remote;

#[derive(Subcommand)]
pub enum WorkCommand {
    /// Lease tasks of a project into the local store.
    Checkout {
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
    },
    /// Skip a task (works offline); it goes back to other annotators.
    Skip { task_id: i64 },
    /// Push pending answers and pull changes.
    Sync,
    /// Show local counts.
    Status {
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

fn open_store() -> Result<LocalStore> {
    let dir = home();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("client.db");
    LocalStore::open(&path).with_context(|| format!("opening {}", path.display()))
}

pub async fn run(command: WorkCommand, remote: &Remote) -> Result<()> {
    let store = open_store()?;
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
        WorkCommand::Answer { task_id, labels } => {
            let answer = store.record_answer(task_id, labels, false, Utc::now())?;
            let pending = store.counts(None, Utc::now())?.pending;
            println!(
                "recorded answer {} to task {task_id} (revision {}); {pending} waiting to sync",
                answer.id, answer.revision
            );
        }
        WorkCommand::Skip { task_id } => {
            store.record_answer(task_id, Vec::new(), true, Utc::now())?;
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
                    println!("{} answers were rejected by the server", c.rejected);
                }
            }
        }
    }
    Ok(())
}

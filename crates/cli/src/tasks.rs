//! The task browser from the terminal: `tessera tasks` lists a filtered page, `tessera task`
//! shows one task in full, sends tasks to review or changes their priority.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use tessera_api::{TaskListQuery, TaskOrder, TaskStatus};

use crate::Remote;

#[derive(Args)]
pub struct TasksArgs {
    /// The project's id (`tessera project list` shows it).
    project: i64,
    /// open, complete, needs-review, stuck, gold or cancelled.
    #[arg(long, value_parser = ["open", "complete", "needs-review", "stuck", "gold", "cancelled"])]
    status: Option<String>,
    /// Tasks whose consensus confidence is at most this.
    #[arg(long)]
    max_confidence: Option<f64>,
    /// Tasks whose consensus holds this label.
    #[arg(long)]
    label: Option<String>,
    /// Tasks this user (id) answered.
    #[arg(long)]
    annotator: Option<i64>,
    /// Tasks of this batch.
    #[arg(long)]
    batch: Option<i64>,
    /// Tasks holding every word of this text (the last may be the start of a word).
    #[arg(long)]
    search: Option<String>,
    /// upload (the default) or confidence (lowest first: the most disputed).
    #[arg(long, value_parser = ["upload", "confidence"])]
    order: Option<String>,
    /// Tasks a page, 1 to 500.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Where the page starts: the `next_cursor` an earlier page printed.
    #[arg(long)]
    cursor: Option<String>,
    /// `{"tasks": [...], "next_cursor": ...}`.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum TaskCommand {
    /// One task in full: data, predictions, every answer with its annotator and time, the
    /// consensus, the review, and why it is stuck when it is.
    Show {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        task_id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send tasks to the review queue.
    Review {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[arg(required = true)]
        task_ids: Vec<i64>,
    },
    /// Set tasks' priority: leased before tasks of lower priority.
    Priority {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[arg(allow_negative_numbers = true)]
        priority: i32,
        #[arg(required = true)]
        task_ids: Vec<i64>,
    },
}

pub async fn list(args: TasksArgs, remote: &Remote) -> Result<()> {
    let query = TaskListQuery {
        status: args
            .status
            .as_deref()
            .map(|s| TaskStatus::parse(s).ok_or_else(|| anyhow!("unknown status {s:?}")))
            .transpose()?,
        max_confidence: args.max_confidence,
        label: args.label,
        annotator: args.annotator,
        batch: args.batch,
        search: args.search,
        order: match args.order.as_deref() {
            Some("confidence") => Some(TaskOrder::Confidence),
            _ => None,
        },
        limit: Some(args.limit),
        cursor: args.cursor,
    };
    let page = remote.client()?.tasks(args.project, &query).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    for t in &page.tasks {
        let consensus = if t.consensus.is_empty() {
            "-".to_owned()
        } else {
            t.consensus.join("|")
        };
        let confidence = t
            .confidence
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"));
        println!(
            "{}\t{}\t{consensus}\t{confidence}\t{} answers\t{}",
            t.task_id,
            t.status.as_str(),
            t.answers,
            t.preview
        );
    }
    match page.next_cursor {
        Some(cursor) => eprintln!("more: --cursor {cursor}"),
        None => eprintln!("{} tasks, the last page", page.tasks.len()),
    }
    Ok(())
}

pub async fn task(command: TaskCommand, remote: &Remote) -> Result<()> {
    let client = remote.client()?;
    match command {
        TaskCommand::Show {
            project,
            task_id,
            json,
        } => {
            let task = client.task(project, task_id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&task)?);
                return Ok(());
            }
            let r = &task.record;
            println!(
                "task {} ({}), batch {}, priority {}: {}",
                r.task_id,
                r.external_id.as_deref().unwrap_or("no external id"),
                task.batch_id,
                task.priority,
                task.status.as_str()
            );
            if let Some(why) = &task.stuck_because {
                println!("stuck: {why}");
            }
            println!("data: {}", serde_json::Value::Object(r.data.clone()));
            for p in r.prediction.iter().chain(&r.more_predictions) {
                println!("prediction: {}", serde_json::to_string(p)?);
            }
            for a in &r.answers {
                println!(
                    "answer: {}\t{}\t{}{}",
                    a.annotator,
                    a.labels.join("|"),
                    a.answered_at.format("%Y-%m-%d %H:%M:%S"),
                    if a.unsure { "\tunsure" } else { "" }
                );
            }
            match &r.consensus {
                Some(c) => println!(
                    "consensus: {} ({:.2}, {})",
                    c.labels.join("|"),
                    c.confidence,
                    c.method
                ),
                None => println!("consensus: none yet"),
            }
            if let Some(review) = &r.review {
                println!("review: {} by {}", review.labels.join("|"), review.reviewer);
            }
        }
        TaskCommand::Review { project, task_ids } => {
            let n = task_ids.len();
            let done = client.review_tasks(project, task_ids).await?;
            println!(
                "sent {} of {n} tasks to review (cancelled, gold and reviewed ones stay as they are)",
                done.changed
            );
        }
        TaskCommand::Priority {
            project,
            priority,
            task_ids,
        } => {
            let done = client.prioritize_tasks(project, task_ids, priority).await?;
            println!("set the priority of {} tasks to {priority}", done.changed);
        }
    }
    Ok(())
}

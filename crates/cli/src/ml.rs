//! `tessera ml`: a project's ML backends (Label Studio's ML backend protocol) — connect one,
//! see how each is doing, ask them to train, disconnect one.

use anyhow::{Result, bail};
use clap::Subcommand;
use tessera_api::CreateMlBackendRequest;

use crate::Remote;

#[derive(Subcommand)]
pub enum MlCommand {
    /// Connect the ML backend at URL: Tessera checks /health, sends /setup with the project's
    /// labeling config, asks /predict for every task (new batches too), and sends it each
    /// answer as ANNOTATION_CREATED / ANNOTATION_UPDATED.
    Add {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        url: String,
        /// A name to tell it apart (default: the URL's host).
        #[arg(long)]
        name: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The project's backends: health, last error, model version, predictions, queue, failed.
    List {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send START_TRAINING to every backend of the project (or one, with --backend).
    Train {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[arg(long)]
        backend: Option<i64>,
    },
    /// Disconnect a backend; its predictions go with it.
    Remove { project: i64, backend_id: i64 },
}

pub async fn ml(command: MlCommand, remote: &Remote) -> Result<()> {
    let client = remote.client()?;
    match command {
        MlCommand::Add {
            project,
            url,
            name,
            json,
        } => {
            let b = client
                .create_ml_backend(project, &CreateMlBackendRequest { url, name })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
                return Ok(());
            }
            let health = match (b.healthy, &b.last_error) {
                (Some(true), _) => "answers /health".to_owned(),
                (_, Some(e)) => format!("not answering yet ({e}); Tessera keeps trying"),
                _ => "not checked yet".to_owned(),
            };
            println!(
                "ML backend {} ({}) of project {project}: {}; {health}",
                b.id, b.name, b.url
            );
        }
        MlCommand::List { project, json } => {
            let backends = client.ml_backends(project).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&backends)?);
                return Ok(());
            }
            for b in backends {
                let health = match b.healthy {
                    Some(true) => "healthy",
                    Some(false) => "down",
                    None => "unchecked",
                };
                println!(
                    "{}\t{}\t{}\t{health}\tversion {}\t{} predicted\t{} queued\t{} failed\t{}",
                    b.id,
                    b.name,
                    b.url,
                    b.model_version.as_deref().unwrap_or("-"),
                    b.predictions,
                    b.queue,
                    b.failed,
                    b.last_error.as_deref().unwrap_or("")
                );
            }
        }
        MlCommand::Train { project, backend } => {
            let ids: Vec<i64> = match backend {
                Some(id) => vec![id],
                None => client
                    .ml_backends(project)
                    .await?
                    .into_iter()
                    .map(|b| b.id)
                    .collect(),
            };
            if ids.is_empty() {
                bail!("project {project} has no ML backend: connect one with `tessera ml add`");
            }
            for id in ids {
                let started = client.train_ml_backend(project, id).await?;
                println!(
                    "backend {id} answered {}: {}",
                    started.status, started.reply
                );
            }
        }
        MlCommand::Remove {
            project,
            backend_id,
        } => {
            client.delete_ml_backend(project, backend_id).await?;
            println!("disconnected ML backend {backend_id} from project {project}");
        }
    }
    Ok(())
}

//! Requester and admin commands: tokens, projects, upload, status, export.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tessera_api::{CancelTasksRequest, ProjectRole, ReviewRequest, Role};
use tessera_core::{LabelSchema, UploadFormat, is_answers_header, schema_from_label_config};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::Remote;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a user with a new token; prints the token alone. With --project, an annotator
    /// or reviewer whose token works only in those projects (a requester's own projects);
    /// without, any role, everywhere (admin).
    Create {
        /// admin, requester, annotator or reviewer (a reviewer needs --project).
        #[arg(long, value_parser = ["admin", "requester", "annotator", "reviewer"])]
        role: String,
        #[arg(long)]
        name: String,
        /// A project the token works in (repeat for several).
        #[arg(long = "project")]
        projects: Vec<i64>,
    },
    /// List token holders: user id, name, role, projects, created, last used, revoked. A
    /// requester sees the people of their own projects.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's token: it signs no one in from now on; their work stays. A requester
    /// revokes the people they invited into their projects.
    Revoke { user_id: i64 },
}

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project from a schema file — Tessera's JSON schema, or a Label Studio
    /// labeling config (XML) — and print the new project id alone.
    Create {
        name: String,
        #[arg(long)]
        schema: std::path::PathBuf,
    },
    /// List projects.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rename a project or replace its schema (a JSON schema or a Label Studio config). A
    /// change that would leave stored work meaning nothing is refused with the reason.
    Edit {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[arg(long)]
        schema: Option<std::path::PathBuf>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Archive a project: annotators no longer see it; answers made before still sync in.
    Archive { project: i64 },
    /// Restore an archived project.
    Restore { project: i64 },
    /// Delete a project, its tasks and every answer, for good (export it first).
    Delete {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Yes, delete it.
        #[arg(long)]
        yes: bool,
    },
}

/// A schema file: Tessera's JSON, or a Label Studio labeling config (XML).
fn read_schema(path: &Path) -> Result<LabelSchema> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // XML (a Label Studio config) opens with a tag; JSON with a brace.
    if text.trim_start().starts_with('<') {
        schema_from_label_config(&text).map_err(|e| e.to_string())
    } else {
        LabelSchema::from_json(&text)
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[derive(Subcommand)]
pub enum MemberCommand {
    /// List a project's members: user id, name and role.
    List {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give a user a role in a project (a member already there gets the new one).
    Add {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// The user's id (`tessera token list` shows it).
        user_id: i64,
        /// annotator (leases tasks), reviewer (also gives verdicts in the review queue) or
        /// requester (runs the project).
        #[arg(long, value_parser = parse_project_role)]
        role: ProjectRole,
        /// The user's name as they were given it: requesters must give it with the id, so
        /// that an id alone never reveals a name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Take a person out of a project (their answers stay).
    Remove { project: i64, user_id: i64 },
    /// Invite a new person into a project: prints their token alone, shown only this once.
    /// The token works on this project (and on others only once they are added there).
    Invite {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[arg(long)]
        name: String,
        /// annotator or reviewer.
        #[arg(long, value_parser = parse_project_role, default_value = "annotator")]
        role: ProjectRole,
    },
}

fn parse_project_role(s: &str) -> Result<ProjectRole, String> {
    ProjectRole::parse(s)
        .ok_or_else(|| format!("unknown role {s:?}: use annotator, reviewer or requester"))
}

pub async fn member(command: MemberCommand, remote: &Remote) -> Result<()> {
    let client = remote.client()?;
    let members = match command {
        MemberCommand::Remove { project, user_id } => {
            client.remove_member(project, user_id).await?
        }
        MemberCommand::Invite {
            project,
            name,
            role,
        } => {
            let invited = client.invite(project, &name, role).await?;
            eprintln!(
                "invited {} (user {}) as {} of project {project}; the token below is shown only once",
                invited.name,
                invited.user_id,
                invited.role.as_str()
            );
            println!("{}", invited.token);
            return Ok(());
        }
        MemberCommand::List { project, json } => {
            let members = client.members(project).await?;
            if json {
                println!("{}", serde_json::to_string(&members)?);
                return Ok(());
            }
            members
        }
        MemberCommand::Add {
            project,
            user_id,
            role,
            name,
        } => {
            client
                .add_member(project, user_id, name.as_deref(), role)
                .await?
        }
    };
    println!("user\tname\trole");
    for m in members {
        println!("{}\t{}\t{}", m.user_id, m.name, m.role.as_str());
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum BatchCommand {
    /// List a project's batches: id, tasks, priority, upload time.
    List { project: i64 },
    /// Set a batch's priority: its open tasks are leased before those of lower-priority
    /// batches.
    Priority {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        batch: i64,
        #[arg(allow_negative_numbers = true)]
        priority: i32,
    },
}

pub async fn batch(command: BatchCommand, remote: &Remote) -> Result<()> {
    let client = remote.client()?;
    match command {
        BatchCommand::List { project } => {
            println!("batch\ttasks\tpriority\tuploaded\tcomplete\tgold");
            for b in client.batches(project).await? {
                let tasks = (b.task_count - b.gold).max(0);
                let share = if tasks > 0 {
                    format!(" ({:.0}%)", 100.0 * b.complete as f64 / tasks as f64)
                } else {
                    String::new()
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}/{tasks}{share}\t{}",
                    b.id,
                    b.task_count,
                    b.priority,
                    b.created_at.to_rfc3339(),
                    b.complete,
                    b.gold
                );
            }
        }
        BatchCommand::Priority {
            project,
            batch,
            priority,
        } => {
            let b = client.set_batch_priority(project, batch, priority).await?;
            println!(
                "batch {} ({} tasks): priority {}",
                b.id, b.task_count, b.priority
            );
        }
    }
    Ok(())
}

pub async fn token(command: TokenCommand, remote: &Remote) -> Result<()> {
    match command {
        TokenCommand::Create {
            role,
            name,
            projects,
        } => {
            let client = remote.client()?;
            let created = match (role.as_str(), projects.is_empty()) {
                ("reviewer", true) => {
                    anyhow::bail!("a reviewer reviews projects: name them with --project")
                }
                ("annotator" | "reviewer", false) => {
                    let role = ProjectRole::parse(&role)
                        .ok_or_else(|| anyhow::anyhow!("unknown project role {role:?}"))?;
                    client.create_project_token(&name, &projects, role).await?
                }
                (_, false) => anyhow::bail!(
                    "a token for projects is an annotator's or a reviewer's; make {role}s without --project"
                ),
                (_, true) => {
                    let role = Role::parse(&role)
                        .ok_or_else(|| anyhow::anyhow!("unknown role {role:?}"))?;
                    client.create_token(&name, role).await?
                }
            };
            println!("{}", created.token);
        }
        TokenCommand::List { json } => {
            let tokens = remote.client()?.tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                for t in tokens {
                    let revoked = t
                        .revoked_at
                        .map(|r| format!("revoked {}", r.format("%Y-%m-%d %H:%M")))
                        .unwrap_or_else(|| "active".to_owned());
                    let projects = if t.projects.is_empty() {
                        "-".to_owned()
                    } else {
                        t.projects
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    let used = t.last_used_at.map_or_else(
                        || "never used".to_owned(),
                        |u| format!("used {}", u.format("%Y-%m-%d %H:%M")),
                    );
                    println!(
                        "{}\t{}\t{}\tprojects {projects}\tcreated {}\t{used}\t{revoked}",
                        t.user_id,
                        t.name,
                        t.role.as_str(),
                        t.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
        }
        TokenCommand::Revoke { user_id } => {
            let revoked = remote.client()?.revoke_token(user_id).await?;
            println!(
                "revoked the token of {} (user {})",
                revoked.name, revoked.user_id
            );
        }
    }
    Ok(())
}

pub async fn project(command: ProjectCommand, remote: &Remote) -> Result<()> {
    match command {
        ProjectCommand::Create { name, schema } => {
            let schema = read_schema(&schema)?;
            let project = remote.client()?.create_project(&name, schema).await?;
            println!("{}", project.id);
        }
        ProjectCommand::Edit {
            project,
            schema,
            name,
        } => {
            if schema.is_none() && name.is_none() {
                anyhow::bail!("nothing to change: give --schema FILE, --name NAME or both");
            }
            let request = tessera_api::UpdateProjectRequest {
                name,
                schema: schema.as_deref().map(read_schema).transpose()?,
            };
            let edited = remote.client()?.update_project(project, &request).await?;
            println!("project {} ({}) edited", edited.id, edited.name);
        }
        ProjectCommand::Archive { project } => {
            remote.client()?.archive_project(project).await?;
            println!(
                "project {project} archived: annotators no longer see it (tessera project restore {project} brings it back)"
            );
        }
        ProjectCommand::Restore { project } => {
            remote.client()?.restore_project(project).await?;
            println!("project {project} restored");
        }
        ProjectCommand::Delete { project, yes } => {
            if !yes {
                anyhow::bail!(
                    "deleting project {project} deletes its tasks and every answer for good: export it first (tessera export {project} -o backup.jsonl), then add --yes"
                );
            }
            let gone = remote.client()?.delete_project(project).await?;
            println!(
                "project {project} deleted: {} tasks and {} answers",
                gone.tasks, gone.answers
            );
        }
        ProjectCommand::List { json } => {
            let projects = remote.client()?.projects().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&projects)?);
            } else {
                for p in projects {
                    let archived = if p.archived_at.is_some() {
                        "\tarchived"
                    } else {
                        ""
                    };
                    println!(
                        "{}\t{}\t{}{archived}",
                        p.id,
                        p.name,
                        p.schema.labels.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

/// How `tessera upload` sends a file.
pub struct UploadOptions {
    pub priority: i32,
    /// The format named on the command line, if any.
    pub format: Option<String>,
    pub lenient: bool,
}

pub async fn upload(project: i64, file: &Path, how: &UploadOptions, remote: &Remote) -> Result<()> {
    if file.is_dir() {
        return upload_folder(project, file, how, remote).await;
    }
    let priority = how.priority;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    // The first 64 KiB tell the JSON family apart, and a crowd-kit answers file by its
    // header; the name tells the rest.
    let mut head = vec![0; 64 << 10];
    let n = handle.read(&mut head).await?;
    head.truncate(n);
    handle.seek(std::io::SeekFrom::Start(0)).await?;
    let format = match how.format.as_deref() {
        Some("crowdkit" | "crowd-kit") => None,
        Some(named) => Some(UploadFormat::from_name(named).with_context(|| {
            format!(
                "unknown format {named:?}: use jsonl, json, csv, tsv, conll, voc, zip, spacy or crowdkit"
            )
        })?),
        None if is_answers_header(&head) => None,
        None => Some(UploadFormat::detect(name, &head).with_context(|| {
            format!(
                "{}: cannot tell the format; name the file .jsonl, .json, .csv, .tsv, .conll, .xml, .zip or .spacy, or give --format",
                file.display()
            )
        })?),
    };
    let size = handle.metadata().await?.len();
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    let stream = tokio_util::io::ReaderStream::new(handle).inspect(move |chunk| {
        if let Ok(c) = chunk {
            progress.inc(c.len() as u64);
        }
    });
    let body = reqwest::Body::wrap_stream(stream);
    let client = remote.client()?;
    let Some(format) = format else {
        // Answers to the project's tasks, not tasks.
        let result = client.import_answers(project, body).await;
        bar.finish_and_clear();
        let response = result.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        println!(
            "added {} answers made before, by imported annotators",
            response.answers_added
        );
        return Ok(());
    };
    let result = client
        .upload_batch(project, format, priority, how.lenient, body)
        .await;
    bar.finish_and_clear();
    let response = result.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    print_upload(&response);
    Ok(())
}

/// A dataset folder, read here and uploaded as Tessera JSONL (see [`crate::dataset`]).
async fn upload_folder(
    project: i64,
    folder: &Path,
    how: &UploadOptions,
    remote: &Remote,
) -> Result<()> {
    if let Some(format) = &how.format {
        anyhow::bail!(
            "{}: a folder is read as a dataset (YOLO, Pascal VOC, or COCO beside its images); --format {format} names a file's format",
            folder.display()
        );
    }
    let client = remote.client()?;
    let schema = client.project(project).await?.schema;
    let root = folder.to_path_buf();
    let lenient = how.lenient;
    let (body, report, tasks) =
        tokio::task::spawn_blocking(move || crate::dataset::folder_jsonl(&root, &schema, lenient))
            .await??;
    eprintln!("read {tasks} tasks from {}", folder.display());
    let mut response = client
        .upload_batch(project, UploadFormat::Jsonl, how.priority, lenient, body)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", folder.display()))?;
    for (key, n) in report.ignored_keys {
        *response.ignored_keys.entry(key).or_default() += n;
    }
    response.clamped_boxes += report.clamped_boxes;
    response
        .left_out
        .extend(report.left_out.into_iter().map(Into::into));
    print_upload(&response);
    Ok(())
}

/// What an upload added, and what it kept without refusing.
fn print_upload(response: &tessera_api::UploadResponse) {
    println!(
        "added {} tasks (batch {})",
        response.tasks_added, response.batch_id
    );
    if response.answers_added > 0 {
        println!(
            "added {} answers made before, by imported annotators",
            response.answers_added
        );
    }
    if response.empty_answers > 0 {
        println!(
            "{} of them chose nothing and were kept as skips",
            response.empty_answers
        );
    }
    if response.clamped_boxes > 0 {
        println!(
            "{} boxes reached past the image's edge and were cut at it",
            response.clamped_boxes
        );
    }
    for (key, n) in &response.ignored_keys {
        println!("ignored {key:?} (another tool's bookkeeping) {n} times");
    }
    if !response.left_out.is_empty() {
        println!("left out {} items:", response.left_out.len());
        for l in &response.left_out {
            println!("  line {}: {}: {}", l.line, l.item, l.reason);
        }
    }
}

pub async fn cancel(
    project: i64,
    external_ids: Vec<String>,
    task_ids: Vec<i64>,
    remote: &Remote,
) -> Result<()> {
    let request = CancelTasksRequest {
        task_ids,
        external_ids,
    };
    let done = remote.client()?.cancel_tasks(project, &request).await?;
    println!(
        "{} tasks cancelled ({} were already)",
        done.cancelled, done.already_cancelled
    );
    Ok(())
}

pub async fn review(
    project: i64,
    task: Option<i64>,
    labels: Vec<String>,
    limit: u32,
    remote: &Remote,
) -> Result<()> {
    let client = remote.client()?;
    let Some(task_id) = task else {
        let queue = client.review_queue(project, limit).await?;
        if queue.is_empty() {
            println!("no task is waiting for review");
        }
        for record in queue {
            let id = record.external_id.as_deref().unwrap_or("-");
            let consensus = record.consensus.as_ref().map_or_else(
                || "none".to_owned(),
                |c| format!("{} ({:.2})", c.labels.join("|"), c.confidence),
            );
            println!("task {} ({id}): consensus {consensus}", record.task_id);
            for answer in &record.answers {
                println!("  {}: {}", answer.annotator, answer.labels.join("|"));
            }
        }
        return Ok(());
    };
    if labels.is_empty() {
        anyhow::bail!("give the verdict's label(s) after the task id");
    }
    client
        .review(project, &ReviewRequest { task_id, labels })
        .await?;
    println!("task {task_id} reviewed");
    Ok(())
}

pub async fn status(project: i64, json: bool, remote: &Remote) -> Result<()> {
    let s = remote.client()?.status(project).await?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        let pct = if s.tasks == 0 {
            0.0
        } else {
            100.0 * s.complete as f64 / s.tasks as f64
        };
        let gold = if s.gold_tasks > 0 {
            format!(", and {} gold tasks", s.gold_tasks)
        } else {
            String::new()
        };
        println!(
            "project {}: {} of {} tasks complete ({pct:.1}%){gold}",
            s.project_id, s.complete, s.tasks
        );
        if let Some(why) = &s.stuck_because {
            println!(
                "stuck: {} tasks no one can take (`tessera tasks {} --status stuck`): {why}",
                s.stuck, s.project_id
            );
        }
        println!(
            "answers: {}   active leases: {}   annotators: {}",
            s.answers, s.leased, s.annotators
        );
        if s.needs_review > 0 || s.reviewed > 0 {
            println!(
                "review: {} tasks waiting (`tessera review {}`), {} reviewed",
                s.needs_review, s.project_id, s.reviewed
            );
        }
        if s.cancelled > 0 {
            println!(
                "cancelled: {} tasks; {} answers arrived after their task was cancelled \
                 (kept in the export, not counted)",
                s.cancelled, s.uncounted_answers
            );
        }
        if !s.consensus_by_method.is_empty() {
            let methods: Vec<String> = s
                .consensus_by_method
                .iter()
                .map(|(method, n)| format!("{n} by {method}"))
                .collect();
            println!("consensus: {}", methods.join(", "));
        }
        if s.device_conflicts > 0 {
            println!(
                "{} answers clashed with the same annotator's answer from another device \
                 (the latest revision counts, once)",
                s.device_conflicts
            );
        }
    }
    Ok(())
}

pub async fn export(
    project: i64,
    format: &str,
    label: Option<&str>,
    output: Option<&Path>,
    remote: &Remote,
) -> Result<()> {
    let response = remote
        .client()?
        .export_labels(project, format, label)
        .await?;
    let zipped = matches!(format, "yolo" | "voc");
    if let Some(dir) = output.filter(|o| zipped && o.extension().is_none_or(|e| e != "zip")) {
        // A folder: the zip is unpacked into it.
        let bytes = response.bytes().await.context("reading the export")?;
        let into = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(&into)?;
            zip::ZipArchive::new(std::io::Cursor::new(bytes))?
                .extract(&into)
                .with_context(|| format!("unpacking into {}", into.display()))
        })
        .await??;
        eprintln!("exported project {project} into {}", dir.display());
        return Ok(());
    }
    let mut body = response.bytes_stream();
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin> = match output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("reading the export")?;
        match out.write_all(&chunk).await {
            // The reader (e.g. `| head`) has seen enough: not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    out.flush().await?;
    if let Some(path) = output {
        eprintln!("exported project {project} to {}", path.display());
    }
    Ok(())
}

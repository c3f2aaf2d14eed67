//! `tessera`: the queue server, the requester's tools and a headless annotator in one binary.

mod aggregate;
mod bench;
#[cfg(test)]
mod cli_reference;
mod dataset;
mod login;
mod ml;
mod quality;
mod requester;
mod serve;
mod tasks;
mod webhook;
mod work;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use tessera_client::ApiClient;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Offline-first crowdsourcing and labeling"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the server is and who we are to it.
#[derive(Args, Clone)]
pub struct Remote {
    /// Server URL [default: the one `tessera login` saved, else http://127.0.0.1:7450].
    #[arg(long, env = "TESSERA_SERVER", global = true)]
    server: Option<String>,
    /// API token [default: the one `tessera login` saved for that server; requester commands
    /// then fall back to DATA_DIR/admin.token].
    #[arg(long, env = "TESSERA_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

/// The server when neither `--server` nor a sign-in names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:7450";

impl Remote {
    /// The server to talk to: `--server`, else the signed-in one, else the local default.
    fn server(&self) -> String {
        self.server
            .clone()
            .or_else(|| login::saved().map(|l| l.server))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
    }

    /// `--token`, else the token signed in to this server.
    fn given_token(&self, server: &str) -> Option<String> {
        self.token
            .as_ref()
            .map(|t| t.trim().to_owned())
            .or_else(|| {
                login::saved()
                    .filter(|l| same_server(&l.server, server))
                    .map(|l| l.token)
            })
    }

    /// A client using the given or signed-in token, or the local server's admin token when
    /// there is neither.
    pub fn client(&self) -> Result<ApiClient> {
        let server = self.server();
        let token = self.given_token(&server).or_else(local_admin_token);
        Ok(warned(ApiClient::new(&server, token)?))
    }

    /// The given or signed-in token (annotator commands need one).
    pub fn token_text(&self) -> Result<String> {
        self.given_token(&self.server()).context(
            "no token: run `tessera login URL TOKEN` once, or pass --token / set TESSERA_TOKEN",
        )
    }

    /// A client that must have a token of its own (annotator commands).
    pub fn annotator_client(&self) -> Result<ApiClient> {
        Ok(warned(ApiClient::new(
            &self.server(),
            Some(self.token_text()?),
        )?))
    }
}

/// Whether two server URLs name the same server (a trailing slash aside).
fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Says so on standard error when `client` would send its token in the clear to another
/// machine; hands it back.
fn warned(client: ApiClient) -> ApiClient {
    if client.sends_token_in_clear() {
        eprintln!(
            "warning: {} is plain HTTP to another machine: your token travels unencrypted; \
             use an https:// address",
            client.base_url()
        );
    }
    client
}

fn local_admin_token() -> Option<String> {
    let dir = std::env::var_os("TESSERA_DATA_DIR")
        .map_or_else(|| PathBuf::from(serve::DEFAULT_DATA_DIR), PathBuf::from);
    std::fs::read_to_string(dir.join("admin.token"))
        .ok()
        .map(|t| t.trim().to_owned())
}

#[derive(Subcommand)]
enum Command {
    /// Run the queue server.
    Serve(serve::ServeArgs),
    /// Sign in: check TOKEN against the server at URL and keep both in your config file, so
    /// later commands need neither --server nor --token.
    Login { url: String, token: String },
    /// Forget the saved sign-in.
    Logout,
    /// A project's people: list them, invite someone new, or give someone a role.
    Member {
        #[command(subcommand)]
        command: requester::MemberCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// A project's annotators: their record on gold, suspensions, and lifting one.
    Annotator {
        #[command(subcommand)]
        command: quality::AnnotatorCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Re-fit a project's consensus now (the server also does so as answers arrive).
    Refit {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Browse a project's tasks: filter by status, confidence, label, annotator, batch or
    /// text, a page at a time.
    Tasks {
        #[command(flatten)]
        args: tasks::TasksArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// One task: show it, send tasks to review, or change their priority.
    Task {
        #[command(subcommand)]
        command: tasks::TaskCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// A project's ML backends (Label Studio's protocol): connect, list, train, remove.
    Ml {
        #[command(subcommand)]
        command: ml::MlCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// A project's webhooks: send its events, signed, to a URL; list, remove, delivery log.
    Webhook {
        #[command(subcommand)]
        command: webhook::WebhookCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: requester::TokenCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage projects.
    Project {
        #[command(subcommand)]
        command: requester::ProjectCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Upload a batch of tasks into a project: a file of any format docs/formats.md lists, or a
    /// dataset folder. All or nothing: a bad line refuses the whole batch, naming the line.
    Upload {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        file: PathBuf,
        /// The batch's priority: its tasks are leased before those of lower-priority batches.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// The file's format: jsonl, json (a JSON array of tasks, as Label Studio exports, or
        /// a COCO file), csv, tsv (also Toloka), conll, voc (one Pascal VOC XML file), zip (a
        /// YOLO or VOC set), spacy (a .spacy DocBin), or crowdkit (answers to the project's tasks, `task,worker,label`,
        /// tasks named by their ids from the upload). Found from the file's content and name
        /// when not given. A folder is read as a dataset: a YOLO set, VOC files, or a COCO file
        /// beside its images.
        #[arg(long)]
        format: Option<String>,
        /// Leave out what the project cannot keep (a region of a kind it lacks, an answer or
        /// prediction with a label it lacks), listing each, instead of refusing the file.
        #[arg(long)]
        lenient: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// A project's batches: list them, or change one's priority.
    Batch {
        #[command(subcommand)]
        command: requester::BatchCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel tasks: they are leased no more; answers that arrive later are kept, not counted.
    Cancel {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Task ids from the uploaded batch (the `id` of each JSONL line or CSV row).
        #[arg(required_unless_present = "task_id")]
        ids: Vec<String>,
        /// Server task ids instead (repeatable).
        #[arg(long = "task-id")]
        task_id: Vec<i64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// The review queue: without TASK, list tasks waiting for a verdict (every answer and the
    /// consensus); with TASK and LABEL(s), record the verdict, the task's final label.
    Review {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        task: Option<i64>,
        labels: Vec<String>,
        /// How many waiting tasks to list.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a project's progress.
    Status {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Export every task with its answers and consensus.
    Export {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// jsonl (Tessera's records; they upload back as they are), csv, tsv, ls-json (a Label
        /// Studio JSON export: answers as annotations, gold as ground truth), ls-json-min,
        /// ls-config (the Label Studio labeling config for it), crowdkit (task,worker,label:
        /// every answer), prodigy, toloka, conll (IOB2 tags, a token a line), spacy, coco, or
        /// yolo and voc (zips of label files; with -o DIR, unpacked there).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv", "tsv", "ls-json", "ls-json-min", "ls-config", "crowdkit", "prodigy", "toloka", "conll", "spacy", "coco", "yolo", "voc"])]
        format: String,
        /// A task's label, for formats with one a task: review (the reviewer's verdict, else the
        /// gold answer, else the consensus), consensus, or answers (every annotator's answer).
        #[arg(long, value_parser = ["review", "consensus", "answers"])]
        label: Option<String>,
        /// Write here instead of standard output (yolo and voc: a zip, or a folder to unpack
        /// into when the name does not end in .zip).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Load generators: `tessera bench queue` measures the queue server.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Consensus labels for an answers file (task,worker,label), as CSV on stdout.
    Aggregate(aggregate::AggregateArgs),
    /// Work as an annotator from the terminal (offline-capable, same engine as the desktop app).
    Work {
        #[command(subcommand)]
        command: work::WorkCommand,
        #[command(flatten)]
        remote: Remote,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    // Aggregation is pure computation: no runtime (and its threads) to start.
    if let Command::Aggregate(args) = &cli.command {
        return match aggregate::run(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let runtime = match tokio::runtime::Runtime::new().context("starting the async runtime") {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("error: {e:#}");
    std::process::ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Login { url, token } => login::login(&url, &token).await,
        Command::Logout => login::logout(),
        Command::Member { command, remote } => requester::member(command, &remote).await,
        Command::Token { command, remote } => requester::token(command, &remote).await,
        Command::Annotator { command, remote } => quality::annotator(command, &remote).await,
        Command::Refit { project, remote } => quality::refit(project, &remote).await,
        Command::Webhook { command, remote } => webhook::webhook(command, &remote).await,
        Command::Ml { command, remote } => ml::ml(command, &remote).await,
        Command::Tasks { args, remote } => tasks::list(args, &remote).await,
        Command::Task { command, remote } => tasks::task(command, &remote).await,
        Command::Project { command, remote } => requester::project(command, &remote).await,
        Command::Upload {
            project,
            file,
            priority,
            format,
            lenient,
            remote,
        } => {
            let how = requester::UploadOptions {
                priority,
                format,
                lenient,
            };
            requester::upload(project, &file, &how, &remote).await
        }
        Command::Batch { command, remote } => requester::batch(command, &remote).await,
        Command::Cancel {
            project,
            ids,
            task_id,
            remote,
        } => requester::cancel(project, ids, task_id, &remote).await,
        Command::Review {
            project,
            task,
            labels,
            limit,
            remote,
        } => requester::review(project, task, labels, limit, &remote).await,
        Command::Status {
            project,
            json,
            remote,
        } => requester::status(project, json, &remote).await,
        Command::Export {
            project,
            format,
            label,
            output,
            remote,
        } => {
            requester::export(
                project,
                &format,
                label.as_deref(),
                output.as_deref(),
                &remote,
            )
            .await
        }
        Command::Work { command, remote } => work::run(command, &remote).await,
        Command::Aggregate(args) => aggregate::run(&args),
        Command::Bench { command } => bench::run(command).await,
    }
}

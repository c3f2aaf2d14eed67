//! Helpers shared by the end-to-end tests: an in-process server on a real socket (port 0) with
//! a temporary SQLite file and a manual clock, and the paths of the built binaries.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tessera_api::Role;
use tessera_client::ApiClient;
use tessera_server::clock::ManualClock;
use tessera_server::store::open_store;
use tessera_server::{AppState, ServerConfig, ensure_admin_token};
use tokio::sync::oneshot;

pub mod proxy;
pub mod scenario;
mod serve_process;

pub use serve_process::ServeProcess;

/// A running server: real HTTP on 127.0.0.1, a temporary SQLite file, a clock tests move.
pub struct TestServer {
    pub url: String,
    pub clock: Arc<ManualClock>,
    pub admin_token: String,
    addr: std::net::SocketAddr,
    running: Option<Running>,
    dir: tempfile::TempDir,
    /// PostgreSQL URL, or None for SQLite in `dir`.
    db_url: Option<String>,
    config: ServerConfig,
}

type Running = (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// The storage backends every conformance scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty PostgreSQL database on the server `TESSERA_TEST_DATABASE_URL` names
/// (scripts/test.sh starts a throwaway cluster and sets it). Missing is a failure, not a skip.
pub async fn fresh_postgres_database() -> String {
    let url = std::env::var("TESSERA_TEST_DATABASE_URL").expect(
        "TESSERA_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server (scripts/test.sh starts one)",
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to TESSERA_TEST_DATABASE_URL");
    tokio::spawn(connection);
    let name = format!("tessera_test_{}", uuid::Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (base, query) = url
        .split_once('?')
        .map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("URL has a database path");
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

impl TestServer {
    /// A server on a temporary SQLite file.
    pub async fn start() -> Self {
        Self::start_on(Backend::Sqlite).await
    }

    pub async fn start_on(backend: Backend) -> Self {
        Self::start_with(backend, ServerConfig::default()).await
    }

    /// A server with its limits and lease lengths set by `config`.
    pub async fn start_with(backend: Backend, config: ServerConfig) -> Self {
        let db_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut server = Self {
            url: format!("http://{addr}"),
            clock,
            admin_token: String::new(),
            addr,
            running: None,
            dir,
            db_url,
            config,
        };
        let state = server.state().await;
        let token_path = server.dir.path().join("admin.token");
        assert!(
            ensure_admin_token(state.store.as_ref(), state.clock.as_ref(), &token_path)
                .await
                .expect("admin")
        );
        server.admin_token = std::fs::read_to_string(&token_path)
            .expect("token file")
            .trim()
            .to_owned();
        server.run(listener, state);
        server
    }

    async fn state(&self) -> AppState {
        let url = match &self.db_url {
            Some(url) => url.clone(),
            None => self.dir.path().join("tessera.db").display().to_string(),
        };
        let mut state = AppState::new(open_store(&url).await.expect("open store"));
        state.clock = self.clock.clone();
        state.config = self.config.clone();
        state
    }

    fn run(&mut self, listener: tokio::net::TcpListener, state: AppState) {
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(tessera_server::serve(listener, Arc::new(state), async {
            let _ = rx.await;
        }));
        self.running = Some((tx, handle));
    }

    /// Stops serving (the database stays); clients now find nothing listening.
    pub async fn stop(&mut self) {
        if let Some((tx, handle)) = self.running.take() {
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
    }

    /// Serves the same database on the same address again.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind");
        let state = self.state().await;
        self.run(listener, state);
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn admin(&self) -> ApiClient {
        ApiClient::new(&self.url, Some(self.admin_token.clone())).expect("client")
    }

    /// A new user of `role`, returned as a client holding its token.
    pub async fn user(&self, role: Role, name: &str) -> (ApiClient, String) {
        let created = self
            .admin()
            .create_token(name, role)
            .await
            .expect("create token");
        (
            ApiClient::new(&self.url, Some(created.token.clone())).expect("client"),
            created.token,
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some((tx, _)) = self.running.take() {
            let _ = tx.send(());
        }
    }
}

/// A built binary of this workspace (`tessera`, `tessera-desktop`), next to the test binary.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (scripts/test.sh does: cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the server at `server` (a base URL) answers its health check.
pub async fn wait_up(server: &str) {
    wait_up_at(&format!("{server}/api/health")).await;
}

/// Waits until `url` answers a GET with 2xx.
pub async fn wait_up_at(url: &str) {
    let url = url.to_owned();
    eventually(Duration::from_secs(20), "the server to answer", || {
        let url = url.clone();
        async move {
            reqwest::get(&url)
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;
}

/// A sentiment project named `name` holding `n` sample tasks, made by `requester`; its id.
pub async fn sentiment_project(requester: &ApiClient, name: &str, n: usize) -> i64 {
    let schema = tessera_core::LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
    project_with(requester, name, schema, &[&sample_jsonl(n)]).await
}

/// A sentiment project of `n` sample tasks that wants one answer per task: a task leased to
/// one annotator is leased to no one else, so any task two people both see came from a
/// shared store.
pub async fn one_answer_project(requester: &ApiClient, name: &str, n: usize) -> i64 {
    let schema = r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 1}"#;
    let schema = tessera_core::LabelSchema::from_json(schema).expect("schema");
    project_with(requester, name, schema, &[&sample_jsonl(n)]).await
}

/// A project named `name` of `schema`, made by `requester`, with each of `batches` (JSONL)
/// uploaded in turn, every line stored; its id.
pub async fn project_with(
    requester: &ApiClient,
    name: &str,
    schema: tessera_core::LabelSchema,
    batches: &[&str],
) -> i64 {
    let project = requester
        .create_project(name, schema)
        .await
        .expect("project")
        .id;
    for batch in batches {
        let uploaded = requester
            .upload(
                project,
                tessera_core::UploadFormat::Jsonl,
                batch.to_string(),
            )
            .await
            .expect("upload");
        assert_eq!(uploaded.tasks_added, batch.lines().count());
    }
    project
}

/// Answers the next `n` open tasks of `project` in a device's local store, offline, with
/// labels cycling through the sentiment schema's from `offset`; returns (task, label) in
/// answer order.
pub fn answer_open_tasks(
    store: &tessera_client::LocalStore,
    project: i64,
    n: usize,
    offset: usize,
) -> Vec<(i64, String)> {
    let labels = ["positive", "negative", "neutral"];
    (0..n)
        .map(|i| {
            let task = store
                .next_task(Some(project))
                .expect("next")
                .expect("a leased task");
            let label = labels[(offset + i) % 3].to_owned();
            store
                .record_answer(task.id, vec![label.clone()], false, Utc::now())
                .expect("answer");
            (task.id, label)
        })
        .collect()
}

/// The project's JSONL export, one record per task.
pub async fn export_records(requester: &ApiClient, project: i64) -> Vec<tessera_api::ExportRecord> {
    requester
        .export(project, "jsonl")
        .await
        .expect("export")
        .text()
        .await
        .expect("export body")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

/// From the project's export, `annotator`'s current answer to each task they answered:
/// (labels joined by `|`, revision). Fails when a task holds two answers of theirs.
pub async fn answers_of(
    requester: &ApiClient,
    project: i64,
    annotator: &str,
) -> std::collections::BTreeMap<i64, (String, u32)> {
    let mut answers = std::collections::BTreeMap::new();
    for record in export_records(requester, project).await {
        let mine: Vec<_> = record
            .answers
            .iter()
            .filter(|a| a.annotator == annotator)
            .collect();
        assert!(
            mine.len() <= 1,
            "task {} holds {} answers of {annotator}",
            record.task_id,
            mine.len()
        );
        if let Some(a) = mine.first() {
            answers.insert(record.task_id, (a.labels.join("|"), a.revision));
        }
    }
    answers
}

/// JSONL of `n` sentiment tasks with predictions, ids `t1..tn`.
pub fn sample_jsonl(n: usize) -> String {
    let labels = ["positive", "negative", "neutral"];
    (1..=n)
        .map(|i| {
            serde_json::json!({
                "id": format!("t{i}"),
                "data": {"text": format!("sample sentence number {i}")},
                "predictions": [{"model_version": "m1", "score": 0.8, "result": labels[i % 3]}]
            })
            .to_string()
                + "\n"
        })
        .collect()
}

pub const SENTIMENT_SCHEMA: &str =
    r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3}"#;

/// The ids of the projects `api`'s token lists.
pub async fn project_ids(api: &ApiClient) -> Vec<i64> {
    api.projects()
        .await
        .expect("projects")
        .iter()
        .map(|p| p.id)
        .collect()
}

/// A first-revision answer to `task_id` with `labels`, made now, as a device would push it.
pub fn answer_push(task_id: i64, labels: &[&str]) -> tessera_api::AnswerPush {
    tessera_api::AnswerPush {
        id: uuid::Uuid::now_v7(),
        task_id,
        revision: 1,
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        skipped: false,
        unsure: false,
        skip_reason: None,
        answered_at: Utc::now(),
        device_id: None,
        prediction_verdict: None,
        prediction_model: None,
    }
}

/// The status and body of an error the server answered with; fails on any other error.
pub fn api_error(e: tessera_client::ClientError) -> (u16, tessera_api::ErrorBody) {
    match e {
        tessera_client::ClientError::Api { status, body } => (status, body),
        other => panic!("expected an API error, got {other}"),
    }
}

/// A program in a Python venv of a real peer scripts/test.sh installs outside the clone:
/// `$ENV_VAR` when set, else `~/.cache/tessera/<name>` (label-studio-sdk's converter, spaCy).
pub fn peer_venv_program(env_var: &str, name: &str, program: &str) -> PathBuf {
    let venv = std::env::var_os(env_var)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tessera").join(name))
        })
        .expect("HOME");
    let path = venv.join("bin").join(program);
    assert!(
        path.exists(),
        "{} is missing: scripts/test.sh installs it (or set {env_var})",
        path.display()
    );
    path
}

/// This crate's directory (tests/) in the checkout being tested: cargo's run-time
/// `CARGO_MANIFEST_DIR`, else the compile-time one. A test binary reused from a build cache
/// made in another checkout must read this checkout's files, not that one's.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A file of the corpus of other tools' files (tests/corpus, sources in its README).
pub fn corpus(tool: &str, name: &str) -> PathBuf {
    manifest_dir().join("corpus").join(tool).join(name)
}

/// Runs `tessera upload PROJECT FILE` (and `extra` flags) against `server` with `token`,
/// insisting on success; its standard output.
pub fn cli_upload(
    server: &TestServer,
    token: &str,
    project: i64,
    file: &std::path::Path,
    extra: &[&str],
) -> String {
    let project = project.to_string();
    let mut args = vec![
        "upload",
        project.as_str(),
        file.to_str().expect("a UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    tessera_ok(
        &args,
        &[
            ("TESSERA_SERVER", server.url.as_str()),
            ("TESSERA_TOKEN", token),
        ],
    )
}

/// Runs the built `tessera` binary with `args` and `env` (and no token but one `env` gives),
/// insisting on success; its standard output.
pub fn tessera_ok<V: AsRef<std::ffi::OsStr>>(args: &[&str], env: &[(&str, V)]) -> String {
    let mut command = std::process::Command::new(built_binary("tessera"));
    // No sign-in of the machine's user leaks in (a test that signs in names its own file).
    command
        .args(args)
        .env_remove("TESSERA_TOKEN")
        .env("TESSERA_CONFIG", "/nonexistent/tessera-login.json");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("run tessera");
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

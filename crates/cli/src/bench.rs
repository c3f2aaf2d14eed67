//! `tessera bench queue`: the queue server's load generator. Simulated annotators lease tasks,
//! answer them and push the answers in a loop, against an in-process server (on a temporary
//! SQLite file or the `--db` URL) or against running servers (`--server`, several for
//! replicas); the figures come out as JSON.
//!
//! Two ways to load: closed (the default: every annotator asks again the moment its push
//! returns, which finds the server's capacity, and whose latencies are then mostly queueing:
//! by Little's law the mean is annotators ÷ requests per second) and paced (`--rate`: the
//! annotators together aim at a fixed number of answers per second, each on its own fixed
//! schedule, which shows the latency a team sees at that load). Paced latencies are counted
//! from when the request was due, not from when it was sent, so a server that falls behind
//! cannot hide it by slowing the load down (coordinated omission).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use serde::Serialize;
use tessera_api::{AnswerPush, PushStatus, Role};
use tessera_client::{ApiClient, ClientError};
use tessera_core::{LabelSchema, UploadFormat};
use tessera_server::store::open_store;
use tessera_server::{AppState, ensure_admin_token};
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Load the queue: N annotators doing lease → answer → push for a while.
    Queue(QueueArgs),
}

#[derive(Args)]
pub struct QueueArgs {
    /// Simulated annotators, each its own connection and loop.
    #[arg(long, default_value_t = 64)]
    annotators: usize,
    /// Seconds of load (after set-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Database of the in-process server (default: a temporary SQLite file).
    #[arg(long, conflicts_with = "server")]
    db: Option<String>,
    /// Load running servers instead (repeat for replicas; annotators are spread over them).
    /// Needs an admin token: --token or TESSERA_TOKEN.
    #[arg(long)]
    server: Vec<String>,
    #[arg(long, env = "TESSERA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Tasks uploaded into the bench project before the load starts.
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    /// Tasks per upload request.
    #[arg(long, default_value_t = 100_000)]
    upload_batch: usize,
    /// Tasks per lease, and so answers per push.
    #[arg(long, default_value_t = 10)]
    batch: u32,
    /// Distinct annotators per task.
    #[arg(long, default_value_t = 3)]
    overlap: u32,
    /// The project's queue order: `default`, or `uncertainty`.
    #[arg(long, default_value = "default", value_parser = ["default", "uncertainty"])]
    order: String,
    /// Upload each task with a prediction whose score spreads over 0–1 with no relation to
    /// upload order (what the uncertainty order sorts by).
    #[arg(long)]
    predictions: bool,
    /// Pace the load at this many answers per second in total (default: closed loop, as fast
    /// as the server answers).
    #[arg(long)]
    rate: Option<f64>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct QueueReport {
    pub backend: String,
    pub servers: usize,
    pub annotators: usize,
    pub tasks: usize,
    pub batch: u32,
    pub overlap: u32,
    pub project_id: i64,
    /// The paced load's target in answers per second; none for the closed loop.
    pub rate_target: Option<f64>,
    pub duration_s: f64,
    /// Answers the server acknowledged as stored.
    pub answers: u64,
    pub answers_per_s: f64,
    pub leases: u64,
    pub lease_p50_ms: f64,
    pub lease_p95_ms: f64,
    pub lease_p99_ms: f64,
    pub push_p50_ms: f64,
    pub push_p95_ms: f64,
    pub push_p99_ms: f64,
    /// Failed requests (transport errors and error statuses) and answers the server refused.
    pub errors: u64,
    /// Of `errors`, responses with a 5xx status.
    pub server_errors: u64,
    /// Annotators that found no task left before the end.
    pub starved: usize,
}

/// One simulated annotator's tally.
#[derive(Default)]
struct Tally {
    lease_ms: Vec<f64>,
    push_ms: Vec<f64>,
    answers: u64,
    errors: u64,
    server_errors: u64,
    starved: bool,
}

impl Tally {
    fn failed(&mut self, e: &ClientError) {
        self.errors += 1;
        if matches!(e, ClientError::Api { status, .. } if *status >= 500) {
            self.server_errors += 1;
        }
        tracing::debug!(error = %e, "bench request failed");
    }
}

pub async fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Queue(args) => {
            let json = args.json;
            let report = queue(args).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print_report(&report);
            }
            Ok(())
        }
    }
}

fn print_report(r: &QueueReport) {
    println!(
        "{} annotators, {:.1} s on {} ({} server{}), {} tasks, {} per lease",
        r.annotators,
        r.duration_s,
        r.backend,
        r.servers,
        if r.servers == 1 { "" } else { "s" },
        r.tasks,
        r.batch
    );
    match r.rate_target {
        Some(rate) => println!("paced at {rate:.0} answers/s (latencies from when each was due)"),
        None => println!("closed loop (each annotator asks again as soon as it is answered)"),
    }
    println!(
        "answers: {} ({:.0}/s)   errors: {} (5xx: {})",
        r.answers, r.answers_per_s, r.errors, r.server_errors
    );
    println!(
        "lease ms: p50 {:.2}  p95 {:.2}  p99 {:.2}   push ms: p50 {:.2}  p95 {:.2}  p99 {:.2}",
        r.lease_p50_ms, r.lease_p95_ms, r.lease_p99_ms, r.push_p50_ms, r.push_p95_ms, r.push_p99_ms
    );
    if r.starved > 0 {
        println!(
            "{} annotators ran out of tasks: upload more (--tasks)",
            r.starved
        );
    }
}

/// A server started for the run, stopped when dropped.
struct LocalServer {
    url: String,
    admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl LocalServer {
    async fn start(db: Option<&str>) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let db = db.map_or_else(
            || dir.path().join("bench.db").display().to_string(),
            str::to_owned,
        );
        let store = open_store(&db)
            .await
            .with_context(|| format!("opening database {db}"))?;
        let state = Arc::new(AppState::new(store));
        let token_path = dir.path().join("admin.token");
        let admin_token = admin_token(&state, &token_path)
            .await
            .context("making an admin token")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(tessera_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            url,
            admin_token,
            stop: Some(stop),
            handle,
            _dir: dir,
        })
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle).await??;
        Ok(())
    }
}

/// An admin token for a fresh database, or a new one made with the store directly when the
/// database (`--db`) already has an admin.
async fn admin_token(state: &AppState, path: &Path) -> Result<String> {
    if !ensure_admin_token(state.store.as_ref(), state.clock.as_ref(), path).await? {
        let token = tessera_server::auth::generate_token();
        state
            .store
            .create_user(
                "bench-admin",
                Role::Admin,
                &tessera_server::auth::hash_token(&token),
                state.clock.now(),
            )
            .await?;
        return Ok(token);
    }
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

pub async fn queue(args: QueueArgs) -> Result<QueueReport> {
    if args.annotators == 0 || args.batch == 0 || args.tasks == 0 {
        bail!("--annotators, --batch and --tasks must be at least 1");
    }
    if !args.duration.is_finite() || args.duration <= 0.0 {
        bail!("--duration must be a positive number of seconds");
    }
    if args.rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
        bail!("--rate must be a positive number of answers per second");
    }
    let local = if args.server.is_empty() {
        Some(LocalServer::start(args.db.as_deref()).await?)
    } else {
        None
    };
    let (urls, admin_token) = match &local {
        Some(s) => (vec![s.url.clone()], s.admin_token.clone()),
        None => (
            args.server.clone(),
            args.token
                .clone()
                .context("--server needs an admin token: pass --token or set TESSERA_TOKEN")?,
        ),
    };
    let backend = match (&local, &args.db) {
        (Some(_), Some(db)) if db.starts_with("postgres") => "postgresql",
        (Some(_), _) => "sqlite",
        (None, _) => "remote",
    };

    let admin = ApiClient::new(&urls[0], Some(admin_token))?;
    let project = set_up_project(&admin, &args).await?;
    let mut annotators = Vec::with_capacity(args.annotators);
    for i in 0..args.annotators {
        let made = admin
            .create_token(&format!("bench-annotator-{i}"), Role::Annotator)
            .await?;
        annotators.push(ApiClient::new(&urls[i % urls.len()], Some(made.token))?);
    }

    let labels = Arc::new(project.schema.labels.clone());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let loops: Vec<_> = annotators
        .into_iter()
        .enumerate()
        .map(|(seat, client)| {
            let pace = args
                .rate
                .map(|rate| Pace::for_seat(rate, args.annotators, args.batch, seat, started));
            tokio::spawn(annotate(Annotator {
                client,
                project: project.id,
                labels: Arc::clone(&labels),
                batch: args.batch,
                seat,
                pace,
                deadline,
            }))
        })
        .collect();
    let mut total = Tally::default();
    let mut starved = 0;
    for handle in loops {
        let t = handle.await.context("an annotator loop panicked")?;
        total.lease_ms.extend(t.lease_ms);
        total.push_ms.extend(t.push_ms);
        total.answers += t.answers;
        total.errors += t.errors;
        total.server_errors += t.server_errors;
        starved += usize::from(t.starved);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(server) = local {
        server.stop().await?;
    }
    let leases = total.lease_ms.len() as u64;
    let [lease_p50_ms, lease_p95_ms, lease_p99_ms] = percentiles(&mut total.lease_ms);
    let [push_p50_ms, push_p95_ms, push_p99_ms] = percentiles(&mut total.push_ms);
    Ok(QueueReport {
        backend: backend.to_owned(),
        servers: urls.len(),
        annotators: args.annotators,
        tasks: args.tasks,
        batch: args.batch,
        overlap: args.overlap,
        project_id: project.id,
        rate_target: args.rate,
        duration_s: elapsed,
        answers: total.answers,
        answers_per_s: total.answers as f64 / elapsed,
        leases,
        lease_p50_ms,
        lease_p95_ms,
        lease_p99_ms,
        push_p50_ms,
        push_p95_ms,
        push_p99_ms,
        errors: total.errors,
        server_errors: total.server_errors,
        starved,
    })
}

async fn set_up_project(admin: &ApiClient, args: &QueueArgs) -> Result<tessera_api::Project> {
    let mut schema = LabelSchema::from_json(
        r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"]}"#,
    )
    .map_err(anyhow::Error::msg)?;
    schema.overlap = args.overlap;
    if args.order == "uncertainty" {
        schema.order = tessera_core::QueueOrder::Uncertainty;
    }
    let project = admin.create_project("queue bench", schema).await?;
    let mut start = 0;
    while start < args.tasks {
        let end = (start + args.upload_batch.max(1)).min(args.tasks);
        let body: String = (start..end)
            .map(|i| {
                if args.predictions {
                    let score = (i * 7919 % 1000) as f64 / 1000.0;
                    format!(
                        "{{\"id\":\"b{i}\",\"data\":{{\"text\":\"bench sentence {i}\"}},\"predictions\":[{{\"result\":\"positive\",\"score\":{score}}}]}}\n"
                    )
                } else {
                    format!("{{\"id\":\"b{i}\",\"data\":{{\"text\":\"bench sentence {i}\"}}}}\n")
                }
            })
            .collect();
        admin.upload(project.id, UploadFormat::Jsonl, body).await?;
        start = end;
    }
    Ok(project)
}

/// A paced annotator's schedule: one lease every `every`, from `first` on.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pace {
    first: Instant,
    every: Duration,
}

impl Pace {
    /// `annotators` seats sharing `rate` answers per second in leases of `batch` tasks: each
    /// seat leases every `annotators × batch ÷ rate` seconds, the seats spread evenly over that
    /// period so the load arrives smoothly rather than all at once.
    fn for_seat(rate: f64, annotators: usize, batch: u32, seat: usize, start: Instant) -> Self {
        let every = Duration::from_secs_f64(annotators as f64 * f64::from(batch) / rate);
        let first = start + every.mul_f64(seat as f64 / annotators as f64);
        Pace { first, every }
    }

    /// When the `cycle`-th lease is due.
    fn due(&self, cycle: u32) -> Instant {
        self.first + self.every * cycle
    }
}

struct Annotator {
    client: ApiClient,
    project: i64,
    labels: Arc<Vec<String>>,
    batch: u32,
    seat: usize,
    pace: Option<Pace>,
    deadline: Instant,
}

/// One annotator: lease a batch, answer it, push the answers; until the deadline. Paced, each
/// lease waits for its turn and its latency counts from then; closed, from when it was sent.
async fn annotate(a: Annotator) -> Tally {
    let mut tally = Tally::default();
    let mut cycle = 0;
    loop {
        let asked = match a.pace {
            Some(pace) => {
                let due = pace.due(cycle);
                cycle += 1;
                if due >= a.deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                due
            }
            None if Instant::now() < a.deadline => Instant::now(),
            None => break,
        };
        let leased = match a.client.lease(a.project, a.batch, None).await {
            Ok(r) => r.tasks,
            Err(e) => {
                tally.failed(&e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tally.lease_ms.push(ms(asked.elapsed()));
        if leased.is_empty() {
            tally.starved = true;
            break;
        }
        let answers: Vec<AnswerPush> = leased
            .iter()
            .map(|t| AnswerPush {
                id: Uuid::now_v7(),
                task_id: t.task_id,
                revision: 1,
                labels: vec![a.labels[(t.task_id as usize + a.seat) % a.labels.len()].clone()],
                skipped: false,
                unsure: false,
                skip_reason: None,
                answered_at: Utc::now(),
                device_id: None,
                prediction_verdict: None,
                prediction_model: None,
            })
            .collect();
        let pushed = Instant::now();
        match a.client.push(answers).await {
            Ok(r) => {
                tally.push_ms.push(ms(pushed.elapsed()));
                for result in &r.results {
                    match result.status {
                        PushStatus::Accepted => tally.answers += 1,
                        PushStatus::Duplicate => {}
                        PushStatus::Rejected => tally.errors += 1,
                    }
                }
            }
            Err(e) => tally.failed(&e),
        }
    }
    tally
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p95 and p99 (nearest rank); zeros when nothing was measured.
fn percentiles(samples: &mut [f64]) -> [f64; 3] {
    if samples.is_empty() {
        return [0.0; 3];
    }
    samples.sort_by(f64::total_cmp);
    [0.50, 0.95, 0.99].map(|p| {
        let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1]
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Pace, percentiles};

    #[test]
    fn paced_seats_share_the_rate_evenly() {
        let start = Instant::now();
        // 4 seats × 10 tasks at 400 answers/s: each seat leases every 100 ms, 25 ms apart.
        let seats: Vec<Pace> = (0..4)
            .map(|s| Pace::for_seat(400.0, 4, 10, s, start))
            .collect();
        for (seat, pace) in seats.iter().enumerate() {
            assert_eq!(pace.every, Duration::from_millis(100));
            assert_eq!(pace.due(0) - start, Duration::from_millis(25 * seat as u64));
            assert_eq!(pace.due(3) - pace.due(0), Duration::from_millis(300));
        }
        // Over one second the seats together are due 40 leases of 10: the 400 answers asked for.
        let leases = seats
            .iter()
            .flat_map(|p| (0..20).map(|c| p.due(c)))
            .filter(|due| *due < start + Duration::from_secs(1))
            .count();
        assert_eq!(leases * 10, 400);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        assert_eq!(percentiles(&mut samples), [100.0, 190.0, 198.0]);
        assert_eq!(percentiles(&mut []), [0.0; 3]);
        assert_eq!(percentiles(&mut [7.0]), [7.0; 3]);
    }
}

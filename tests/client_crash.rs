//! The client killed at random moments: `tessera work answer` and `tessera work sync` (the same
//! client crate as the desktop app) are `kill -9`ed at random instants, over and over, while
//! an annotator works through a checkout. Afterwards one clean sync runs, and the server holds
//! every answer the client acknowledged, exactly once — and nothing twice. On both backends.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_api::Role;
use tessera_tests::{Backend, TestServer, answers_of, built_binary, sentiment_project};
use tokio::process::Command;

/// Processes killed while still running, per backend: 200 (so at least 200 on each backend in
/// every CI run), or `TESSERA_CRASH_KILLS` for a longer run.
fn kills_wanted() -> usize {
    std::env::var("TESSERA_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

struct Device<'a> {
    server: &'a str,
    home: &'a Path,
    token: &'a str,
}

impl Device<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(built_binary("tessera"));
        cmd.args(args)
            .env("TESSERA_SERVER", self.server)
            .env("TESSERA_HOME", self.home)
            .env("TESSERA_TOKEN", self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs to the end; stdout.
    async fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().await.expect("run tessera");
        assert!(out.status.success(), "tessera {args:?} failed");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Starts `args` and kills it (SIGKILL) after `after`. Returns its stdout and whether it
    /// was still running when killed.
    async fn run_and_kill(&self, args: &[&str], after: Duration) -> (String, bool) {
        let mut child = self.command(args).spawn().expect("spawn tessera");
        tokio::time::sleep(after).await;
        let killed = matches!(child.try_wait(), Ok(None));
        if killed {
            let _ = child.start_kill();
        }
        let out = child.wait_with_output().await.expect("wait");
        (String::from_utf8_lossy(&out.stdout).into_owned(), killed)
    }
}

async fn acknowledged_answers_survive_kills(backend: Backend, seed: u64) {
    let wanted = kills_wanted();
    // Room for every answer process killed before it committed.
    let tasks = wanted * 4;
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&requester, "crash", tasks).await;
    let (_, token) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("tempdir");
    let device = Device {
        server: &server.url,
        home: home.path(),
        token: &token,
    };
    let project_id = project.to_string();
    assert!(
        device
            .run(&[
                "work",
                "checkout",
                &project_id,
                "--limit",
                &tasks.to_string()
            ])
            .await
            .contains(&tasks.to_string())
    );

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels = ["positive", "negative", "neutral"];
    // task → label, for every answer whose "recorded" line the client printed.
    let mut acknowledged: BTreeMap<i64, String> = BTreeMap::new();
    let (mut kills, mut round) = (0, 0);
    while kills < wanted {
        round += 1;
        assert!(
            round <= tasks,
            "ran out of tasks after {kills} kills in {round} rounds"
        );
        let next: serde_json::Value =
            serde_json::from_str(&device.run(&["work", "next", "--json"]).await).expect("json");
        let Some(task) = next["id"].as_i64() else {
            panic!("no open task left after {kills} kills")
        };
        let label = labels[round % 3];
        let (out, killed) = device
            .run_and_kill(
                &["work", "answer", &task.to_string(), label],
                Duration::from_millis(rng.random_range(0..25)),
            )
            .await;
        kills += usize::from(killed);
        if out.contains(&format!("to task {task} ")) {
            acknowledged.insert(task, label.to_owned());
        }
        if round % 3 == 0 {
            let (_, killed) = device
                .run_and_kill(
                    &["work", "sync"],
                    Duration::from_millis(rng.random_range(0..300)),
                )
                .await;
            kills += usize::from(killed);
        }
    }
    assert!(
        device.run(&["work", "sync"]).await.contains("pushed"),
        "the clean sync"
    );
    let status: serde_json::Value =
        serde_json::from_str(&device.run(&["work", "status", "--json"]).await).expect("json");
    assert_eq!(status["pending"].as_u64(), Some(0), "nothing left to sync");

    let on_server: BTreeMap<i64, String> = answers_of(&requester, project, "ann")
        .await
        .into_iter()
        .map(|(task, (labels, _))| (task, labels))
        .collect();
    for (task, label) in &acknowledged {
        assert_eq!(
            on_server.get(task),
            Some(label),
            "{backend:?}: acknowledged answer to task {task} lost"
        );
    }
    println!(
        "{backend:?}: {kills} kills in {round} rounds; {} answers acknowledged, {} on the server",
        acknowledged.len(),
        on_server.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_answers_survive_kills_on_sqlite() {
    acknowledged_answers_survive_kills(Backend::Sqlite, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_answers_survive_kills_on_postgres() {
    acknowledged_answers_survive_kills(Backend::Postgres, 5).await;
}

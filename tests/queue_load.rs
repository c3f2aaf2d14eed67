//! `tessera bench queue` as a test: its load on an in-process SQLite server, and on three
//! `tessera serve` replicas sharing one PostgreSQL database. While the load runs and after it,
//! no task holds more live leases plus answers than its overlap, no annotator holds a task
//! twice, every acknowledged answer is stored once, and no request fails.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tessera_tests::{built_binary, free_port, fresh_postgres_database, wait_up};
use tokio::process::{Child, Command};

/// Runs `tessera bench queue ARGS --json` to completion and returns its report.
async fn bench(args: &[&str]) -> Value {
    let out = bench_command(args)
        .output()
        .await
        .expect("run tessera bench");
    report(&out)
}

fn bench_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(built_binary("tessera"));
    cmd.args(["bench", "queue", "--json"])
        .args(args)
        .env_remove("TESSERA_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn report(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "tessera bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report on stdout")
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_load_generator_reports_a_clean_run_on_sqlite() {
    let report = bench(&["--annotators", "8", "--duration", "2", "--tasks", "20000"]).await;
    assert_eq!(report["backend"], "sqlite");
    assert!(count(&report, "answers") > 0, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "starved"), 0, "{report}");
    for key in [
        "answers_per_s",
        "lease_p50_ms",
        "lease_p95_ms",
        "lease_p99_ms",
        "push_p99_ms",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    assert!(report["lease_p50_ms"].as_f64() <= report["lease_p99_ms"].as_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paced_load_asks_for_exactly_its_rate() {
    // 4 annotators sharing 200 answers/s in leases of 10: each leases every 200 ms, so 2 s
    // hold 40 leases and 400 answers, however fast the server is.
    let report = bench(&[
        "--annotators",
        "4",
        "--duration",
        "2",
        "--tasks",
        "1000",
        "--rate",
        "200",
    ])
    .await;
    assert_eq!(report["rate_target"].as_f64(), Some(200.0), "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "leases"), 40, "{report}");
    assert_eq!(count(&report, "answers"), 400, "{report}");
}

fn serve(data_dir: &Path, db: &str, port: u16) -> Child {
    Command::new(built_binary("tessera"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            db,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tessera serve")
}

/// Tasks whose live leases plus answered leases exceed `overlap`, and (task, annotator) pairs
/// with more than one lease row or more than one first-revision answer.
async fn violations(db: &tokio_postgres::Client, overlap: i64) -> (i64, i64) {
    let over: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM (SELECT task_id FROM leases
                 WHERE state = 'answered' OR (state = 'active' AND expires_at > now())
                 GROUP BY task_id HAVING COUNT(*) > $1) over",
            &[&overlap],
        )
        .await
        .expect("over-assignment query")
        .get(0);
    let twice: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM (SELECT task_id, annotator_id FROM answers
                 GROUP BY task_id, annotator_id, revision HAVING COUNT(*) > 1) twice",
            &[],
        )
        .await
        .expect("duplicate query")
        .get(0);
    (over, twice)
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_on_one_postgres_never_over_assign_or_lose_an_answer() {
    let db_url = fresh_postgres_database().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    // The first replica makes the database and the admin token; the other two join it.
    let ports = [free_port(), free_port(), free_port()];
    let mut replicas = vec![serve(tmp.path(), &db_url, ports[0])];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    wait_up(&urls[0]).await;
    for &port in &ports[1..] {
        replicas.push(serve(tmp.path(), &db_url, port));
    }
    for url in &urls[1..] {
        wait_up(url).await;
    }
    let token = std::fs::read_to_string(tmp.path().join("admin.token")).expect("admin token");

    let (db, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);

    let mut args = vec![
        "--annotators",
        "24",
        "--duration",
        "5",
        "--tasks",
        "2000",
        "--overlap",
        "2",
        "--batch",
        "5",
        "--token",
        token.trim(),
    ];
    for url in &urls {
        args.extend(["--server", url.as_str()]);
    }
    let load = bench_command(&args).spawn().expect("start tessera bench");
    // Watch the invariant while the load runs, not only at the end.
    let mut checks = 0;
    let watching = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert_eq!(violations(&db, 2).await, (0, 0), "during the load");
            checks += 1;
        }
    };
    let out = tokio::select! {
        out = load.wait_with_output() => out.expect("bench output"),
        () = watching => unreachable!(),
    };
    let report = report(&out);
    assert!(checks >= 5, "the invariant was checked only {checks} times");
    assert_eq!(count(&report, "servers"), 3);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "server_errors"), 0, "{report}");
    let acknowledged = count(&report, "answers");
    assert!(acknowledged > 0, "{report}");

    assert_eq!(violations(&db, 2).await, (0, 0), "after the load");
    let stored: i64 = db
        .query_one("SELECT COUNT(*) FROM answers", &[])
        .await
        .expect("count answers")
        .get(0);
    assert_eq!(
        stored as u64, acknowledged,
        "every acknowledged answer, once"
    );
    let over_answered: i64 = db
        .query_one("SELECT COUNT(*) FROM tasks WHERE answer_count > 2", &[])
        .await
        .expect("answer counts")
        .get(0);
    assert_eq!(over_answered, 0);
    for mut replica in replicas {
        let _ = replica.kill().await;
    }
}

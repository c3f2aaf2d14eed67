//! The offline scenario with real processes: `tessera serve` and `tessera work`. Check out 20
//! tasks for offline work (the project's quota), the requester cancels two of them, the server
//! stops, all 20 are answered, the server restarts, sync: the export holds those 20 answers
//! exactly once, 18 counted and the 2 on cancelled tasks kept apart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use tessera_api::ExportRecord;
use tessera_tests::{SENTIMENT_SCHEMA, built_binary, free_port, sample_jsonl, wait_up};

struct Cli {
    bin: PathBuf,
    server: String,
    data_dir: PathBuf,
    home: PathBuf,
}

impl Cli {
    fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("TESSERA_SERVER", &self.server)
            .env("TESSERA_DATA_DIR", &self.data_dir)
            .env("TESSERA_HOME", &self.home)
            .env_remove("TESSERA_TOKEN");
        if let Some(t) = token {
            cmd.env("TESSERA_TOKEN", t);
        }
        cmd.output().expect("run tessera")
    }

    /// Runs and insists on success; returns stdout.
    fn ok(&self, token: Option<&str>, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(
            out.status.success(),
            "tessera {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    fn serve(&self, listen: &str) -> Child {
        Command::new(&self.bin)
            .args(["serve", "--listen", listen, "--refit-every", "1"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tessera serve")
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[tokio::test]
async fn answers_made_while_the_server_is_down_sync_exactly_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let cli = Cli {
        bin: built_binary("tessera"),
        server: format!("http://{listen}"),
        data_dir: tmp.path().join("server"),
        home: tmp.path().join("annotator"),
    };
    let mut server = cli.serve(&listen);
    wait_up(&cli.server).await;
    let token_file = cli.data_dir.join("admin.token");
    assert!(token_file.exists(), "serve writes the admin token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Requester side, with the admin token the server wrote.
    let mut schema: serde_json::Value = serde_json::from_str(SENTIMENT_SCHEMA).expect("schema");
    schema["offline_quota"] = 20.into();
    let schema = write(tmp.path(), "schema.json", &schema.to_string());
    let project = cli
        .ok(
            None,
            &["project", "create", "offline test", "--schema", &schema],
        )
        .trim()
        .to_owned();
    let batch = write(tmp.path(), "batch.jsonl", &sample_jsonl(30));
    assert!(cli.ok(None, &["upload", &project, &batch]).contains("30"));
    // Batch priorities from the command line, in a project of their own.
    let ranked = cli
        .ok(None, &["project", "create", "ranked", "--schema", &schema])
        .trim()
        .to_owned();
    cli.ok(None, &["upload", &ranked, &batch]);
    let urgent = write(
        tmp.path(),
        "urgent.jsonl",
        &sample_jsonl(2).replace(r#""id":"t"#, r#""id":"u"#),
    );
    let added = cli.ok(None, &["upload", &ranked, &urgent, "--priority", "5"]);
    assert!(added.contains("added 2 tasks (batch 3)"), "{added}");
    let set = cli.ok(None, &["batch", "priority", &ranked, "2", "-1"]);
    assert_eq!(set.trim(), "batch 2 (30 tasks): priority -1");
    let listed = cli.ok(None, &["batch", "list", &ranked]);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(3).collect())
        .collect();
    assert_eq!(rows, [["2", "30", "-1"], ["3", "2", "5"]], "{listed}");
    let missing = cli.run(None, &["batch", "priority", &ranked, "1", "9"]);
    assert!(!missing.status.success(), "batch 1 is another project's");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("not_found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let token = cli
        .ok(
            None,
            &["token", "create", "--role", "annotator", "--name", "olga"],
        )
        .trim()
        .to_owned();
    assert!(token.starts_with("tsr_"));

    let t = Some(token.as_str());
    let checkout = cli.ok(
        t,
        &["work", "checkout", &project, "--limit", "25", "--offline"],
    );
    assert!(
        checkout
            .contains("20 tasks checked out for offline work (the project's offline quota is 20)"),
        "{checkout}"
    );
    // The requester withdraws two of them while Olga is away (she does not sync again).
    let cancel = cli.ok(None, &["cancel", &project, "t1", "t2"]);
    assert!(cancel.contains("2 tasks cancelled"), "{cancel}");
    let unknown = cli.run(None, &["cancel", &project, "t999"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("t999"));

    kill(&mut server);
    assert!(
        !cli.run(t, &["work", "sync"]).status.success(),
        "sync must report the server down"
    );

    let labels = ["positive", "negative", "neutral"];
    let mut answered = Vec::new();
    for i in 0..20 {
        let next: serde_json::Value =
            serde_json::from_str(&cli.ok(t, &["work", "next", "--json"])).expect("json");
        let id = next["id"].as_i64().expect("task id");
        assert!(next["data"]["text"].is_string());
        cli.ok(t, &["work", "answer", &id.to_string(), labels[i % 3]]);
        answered.push((id, labels[i % 3]));
    }
    assert_eq!(cli.ok(t, &["work", "next", "--json"]).trim(), "null");
    let status: serde_json::Value =
        serde_json::from_str(&cli.ok(t, &["work", "status", "--json"])).expect("json");
    assert_eq!(
        (status["pending"].as_u64(), status["leased"].as_u64()),
        (Some(20), Some(0))
    );

    let mut server = cli.serve(&listen);
    wait_up(&cli.server).await;
    assert!(cli.ok(t, &["work", "sync"]).contains("pushed 20 answers"));
    // A second sync has nothing left to push.
    assert!(cli.ok(t, &["work", "sync"]).contains("pushed 0 answers"));
    let status: serde_json::Value =
        serde_json::from_str(&cli.ok(t, &["work", "status", "--json"])).expect("json");
    assert_eq!(status["pending"].as_u64(), Some(0));

    let export = cli.ok(None, &["export", &project]);
    let records: Vec<ExportRecord> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(records.len(), 30);
    let mut olga: Vec<(i64, String)> = records
        .iter()
        .flat_map(|r| {
            r.answers
                .iter()
                .filter(|a| a.annotator == "olga")
                .map(move |a| (r.task_id, a.labels.join("|")))
        })
        .collect();
    let mut olga_uncounted: Vec<(i64, String)> = records
        .iter()
        .flat_map(|r| {
            r.uncounted_answers
                .iter()
                .map(move |a| (r.task_id, a.labels.join("|")))
        })
        .collect();
    assert_eq!(
        olga_uncounted.len(),
        2,
        "the answers to the cancelled tasks are kept"
    );
    olga.append(&mut olga_uncounted);
    olga.sort();
    let mut expected: Vec<(i64, String)> = answered
        .iter()
        .map(|(id, l)| (*id, (*l).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(olga, expected, "each offline answer exactly once");
    let status: serde_json::Value =
        serde_json::from_str(&cli.ok(None, &["status", &project, "--json"])).expect("json");
    assert_eq!(
        (status["tasks"].as_u64(), status["answers"].as_u64()),
        (Some(30), Some(18))
    );
    assert_eq!(
        (
            status["cancelled"].as_u64(),
            status["uncounted_answers"].as_u64()
        ),
        (Some(2), Some(2))
    );
    // The server re-fits consensus on its schedule (every second here): the majority vote
    // made on each push gives way to the aggregator's default method.
    tessera_tests::eventually(
        std::time::Duration::from_secs(20),
        "a scheduled re-fit",
        || async {
            let export = cli.ok(None, &["export", &project]);
            export
                .lines()
                .filter_map(|l| serde_json::from_str::<ExportRecord>(l).ok())
                .filter_map(|r| r.consensus)
                .any(|c| c.method == "auto")
                .then_some(())
        },
    )
    .await;

    // A requester's verdict from the command line becomes the task's final label.
    assert!(
        cli.ok(None, &["review", &project])
            .contains("no task is waiting")
    );
    let reviewed_id = answered[0].0.to_string();
    assert!(
        cli.ok(None, &["review", &project, &reviewed_id, "neutral"])
            .contains("reviewed")
    );
    let export = cli.ok(None, &["export", &project]);
    let record: ExportRecord = export
        .lines()
        .map(|l| serde_json::from_str::<ExportRecord>(l).expect("record"))
        .find(|r| r.task_id == answered[0].0)
        .expect("the reviewed task");
    assert_eq!(
        record.review.map(|r| r.labels),
        Some(vec!["neutral".to_owned()])
    );
    kill(&mut server);
}

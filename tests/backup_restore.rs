//! Backups as docs/operations.md tells them, on real `tessera serve` processes: SQLite's
//! `VACUUM INTO` and PostgreSQL's pg_dump taken while the server runs and answers arrive, then
//! restored under a new server. The restored server keeps every task, answer and token and the
//! task ids devices hold; answers acknowledged after the backup are not in it, and are stored
//! once when a device pushes them again.

use tessera_api::{AnswerPush, PushStatus, Role};
use tessera_client::ApiClient;
use tessera_tests::{
    Backend, ServeProcess, answer_push, fresh_postgres_database, sentiment_project,
};

fn statuses(pushed: &tessera_api::PushAnswersResponse) -> Vec<PushStatus> {
    pushed.results.iter().map(|r| r.status).collect()
}

/// Runs a program to success, naming it when it fails.
fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn restored_from_a_live_backup(backend: Backend) {
    let mut live = ServeProcess::start(backend).await;
    let admin = live.admin();
    let project = sentiment_project(&admin, "backed up", 20).await;
    let token = admin
        .create_token("ann", Role::Annotator)
        .await
        .expect("token")
        .token;
    let annotator = ApiClient::new(&live.url, Some(token.clone())).expect("client");
    let leased = annotator
        .lease(project, 5, None)
        .await
        .expect("lease")
        .tasks;
    assert_eq!(leased.len(), 5);
    let before: Vec<AnswerPush> = leased[..3]
        .iter()
        .map(|t| answer_push(t.task_id, &["positive"]))
        .collect();
    let after: Vec<AnswerPush> = leased[3..]
        .iter()
        .map(|t| answer_push(t.task_id, &["negative"]))
        .collect();
    let pushed = annotator.push(before.clone()).await.expect("push");
    assert_eq!(statuses(&pushed), vec![PushStatus::Accepted; 3]);

    // The backup, while the server runs, into a new data directory.
    let restored_dir = tempfile::tempdir().expect("tempdir");
    let server_dir = restored_dir.path().join("server");
    std::fs::create_dir(&server_dir).expect("data dir");
    std::fs::copy(
        live.data_dir().join("admin.token"),
        server_dir.join("admin.token"),
    )
    .expect("admin token");
    let restored_db = match backend {
        Backend::Sqlite => {
            let copy = server_dir.join("tessera.db");
            let conn = rusqlite::Connection::open(live.data_dir().join("tessera.db"))
                .expect("open the live database");
            conn.execute("VACUUM INTO ?1", [copy.to_str().expect("utf-8 path")])
                .expect("VACUUM INTO");
            None
        }
        Backend::Postgres => {
            let dump = restored_dir.path().join("tessera.dump");
            let live_db = live.database_url().expect("PostgreSQL URL");
            let dump_arg = dump.to_str().expect("utf-8 path");
            run("pg_dump", &["-Fc", "-d", live_db, "-f", dump_arg]);
            let fresh = fresh_postgres_database().await;
            run("pg_restore", &["--no-owner", "-d", &fresh, dump_arg]);
            Some(fresh)
        }
    };
    // Acknowledged after the backup: the restored server will not have these.
    let pushed = annotator.push(after.clone()).await.expect("push");
    assert_eq!(statuses(&pushed), vec![PushStatus::Accepted; 2]);
    live.kill().await;

    let restored = ServeProcess::start_in(restored_dir, restored_db).await;
    let admin = restored.admin();
    let status = admin
        .status(project)
        .await
        .expect("status on the restored server");
    assert_eq!((status.tasks, status.answers), (20, 3), "{status:?}");
    // The annotator's token and the task ids on their device still work; pushed again, the
    // three from before the backup are already there, the two after it are stored now.
    let annotator = ApiClient::new(&restored.url, Some(token)).expect("client");
    let again = annotator.push(before).await.expect("push before again");
    assert_eq!(statuses(&again), vec![PushStatus::Duplicate; 3]);
    let lost = annotator.push(after).await.expect("push after again");
    assert_eq!(statuses(&lost), vec![PushStatus::Accepted; 2]);
    let status = admin.status(project).await.expect("status");
    assert_eq!(status.answers, 5, "{status:?}");
}

#[tokio::test]
async fn sqlite_vacuum_into_a_running_server_restores_everything() {
    restored_from_a_live_backup(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_pg_dump_of_a_running_server_restores_everything() {
    restored_from_a_live_backup(Backend::Postgres).await;
}

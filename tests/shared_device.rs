//! Two annotators on one machine: the desktop's session logic (crates/client `Session`) and
//! `tessera work`, each against a real server on both stores. Each person has their own local
//! store: signing in as someone else never shows, answers or syncs another person's tasks,
//! and answers made while signed out of the server wait in their maker's store and reach the
//! server under their own name when that person comes back. None is lost or refused.

use std::path::Path;
use std::time::Duration;

use tessera_api::Role;
use tessera_client::session::Session;
use tessera_tests::{
    Backend, TestServer, answers_of, eventually, export_records, one_answer_project, tessera_ok,
};

/// Answers every task in the session's hand with `label`, offline or not; their ids.
fn answer_all(session: &Session, label: &str) -> Vec<i64> {
    let mut done = Vec::new();
    let mut next = session.next_task().expect("next");
    while let Some(task) = next {
        done.push(task.task_id);
        next = session
            .answer(task.task_id, vec![label.into()], false, Default::default())
            .expect("answer");
    }
    done
}

async fn synced(session: &Session, what: &str) {
    session.sync_now();
    eventually(Duration::from_secs(30), what, || async {
        (session.sync_status().ok()?.pending == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_annotators_take_turns_on_one_device_and_every_answer_is_theirs() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        take_turns(backend).await;
    }
}

async fn take_turns(backend: Backend) {
    let mut server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = one_answer_project(&requester, "shared device", 60).await;
    let (_, ann_token) = server.user(Role::Annotator, "ann").await;
    let (_, bob_token) = server.user(Role::Annotator, "bob").await;
    let home = tempfile::tempdir().expect("tempdir");
    let session = Session::open(home.path().to_path_buf()).expect("open");

    // Ann signs in, gets her tasks, then the network goes: she answers them all offline and
    // signs out with every answer still waiting to sync.
    session.sign_in(&server.url, &ann_token).await.expect("ann");
    server.stop().await;
    let ann_tasks = answer_all(&session, "positive");
    assert!(!ann_tasks.is_empty(), "ann had tasks in hand");
    let ann_status = session.sync_status().expect("status");
    assert_eq!(ann_status.pending as usize, ann_tasks.len());
    assert_eq!(ann_status.done_today as usize, ann_tasks.len());
    session.sign_out().expect("sign out");

    // Bob signs in on the same machine: none of Ann's tasks, answers or counts are his.
    server.restart().await;
    let bob = session.sign_in(&server.url, &bob_token).await.expect("bob");
    assert_eq!(bob.annotator, "bob");
    let status = session.sync_status().expect("status");
    assert_eq!(
        (status.pending, status.done_today),
        (0, 0),
        "Ann's work is not Bob's"
    );
    let upcoming = session.upcoming(20).expect("upcoming");
    assert!(!upcoming.is_empty(), "Bob gets tasks of his own");
    assert!(
        upcoming.iter().all(|t| !ann_tasks.contains(&t.task_id)),
        "Bob is shown none of the tasks Ann holds"
    );
    assert!(
        session.previous_task(None).expect("back").is_none(),
        "Backspace does not reach Ann's answers"
    );
    let bob_tasks = answer_all(&session, "negative");
    synced(&session, "Bob's answers to sync").await;
    assert_eq!(session.sync_status().expect("status").refused, 0);
    session.sign_out().expect("sign out");

    // Ann comes back (the app restarts first): her answers go up under her own name.
    drop(session);
    let session = Session::open(home.path().to_path_buf()).expect("reopen");
    assert!(
        session.restore().await.expect("restore").is_none(),
        "signed out"
    );
    session
        .sign_in(&server.url, &ann_token)
        .await
        .expect("ann again");
    synced(&session, "Ann's offline answers to sync").await;
    assert_eq!(session.sync_status().expect("status").refused, 0);

    let ann = answers_of(&requester, project, "ann").await;
    let bob = answers_of(&requester, project, "bob").await;
    assert_eq!(ann.keys().copied().collect::<Vec<_>>(), sorted(&ann_tasks));
    assert_eq!(bob.keys().copied().collect::<Vec<_>>(), sorted(&bob_tasks));
    assert!(ann.values().all(|(l, r)| l == "positive" && *r == 1));
    assert!(bob.values().all(|(l, r)| l == "negative" && *r == 1));
    let answers: usize = export_records(&requester, project)
        .await
        .iter()
        .map(|r| r.answers.len())
        .sum();
    assert_eq!(answers, ann_tasks.len() + bob_tasks.len());
}

fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

/// `tessera work` with `token` in `home`; stdout, insisting on success.
fn work(server: &str, home: &Path, token: &str, args: &[&str]) -> String {
    let args = [&["work"][..], args].concat();
    let env = [
        ("TESSERA_SERVER", server.as_ref()),
        ("TESSERA_HOME", home.as_os_str()),
        ("TESSERA_TOKEN", token.as_ref()),
    ];
    tessera_ok::<&std::ffi::OsStr>(&args, &env)
}

/// Answers every open task in `token`'s hand with `label`; their ids.
fn work_through(server: &str, home: &Path, token: &str, label: &str) -> Vec<i64> {
    let mut done = Vec::new();
    loop {
        let next: Option<serde_json::Value> =
            serde_json::from_str(&work(server, home, token, &["next", "--json"])).expect("json");
        let Some(id) = next.and_then(|t| t["id"].as_i64()) else {
            return done;
        };
        work(server, home, token, &["answer", &id.to_string(), label]);
        done.push(id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_annotators_share_one_home_with_tessera_work() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let mut server = TestServer::start_on(backend).await;
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let project = one_answer_project(&requester, "shared cli", 30).await;
        let (_, ann) = server.user(Role::Annotator, "ann").await;
        let (_, bob) = server.user(Role::Annotator, "bob").await;
        let home = tempfile::tempdir().expect("tempdir");
        let url = server.url.clone();
        let p = project.to_string();

        work(&url, home.path(), &ann, &["checkout", &p, "--limit", "5"]);
        work(&url, home.path(), &bob, &["checkout", &p, "--limit", "5"]);
        // Offline, each answers what is in their own hand — never the other's.
        server.stop().await;
        let ann_tasks = work_through(&url, home.path(), &ann, "positive");
        let bob_tasks = work_through(&url, home.path(), &bob, "negative");
        assert_eq!((ann_tasks.len(), bob_tasks.len()), (5, 5));
        assert!(ann_tasks.iter().all(|t| !bob_tasks.contains(t)));
        let status: serde_json::Value =
            serde_json::from_str(&work(&url, home.path(), &ann, &["status", "--json"]))
                .expect("json");
        assert_eq!(status["pending"], 5, "{status}");

        server.restart().await;
        for token in [&ann, &bob] {
            let synced = work(&url, home.path(), token, &["sync"]);
            assert!(synced.contains("pushed 5 answers (0 rejected)"), "{synced}");
            let refused = work(&url, home.path(), token, &["refused"]);
            assert!(refused.contains("refused none"), "{refused}");
        }
        let ann_answers = answers_of(&requester, project, "ann").await;
        let bob_answers = answers_of(&requester, project, "bob").await;
        assert_eq!(
            ann_answers.keys().copied().collect::<Vec<_>>(),
            sorted(&ann_tasks)
        );
        assert_eq!(
            bob_answers.keys().copied().collect::<Vec<_>>(),
            sorted(&bob_tasks)
        );
    }
}

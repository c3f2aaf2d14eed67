//! Sync through a network that breaks: a proxy between the device and the server refuses,
//! resets, delays and cuts connections mid-upload and mid-response (tests/proxy.rs). The
//! device keeps syncing until its outbox is empty; afterwards the server holds every answer
//! exactly once, at its latest revision — on both storage backends.

use std::collections::BTreeMap;

use chrono::Utc;
use tessera_api::Role;
use tessera_client::sync::{checkout, sync_once};
use tessera_client::{ApiClient, LocalStore};
use tessera_tests::proxy::FaultProxy;
use tessera_tests::{Backend, TestServer, answer_open_tasks, answers_of, sentiment_project};

/// Answers made offline (one checkout's worth), in rounds with a sync after each.
const ANSWERS: usize = 1_000;
const ROUNDS: usize = 20;
/// Earlier answers revised in each round (new revisions of answers already synced).
const REVISED_PER_ROUND: usize = 8;

async fn answers_survive_a_breaking_network(backend: Backend, seed: u64) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&requester, "faults", ANSWERS).await;
    let (annotator, token) = server.user(Role::Annotator, "ann").await;

    // Check out every task over the good network.
    let home = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&home.path().join("local.db")).expect("local store");
    let leased = checkout(&annotator, &store, project, ANSWERS as u32, Some(3600))
        .await
        .expect("checkout");
    assert_eq!(leased, ANSWERS);
    // In rounds: answer fifty tasks offline, revise some earlier answers, then sync
    // through the proxy until nothing is pending. Each attempt is a new client (a new
    // connection pool), so each meets a freshly drawn fault.
    let proxy = FaultProxy::start(server.addr(), seed, 0.7).await;
    let mut expected: BTreeMap<i64, (String, u32)> = BTreeMap::new();
    let mut attempts = 0;
    for round in 0..ROUNDS {
        let earlier: Vec<i64> = expected.keys().copied().collect();
        for (task, label) in answer_open_tasks(&store, project, ANSWERS / ROUNDS, round) {
            expected.insert(task, (label, 1));
        }
        for task in earlier
            .iter()
            .skip(round * 7)
            .step_by(6)
            .take(REVISED_PER_ROUND)
        {
            let (label, revision) = expected.get_mut(task).expect("answered");
            let revised = if label == "neutral" {
                "positive"
            } else {
                "neutral"
            };
            let answer = store
                .record_answer(*task, vec![revised.to_owned()], false, Utc::now())
                .expect("revise");
            *label = revised.to_owned();
            *revision = answer.revision;
        }
        loop {
            attempts += 1;
            assert!(
                attempts <= 500,
                "still pending after 500 attempts; faults: {:?}",
                proxy.counts()
            );
            let api = ApiClient::new(&proxy.url, Some(token.clone())).expect("client");
            match sync_once(&api, &store, |_, _| {}).await {
                Ok(report) => {
                    assert_eq!(report.rejected, 0, "nothing may be rejected");
                    if store.counts(None, Utc::now()).expect("counts").pending == 0 {
                        break;
                    }
                }
                Err(e) => assert!(
                    e.is_transient(),
                    "a network fault must read as transient: {e}"
                ),
            }
        }
    }
    let counts = proxy.counts();
    println!("{backend:?}: {attempts} sync attempts over {counts:?}");
    for kind in [
        "refuse",
        "reset",
        "delay",
        "cut upload",
        "cut response",
        "pass",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "the proxy never applied {kind:?}: {counts:?}"
        );
    }

    // The server, asked directly: every answer once, at its latest revision.
    let got = answers_of(&requester, project, "ann").await;
    assert_eq!(got, expected, "{backend:?}: after {attempts} attempts");
    let status = requester.status(project).await.expect("status");
    assert_eq!(status.answers as usize, ANSWERS, "{backend:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_survive_a_breaking_network_on_sqlite() {
    answers_survive_a_breaking_network(Backend::Sqlite, 7).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_survive_a_breaking_network_on_postgres() {
    answers_survive_a_breaking_network(Backend::Postgres, 11).await;
}

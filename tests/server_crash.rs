//! The server killed mid-push: a real `tessera serve` process gets `kill -9` at random
//! instants while a device pushes its outbox, and is started again on the same database.
//! Whatever the server acknowledged before dying must be there after the restart: the device
//! never pushes an acknowledged answer again, so a lost one would be missing at the end. On
//! both backends.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_api::Role;
use tessera_client::LocalStore;
use tessera_client::sync::{checkout, sync_once};
use tessera_tests::{Backend, ServeProcess, answer_open_tasks, answers_of, sentiment_project};

/// Rounds of "answer offline, sync, kill the server at a random instant, restart".
const ROUNDS: usize = 12;
const PER_ROUND: usize = 150;

async fn acknowledged_answers_survive_server_kills(backend: Backend, seed: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut server = ServeProcess::start(backend).await;
    let requester = server.user(Role::Requester, "rita").await;
    let annotator = server.user(Role::Annotator, "ann").await;
    let tasks = ROUNDS * PER_ROUND;
    let project = sentiment_project(&requester, "server crash", tasks).await;
    let store = LocalStore::open(&tmp.path().join("device.db")).expect("local store");
    let leased = checkout(&annotator, &store, project, tasks as u32, Some(86_400))
        .await
        .expect("checkout");
    assert_eq!(leased, tasks);

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut expected: BTreeMap<i64, String> = BTreeMap::new();
    let mut killed_mid_sync = 0;
    for round in 0..ROUNDS {
        expected.extend(answer_open_tasks(&store, project, PER_ROUND, round));
        // Sync, and kill the server at a random instant meanwhile.
        let kill_at = Duration::from_millis(rng.random_range(0..50));
        let sync = sync_once(&annotator, &store, |_, _| {});
        tokio::pin!(sync);
        tokio::select! {
            result = &mut sync => {
                result.expect("sync before the kill");
            }
            () = tokio::time::sleep(kill_at) => {
                server.start_kill();
                killed_mid_sync += 1;
                // The push in flight fails (or had just finished): either way, nothing the
                // device was told is lost.
                if let Err(e) = sync.await {
                    assert!(e.is_transient(), "a dead server must read as transient: {e}");
                }
            }
        }
        // Killed now if the sync won the race: the restart comes every round.
        server.restart().await;
    }
    // One clean sync after the last restart.
    sync_once(&annotator, &store, |_, _| {})
        .await
        .expect("final sync");
    assert_eq!(
        store.counts(None, Utc::now()).expect("counts").pending,
        0,
        "nothing pending"
    );

    let on_server: BTreeMap<i64, String> = answers_of(&requester, project, "ann")
        .await
        .into_iter()
        .map(|(task, (labels, _))| (task, labels))
        .collect();
    assert_eq!(on_server, expected, "{backend:?}");
    assert!(
        killed_mid_sync >= ROUNDS / 2,
        "only {killed_mid_sync} kills landed during a sync"
    );
    println!("{backend:?}: server killed during {killed_mid_sync} of {ROUNDS} syncs");
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_answers_survive_server_kills_on_sqlite() {
    acknowledged_answers_survive_server_kills(Backend::Sqlite, 13).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_answers_survive_server_kills_on_postgres() {
    acknowledged_answers_survive_server_kills(Backend::Postgres, 17).await;
}

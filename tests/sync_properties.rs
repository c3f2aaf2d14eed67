//! Property: whatever the interleaving of pushes, duplicates, reordered batches, crashes
//! between the server's acknowledgement and the device's bookkeeping, and pulls, once the
//! device finally syncs cleanly the server holds the same state — each task's answer at its
//! latest revision, once. Against a real server (SQLite) over a real socket. And device clocks
//! never decide the order (on both backends).

use std::collections::BTreeMap;

use chrono::Utc;
use proptest::prelude::*;
use tessera_api::{AnswerPush, Role};
use tessera_client::LocalStore;
use tessera_client::sync::{checkout, sync_once};
use tessera_tests::{TestServer, answers_of, export_records, sentiment_project};

const TASKS: usize = 6;
const LABELS: [&str; 3] = ["positive", "negative", "neutral"];

/// One step between answering and the final sync.
#[derive(Debug, Clone)]
enum Step {
    /// Answer (or revise) a task with a label.
    Answer { task: usize, label: usize },
    /// Push up to `take` pending answers, oldest first or (`reverse`) newest first, and
    /// record the server's verdicts — or, with `crash`, die before recording them, so the
    /// device will push them again.
    Push {
        take: usize,
        reverse: bool,
        crash: bool,
    },
    /// Push again answers already pushed (a retry of a request whose reply was lost).
    Duplicate { take: usize },
    /// Pull the change feed.
    Pull,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..TASKS, 0..LABELS.len()).prop_map(|(task, label)| Step::Answer { task, label }),
        2 => (1usize..6, any::<bool>(), any::<bool>())
            .prop_map(|(take, reverse, crash)| Step::Push { take, reverse, crash }),
        1 => (1usize..6).prop_map(|take| Step::Duplicate { take }),
        1 => Just(Step::Pull),
    ]
}

/// Per task: the current answer's labels and revision.
type State = BTreeMap<i64, (String, u32)>;

/// Runs `steps`, then a clean sync; returns the server's state and the device's latest
/// revisions (what the server must hold).
async fn server_state_after(steps: &[Step]) -> (State, State) {
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&requester, "p", TASKS).await;
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("device.db");
    let mut store = LocalStore::open(&path).expect("store");
    checkout(&annotator, &store, project, TASKS as u32, Some(86_400))
        .await
        .expect("checkout");
    let mut ids: Vec<i64> = Vec::new();
    while let Some(task) = store.next_task(Some(project)).expect("next") {
        // Answering marks it done locally; note the id, answer later as the steps say.
        ids.push(task.id);
        store
            .record_answer(task.id, vec![LABELS[0].to_owned()], false, Utc::now())
            .expect("first answer");
    }
    let mut expected: State = ids
        .iter()
        .map(|&id| (id, (LABELS[0].to_owned(), 1)))
        .collect();
    let mut pushed: Vec<AnswerPush> = Vec::new();
    for step in steps {
        match *step {
            Step::Answer { task, label } => {
                let id = ids[task];
                let answer = store
                    .record_answer(id, vec![LABELS[label].to_owned()], false, Utc::now())
                    .expect("answer");
                expected.insert(id, (LABELS[label].to_owned(), answer.revision));
            }
            Step::Push {
                take,
                reverse,
                crash,
            } => {
                let mut batch = store.pending(take as u32).expect("pending");
                if reverse {
                    batch.reverse(); // later revisions may arrive before earlier ones
                }
                if batch.is_empty() {
                    continue;
                }
                let response = annotator.push(batch.clone()).await.expect("push");
                pushed.extend(batch);
                if crash {
                    // The process died before recording the verdicts: reopen the store.
                    drop(store);
                    store = LocalStore::open(&path).expect("reopen");
                } else {
                    store.mark_pushed(&response.results).expect("mark");
                }
            }
            Step::Duplicate { take } => {
                let again: Vec<AnswerPush> = pushed.iter().rev().take(take).cloned().collect();
                if !again.is_empty() {
                    annotator.push(again).await.expect("re-push");
                }
            }
            Step::Pull => {
                let page = annotator
                    .changes(store.cursor().expect("cursor"), 500)
                    .await
                    .expect("pull");
                store
                    .apply_changes(&page.changes, page.cursor, Utc::now())
                    .expect("apply");
            }
        }
    }
    sync_once(&annotator, &store, |_, _| {})
        .await
        .expect("final sync");
    let state = answers_of(&requester, project, "ann").await;
    (state, expected)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_interleaving_converges_to_the_latest_revisions(
        steps in prop::collection::vec(step(), 0..24)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (state, expected) = runtime.block_on(server_state_after(&steps));
        prop_assert_eq!(state, expected);
    }
}

/// Device clocks are data, not order: a revision stamped a year in the past still replaces
/// one stamped a year in the future, and both stamps are kept as the device wrote them.
async fn device_clocks_do_not_order_answers(backend: tessera_tests::Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&requester, "skew", 1).await;
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&home.path().join("device.db")).expect("store");
    checkout(&annotator, &store, project, 1, None)
        .await
        .expect("checkout");
    let task = store.next_task(Some(project)).expect("next").expect("task");
    let year = chrono::Duration::days(365);
    let ahead = store
        .record_answer(task.id, vec!["positive".into()], false, Utc::now() + year)
        .expect("first answer, clock ahead");
    let behind = store
        .record_answer(task.id, vec!["negative".into()], false, Utc::now() - year)
        .expect("revision, clock behind");
    assert_eq!((ahead.revision, behind.revision), (1, 2));
    sync_once(&annotator, &store, |_, _| {})
        .await
        .expect("sync");
    let records = export_records(&requester, project).await;
    let record = records.first().expect("one task");
    let answer = &record.answers[..];
    assert_eq!(answer.len(), 1, "{backend:?}: one current answer");
    assert_eq!(
        (
            answer[0].labels.clone(),
            answer[0].revision,
            answer[0].answered_at
        ),
        (vec!["negative".to_owned()], 2, behind.answered_at),
        "{backend:?}: the later revision wins, its device time kept"
    );
    let received = answer[0].received_at - Utc::now();
    assert!(
        received.num_minutes().abs() < 60,
        "{backend:?}: the server stamps arrival with its own clock ({received})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn device_clocks_do_not_order_answers_on_sqlite() {
    device_clocks_do_not_order_answers(tessera_tests::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_clocks_do_not_order_answers_on_postgres() {
    device_clocks_do_not_order_answers(tessera_tests::Backend::Postgres).await;
}

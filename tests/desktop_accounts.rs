//! People sharing the desktop app, in a real window under Xvfb: one annotator labels offline
//! and signs out, another signs in on the same machine and sees none of it, the first comes
//! back and her answers reach the server under her own name; a suspended annotator is told so
//! on a screen of its own, in words that give nothing away.

mod desktop;

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use tessera_api::Role;
use tessera_tests::{TestServer, answer_push, answers_of, built_binary, sample_jsonl};

use desktop::*;

/// Labels `n` tasks with key `key`; their ids.
async fn label(client: &Client, n: usize, key: char) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = task_id(client).await.expect("a task on screen");
        press(client, key).await;
        press(client, char::from(Key::Enter)).await;
        next_task_after(client, id, "the next task").await;
        ids.push(id);
    }
    ids
}

/// From the labeling screen: P, then "Sign out" on the project list.
async fn sign_out(client: &Client) {
    press(client, 'p').await;
    wait_for(client, "#sign-out", "the project list's sign-out").await;
    client
        .find(Locator::Css("#sign-out"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    wait_for(client, "#server-input", "the sign-in screen").await;
}

async fn project(requester: &tessera_client::ApiClient, schema: &str, jsonl: &str) -> i64 {
    let schema = tessera_core::LabelSchema::from_json(schema).expect("schema");
    tessera_tests::project_with(requester, "shared", schema, &[jsonl]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_annotators_share_the_app_and_a_suspended_one_is_told() {
    let app = built_binary("tessera-desktop");
    let mut server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    // One answer per task: a task in Ann's hand is in no one else's.
    let shared = project(
        &requester,
        r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 1}"#,
        &sample_jsonl(40),
    )
    .await;
    let (_, ann) = server.user(Role::Annotator, "ann").await;
    let (_, bob) = server.user(Role::Annotator, "bob").await;

    let (_home, window) = signed_in_window(&app, &server.url, &ann, None).await;
    let client = window.client.clone();
    wait_for(&client, "#task-text", "Ann's first task").await;
    server.stop().await;
    let ann_answered = label(&client, 3, '1').await;
    offline_with_pending(&client, 3, "Ann's three answers waiting, offline").await;
    sign_out(&client).await;

    server.restart().await;
    sign_in(&client, &server.url, &bob).await;
    wait_for(&client, "#task-text", "Bob's first task").await;
    text_where(&client, "#online-state", 20, "online", |t| {
        t.contains("Online")
    })
    .await;
    assert_eq!(
        text_of(&client, "#pending-count").await.as_deref(),
        Some("0")
    );
    assert_eq!(text_of(&client, "#done-today").await.as_deref(), Some("0"));
    let bob_answered = label(&client, 2, '2').await;
    assert!(
        bob_answered.iter().all(|t| !ann_answered.contains(t)),
        "Bob was shown Ann's tasks: {bob_answered:?} / {ann_answered:?}"
    );
    text_where(
        &client,
        "#pending-count",
        30,
        "Bob's answers to sync",
        |t| t == "0",
    )
    .await;
    sign_out(&client).await;

    // Ann is back: her three answers go up under her own name.
    sign_in(&client, &server.url, &ann).await;
    wait_for(&client, "#task-text", "Ann's next task").await;
    text_where(
        &client,
        "#pending-count",
        30,
        "Ann's answers to sync",
        |t| t == "0",
    )
    .await;
    let by_ann = answers_of(&requester, shared, "ann").await;
    let by_bob = answers_of(&requester, shared, "bob").await;
    let mut ann_sorted = ann_answered.clone();
    ann_sorted.sort_unstable();
    let mut bob_sorted = bob_answered.clone();
    bob_sorted.sort_unstable();
    assert_eq!(by_ann.keys().copied().collect::<Vec<_>>(), ann_sorted);
    assert_eq!(by_bob.keys().copied().collect::<Vec<_>>(), bob_sorted);
    assert!(by_ann.values().all(|(l, _)| l == "positive"));
    assert!(by_bob.values().all(|(l, _)| l == "negative"));
    assert!(
        text_of(&client, "#refused-count").await.is_none(),
        "nothing refused"
    );
    sign_out(&client).await;

    // Sam answered both gold tasks of a second project wrong (through the API): suspended.
    let gold = r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}
{"id":"g2","data":{"text":"I hate it"},"gold":"negative"}
"#;
    let checked = project(
        &requester,
        r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3,
            "gold_rate": 1.0, "suspend_below": 0.5, "gold_min_answers": 2}"#,
        &format!("{gold}{}", sample_jsonl(5)),
    )
    .await;
    let (sam_api, sam) = server.user(Role::Annotator, "sam").await;
    let gold_tasks = sam_api.lease(checked, 2, None).await.expect("lease").tasks;
    let wrong = gold_tasks
        .iter()
        .map(|t| answer_push(t.task_id, &["neutral"]))
        .collect();
    sam_api.push(wrong).await.expect("push");

    sign_in(&client, &server.url, &sam).await;
    wait_for(&client, "#projects", "the project list").await;
    press(&client, '2').await;
    let screen = text_where(&client, "#suspended", 30, "the suspended screen", |_| true).await;
    assert!(screen.contains("suspended"), "{screen}");
    assert!(screen.contains("requester"), "{screen}");
    assert!(
        !screen.chars().any(|c| c.is_ascii_digit()),
        "no count that could tell which answers were checked: {screen}"
    );
    screenshot(&client, "suspended.png").await;
    client.close().await.expect("close session");
}

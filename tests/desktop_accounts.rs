//! People sharing the desktop app, in a real window under Xvfb: one annotator labels offline
//! and signs out, another signs in on the same machine and sees none of it, the first comes
//! back and her answers reach the server under her own name; a suspended annotator is told so
//! on a screen of its own, in words that give nothing away; a device whose clock is wrong has
//! its answers refused, and the app lists each with the reason.

mod desktop;

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use tessera_api::Role;
use tessera_tests::{
    TestServer, answer_push, answers_of, built_binary, one_answer_project, sample_jsonl,
};

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
    let shared = one_answer_project(&requester, "shared", 40).await;
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

    // Sam answered both gold tasks of a second project wrong (through the API): suspended
    // (0 of 2 right is below 60% with 95% confidence).
    let gold = r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}
{"id":"g2","data":{"text":"I hate it"},"gold":"negative"}
"#;
    let checked = project(
        &requester,
        r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3,
            "gold_rate": 1.0, "suspend_below": 0.6, "gold_min_answers": 2}"#,
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

/// A device whose clock says 1999 (libfaketime): its answers are refused by the server
/// (`invalid_time`), and the app says so — a count in the status bar, and a list of each
/// refused answer with its task and the server's reason — with the task back in hand.
#[tokio::test(flavor = "multi_thread")]
async fn answers_the_server_refuses_are_shown_with_their_reasons() {
    let app = built_binary("tessera-desktop");
    let faketime = std::path::Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    assert!(
        faketime.exists(),
        "libfaketime is required (apt-get install faketime; scripts/setup.sh installs it)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // The app, started with its wall clock set to mid-1999 (monotonic time stays real).
    let wrapper = dir.path().join("tessera-desktop-1999");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport LD_PRELOAD={} FAKETIME='@1999-06-01 12:00:00' FAKETIME_DONT_FAKE_MONOTONIC=1\nexec {} \"$@\"\n",
            faketime.display(),
            app.display()
        ),
    )
    .expect("wrapper");
    let mut mode = std::fs::metadata(&wrapper).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    std::fs::set_permissions(&wrapper, mode).expect("chmod");

    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = one_answer_project(&requester, "clocks", 5).await;
    let (_, ann) = server.user(Role::Annotator, "ann").await;
    let (_home, window) = signed_in_window(&wrapper, &server.url, &ann, None).await;
    let client = window.client.clone();
    wait_for(&client, "#task-text", "a task").await;
    let refused_task = label(&client, 1, '1').await[0];

    let count = text_where(&client, "#refused-count", 30, "the refused count", |t| {
        t.starts_with('1')
    })
    .await;
    assert!(count.contains("refused"), "{count}");
    client
        .find(Locator::Css("#refused-count"))
        .await
        .expect("the count")
        .click()
        .await
        .expect("click");
    let list = text_where(&client, "#refused", 10, "the refused answers", |t| {
        t.contains("invalid_time")
    })
    .await;
    assert!(
        list.contains("1999-06-01"),
        "the device's time is named: {list}"
    );
    assert!(list.contains("clock"), "and what to do about it: {list}");
    assert!(list.contains("positive"), "the answer given: {list}");
    assert!(list.contains("answer it again"), "{list}");
    let item = client
        .find(Locator::Css(".refused-list li"))
        .await
        .expect("an item");
    assert_eq!(
        item.attr("data-task-id").await.expect("attr").as_deref(),
        Some(refused_task.to_string().as_str())
    );
    screenshot(&client, "refused.png").await;
    press(&client, char::from(Key::Escape)).await;
    wait_for(&client, "#task-text", "back to labeling").await;
    // Nothing was stored on the server, and nothing was lost on the device.
    let records = tessera_tests::export_records(&requester, project).await;
    assert!(records.iter().all(|r| r.answers.is_empty()));
    client.close().await.expect("close session");
}

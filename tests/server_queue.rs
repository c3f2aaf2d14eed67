//! The queue over a real socket: leases, their expiry and limits, revisions, answers from
//! two devices, offline checkouts and the metrics they count, on both storage backends.

on_both_backends!(
    concurrent_leases_never_over_assign,
    an_expired_lease_returns_the_task_and_a_late_answer_still_counts,
    the_latest_revision_wins_and_every_revision_is_in_the_change_feed,
    one_lease_answered_on_two_devices_is_reported_and_counted_once,
    an_offline_checkout_is_capped_by_the_quota_and_holds_its_overlap_slots,
    metrics_count_leases_answers_and_errors,
    a_full_task_returns_as_soon_as_a_slot_frees,
);

use chrono::Duration;
use tessera_api::{AnswerPush, Change, LeaseRequest, PushStatus, Role};
use tessera_client::ApiClient;
use tessera_server::clock::Clock;
use tessera_tests::on_both_backends;
use tessera_tests::scenario::{answer, project_with, project_with_tasks, schema};
use tessera_tests::{Backend, TestServer, api_error, export_records, sample_jsonl};
use uuid::Uuid;

async fn an_expired_lease_returns_the_task_and_a_late_answer_still_counts(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 1, 2).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;

    let alice_tasks = alice
        .lease(project, 5, Some(60))
        .await
        .expect("lease")
        .tasks;
    assert_eq!(alice_tasks.len(), 2);
    assert!(
        bob.lease(project, 5, None)
            .await
            .expect("lease")
            .tasks
            .is_empty(),
        "over-assigned"
    );
    assert_eq!(requester.status(project).await.expect("status").leased, 2);

    server.clock.advance(Duration::seconds(61));
    assert_eq!(requester.status(project).await.expect("status").leased, 0);
    let bob_tasks = bob.lease(project, 5, None).await.expect("lease").tasks;
    assert_eq!(bob_tasks.len(), 2, "expired leases go back to the queue");

    // Alice was offline when her lease ran out; her answer is real work and is kept.
    let late = alice
        .push(vec![answer(alice_tasks[0].task_id, "neutral")])
        .await
        .expect("push");
    assert_eq!(late.results[0].status, PushStatus::Accepted);
    let status = requester.status(project).await.expect("status");
    assert_eq!((status.answers, status.complete), (1, 1));
}

async fn the_latest_revision_wins_and_every_revision_is_in_the_change_feed(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 3, 3).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let task = alice.lease(project, 1, None).await.expect("lease").tasks[0].task_id;

    let first = answer(task, "positive");
    let mut second = answer(task, "negative");
    second.revision = 2;
    // Pushed out of order: the revision number, not arrival, decides.
    alice.push(vec![second.clone()]).await.expect("push");
    alice.push(vec![first.clone()]).await.expect("push");

    let record = export_records(&requester, project)
        .await
        .into_iter()
        .find(|r| r.task_id == task)
        .expect("task");
    assert_eq!(record.answers.len(), 1);
    assert_eq!(record.answers[0].labels, ["negative"]);
    assert_eq!(record.answers[0].revision, 2);
    assert_eq!(
        record.consensus.and_then(|c| c.label).as_deref(),
        Some("negative")
    );
    assert_eq!(requester.status(project).await.expect("status").answers, 1);

    // One lease and two answers, in server order, readable one page at a time.
    let page = alice.changes(0, 2).await.expect("changes");
    assert!(page.has_more);
    assert!(matches!(page.changes[0], Change::Lease { .. }));
    let rest = alice.changes(page.cursor, 10).await.expect("changes");
    assert!(!rest.has_more);
    let answer_ids: Vec<Uuid> = page
        .changes
        .iter()
        .chain(&rest.changes)
        .filter_map(|c| match c {
            Change::Answer { answer_id, .. } => Some(*answer_id),
            Change::Lease { .. } | Change::Cancel { .. } => None,
        })
        .collect();
    assert_eq!(answer_ids, [second.id, first.id]);
}

async fn concurrent_leases_never_over_assign(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (_, project) = project_with_tasks(&server, 2, 20).await;
    let mut annotators = Vec::new();
    for i in 0..12 {
        annotators.push(server.user(Role::Annotator, &format!("a{i}")).await.0);
    }
    let annotators = std::sync::Arc::new(annotators);
    let handles: Vec<_> = (0..annotators.len())
        .map(|i| {
            let annotators = std::sync::Arc::clone(&annotators);
            tokio::spawn(async move {
                annotators[i]
                    .lease(project, 10, None)
                    .await
                    .expect("lease")
                    .tasks
            })
        })
        .collect();
    let mut per_task = std::collections::HashMap::<i64, usize>::new();
    for h in handles {
        for t in h.await.expect("join") {
            *per_task.entry(t.task_id).or_default() += 1;
        }
    }
    assert!(
        per_task.values().all(|&n| n <= 2),
        "over-assigned: {per_task:?}"
    );
    // Concurrent requests may skip rows another request holds locked and get fewer tasks than
    // asked; asking again, one at a time, fills every remaining slot.
    per_task.clear();
    for a in annotators.iter() {
        for t in a.lease(project, 10, None).await.expect("lease").tasks {
            *per_task.entry(t.task_id).or_default() += 1;
        }
    }
    assert!(
        per_task.values().all(|&n| n <= 2),
        "over-assigned: {per_task:?}"
    );
    // Leasing again returns the leases held, so after two rounds: 20 tasks × overlap 2 = 40
    // slots for 120 requested are all taken, none twice.
    assert_eq!(per_task.values().sum::<usize>(), 40, "{per_task:?}");
}

async fn one_lease_answered_on_two_devices_is_reported_and_counted_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 1).await;
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let leased = annotator.lease(project, 1, None).await.expect("lease");
    let task = leased.tasks[0].task_id;
    let (laptop, phone) = (Uuid::now_v7(), Uuid::now_v7());
    let on = |device: Uuid, revision: u32, label: &str| AnswerPush {
        revision,
        device_id: Some(device),
        ..answer(task, label)
    };
    let push = |a: AnswerPush| {
        let annotator = annotator.clone();
        async move {
            let result = annotator.push(vec![a]).await.expect("push").results;
            assert_eq!(result[0].status, PushStatus::Accepted, "{result:?}");
            result[0].other_device
        }
    };
    // Both devices held the lease offline and answered it, each at revision 1.
    assert!(!push(on(laptop, 1, "positive")).await);
    assert!(
        push(on(phone, 1, "negative")).await,
        "{backend:?}: the second device's answer is reported"
    );
    // The laptop, having pulled the phone's answer, revises it: no clash.
    assert!(!push(on(laptop, 2, "neutral")).await);
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        (status.answers, status.device_conflicts),
        (1, 1),
        "{backend:?}: counted once, one clash reported"
    );
}

async fn an_offline_checkout_is_capped_by_the_quota_and_holds_its_overlap_slots(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(1);
    schema.offline_quota = 3;
    let project = project_with(&requester, schema, &[&sample_jsonl(5)]).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let offline = |limit| LeaseRequest {
        limit,
        ttl_seconds: None,
        offline: true,
    };

    let now = server.clock.now();
    let taken = alice
        .lease_with(project, &offline(10))
        .await
        .expect("checkout")
        .tasks;
    assert_eq!(taken.len(), 3, "capped by the offline quota");
    let mut offline_ids: Vec<i64> = taken.iter().map(|t| t.task_id).collect();
    offline_ids.sort_unstable();
    assert!(
        taken
            .iter()
            .all(|t| t.expires_at >= now + Duration::days(2)),
        "a long lease"
    );
    // Asking again hands out the same tasks: the quota caps what is held, not each request.
    let again = alice
        .lease_with(project, &offline(10))
        .await
        .expect("checkout")
        .tasks;
    let mut again_ids: Vec<i64> = again.iter().map(|t| t.task_id).collect();
    again_ids.sort_unstable();
    assert_eq!(again_ids, offline_ids);
    // An online lease afterwards neither shortens the offline leases nor adds to them.
    let online = alice
        .lease(project, 4, Some(60))
        .await
        .expect("lease")
        .tasks;
    assert_eq!(online.len(), 4);
    assert!(
        online
            .iter()
            .filter(|t| offline_ids.contains(&t.task_id))
            .all(|t| t.expires_at >= now + Duration::days(2))
    );
    // With overlap 1 the checked-out tasks are nobody else's while Alice is away.
    let bob_tasks = bob.lease(project, 10, None).await.expect("lease").tasks;
    assert_eq!(bob_tasks.len(), 1);
    assert!(!offline_ids.contains(&bob_tasks[0].task_id));

    // Once the offline leases run out, the tasks go back to the pool; Alice's late answer still counts.
    server.clock.advance(Duration::days(4));
    let bob_tasks = bob.lease(project, 10, None).await.expect("lease").tasks;
    assert_eq!(
        bob_tasks.len(),
        5,
        "every lease ran out, the offline ones too"
    );
    let late = alice
        .push(vec![answer(offline_ids[0], "positive")])
        .await
        .expect("push");
    assert_eq!(late.results[0].status, PushStatus::Accepted);
    assert_eq!(requester.status(project).await.expect("status").answers, 1);
}

async fn metrics_count_leases_answers_and_errors(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 4).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let leased = alice.lease(project, 3, None).await.expect("lease").tasks;
    let first = answer(leased[0].task_id, "positive");
    alice.push(vec![first.clone()]).await.expect("push");
    alice
        .push(vec![first, answer(leased[1].task_id, "banana")])
        .await
        .expect("push again");
    api_error(requester.lease(project, 1, None).await.expect_err("403"));

    let response = reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("body");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
            .parse()
            .expect("a number")
    };
    assert_eq!(value("tessera_tasks_uploaded_total"), 4.0);
    assert_eq!(
        value("tessera_upload_bytes_total"),
        sample_jsonl(4).len() as f64
    );
    assert_eq!(value("tessera_upload_duration_seconds_count"), 1.0);
    assert_eq!(value("tessera_tasks_leased_total"), 3.0);
    assert_eq!(value("tessera_answers_total{status=\"accepted\"}"), 1.0);
    assert_eq!(value("tessera_answers_total{status=\"duplicate\"}"), 1.0);
    assert_eq!(value("tessera_answers_total{status=\"rejected\"}"), 1.0);
    assert_eq!(value("tessera_lease_duration_seconds_count"), 1.0);
    assert_eq!(value("tessera_push_duration_seconds_count"), 2.0);
    assert_eq!(
        value("tessera_push_duration_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert!(value("tessera_http_errors_total{class=\"4xx\"}") >= 1.0);
    assert_eq!(value("tessera_http_errors_total{class=\"5xx\"}"), 0.0);
}

/// The queue passes over a task while its overlap slots are all held, and takes it back the
/// moment one frees: a skip, or a lease running out; an answer keeps its slot.
async fn a_full_task_returns_as_soon_as_a_slot_frees(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 1).await;
    let mut crowd = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        crowd.push(server.user(Role::Annotator, name).await.0);
    }
    let [alice, bob, carol, dave] = &crowd[..] else {
        unreachable!()
    };
    let leased = |c: &ApiClient, ttl: Option<u32>| {
        let c = c.clone();
        async move {
            let tasks = c.lease(project, 5, ttl).await.expect("lease").tasks;
            tasks.iter().map(|t| t.task_id).collect::<Vec<_>>()
        }
    };
    let task = leased(alice, None).await;
    assert_eq!(task.len(), 1);
    assert_eq!(leased(bob, None).await, task);
    assert_eq!(leased(carol, None).await, [0i64; 0], "both slots are held");

    let mut skip = answer(task[0], "positive");
    skip.labels.clear();
    skip.skipped = true;
    bob.push(vec![skip]).await.expect("skip");
    assert_eq!(leased(carol, Some(60)).await, task, "the skip freed a slot");
    assert_eq!(leased(dave, None).await, [0i64; 0], "full again");

    alice
        .push(vec![answer(task[0], "positive")])
        .await
        .expect("answer");
    assert_eq!(
        leased(dave, None).await,
        [0i64; 0],
        "an answer keeps its slot"
    );

    server.clock.advance(Duration::seconds(61));
    assert_eq!(leased(dave, None).await, task, "carol's lease ran out");
    assert_eq!(requester.status(project).await.expect("status").leased, 1);
}

//! The requester's task browser over a real socket, on both storage backends: each filter
//! finds exactly the tasks it should, pages follow their cursors without a gap or a repeat,
//! a stuck task is counted and explained, and selected tasks go to review or up the queue —
//! from the API and the CLI.

use std::collections::HashMap;

use tessera_api::{Role, TaskListQuery, TaskOrder, TaskStatus, TaskSummary};
use tessera_client::ApiClient;
use tessera_tests::scenario::{answer, project_with, schema};
use tessera_tests::{Backend, TestServer, api_error, on_both_backends, tessera_ok};

on_both_backends!(
    each_filter_finds_its_tasks_and_pages_follow_their_cursors,
    a_stuck_task_is_counted_explained_and_freed,
    text_search_finds_words_and_word_starts_in_one_project
);

/// Ten tasks t1–t10 (apples in t2 and t5; t1–t6 in one batch, t7–t10 in another) and a gold
/// task in a third batch.
const FIRST: &str = concat!(
    r#"{"id":"t1","data":{"text":"one pear"}}"#,
    "\n",
    r#"{"id":"t2","data":{"text":"two Apples"}}"#,
    "\n",
    r#"{"id":"t3","data":{"text":"three plums"}}"#,
    "\n",
    r#"{"id":"t4","data":{"text":"four figs"}}"#,
    "\n",
    r#"{"id":"t5","data":{"text":"five apples"}}"#,
    "\n",
    r#"{"id":"t6","data":{"text":"six limes"}}"#,
    "\n",
);
const SECOND: &str = concat!(
    r#"{"id":"t7","data":{"text":"seven kiwis"}}"#,
    "\n",
    r#"{"id":"t8","data":{"text":"eight dates"}}"#,
    "\n",
    r#"{"id":"t9","data":{"text":"nine cherries"}}"#,
    "\n",
    r#"{"id":"t10","data":{"text":"ten grapes"}}"#,
    "\n",
);
const GOLD: &str = r#"{"id":"g1","data":{"text":"a gold melon"},"gold":"positive"}"#;

struct Scene {
    server: TestServer,
    rita: ApiClient,
    rita_token: String,
    project: i64,
    /// External id → task id.
    ids: HashMap<String, i64>,
    bob_id: i64,
    batches: Vec<i64>,
}

/// Ann answers t1–t10 (t3 "negative"); Bob leases everything, answers t1–t6 (t3
/// "neutral": a tie, broken to "negative" by the schema's order) and skips t7, holding t8–t10.
async fn scene(backend: Backend) -> Scene {
    let server = TestServer::start_on(backend).await;
    let (rita, rita_token) = server.user(Role::Requester, "rita").await;
    let project = project_with(&rita, schema(2), &[FIRST, SECOND, GOLD]).await;
    let batches: Vec<i64> = rita
        .batches(project)
        .await
        .expect("batches")
        .iter()
        .map(|b| b.id)
        .collect();
    let all = rita
        .tasks(
            project,
            &TaskListQuery {
                limit: Some(500),
                ..TaskListQuery::default()
            },
        )
        .await
        .expect("list");
    let ids: HashMap<String, i64> = all
        .tasks
        .iter()
        .filter_map(|t| Some((t.external_id.clone()?, t.task_id)))
        .collect();
    assert_eq!(ids.len(), 11, "{all:?}");
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    ann.lease(project, 10, None).await.expect("lease");
    let anns = (1..=10)
        .map(|i| {
            let label = if i == 3 { "negative" } else { "positive" };
            answer(ids[&format!("t{i}")], label)
        })
        .collect();
    ann.push(anns).await.expect("push");
    assert_eq!(
        bob.lease(project, 10, None)
            .await
            .expect("lease")
            .tasks
            .len(),
        10
    );
    let mut bobs: Vec<_> = (1..=6)
        .map(|i| {
            let label = if i == 3 { "neutral" } else { "positive" };
            answer(ids[&format!("t{i}")], label)
        })
        .collect();
    let mut skip = answer(ids["t7"], "positive");
    skip.labels.clear();
    skip.skipped = true;
    bobs.push(skip);
    bob.push(bobs).await.expect("push");
    let bob_id = bob.me().await.expect("me").user_id;
    Scene {
        server,
        rita,
        rita_token,
        project,
        ids,
        bob_id,
        batches,
    }
}

impl Scene {
    /// Every page of `query`, followed by cursor, with the page size `limit`.
    async fn all(&self, mut query: TaskListQuery, limit: u32) -> Vec<TaskSummary> {
        query.limit = Some(limit);
        let mut out = Vec::new();
        loop {
            let page = self.rita.tasks(self.project, &query).await.expect("page");
            assert!(page.tasks.len() <= limit as usize);
            out.extend(page.tasks);
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return out,
            }
        }
    }

    /// The external ids `query` lists, in order.
    async fn names(&self, query: TaskListQuery) -> Vec<String> {
        self.all(query, 500)
            .await
            .into_iter()
            .map(|t| t.external_id.unwrap_or_default())
            .collect()
    }
}

fn of(status: TaskStatus) -> TaskListQuery {
    TaskListQuery {
        status: Some(status),
        ..TaskListQuery::default()
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn each_filter_finds_its_tasks_and_pages_follow_their_cursors(backend: Backend) {
    let s = scene(backend).await;
    let t = |n: &str| s.ids[n];
    assert_eq!(
        s.names(of(TaskStatus::Complete)).await,
        names(&["t1", "t2", "t3", "t4", "t5", "t6"])
    );
    assert_eq!(
        s.names(of(TaskStatus::Open)).await,
        names(&["t7", "t8", "t9", "t10"])
    );
    assert_eq!(s.names(of(TaskStatus::Gold)).await, names(&["g1"]));
    assert!(s.names(of(TaskStatus::Cancelled)).await.is_empty());
    let disputed = TaskListQuery {
        max_confidence: Some(0.6),
        ..TaskListQuery::default()
    };
    assert_eq!(s.names(disputed).await, names(&["t3"]));
    let negative = TaskListQuery {
        label: Some("negative".to_owned()),
        ..TaskListQuery::default()
    };
    assert_eq!(s.names(negative).await, names(&["t3"]));
    let bobs = TaskListQuery {
        annotator: Some(s.bob_id),
        ..TaskListQuery::default()
    };
    assert_eq!(
        s.names(bobs).await,
        names(&["t1", "t2", "t3", "t4", "t5", "t6", "t7"])
    );
    let second = TaskListQuery {
        batch: Some(s.batches[1]),
        ..TaskListQuery::default()
    };
    assert_eq!(s.names(second).await, names(&["t7", "t8", "t9", "t10"]));
    let apples = TaskListQuery {
        search: Some("APPLES".to_owned()),
        ..TaskListQuery::default()
    };
    assert_eq!(s.names(apples).await, names(&["t2", "t5"]));
    let t3 = s.all(of(TaskStatus::Complete), 500).await;
    let t3 = t3.iter().find(|x| x.task_id == t("t3")).expect("t3");
    assert_eq!(
        (t3.consensus.as_slice(), t3.confidence, t3.answers),
        (["negative".to_owned()].as_slice(), Some(0.5), 2)
    );
    assert_eq!(t3.preview, "three plums");

    // Pages of 3 follow their cursors through every task once, in either order.
    let whole = s.all(TaskListQuery::default(), 500).await;
    assert_eq!(whole.len(), 11);
    let paged = s.all(TaskListQuery::default(), 3).await;
    assert_eq!(paged, whole);
    let by_confidence = TaskListQuery {
        order: Some(TaskOrder::Confidence),
        ..TaskListQuery::default()
    };
    let ranked = s.all(by_confidence.clone(), 3).await;
    assert_eq!(ranked.first().map(|x| x.task_id), Some(t("t3")));
    assert_eq!(ranked, s.all(by_confidence, 500).await);
    assert!(
        ranked
            .windows(2)
            .all(|w| w[0].confidence <= w[1].confidence),
        "{ranked:?}"
    );

    // Sent to review: listed there, and in the review queue.
    let changed = s
        .rita
        .review_tasks(s.project, vec![t("t3"), t("g1")])
        .await
        .expect("review");
    assert_eq!(changed.changed, 1, "gold stays as it is");
    assert_eq!(s.names(of(TaskStatus::NeedsReview)).await, names(&["t3"]));
    let queue = s.rita.review_queue(s.project, 10).await.expect("queue");
    assert_eq!(
        queue.iter().map(|r| r.task_id).collect::<Vec<_>>(),
        [t("t3")]
    );
    // The status counts gold apart, and each batch its progress.
    let status = s.rita.status(s.project).await.expect("status");
    assert_eq!((status.tasks, status.gold_tasks), (10, 1));
    let progress: Vec<(i64, i64, i64)> = s
        .rita
        .batches(s.project)
        .await
        .expect("batches")
        .iter()
        .map(|b| (b.task_count, b.complete, b.gold))
        .collect();
    assert_eq!(progress, [(6, 6, 0), (4, 0, 0), (1, 0, 1)]);

    // Refused, with reasons; an annotator may not browse.
    for bad in [
        TaskListQuery {
            cursor: Some("x".to_owned()),
            ..TaskListQuery::default()
        },
        TaskListQuery {
            limit: Some(0),
            ..TaskListQuery::default()
        },
        TaskListQuery {
            max_confidence: Some(1.5),
            ..TaskListQuery::default()
        },
    ] {
        let (status, body) = api_error(s.rita.tasks(s.project, &bad).await.expect_err("400"));
        assert_eq!(
            (status, body.code.as_str()),
            (400, "bad_request"),
            "{bad:?}"
        );
    }
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/api/projects/{}/tasks?status=lost",
            s.server.url, s.project
        ))
        .bearer_auth(&s.rita_token)
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status().as_u16(), 400);
    let (status, _) = api_error(s.rita.task(s.project, 987_654_321).await.expect_err("404"));
    assert_eq!(status, 404);
    let (status, _) = api_error(
        s.rita
            .review_tasks(s.project, vec![t("t1"), 987_654_321])
            .await
            .expect_err("404"),
    );
    assert_eq!(status, 404);
    assert_eq!(
        s.names(of(TaskStatus::NeedsReview)).await,
        names(&["t3"]),
        "nothing changed"
    );
    let (ann, _) = s.server.user(Role::Annotator, "cat").await;
    let (status, _) = api_error(
        ann.tasks(s.project, &TaskListQuery::default())
            .await
            .expect_err("403"),
    );
    assert_eq!(status, 403);
}

async fn a_stuck_task_is_counted_explained_and_freed(backend: Backend) {
    let s = scene(backend).await;
    let t = |n: &str| s.ids[n];
    // t7: Ann answered it, Bob skipped it, no one else may take it.
    assert_eq!(s.names(of(TaskStatus::Stuck)).await, names(&["t7"]));
    let status = s.rita.status(s.project).await.expect("status");
    assert_eq!(status.stuck, 1);
    let because = status.stuck_because.expect("a reason");
    assert!(because.contains("all 2 annotators"), "{because}");
    let detail = s.rita.task(s.project, t("t7")).await.expect("task");
    assert_eq!(detail.status, TaskStatus::Stuck);
    assert_eq!(detail.record.answers.len(), 1, "{detail:?}");
    let env = [
        ("TESSERA_SERVER", s.server.url.as_str()),
        ("TESSERA_TOKEN", s.rita_token.as_str()),
    ];
    let p = s.project.to_string();
    let shown = tessera_ok(&["task", "show", &p, &t("t7").to_string()], &env);
    assert!(
        shown.contains("stuck: all 2 annotators") && shown.contains("seven kiwis"),
        "{shown}"
    );
    let listed = tessera_ok(&["tasks", &p, "--status", "stuck", "--json"], &env);
    let page: tessera_api::TaskPage = serde_json::from_str(&listed).expect("JSON page");
    assert_eq!(
        page.tasks.iter().map(|x| x.task_id).collect::<Vec<_>>(),
        [t("t7")]
    );
    assert_eq!(page.tasks[0].status, TaskStatus::Stuck);
    assert_eq!(page.next_cursor, None);

    // Up the queue: once Bob's leases on t8–t10 expire, a newcomer is handed t9 first; the
    // newcomer can take t7 too, so it is stuck no more.
    s.server.clock.advance(chrono::Duration::hours(2));
    let said = tessera_ok(&["task", "priority", &p, "5", &t("t9").to_string()], &env);
    assert!(said.contains("1 tasks"), "{said}");
    let (cat, _) = s.server.user(Role::Annotator, "cat").await;
    let first = cat.lease(s.project, 1, None).await.expect("lease").tasks;
    assert_eq!(
        first.iter().map(|x| x.task_id).collect::<Vec<_>>(),
        [t("t9")]
    );
    assert!(s.names(of(TaskStatus::Stuck)).await.is_empty());
    // Sent to review from the CLI instead.
    let said = tessera_ok(&["task", "review", &p, &t("t7").to_string()], &env);
    assert!(said.starts_with("sent 1 of 1"), "{said}");
    assert_eq!(s.names(of(TaskStatus::NeedsReview)).await, names(&["t7"]));
}

/// Every task of `project` a search for `text` lists, following the cursors, by external id.
async fn searched(api: &ApiClient, project: i64, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = TaskListQuery {
            search: Some(text.to_owned()),
            limit: Some(500),
            cursor,
            ..TaskListQuery::default()
        };
        let page = api.tasks(project, &query).await.expect("search");
        found.extend(page.tasks.into_iter().filter_map(|t| t.external_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}

/// The search finds every word typed, whole, the last also as the start of a word, in the
/// task's string values only (not its keys, not a data URI), in the one project; punctuation alone
/// is looked for as it is; a word common to 10,000 tasks still pages correctly.
async fn text_search_finds_words_and_word_starts_in_one_project(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (rita, _) = server.user(Role::Requester, "rita").await;
    let tasks = concat!(
        r#"{"id":"s1","data":{"text":"Flight delayed at the gate","meta":{"note":"crew"}}}"#,
        "\n",
        r#"{"id":"s2","data":{"text":"Delays again","image":"data:text/plain,gate"}}"#,
        "\n",
        r#"{"id":"s3","data":{"text":"Café crème brûlée"}}"#,
        "\n",
        r#"{"id":"s4","data":{"text":"question? (really!)"}}"#,
        "\n",
        r#"{"id":"s5","data":{"text":"नमस्ते दुनिया"}}"#,
        "\n",
    );
    let project = project_with(&rita, schema(2), &[tasks]).await;
    let other = project_with(
        &rita,
        schema(2),
        &[r#"{"id":"o1","data":{"text":"Flight delayed"}}"#],
    )
    .await;
    for (text, want) in [
        ("delay", &["s1", "s2"][..]),
        ("DELAYED gate", &["s1"]),
        ("delay gate", &[]),
        ("gate dela", &["s1"]),
        ("gate", &["s1"]),
        ("crew", &["s1"]),
        ("text", &[]),
        ("café", &["s3"]),
        ("brû", &["s3"]),
        ("?", &["s4"]),
        ("flight", &["s1"]),
        ("नमस्ते", &["s5"]),
        ("दुनि", &["s5"]),
    ] {
        assert_eq!(
            searched(&rita, project, text).await,
            names(want),
            "{text:?}"
        );
    }
    assert_eq!(searched(&rita, other, "flight").await, names(&["o1"]));

    // A word in more tasks than a page can list from the index's matches.
    let many: String = (0..10_050)
        .map(|i| format!("{{\"id\":\"c{i}\",\"data\":{{\"text\":\"common word number {i}\"}}}}\n"))
        .collect();
    rita.upload(project, tessera_core::UploadFormat::Jsonl, many)
        .await
        .expect("upload");
    let common = searched(&rita, project, "common").await;
    assert_eq!(common.len(), 10_050);
    assert_eq!(common.first().map(String::as_str), Some("c0"));
    assert_eq!(common.last().map(String::as_str), Some("c10049"));
    let mut numbered = searched(&rita, project, "number 1004").await;
    numbered.sort();
    let mut want: Vec<String> = std::iter::once("c1004".to_owned())
        .chain((10_040..10_050).map(|i| format!("c{i}")))
        .collect();
    want.sort();
    assert_eq!(numbered, want, "word starts");
    assert_eq!(
        searched(&rita, project, "delay").await,
        names(&["s1", "s2"])
    );
}

//! Consensus over a real socket: adaptive overlap and review, re-fits, and each task kind's
//! answers merged, on both storage backends.

on_both_backends!(
    adaptive_overlap_stops_on_agreement_and_sends_doubt_to_review,
    a_refit_weighs_annotators_and_clamps_gold,
    each_task_kind_checks_its_answers_and_merges_them,
    after_a_refit_new_answers_are_scored_by_the_fitted_model,
);

use tessera_api::{PushStatus, ReviewRequest, Role};
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::on_both_backends;
use tessera_tests::scenario::{answer, project_with, schema};
use tessera_tests::{
    Backend, SENTIMENT_SCHEMA, TestServer, api_error, export_records, sample_jsonl,
};

async fn adaptive_overlap_stops_on_agreement_and_sends_doubt_to_review(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(4);
    schema.min_overlap = Some(2);
    schema.confidence_target = Some(0.75);
    let project = project_with(&requester, schema, &[&sample_jsonl(2)]).await;
    let mut people = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        people.push(server.user(Role::Annotator, name).await.0);
    }
    let lease = |who: usize| {
        let client = people[who].clone();
        async move {
            let tasks = client.lease(project, 10, None).await.expect("lease").tasks;
            let mut ids = tasks.iter().map(|t| t.task_id).collect::<Vec<i64>>();
            ids.sort_unstable(); // a reply's own order is shuffled
            ids
        }
    };
    // Two annotators first, on both tasks; a third finds nothing yet.
    let both = lease(0).await;
    assert_eq!(both.len(), 2);
    assert_eq!(lease(1).await, both);
    assert!(
        lease(2).await.is_empty(),
        "only min_overlap annotators at first"
    );
    let (t1, t2) = (both[0], both[1]);
    people[0]
        .push(vec![answer(t1, "positive"), answer(t2, "positive")])
        .await
        .expect("push");
    people[1]
        .push(vec![answer(t1, "positive"), answer(t2, "negative")])
        .await
        .expect("push");
    // t1: two agree, done at two answers. t2: a split, one more annotator at a time.
    assert_eq!(lease(2).await, [t2]);
    assert!(lease(3).await.is_empty(), "one more at a time");
    people[2]
        .push(vec![answer(t2, "negative")])
        .await
        .expect("push");
    assert_eq!(lease(3).await, [t2], "2 of 3 is still below 0.75");
    people[3]
        .push(vec![answer(t2, "positive")])
        .await
        .expect("push");
    assert!(lease(4).await.is_empty(), "the maximum overlap is reached");
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        (status.complete, status.answers, status.needs_review),
        (2, 6, 1)
    );

    // The review queue shows every answer and the consensus; the verdict is the final label.
    let queue = requester.review_queue(project, 10).await.expect("queue");
    assert_eq!(queue.iter().map(|r| r.task_id).collect::<Vec<_>>(), [t2]);
    assert_eq!(queue[0].answers.len(), 4);
    assert!(queue[0].needs_review && queue[0].review.is_none());
    let verdict = ReviewRequest {
        task_id: t2,
        labels: vec!["neutral".to_owned()],
    };
    requester.review(project, &verdict).await.expect("review");
    assert!(
        requester
            .review_queue(project, 10)
            .await
            .expect("queue")
            .is_empty()
    );
    let status = requester.status(project).await.expect("status");
    assert_eq!((status.needs_review, status.reviewed), (0, 1));
    let records = export_records(&requester, project).await;
    let reviewed = records.iter().find(|r| r.task_id == t2).expect("t2");
    let review = reviewed.review.as_ref().expect("the verdict is exported");
    assert_eq!(
        (review.labels.as_slice(), review.reviewer.as_str()),
        (&["neutral".to_owned()][..], "rita")
    );
    assert!(
        reviewed.consensus.is_some(),
        "the crowd consensus is kept beside it"
    );
    let agreed = records.iter().find(|r| r.task_id == t1).expect("t1");
    assert!(agreed.complete && !agreed.needs_review && agreed.review.is_none());
    assert_eq!(agreed.answers.len(), 2);

    // Verdicts must fit the schema and name a task of the project; annotators may not review.
    let bad = ReviewRequest {
        task_id: t1,
        labels: vec!["banana".to_owned()],
    };
    assert_eq!(
        api_error(requester.review(project, &bad).await.expect_err("400")).0,
        400
    );
    let unknown = ReviewRequest {
        task_id: 999_999,
        labels: vec!["neutral".to_owned()],
    };
    assert_eq!(
        api_error(requester.review(project, &unknown).await.expect_err("404")).0,
        404
    );
    assert_eq!(
        api_error(people[0].review(project, &verdict).await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(people[0].review_queue(project, 5).await.expect_err("403")).0,
        403
    );
}

async fn a_refit_weighs_annotators_and_clamps_gold(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(3);
    schema.gold_rate = 1.0;
    let gold = r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}"#;
    let project = project_with(&requester, schema, &[gold, &sample_jsonl(3)]).await;
    for (name, split) in [("a", "negative"), ("b", "negative"), ("c", "positive")] {
        let (annotator, _) = server.user(Role::Annotator, name).await;
        let tasks = annotator
            .lease(project, 4, None)
            .await
            .expect("lease")
            .tasks;
        assert_eq!(tasks.len(), 4);
        let pushes = tasks
            .iter()
            .map(|t| {
                let label = match t.data["text"].as_str() {
                    Some("I love it") => "negative", // everyone is wrong on the gold task
                    Some("sample sentence number 1") => "positive",
                    Some("sample sentence number 2") => "neutral",
                    _ => split,
                };
                answer(t.task_id, label)
            })
            .collect();
        annotator.push(pushes).await.expect("push");
    }
    let before = export_records(&requester, project).await;
    let majority = |records: &[tessera_api::ExportRecord], text: &str| {
        records
            .iter()
            .find(|r| r.data["text"] == text)
            .and_then(|r| r.consensus.clone())
            .expect("consensus")
    };
    assert_eq!(
        majority(&before, "I love it").label.as_deref(),
        Some("negative")
    );

    let status = requester.status(project).await.expect("status");
    assert_eq!(
        status.consensus_by_method.get("majority_vote"),
        Some(&4),
        "{status:?}"
    );
    let done = requester.refit(project).await.expect("refit");
    assert_eq!((done.tasks, done.method.as_str()), (4, "auto"));
    let status = requester.status(project).await.expect("status");
    assert_eq!(
        status.consensus_by_method.into_iter().collect::<Vec<_>>(),
        [("auto".to_owned(), 4)],
        "the requester sees which method made each consensus"
    );
    let after = export_records(&requester, project).await;
    let gold_task = majority(&after, "I love it");
    assert_eq!(
        (gold_task.label.as_deref(), gold_task.method.as_str()),
        (Some("positive"), "auto")
    );
    assert_eq!(
        majority(&after, "sample sentence number 1")
            .label
            .as_deref(),
        Some("positive")
    );
    assert_eq!(
        majority(&after, "sample sentence number 2")
            .label
            .as_deref(),
        Some("neutral")
    );
    for record in &after {
        let c = record
            .consensus
            .as_ref()
            .expect("every answered task has a consensus");
        assert!(c.confidence > 0.0 && c.confidence <= 1.0, "{c:?}");
    }

    // Several labels per answer cannot be re-fitted; annotators may not ask.
    let mut multi = LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
    multi.multiple = true;
    let other = requester
        .create_project("multi", multi)
        .await
        .expect("project")
        .id;
    assert_eq!(
        api_error(requester.refit(other).await.expect_err("409")).0,
        409
    );
    let (annotator, _) = server.user(Role::Annotator, "d").await;
    assert_eq!(
        api_error(annotator.refit(project).await.expect_err("403")).0,
        403
    );
}

/// Free text and pairwise projects: uploads checked for the kind's fields, answers for the
/// kind's shape (rejected answers say why), free text merged on its normalised text, and a
/// re-fit refused where answers are not labels.
async fn each_task_kind_checks_its_answers_and_merges_them(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let (e_status, e_body) = api_error(
        requester
            .create_project(
                "labels on free text",
                serde_json::from_str(r#"{"kind":"text","labels":["a","b"]}"#).expect("parses"),
            )
            .await
            .expect_err("a text schema takes no labels"),
    );
    assert_eq!(e_status, 400);
    assert!(e_body.message.contains("no labels"), "{e_body:?}");

    let text = project_with(
        &requester,
        LabelSchema::from_json(r#"{"kind":"text","overlap":2}"#).expect("schema"),
        &["{\"data\":{\"text\":\"say cat\"}}\n{\"data\":{\"text\":\"say dog\"}}\n"],
    )
    .await;
    let pairs = requester
        .create_project(
            "pairs",
            LabelSchema::from_json(r#"{"kind":"pairwise","labels":["A","B","tie"],"overlap":1}"#)
                .expect("schema"),
        )
        .await
        .expect("project")
        .id;
    let (status, body) = api_error(
        requester
            .upload(
                pairs,
                UploadFormat::Jsonl,
                "{\"data\":{\"a\":\"x\",\"b\":\"y\"}}\n{\"data\":{\"a\":\"x\"}}\n".to_owned(),
            )
            .await
            .expect_err("the second task has no b"),
    );
    assert_eq!((status, body.line), (422, Some(2)), "{body:?}");
    requester
        .upload(
            pairs,
            UploadFormat::Jsonl,
            "{\"data\":{\"text\":\"kinder?\",\"a\":\"x\",\"b\":\"y\"}}\n".to_owned(),
        )
        .await
        .expect("upload");

    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let mine = alice.lease(text, 2, None).await.expect("lease").tasks;
    let theirs = bob.lease(text, 2, None).await.expect("lease").tasks;
    assert_eq!((mine.len(), theirs.len()), (2, 2));
    let by_text = |tasks: &[tessera_api::LeasedTask], t: &str| {
        tasks
            .iter()
            .find(|l| l.data["text"] == t)
            .expect("task")
            .task_id
    };
    let (cat, dog) = (by_text(&mine, "say cat"), by_text(&mine, "say dog"));
    let mut two_parts = answer(dog, "a");
    two_parts.labels.push("b".to_owned());
    let results = alice
        .push(vec![answer(cat, "the cat"), two_parts, answer(dog, "  ")])
        .await
        .expect("push")
        .results;
    let statuses: Vec<_> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            PushStatus::Accepted,
            PushStatus::Rejected,
            PushStatus::Rejected
        ]
    );
    let reasons: Vec<String> = results[1..]
        .iter()
        .map(|r| r.error.as_ref().expect("a reason").message.clone())
        .collect();
    assert!(reasons[0].contains("one string, got 2"), "{reasons:?}");
    assert!(reasons[1].contains("empty"), "{reasons:?}");
    bob.push(vec![answer(cat, "  the   cat\n")])
        .await
        .expect("push");
    let records = export_records(&requester, text).await;
    let record = records.iter().find(|r| r.task_id == cat).expect("cat");
    let consensus = record.consensus.as_ref().expect("consensus");
    assert_eq!(
        (consensus.label.as_deref(), consensus.confidence),
        (Some("the cat"), 1.0),
        "two spellings of one text agree"
    );
    assert!(record.complete);
    let (status, _) = api_error(requester.refit(text).await.expect_err("no labels to fit"));
    assert_eq!(status, 409);

    let leased = alice.lease(pairs, 1, None).await.expect("lease").tasks;
    assert_eq!(leased[0].data["a"], "x");
    let results = alice
        .push(vec![
            answer(leased[0].task_id, "C"),
            answer(leased[0].task_id, "tie"),
        ])
        .await
        .expect("push")
        .results;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [PushStatus::Rejected, PushStatus::Accepted]
    );

    // Spans: a list of start:end:label, possibly empty; a reversed span is rejected.
    let spans = project_with(
        &requester,
        LabelSchema::from_json(r#"{"kind":"spans","labels":["PER","ORG"],"overlap":1}"#)
            .expect("schema"),
        &["{\"data\":{\"text\":\"Ada met IBM\"}}\n{\"data\":{\"text\":\"nobody\"}}\n"],
    )
    .await;
    let leased = alice.lease(spans, 2, None).await.expect("lease").tasks;
    let by_text = |t: &str| {
        leased
            .iter()
            .find(|l| l.data["text"] == t)
            .expect("task")
            .task_id
    };
    let (ada, nobody) = (by_text("Ada met IBM"), by_text("nobody"));
    let mut marked = answer(ada, "0:3:PER");
    marked.labels.push("8:11:ORG".to_owned());
    let mut none = answer(nobody, "x");
    none.labels.clear();
    let results = alice
        .push(vec![answer(ada, "3:0:PER"), marked, none])
        .await
        .expect("push")
        .results;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [
            PushStatus::Rejected,
            PushStatus::Accepted,
            PushStatus::Accepted
        ]
    );
    let records = export_records(&requester, spans).await;
    let consensus = |id: i64| {
        records
            .iter()
            .find(|r| r.task_id == id)
            .and_then(|r| r.consensus.as_ref())
            .map(|c| c.labels.clone())
    };
    assert_eq!(
        consensus(ada),
        Some(vec!["0:3:PER".to_owned(), "8:11:ORG".to_owned()])
    );
    assert_eq!(consensus(nobody), Some(Vec::new()));
}

/// After a re-fit, each new answer updates its task through the fitted model: an annotator
/// who says one label to everything carries no weight against one with a track record,
/// where majority vote would call it a tie.
async fn after_a_refit_new_answers_are_scored_by_the_fitted_model(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let schema =
        LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"],"overlap":3}"#)
            .expect("schema");
    let tasks: String = (0..21)
        .map(|i| format!("{{\"id\":\"t{i}\",\"data\":{{\"text\":\"item {i}\"}}}}\n"))
        .collect();
    let project = project_with(&requester, schema, &[&tasks]).await;
    let mut crowd = Vec::new();
    for name in ["good1", "good2", "spammer"] {
        let (api, _) = server.user(Role::Annotator, name).await;
        let mut leased: Vec<(i64, String)> = api
            .lease(project, 21, None)
            .await
            .expect("lease")
            .tasks
            .into_iter()
            .map(|t| (t.task_id, t.data["text"].as_str().unwrap_or("").to_owned()))
            .collect();
        leased.sort();
        crowd.push((name, api, leased));
    }
    // Twenty tasks with a record: the good ones tell a from b, the spammer says "a".
    for (name, api, leased) in &crowd {
        let pushes = leased
            .iter()
            .filter(|(_, text)| text != "item 20")
            .map(|(id, text)| {
                let n: usize = text.trim_start_matches("item ").parse().expect("number");
                let label = if *name == "spammer" || n.is_multiple_of(2) {
                    "a"
                } else {
                    "b"
                };
                answer(*id, label)
            })
            .collect();
        api.push(pushes).await.expect("push");
    }
    let last = crowd[0]
        .2
        .iter()
        .find(|(_, t)| t == "item 20")
        .expect("task")
        .0;
    requester.refit(project).await.expect("refit");

    // The new task: the spammer says "a", good1 says "b".
    crowd[2]
        .1
        .push(vec![answer(last, "a")])
        .await
        .expect("push");
    crowd[0]
        .1
        .push(vec![answer(last, "b")])
        .await
        .expect("push");
    let records = export_records(&requester, project).await;
    let consensus = records
        .iter()
        .find(|r| r.task_id == last)
        .and_then(|r| r.consensus.clone())
        .expect("consensus");
    assert_eq!(
        (consensus.label.as_deref(), consensus.method.as_str()),
        (Some("b"), "dawid_skene_incremental"),
        "{consensus:?}"
    );
    assert!(consensus.confidence > 0.8, "{consensus:?}");
}

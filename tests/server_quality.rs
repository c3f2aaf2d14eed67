//! Quality over a real socket: gold mixed in and scored, anomaly flags, stats and unsure
//! answers, on both storage backends.

on_both_backends!(
    a_suspended_annotators_answers_stop_counting_until_the_suspension_is_lifted,
    gold_is_mixed_in_never_shown_and_suspends_the_careless,
    the_annotators_view_flags_a_one_label_clicker,
    stats_chart_answers_completion_pace_and_agreement,
    unsure_answers_go_to_review_and_skips_say_why,
);

use chrono::{Duration, DurationRound, Utc};
use tessera_api::{PushStatus, Role};
use tessera_core::UploadFormat;
use tessera_tests::on_both_backends;
use tessera_tests::scenario::{answer, project_with, project_with_tasks, schema};
use tessera_tests::{Backend, TestServer, api_error, export_records, sample_jsonl};

async fn gold_is_mixed_in_never_shown_and_suspends_the_careless(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(1);
    schema.gold_rate = 1.0;
    // Suspension goes by the 95% bound of the gold record: 0 right of 2 is surely below 60%.
    schema.suspend_below = Some(0.6);
    schema.gold_min_answers = 2;
    // Two gold tasks (no prediction, so nothing hints at the answer) and four ordinary ones.
    let gold = concat!(
        r#"{"id":"g1","data":{"text":"I love it"},"gold":"positive"}"#,
        "\n",
        r#"{"id":"g2","data":{"text":"I hate it"},"gold":["negative"]}"#,
        "\n",
    );
    let project = project_with(&requester, schema, &[gold, &sample_jsonl(4)]).await;
    let bad_gold = r#"{"id":"g3","data":{"text":"x"},"gold":"banana"}"#;
    let (code, body) = api_error(
        requester
            .upload(project, UploadFormat::Jsonl, bad_gold)
            .await
            .expect_err("422"),
    );
    assert_eq!((code, body.line), (422, Some(1)));
    assert!(body.message.contains("gold"), "{}", body.message);

    let (careless, careless_token) = server.user(Role::Annotator, "carl").await;
    let (careful, _) = server.user(Role::Annotator, "cora").await;
    // At rate 1 every slot is gold while gold lasts: both gold tasks, then ordinary ones.
    let raw = reqwest::Client::new()
        .post(format!("{}/api/projects/{project}/leases", server.url))
        .bearer_auth(&careless_token)
        .json(&serde_json::json!({"limit": 3}))
        .send()
        .await
        .expect("lease")
        .text()
        .await
        .expect("body");
    assert!(!raw.contains("\"gold\":"), "{raw}");
    let leased: tessera_api::LeaseResponse = serde_json::from_str(&raw).expect("lease response");
    assert_eq!(leased.tasks.len(), 3);
    let texts: Vec<&str> = leased
        .tasks
        .iter()
        .filter_map(|t| t.data["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"I love it") && texts.contains(&"I hate it"),
        "{texts:?}"
    );
    let id_of = |text: &str| {
        leased
            .tasks
            .iter()
            .find(|t| t.data["text"] == text)
            .map(|t| t.task_id)
            .expect("task")
    };
    let (g1, g2) = (id_of("I love it"), id_of("I hate it"));
    for task in leased
        .tasks
        .iter()
        .filter(|t| [g1, g2].contains(&t.task_id))
    {
        assert!(
            task.prediction.is_none() && task.data.len() == 1,
            "{task:?}"
        );
    }
    // Gold tasks go to everyone, whatever the overlap (1 here).
    let cora_tasks = careful.lease(project, 2, None).await.expect("lease").tasks;
    assert!(
        cora_tasks.iter().any(|t| t.task_id == g1) && cora_tasks.iter().any(|t| t.task_id == g2)
    );

    careless
        .push(vec![answer(g1, "negative"), answer(g2, "positive")])
        .await
        .expect("push");
    careful
        .push(vec![answer(g1, "positive"), answer(g2, "negative")])
        .await
        .expect("push");
    let (code, body) = api_error(
        careless
            .lease(project, 1, None)
            .await
            .expect_err("suspended"),
    );
    assert_eq!((code, body.code.as_str()), (403, "suspended"));
    assert!(
        !careful
            .lease(project, 1, None)
            .await
            .expect("lease")
            .tasks
            .is_empty()
    );

    let skills = requester.annotators(project).await.expect("annotators");
    let of = |name: &str| {
        skills
            .iter()
            .find(|s| s.annotator == name)
            .expect("annotator")
            .clone()
    };
    let (carl, cora) = (of("carl"), of("cora"));
    assert_eq!(
        (carl.gold_answers, carl.gold_correct, carl.suspended),
        (2, 0, true)
    );
    assert_eq!(
        (cora.gold_answers, cora.gold_correct, cora.suspended),
        (2, 2, false)
    );
    assert_eq!(cora.gold_accuracy, Some(1.0));
    // The requester sees the gold answers in the export; annotators may not list skills.
    let records = export_records(&requester, project).await;
    let g1_record = records.iter().find(|r| r.task_id == g1).expect("g1");
    assert_eq!(
        g1_record.gold.as_deref(),
        Some(&["positive".to_owned()][..])
    );
    assert_eq!(
        api_error(careful.annotators(project).await.expect_err("403")).0,
        403
    );
}

async fn the_annotators_view_flags_a_one_label_clicker(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 25).await;
    let labels = ["positive", "negative", "neutral"];
    let start = Utc::now() - Duration::hours(1);
    for (name, varied) in [("xena", false), ("yuri", true)] {
        let (annotator, _) = server.user(Role::Annotator, name).await;
        let tasks = annotator
            .lease(project, 25, None)
            .await
            .expect("lease")
            .tasks;
        assert_eq!(tasks.len(), 25);
        let pushes = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let label = if varied { labels[i % 3] } else { "positive" };
                let mut a = answer(t.task_id, label);
                a.answered_at = start + Duration::seconds(20 * i as i64);
                a
            })
            .collect();
        annotator.push(pushes).await.expect("push");
    }
    let skills = requester.annotators(project).await.expect("annotators");
    let of = |name: &str| {
        skills
            .iter()
            .find(|s| s.annotator == name)
            .expect("annotator")
            .clone()
    };
    let (xena, yuri) = (of("xena"), of("yuri"));
    assert_eq!(xena.flags, ["one_label"]);
    assert_eq!(xena.top_label_share, Some(1.0));
    assert!(yuri.flags.is_empty(), "{yuri:?}");
    assert_eq!((xena.median_seconds, xena.answers), (Some(20.0), 25));
}

/// The dashboard's figures from real stored answers: per hour (the annotators' clocks),
/// completion, time per answer and agreement.
async fn stats_chart_answers_completion_pace_and_agreement(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 3).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let start = Utc::now()
        .duration_trunc(Duration::hours(1))
        .expect("an hour")
        - Duration::hours(3);
    // alice answers all three tasks in the first hour, 6 s apart; bob two of them two hours
    // later, agreeing on one.
    for (api, labels, hour) in [
        (&alice, ["positive", "negative", "neutral"].as_slice(), 0),
        (&bob, ["positive", "positive"].as_slice(), 2),
    ] {
        let leased = api.lease(project, 3, None).await.expect("lease").tasks;
        let mut ids: Vec<i64> = leased.iter().map(|t| t.task_id).collect();
        ids.sort();
        let answers = ids
            .iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (&id, label))| {
                let mut a = answer(id, label);
                a.answered_at = start + Duration::hours(hour) + Duration::seconds(6 * i as i64);
                a
            })
            .collect();
        api.push(answers).await.expect("push");
    }
    let stats = requester.stats(project).await.expect("stats");
    let counts = |v: &[tessera_api::HourCount]| v.iter().map(|h| h.count).collect::<Vec<_>>();
    assert_eq!(counts(&stats.answers_per_hour), [3, 0, 2], "{stats:?}");
    assert_eq!(stats.answers_per_hour[0].hour, start);
    assert_eq!(counts(&stats.complete_by_hour), [0, 0, 2]);
    assert_eq!(stats.median_seconds, Some(6.0));
    assert_eq!(
        stats
            .seconds_per_answer
            .iter()
            .map(|b| b.answers)
            .sum::<u64>(),
        3,
        "alice's two gaps and bob's one"
    );
    assert_eq!(stats.agreement_tasks, 2);
    assert_eq!(stats.percent_agreement, Some(0.5));
    assert!(stats.krippendorff_alpha.is_some());
    let (status, _) = api_error(alice.stats(project).await.expect_err("requesters only"));
    assert_eq!(status, 403);
}

/// An answer flagged unsure sends its task to review once complete, even when the crowd
/// agrees; a skip's reason is counted in the status; flags in the wrong place are refused.
async fn unsure_answers_go_to_review_and_skips_say_why(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 2).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;
    let (bob, _) = server.user(Role::Annotator, "bob").await;
    let mut tasks: Vec<i64> = alice
        .lease(project, 2, None)
        .await
        .expect("lease")
        .tasks
        .iter()
        .map(|t| t.task_id)
        .collect();
    tasks.sort();
    bob.lease(project, 2, None).await.expect("lease");
    let (agreed, skipped) = (tasks[0], tasks[1]);
    let mut unsure = answer(agreed, "positive");
    unsure.unsure = true;
    let mut skip = answer(skipped, "positive");
    skip.labels.clear();
    skip.skipped = true;
    skip.skip_reason = Some("unclear".to_owned());
    let mut misplaced = answer(skipped, "negative");
    misplaced.skip_reason = Some("unclear".to_owned());
    let results = alice
        .push(vec![unsure, skip, misplaced])
        .await
        .expect("push")
        .results;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [
            PushStatus::Accepted,
            PushStatus::Accepted,
            PushStatus::Rejected
        ]
    );
    bob.push(vec![
        answer(agreed, "positive"),
        answer(skipped, "negative"),
    ])
    .await
    .expect("push");

    let status = requester.status(project).await.expect("status");
    assert_eq!(status.needs_review, 1, "{status:?}");
    assert_eq!(
        status.skips_by_reason.get("unclear"),
        Some(&1),
        "{status:?}"
    );
    let queue = requester.review_queue(project, 10).await.expect("queue");
    assert_eq!(
        queue.iter().map(|r| r.task_id).collect::<Vec<_>>(),
        [agreed]
    );
    let record = &queue[0];
    assert_eq!(
        record.consensus.as_ref().map(|c| c.confidence),
        Some(1.0),
        "the crowd agreed; the flag alone sent it to review"
    );
    let flags: Vec<(String, bool)> = record
        .answers
        .iter()
        .map(|a| (a.annotator.clone(), a.unsure))
        .collect();
    assert_eq!(
        flags,
        [("alice".to_owned(), true), ("bob".to_owned(), false)]
    );

    // The export keeps the skip and its reason, and the unsure flag; the CSV has a column per
    // data field and counts the unsure answers.
    let records = export_records(&requester, project).await;
    let skipped_record = records
        .iter()
        .find(|r| r.task_id == skipped)
        .expect("skipped task");
    let skips: Vec<(&str, Option<&str>)> = skipped_record
        .skips
        .iter()
        .map(|s| (s.annotator.as_str(), s.reason.as_deref()))
        .collect();
    assert_eq!(skips, [("alice", Some("unclear"))]);
    let csv = requester
        .export(project, "csv")
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert_eq!(
        &header[..3],
        ["task_id", "external_id", "text"],
        "{header:?}"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let row_of = |task: i64| {
        rows.iter()
            .find(|r| r[at("task_id")] == task.to_string())
            .expect("row")
    };
    assert_eq!(&row_of(agreed)[at("unsure_answers")], "1");
    assert!(row_of(skipped)[at("skips")].contains("unclear"));
    assert!(!row_of(agreed)[at("text")].is_empty());
}

/// A spammer's answers count until the gold says they are one; then the re-fit leaves them
/// out (the project's default), their tasks want others in their place, and nothing is
/// dropped from the export. Lifting the suspension lets them work again.
async fn a_suspended_annotators_answers_stop_counting_until_the_suspension_is_lifted(
    backend: Backend,
) {
    let server = TestServer::start_on(backend).await;
    let (requester, requester_token) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(3);
    schema.gold_rate = 1.0;
    schema.suspend_below = Some(0.7);
    schema.gold_min_answers = 10;
    let gold: String = (1..=20)
        .map(|i| {
            format!(
                "{{\"id\":\"g{i}\",\"data\":{{\"text\":\"gold {i}\"}},\"gold\":\"positive\"}}\n"
            )
        })
        .collect();
    let project = project_with(&requester, schema, &[&gold, &sample_jsonl(10)]).await;
    // Every slot is gold while gold lasts: 20 gold, then the 10 tasks.
    let work = |label: &'static str| {
        move |tasks: &[tessera_api::LeasedTask]| -> Vec<tessera_api::AnswerPush> {
            tasks
                .iter()
                .map(|t| {
                    let gold = t.data["text"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("gold"));
                    answer(t.task_id, if gold { "positive" } else { label })
                })
                .collect()
        }
    };
    let (sam, _) = server.user(Role::Annotator, "sam").await;
    let tasks = sam.lease(project, 30, None).await.expect("lease").tasks;
    assert_eq!(tasks.len(), 30);
    let spam: Vec<_> = tasks
        .iter()
        .map(|t| answer(t.task_id, "negative"))
        .collect();
    sam.push(spam).await.expect("push");
    let (code, body) = api_error(sam.lease(project, 1, None).await.expect_err("suspended"));
    assert_eq!((code, body.code.as_str()), (403, "suspended"));
    for name in ["ann", "bob"] {
        let (honest, _) = server.user(Role::Annotator, name).await;
        let tasks = honest.lease(project, 30, None).await.expect("lease").tasks;
        assert_eq!(tasks.len(), 30, "{name}");
        honest.push(work("positive")(&tasks)).await.expect("push");
    }
    let ordinary = |records: &[tessera_api::ExportRecord]| -> Vec<tessera_api::ExportRecord> {
        records
            .iter()
            .filter(|r| {
                r.data["text"]
                    .as_str()
                    .is_some_and(|s| !s.starts_with("gold"))
            })
            .cloned()
            .collect()
    };
    let before = ordinary(&export_records(&requester, project).await);
    assert!(before.iter().all(|r| r.complete && r.answers.len() == 3));

    // The re-fit leaves Sam out: each task has two answers that count and wants a third.
    requester.refit(project).await.expect("refit");
    let after = ordinary(&export_records(&requester, project).await);
    assert_eq!(after.len(), 10);
    for r in &after {
        assert!(!r.complete, "{r:?}");
        assert_eq!(
            r.answers.len(),
            3,
            "Sam's answer is kept in the export: {r:?}"
        );
        let consensus = r.consensus.as_ref().expect("consensus");
        assert_eq!(consensus.labels, ["positive"]);
    }
    let (cat, _) = server.user(Role::Annotator, "cat").await;
    let tasks = cat.lease(project, 30, None).await.expect("lease").tasks;
    let theirs = tasks
        .iter()
        .filter(|t| {
            t.data["text"]
                .as_str()
                .is_some_and(|s| !s.starts_with("gold"))
        })
        .count();
    assert_eq!(theirs, 10, "each task has room for one more in Sam's place");
    cat.push(work("positive")(&tasks)).await.expect("push");
    let done = ordinary(&export_records(&requester, project).await);
    assert!(
        done.iter().all(|r| r.complete && r.answers.len() == 4),
        "{done:?}"
    );

    // Each annotator against the consensus, the labels' tally and the forecast.
    let skills = requester.annotators(project).await.expect("skills");
    let of = |name: &str| skills.iter().find(|s| s.annotator == name).expect(name);
    assert_eq!(
        (of("sam").agreement, of("sam").agreement_answers),
        (Some(0.0), 10)
    );
    assert_eq!(of("sam").confusion["positive"]["negative"], 10);
    assert_eq!(of("ann").agreement, Some(1.0));
    let stats = requester.stats(project).await.expect("stats");
    assert_eq!(stats.label_counts.get("positive"), Some(&10), "{stats:?}");
    let forecast = stats.forecast.expect("a forecast");
    assert_eq!(forecast.tasks_left, 0);
    assert!(forecast.done_by.is_some());

    // The requester lifts the suspension (CLI), and sees Sam active again.
    let sam_id = sam.me().await.expect("me").user_id;
    let env = [
        ("TESSERA_SERVER", server.url.as_str()),
        ("TESSERA_TOKEN", requester_token.as_str()),
    ];
    let listed = tessera_tests::tessera_ok(&["annotator", "list", &project.to_string()], &env);
    let line = listed.lines().find(|l| l.contains("\tsam\t")).expect("sam");
    assert!(
        line.contains("suspended") && line.contains("gold 0/20"),
        "{listed}"
    );
    let said = tessera_tests::tessera_ok(
        &[
            "annotator",
            "unsuspend",
            &project.to_string(),
            &sam_id.to_string(),
        ],
        &env,
    );
    assert!(said.contains("sam"), "{said}");
    sam.lease(project, 1, None).await.expect("working again");
    let skills = requester.annotators(project).await.expect("skills");
    let of_sam = skills
        .iter()
        .find(|s| s.annotator_id == sam_id)
        .expect("sam");
    assert!(!of_sam.suspended && of_sam.gold_answers == 20, "{of_sam:?}");
    let (code, body) = api_error(requester.unsuspend(project, sam_id).await.expect_err("409"));
    assert_eq!(code, 409, "{}", body.message);
}

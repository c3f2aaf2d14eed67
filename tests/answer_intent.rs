//! Answers keep their intent, on both storage backends: what the annotator did with the
//! prediction shown (accepted, corrected, rejected — and which model's it was) and why a task
//! was skipped travel from `tessera work` through the device's store and the sync to the
//! server, and out in the export.

use std::collections::HashMap;

use tessera_api::{PredictionVerdict, Role, TaskListQuery};
use tessera_tests::{Backend, TestServer, export_records, on_both_backends, tessera_ok};

on_both_backends!(what_was_done_with_the_prediction_and_why_a_skip_reach_the_export);

async fn what_was_done_with_the_prediction_and_why_a_skip_reach_the_export(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    // t1–t4, predicted (by model m1) negative, neutral, positive, negative.
    let project = tessera_tests::sentiment_project(&requester, "intent", 4).await;
    let ids: HashMap<String, i64> = requester
        .tasks(project, &TaskListQuery::default())
        .await
        .expect("tasks")
        .tasks
        .into_iter()
        .filter_map(|t| Some((t.external_id?, t.task_id)))
        .collect();
    let (_, token) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("home");
    let home_path = home.path().display().to_string();
    let env = [
        ("TESSERA_SERVER", server.url.as_str()),
        ("TESSERA_TOKEN", token.as_str()),
        ("TESSERA_HOME", home_path.as_str()),
    ];
    let work = |args: &[&str]| tessera_ok(args, &env);
    let p = project.to_string();
    work(&["work", "checkout", &p, "--limit", "4"]);
    let id = |name: &str| ids[name].to_string();
    work(&["work", "answer", &id("t1"), "negative"]);
    work(&["work", "answer", &id("t2"), "positive"]);
    work(&["work", "answer", &id("t3"), "negative", "--reject"]);
    work(&["work", "skip", &id("t4"), "--reason", "unclear"]);
    work(&["work", "sync"]);

    let records = export_records(&requester, project).await;
    let of = |name: &str| {
        records
            .iter()
            .find(|r| r.external_id.as_deref() == Some(name))
            .expect("record")
    };
    let verdict = |name: &str| {
        let a = of(name).answers.first().expect("an answer");
        (a.prediction_verdict, a.prediction_model.as_deref())
    };
    assert_eq!(
        verdict("t1"),
        (Some(PredictionVerdict::Accepted), Some("m1"))
    );
    assert_eq!(
        verdict("t2"),
        (Some(PredictionVerdict::Corrected), Some("m1"))
    );
    assert_eq!(
        verdict("t3"),
        (Some(PredictionVerdict::Rejected), Some("m1"))
    );
    let skips: Vec<(&str, Option<&str>)> = of("t4")
        .skips
        .iter()
        .map(|s| (s.annotator.as_str(), s.reason.as_deref()))
        .collect();
    assert_eq!(skips, [("ann", Some("unclear"))]);
}

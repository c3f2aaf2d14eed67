//! A project after creation, on both storage backends, from the API and the CLI: its schema
//! edited (what stored work allows, refused with the reason otherwise), archived and
//! restored, and deleted for good — with every device told its tasks are gone.

use tessera_api::{Change, PushStatus, Role, UpdateProjectRequest};
use tessera_core::LabelSchema;
use tessera_tests::scenario::{answer, project_with, project_with_tasks, schema};
use tessera_tests::{
    Backend, TestServer, api_error, on_both_backends, project_ids, sample_jsonl, tessera_ok,
};

on_both_backends!(
    a_schema_edit_applies_at_once_and_what_would_orphan_work_is_refused,
    an_archived_project_leaves_the_queue_and_keeps_taking_answers,
    a_deleted_project_is_gone_and_every_device_hears_it
);

async fn a_schema_edit_applies_at_once_and_what_would_orphan_work_is_refused(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (rita, token) = server.user(Role::Requester, "rita").await;
    let project = project_with(&rita, schema(3), &[&sample_jsonl(4)]).await;
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let tasks = ann.lease(project, 2, None).await.expect("lease").tasks;
    let answers = tasks
        .iter()
        .map(|t| answer(t.task_id, "negative"))
        .collect();
    ann.push(answers).await.expect("push");
    assert_eq!(rita.status(project).await.expect("status").complete, 0);

    // Overlap 3 → 1, a new label, new words, a new name: the two answered tasks are done.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("schema.json");
    std::fs::write(
        &file,
        r#"{"kind": "classification", "labels": ["positive", "negative", "neutral", "mixed"],
            "overlap": 1, "instructions": "Mixed counts as mixed."}"#,
    )
    .expect("write");
    let env = [
        ("TESSERA_SERVER", server.url.as_str()),
        ("TESSERA_TOKEN", token.as_str()),
    ];
    let p = project.to_string();
    let said = tessera_ok(
        &[
            "project",
            "edit",
            &p,
            "--schema",
            &file.display().to_string(),
            "--name",
            "Reviews, round 2",
        ],
        &env,
    );
    assert!(said.contains("Reviews, round 2"), "{said}");
    let edited = rita.project(project).await.expect("project");
    assert_eq!(edited.schema.overlap, 1);
    assert!(edited.schema.labels.contains(&"mixed".to_owned()));
    assert_eq!(rita.status(project).await.expect("status").complete, 2);

    // Refused, with the reason, and nothing changed: a used label removed, another kind.
    let mut no_negative = edited.schema.clone();
    no_negative.labels.retain(|l| l != "negative");
    let refused = rita
        .update_project(
            project,
            &UpdateProjectRequest {
                name: None,
                schema: Some(no_negative),
            },
        )
        .await
        .expect_err("a used label");
    let (status, body) = api_error(refused);
    assert_eq!((status, body.code.as_str()), (409, "conflict"));
    assert!(body.message.contains("\"negative\""), "{}", body.message);
    let rating =
        LabelSchema::from_json(r#"{"kind": "rating", "labels": ["1", "2", "3"]}"#).expect("schema");
    let (status, body) = api_error(
        rita.update_project(
            project,
            &UpdateProjectRequest {
                name: None,
                schema: Some(rating),
            },
        )
        .await
        .expect_err("another kind"),
    );
    assert_eq!(status, 409, "{}", body.message);
    assert_eq!(rita.project(project).await.expect("project"), edited);
    // An annotator cannot edit.
    let (status, _) = api_error(
        ann.update_project(
            project,
            &UpdateProjectRequest {
                name: Some("mine".to_owned()),
                schema: None,
            },
        )
        .await
        .expect_err("403"),
    );
    assert_eq!(status, 403);
}

async fn an_archived_project_leaves_the_queue_and_keeps_taking_answers(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 2, 4).await;
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let held = ann.lease(project, 1, None).await.expect("lease").tasks;
    requester.archive_project(project).await.expect("archive");

    let seen = project_ids(&ann).await;
    assert!(!seen.contains(&project), "{seen:?}");
    let (status, body) = api_error(ann.lease(project, 1, None).await.expect_err("archived"));
    assert_eq!(
        (status, body.code.as_str()),
        (409, "archived"),
        "{}",
        body.message
    );
    // The answer made before the archive still comes in.
    let reply = ann
        .push(vec![answer(held[0].task_id, "positive")])
        .await
        .expect("push");
    assert_eq!(reply.results[0].status, PushStatus::Accepted);
    let listed = requester.projects().await.expect("list");
    let mine = listed.iter().find(|p| p.id == project).expect("listed");
    assert!(mine.archived_at.is_some());

    requester.restore_project(project).await.expect("restore");
    assert_eq!(
        ann.lease(project, 1, None)
            .await
            .expect("lease")
            .tasks
            .len(),
        1
    );
}

async fn a_deleted_project_is_gone_and_every_device_hears_it(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let project = tessera_tests::sentiment_project(&requester, "to delete", 3).await;
    let other = tessera_tests::sentiment_project(&requester, "to keep", 2).await;
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let tasks = ann.lease(project, 3, None).await.expect("lease").tasks;
    ann.push(vec![answer(tasks[0].task_id, "positive")])
        .await
        .expect("push");
    let kept = ann.lease(other, 1, None).await.expect("lease").tasks;

    // Not without confirming: the CLI and the API say to export first.
    let env = [
        ("TESSERA_SERVER", server.url.as_str()),
        ("TESSERA_TOKEN", token.as_str()),
    ];
    let p = project.to_string();
    let refused = std::process::Command::new(tessera_tests::built_binary("tessera"))
        .args(["project", "delete", &p])
        .envs(env)
        .env("TESSERA_CONFIG", "/nonexistent/tessera-login.json")
        .output()
        .expect("run");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("export") && said.contains("--yes"), "{said}");
    let raw = reqwest::Client::new()
        .delete(format!("{}/api/projects/{project}", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(
        requester.status(project).await.expect("still there").tasks,
        3
    );

    let said = tessera_ok(&["project", "delete", &p, "--yes"], &env);
    assert!(said.contains("3 tasks and 1 answers"), "{said}");
    let (status, _) = api_error(server.admin().status(project).await.expect_err("gone"));
    assert_eq!(status, 404);
    assert_eq!(requester.status(other).await.expect("kept").tasks, 2);

    // Ann's feed, read from the start, holds no lease or answer of the deleted project's
    // tasks any more — each is a cancellation — and the other project's lease is as it was.
    let feed = ann.changes(0, 1000).await.expect("feed").changes;
    let deleted: Vec<i64> = tasks.iter().map(|t| t.task_id).collect();
    for change in &feed {
        match change {
            Change::Lease { task, .. } => assert!(!deleted.contains(&task.task_id), "{change:?}"),
            Change::Answer { task_id, .. } => {
                assert!(!deleted.contains(task_id), "{change:?}")
            }
            Change::Cancel { .. } => {}
        }
    }
    for task in &deleted[1..] {
        assert!(
            feed.iter()
                .any(|c| matches!(c, Change::Cancel { task_id, .. } if task_id == task)),
            "no cancellation of held task {task}: {feed:?}"
        );
    }
    assert!(
        feed.iter()
            .any(|c| matches!(c, Change::Lease { task, .. } if task.task_id == kept[0].task_id))
    );
    // An answer to a deleted task is refused with a reason, not lost without a word.
    let reply = ann
        .push(vec![answer(tasks[1].task_id, "negative")])
        .await
        .expect("push");
    assert_eq!(reply.results[0].status, PushStatus::Rejected, "{reply:?}");
}

//! The desktop's session logic (crates/client `Session`) against a real server, without a window:
//! sign-in rules, answering from the local cache, Backspace revisions, and resuming offline.

use tessera_api::Role;
use tessera_client::session::{Session, SessionError};
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{SENTIMENT_SCHEMA, TestServer, sample_jsonl};

#[tokio::test(flavor = "multi_thread")]
async fn a_session_labels_revises_and_resumes_offline() {
    let mut server = TestServer::start().await;
    let (requester, requester_token) = server.user(Role::Requester, "rita").await;
    let project = requester
        .create_project(
            "s",
            LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema"),
        )
        .await
        .expect("project");
    requester
        .upload(project.id, UploadFormat::Jsonl, sample_jsonl(6))
        .await
        .expect("upload");
    let (_, token) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("tempdir");

    let session = Session::open(home.path().to_path_buf()).expect("open");
    let (_, admin_token) = server.user(Role::Admin, "root").await;
    let wrong = session
        .sign_in(&server.url, &admin_token)
        .await
        .expect_err("admin token");
    assert!(matches!(wrong, SessionError::WrongRole("admin")), "{wrong}");
    // A requester signs in to the dashboard: no project to label, nothing to sync.
    let requester_info = session
        .sign_in(&server.url, &requester_token)
        .await
        .expect("requester");
    assert!(requester_info.requester && requester_info.project_id.is_none());
    assert!(matches!(session.next_task(), Err(SessionError::NoProject)));
    assert_eq!(
        session.dashboard_projects().await.expect("dashboard")[0].tasks,
        6
    );
    session.sign_out().expect("sign out");

    let info = session.sign_in(&server.url, &token).await.expect("sign in");
    assert_eq!(
        (info.annotator.as_str(), info.project_id),
        ("ann", Some(project.id))
    );
    let first = session.next_task().expect("next").expect("a task");
    assert_eq!(first.labels, ["positive", "negative", "neutral"]);
    assert!(first.prediction.is_some() && first.answer.is_none());

    let second = session
        .answer(
            first.task_id,
            vec!["positive".into()],
            false,
            Default::default(),
        )
        .expect("answer")
        .expect("next");
    assert_ne!(second.task_id, first.task_id);
    session
        .answer(second.task_id, vec![], true, Default::default())
        .expect("skip");

    // Backspace walks back through the answers, newest first, showing the current answer.
    let back = session.previous_task(None).expect("back").expect("a task");
    assert_eq!((back.task_id, back.answer.clone()), (second.task_id, None));
    let back2 = session
        .previous_task(Some(back.task_id))
        .expect("back")
        .expect("a task");
    assert_eq!(
        (back2.task_id, back2.answer.clone()),
        (first.task_id, Some(vec!["positive".to_owned()]))
    );
    session
        .answer(
            first.task_id,
            vec!["neutral".into()],
            false,
            Default::default(),
        )
        .expect("revise");
    assert_eq!(
        session
            .store()
            .expect("an annotator's store")
            .current_answer(first.task_id)
            .expect("current"),
        Some(vec!["neutral".to_owned()])
    );
    // Each answer nudges the background sync engine: the two answers and the skip reach the
    // server while it is up (how soon is the engine's business; the test waits for it).
    tessera_tests::eventually(
        std::time::Duration::from_secs(20),
        "the engine to push the online answers",
        || async { (session.sync_status().ok()?.pending == 0).then_some(()) },
    )
    .await;
    let status = requester.status(project.id).await.expect("status");
    assert_eq!(
        status.answers, 1,
        "first, revised once; the skip is not an answer"
    );
    drop(session);

    // The app restarts while the server is down: the saved session resumes from the cache.
    server.stop().await;
    let session = Session::open(home.path().to_path_buf()).expect("reopen");
    let resumed = session
        .restore()
        .await
        .expect("restore")
        .expect("saved session");
    assert_eq!(resumed.project_id, Some(project.id));
    let next = session.next_task().expect("next").expect("cached task");
    session
        .answer(
            next.task_id,
            vec!["negative".into()],
            false,
            Default::default(),
        )
        .expect("offline answer");
    assert_eq!(session.sync_status().expect("status").pending, 1);

    server.restart().await;
    session.sync_now();
    tessera_tests::eventually(
        std::time::Duration::from_secs(20),
        "the session to sync",
        || async { (session.sync_status().ok()?.pending == 0).then_some(()) },
    )
    .await;
    let status = requester.status(project.id).await.expect("status");
    // first (revised), and the offline answer; the skip is not an answer.
    assert_eq!(status.answers, 2);
}

/// The status bar's sync progress comes from the background engine: while a long offline
/// session's answers are pushed, page by page, the engine reports how far it got.
#[tokio::test(flavor = "multi_thread")]
async fn the_engine_reports_progress_while_pushing_a_long_offline_session() {
    const ANSWERS: usize = 1500;
    let server = TestServer::start().await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = tessera_tests::sentiment_project(&requester, "progress", ANSWERS).await;
    let (annotator, _) = server.user(Role::Annotator, "ann").await;
    let home = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(
        tessera_client::LocalStore::open(&home.path().join("client.db")).expect("store"),
    );
    let held = tessera_client::sync::checkout(&annotator, &store, project, ANSWERS as u32, None)
        .await
        .expect("checkout");
    assert_eq!(held, ANSWERS);
    while let Some(task) = store.next_task(Some(project)).expect("next") {
        store
            .record_answer(task.id, vec!["neutral".into()], false, chrono::Utc::now())
            .expect("answer");
    }
    assert_eq!(store.pending(10_000).expect("pending").len(), ANSWERS);

    let engine = tessera_client::sync::SyncEngine::spawn(
        annotator,
        std::sync::Arc::clone(&store),
        tessera_client::sync::EngineConfig::default(),
    );
    let mut states = engine.subscribe();
    let mut seen = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            states.changed().await.expect("engine alive");
            let state = states.borrow_and_update().clone();
            if let Some(progress) = state.progress {
                seen.push(progress);
            } else if state.online && store.pending(1).expect("pending").is_empty() {
                break;
            }
        }
    })
    .await
    .expect("the engine pushes everything within a minute");
    assert!(!seen.is_empty(), "no progress was reported");
    assert!(seen.iter().all(|&(_, total)| total == ANSWERS), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert!(
        seen.iter()
            .all(|&(pushed, _)| pushed > 0 && pushed <= ANSWERS),
        "{seen:?}"
    );
}

/// The dashboard's upload: a file handed over in chunks that split lines and characters goes
/// up as one batch at its priority; a bad early line stops the upload while chunks are still
/// coming, names its line, and stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_requester_uploads_a_file_in_chunks() {
    let server = TestServer::start().await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let project = requester
        .create_project(
            "chunks",
            LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema"),
        )
        .await
        .expect("project")
        .id;
    let home = tempfile::tempdir().expect("tempdir");
    let session = Session::open(home.path().to_path_buf()).expect("open");
    session.sign_in(&server.url, &token).await.expect("sign in");

    let file = sample_jsonl(500).replace("sample", "sämple").into_bytes();
    let id = session
        .start_upload(project, "batch.jsonl", 7)
        .expect("start");
    for chunk in file.chunks(333) {
        assert!(
            session
                .upload_chunk(id, chunk.to_vec())
                .await
                .expect("chunk")
        );
    }
    let report = session.finish_upload(id).await.expect("stored");
    assert_eq!(report.tasks_added, 500);
    let batches = requester.batches(project).await.expect("batches");
    assert_eq!(
        (batches.len(), batches[0].task_count, batches[0].priority),
        (1, 500, 7)
    );
    assert!(
        matches!(
            session.finish_upload(id).await,
            Err(SessionError::Invalid(_))
        ),
        "an upload finishes once"
    );

    // Line 2 is bad; the server answers while the file is still coming (21 MB: far more than
    // its 4 MB parse piece and the socket buffers), and the chunks after that are refused
    // rather than sent into the void.
    let id = session
        .start_upload(project, "bad.jsonl", 0)
        .expect("start");
    let mut bad = b"{\"data\": {\"text\": \"fine\"}}\n{\"data\": 5}\n".to_vec();
    bad.extend(b"{\"data\": {\"text\": \"more\"}}\n".repeat(800_000));
    let mut sent_all = true;
    for chunk in bad.chunks(64 << 10) {
        if !session
            .upload_chunk(id, chunk.to_vec())
            .await
            .expect("chunk")
        {
            sent_all = false;
            break;
        }
    }
    assert!(!sent_all, "the server stopped the upload before its end");
    let e = session.finish_upload(id).await.expect_err("refused");
    assert_eq!(e.location(), (Some(2), None), "{e}");
    assert_eq!(requester.status(project).await.expect("status").tasks, 500);

    let e = session
        .start_upload(project, "batch.txt", 0)
        .expect_err("unknown format");
    assert!(
        e.to_string()
            .contains(".jsonl, .json (Label Studio) or .csv"),
        "{e}"
    );
}

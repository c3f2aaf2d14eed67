//! A model in the loop from the desktop app, in real windows under Xvfb: the requester
//! connects a real ML backend (built on Label Studio's `label-studio-ml` package) from the
//! Settings tab and sees it predict; the annotator then sees its prediction beside the task.

use std::process::Stdio;
use std::time::Duration;

use tessera_api::Role;
use tessera_server::ServerConfig;
use tessera_tests::scenario::{project_with, schema};
use tessera_tests::{
    Backend, TestServer, built_binary, eventually, free_port, peer_venv_program, wait_up_at,
};
use tokio::process::Command;

mod desktop;

use desktop::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_connected_backends_prediction_is_shown_beside_the_task() {
    let app = built_binary("tessera-desktop");
    let mut config = ServerConfig::default();
    config.models.tick = Duration::from_millis(200);
    let server = TestServer::start_with(Backend::Sqlite, config).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _backend = Command::new(peer_venv_program("TESSERA_ML_VENV", "venv-ml", "python"))
        .arg(tessera_tests::manifest_dir().join("peers/ml_backend.py"))
        .arg(port.to_string())
        .arg(tmp.path().join("events.jsonl"))
        .arg(tmp.path().join("models"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the ML backend");
    let url = format!("http://127.0.0.1:{port}");
    wait_up_at(&format!("{url}/health")).await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let tasks = concat!(
        r#"{"data": {"text": "I love this phone"}}"#,
        "\n",
        r#"{"data": {"text": "an awful battery"}}"#,
        "\n",
    );
    let project = project_with(&requester, schema(1), &[tasks]).await;

    {
        let (_home, window) = signed_in_window(&app, &server.url, &token, Some(SMALLEST)).await;
        let client = window.client.clone();
        open_first_project(&client).await;
        tab(&client, '6', "settings").await;
        type_into(&client, "#ml-url", &url).await;
        type_into(&client, "#ml-name", "keywords").await;
        click(&client, "#ml-connect").await;
        eventually(Duration::from_secs(30), "both tasks predicted", || async {
            let b = requester.ml_backends(project).await.ok()?.pop()?;
            (b.predictions == 2).then_some(())
        })
        .await;
        // The tab shows it once repainted.
        tab(&client, '1', "overview").await;
        tab(&client, '6', "settings").await;
        let shown = text_where(&client, "#ml-backends", 10, "the backend's state", |t| {
            t.contains("2 tasks predicted")
        })
        .await;
        assert!(
            shown.contains("keywords") && shown.contains("healthy"),
            "{shown}"
        );
        // The section in view for the screenshot (docs/models.md shows it).
        client
            .execute(
                "document.querySelector('#ml-backends').scrollIntoView({block: 'center'})",
                vec![],
            )
            .await
            .expect("scroll to the ML backends");
        in_both_themes(&client, "ML backends", Some("ml-backends.png")).await;
    }

    let (_, annotator_token) = server.user(Role::Annotator, "ann").await;
    let (_home, window) =
        signed_in_window(&app, &server.url, &annotator_token, Some(SMALLEST)).await;
    let client = window.client.clone();
    let text = text_where(&client, "#task-text", 30, "a task", |t| !t.is_empty()).await;
    let expected = if text.contains("love") {
        "positive"
    } else {
        "negative"
    };
    let prediction = text_of(&client, "#prediction").await.expect("prediction");
    assert!(
        prediction.contains("model keywords-1"),
        "the backend's prediction beside the task: {prediction}"
    );
    let labels = text_of(&client, "#prediction-labels")
        .await
        .expect("labels");
    assert_eq!(labels, expected, "{prediction}");
}

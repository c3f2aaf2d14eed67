//! The desktop app in a real window under Xvfb, driven through tauri-driver + WebKitWebDriver:
//! sign in, label three tasks with the keyboard, watch the pending count reach 0; lose the
//! server and keep labelling; get killed (SIGKILL) and start again with the pending answers
//! intact; and find every answer on the server once it is back.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use tessera_api::Role;
use tessera_tests::{
    Backend, TestServer, built_binary, eventually, export_records, free_port, sentiment_project,
};

/// Child processes, each leading its own process group, killed with their groups on drop: a
/// failing test leaves nothing running, and WebKitWebDriver (tauri-driver's child) does not
/// outlive the test holding its output pipes open.
struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_xvfb() -> (Child, String) {
    let display = 100 + std::process::id() % 800;
    let child = Command::new("Xvfb")
        .process_group(0)
        .arg(format!(":{display}"))
        .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is required (apt-get install xvfb; scripts/setup.sh installs it)");
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(socket.exists(), "Xvfb did not start on :{display}");
    (child, format!(":{display}"))
}

fn start_tauri_driver(display: &str, home: &Path, port: u16) -> Child {
    Command::new("tauri-driver")
        .process_group(0)
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &free_port().to_string(),
        ])
        .env("DISPLAY", display)
        .env("TESSERA_HOME", home)
        .env_remove("TESSERA_SERVER")
        .env_remove("TESSERA_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect(
            "tauri-driver is required (cargo install tauri-driver; scripts/setup.sh installs it)",
        )
}

async fn press(client: &Client, key: char) {
    let actions = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(actions).await.expect("key press");
}

async fn text_of(client: &Client, css: &str) -> Option<String> {
    client.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn task_id(client: &Client) -> Option<i64> {
    let el = client.find(Locator::Css("#task")).await.ok()?;
    el.attr("data-task-id").await.ok()??.parse().ok()
}

/// A WebDriver session: tauri-driver starts the app.
/// Waits for the status bar to show the offline badge and `pending` answers waiting.
async fn offline_with_pending(client: &Client, pending: u32, what: &str) {
    let wanted = pending.to_string();
    eventually(Duration::from_secs(30), what, || {
        let (client, wanted) = (client.clone(), wanted.clone());
        async move {
            let online = text_of(&client, "#online-state").await?;
            let shown = text_of(&client, "#pending-count").await?;
            (online.contains("Offline") && shown == wanted).then_some(())
        }
    })
    .await;
}

async fn connect(caps: &serde_json::Map<String, serde_json::Value>, driver_url: &str) -> Client {
    eventually(Duration::from_secs(30), "a WebDriver session", || {
        let (caps, url) = (caps.clone(), driver_url.to_owned());
        async move {
            ClientBuilder::native()
                .capabilities(caps)
                .connect(&url)
                .await
                .ok()
        }
    })
    .await
}

/// One window at a time (one display, one WebDriver): the same session on each backend.
#[tokio::test(flavor = "multi_thread")]
async fn annotator_labels_three_tasks_with_the_keyboard_and_they_sync() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        labelling_session(backend).await;
    }
}

async fn labelling_session(backend: Backend) {
    let app = built_binary("tessera-desktop");
    let mut server = TestServer::start_on(backend).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&requester, "desktop e2e", 12).await;
    let (_, token) = server.user(Role::Annotator, "dana").await;

    let home = tempfile::tempdir().expect("tempdir");
    let (xvfb, display) = start_xvfb();
    let driver_port = free_port();
    let driver = start_tauri_driver(&display, home.path(), driver_port);
    let _reaper = Reaper(vec![xvfb, driver]);

    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "wry".into());
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app }),
    );
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    let client = connect(&caps, &driver_url).await;

    // Sign in.
    let server_input = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#server-input"))
        .await
        .expect("sign-in screen");
    server_input.clear().await.expect("clear");
    server_input
        .send_keys(&server.url)
        .await
        .expect("type server");
    client
        .find(Locator::Css("#token-input"))
        .await
        .expect("token input")
        .send_keys(&token)
        .await
        .expect("type token");
    client
        .find(Locator::Css("#sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    // The only project opens by itself; the first task shows with the machine's prediction.
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#task-text"))
        .await
        .expect("a task");
    let prediction = text_of(&client, "#prediction")
        .await
        .expect("prediction panel");
    assert!(
        prediction.to_lowercase().contains("machine prediction"),
        "{prediction}"
    );

    let keys = ['1', '2', '3'];
    let labels = ["positive", "negative", "neutral"];
    let mut answered = Vec::new();
    for (key, label) in keys.into_iter().zip(labels) {
        let id = task_id(&client).await.expect("task id");
        press(&client, key).await;
        let chosen = eventually(Duration::from_secs(5), "the label to be chosen", || {
            let client = client.clone();
            async move { text_of(&client, ".label-option.chosen").await }
        })
        .await;
        assert!(chosen.contains(label), "{chosen}");
        press(&client, char::from(Key::Enter)).await;
        eventually(Duration::from_secs(5), "the next task", || {
            let client = client.clone();
            async move { task_id(&client).await.filter(|&next| next != id) }
        })
        .await;
        answered.push((id, label));
    }

    eventually(
        Duration::from_secs(30),
        "the pending count to reach 0",
        || {
            let client = client.clone();
            async move {
                text_of(&client, "#pending-count")
                    .await
                    .filter(|t| t == "0")
            }
        },
    )
    .await;
    // The status bar is repainted every second, so read it until it settles.
    eventually(Duration::from_secs(10), "the online badge", || {
        let client = client.clone();
        async move {
            text_of(&client, "#online-state")
                .await
                .filter(|t| t.contains("Online"))
        }
    })
    .await;

    // The server goes away: the annotator keeps working from the local cache.
    server.stop().await;
    let mut offline_answers = Vec::new();
    for _ in 0..2 {
        let id = task_id(&client).await.expect("task id");
        press(&client, '3').await;
        press(&client, char::from(Key::Enter)).await;
        eventually(
            Duration::from_secs(5),
            "the next task while offline",
            || {
                let client = client.clone();
                async move { task_id(&client).await.filter(|&next| next != id) }
            },
        )
        .await;
        offline_answers.push(id);
    }
    offline_with_pending(&client, 2, "the offline badge and 2 pending").await;

    // The app is killed (SIGKILL) mid-session while offline, and started again: the saved
    // session resumes from the local store, the two answers still pending.
    let status = Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(&app)
        .status()
        .expect("pkill");
    assert!(status.success(), "the app was running and got killed");
    // End the dead app's WebDriver session so the driver takes a new one.
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    let client = connect(&caps, &driver_url).await;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#task-text"))
        .await
        .expect("the restarted app resumes the session without signing in");
    offline_with_pending(&client, 2, "2 pending after the restart, offline").await;

    // It comes back: the pending answers sync by themselves.
    server.restart().await;
    eventually(
        Duration::from_secs(60),
        "the pending answers to sync after the restart",
        || {
            let client = client.clone();
            async move {
                text_of(&client, "#pending-count")
                    .await
                    .filter(|t| t == "0")
            }
        },
    )
    .await;
    answered.extend(offline_answers.into_iter().map(|id| (id, "neutral")));

    if let Some(dir) = std::env::var_os("TESSERA_SCREENSHOT_DIR") {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = client.screenshot().await.expect("screenshot");
        std::fs::write(PathBuf::from(dir).join("labeling.png"), png).expect("write screenshot");
    }
    client.close().await.expect("close session");

    let records = export_records(&requester, project).await;
    for (id, label) in answered {
        let record = records
            .iter()
            .find(|r| r.task_id == id)
            .expect("answered task in export");
        let dana: Vec<_> = record
            .answers
            .iter()
            .filter(|a| a.annotator == "dana")
            .collect();
        assert_eq!(dana.len(), 1, "task {id}: {record:?}");
        assert_eq!(dana[0].labels, [label]);
        let consensus = record.consensus.as_ref().expect("consensus");
        assert_eq!(
            (consensus.label.as_deref(), consensus.confidence),
            (Some(label), 1.0)
        );
    }
}

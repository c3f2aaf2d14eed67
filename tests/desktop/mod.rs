//! The desktop app in a real window, for the end-to-end tests: Xvfb, tauri-driver and a
//! WebDriver session, with the small waits and key presses the tests share. Each test binary
//! that includes this module uses a part of it.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use tessera_tests::{answer_push, eventually, free_port};

/// Child processes, each leading its own process group, killed with their groups on drop: a
/// failing test leaves nothing running, and WebKitWebDriver (tauri-driver's child) does not
/// outlive the test holding its output pipes open.
pub struct Reaper(pub Vec<Child>);

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

pub fn start_xvfb() -> (Child, String) {
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

pub fn start_tauri_driver(display: &str, home: &Path, port: u16) -> Child {
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
        .env("TESSERA_EXPORT_DIR", home.join("exports"))
        .env_remove("TESSERA_SERVER")
        .env_remove("TESSERA_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect(
            "tauri-driver is required (cargo install tauri-driver; scripts/setup.sh installs it)",
        )
}

pub async fn press(client: &Client, key: char) {
    let actions = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(actions).await.expect("key press");
}

pub async fn text_of(client: &Client, css: &str) -> Option<String> {
    client.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

pub async fn task_id(client: &Client) -> Option<i64> {
    let el = client.find(Locator::Css("#task")).await.ok()?;
    el.attr("data-task-id").await.ok()??.parse().ok()
}

/// Waits (up to 20 s) for the element `css`; `what` names it when it never comes.
pub async fn wait_for(client: &Client, css: &str, what: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Waits up to `secs` for the text of `css` to satisfy `wanted`; returns it.
pub async fn text_where(
    client: &Client,
    css: &str,
    secs: u64,
    what: &str,
    wanted: impl Fn(&str) -> bool + Clone,
) -> String {
    eventually(Duration::from_secs(secs), what, || {
        let (client, css, wanted) = (client.clone(), css.to_owned(), wanted.clone());
        async move { text_of(&client, &css).await.filter(|t| wanted(t)) }
    })
    .await
}

/// Waits for a task other than `id` to be on screen.
pub async fn next_task_after(client: &Client, id: i64, what: &str) {
    eventually(Duration::from_secs(5), what, || {
        let client = client.clone();
        async move { task_id(&client).await.filter(|&next| next != id) }
    })
    .await;
}

/// `api`'s annotator leases up to `n` tasks of `project` and answers them all `label`.
pub async fn lease_and_answer(api: &tessera_client::ApiClient, project: i64, n: u32, label: &str) {
    let leased = api.lease(project, n, None).await.expect("lease").tasks;
    let answers = leased
        .iter()
        .map(|t| answer_push(t.task_id, &[label]))
        .collect();
    api.push(answers).await.expect("push");
}

/// From the requester's dashboard into its first project, once its overview shows.
pub async fn open_first_project(client: &Client) {
    wait_for(client, "#dashboard", "the requester's dashboard").await;
    press(client, '1').await;
    wait_for(
        client,
        "#project[data-tab='overview']",
        "the project's overview",
    )
    .await;
}

/// Back to the project list (P) and into the project at position `digit`.
pub async fn open_project(client: &Client, digit: char) {
    press(client, 'p').await;
    wait_for(client, "#projects", "back to the projects").await;
    press(client, digit).await;
}

/// A WebDriver session: tauri-driver starts the app.
/// Waits for the status bar to show the offline badge and `pending` answers waiting.
pub async fn offline_with_pending(client: &Client, pending: u32, what: &str) {
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

pub async fn connect(
    caps: &serde_json::Map<String, serde_json::Value>,
    driver_url: &str,
) -> Client {
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

/// Types the server and token into the sign-in screen and submits it.
pub async fn sign_in(client: &Client, server: &str, token: &str) {
    let server_input = wait_for(client, "#server-input", "sign-in screen").await;
    server_input.clear().await.expect("clear");
    server_input.send_keys(server).await.expect("type server");
    client
        .find(Locator::Css("#token-input"))
        .await
        .expect("token input")
        .send_keys(token)
        .await
        .expect("type token");
    client
        .find(Locator::Css("#sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
}

/// A display, a WebDriver and the app for one test: tests in this file take turns, since
/// they kill the app by its path.
pub struct Window {
    pub client: Client,
    pub caps: serde_json::Map<String, serde_json::Value>,
    pub driver_url: String,
    _reaper: Reaper,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn open_window(app: &Path, home: &Path) -> Window {
    let turn = ONE_WINDOW.lock().await;
    let (xvfb, display) = start_xvfb();
    let driver_port = free_port();
    let driver = start_tauri_driver(&display, home, driver_port);
    let reaper = Reaper(vec![xvfb, driver]);
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "wry".into());
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app }),
    );
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    let client = connect(&caps, &driver_url).await;
    Window {
        client,
        caps,
        driver_url,
        _reaper: reaper,
        _turn: turn,
    }
}

/// A window of the app in a fresh home directory — resized to `size` first, when given —
/// signed in to `server` with `token`. The directory lives as long as the returned handle.
pub async fn signed_in_window(
    app: &Path,
    server: &str,
    token: &str,
    size: Option<(u32, u32)>,
) -> (tempfile::TempDir, Window) {
    let home = tempfile::tempdir().expect("tempdir");
    let window = open_window(app, home.path()).await;
    if let Some((width, height)) = size {
        window
            .client
            .set_window_size(width, height)
            .await
            .expect("window size");
    }
    sign_in(&window.client, server, token).await;
    (home, window)
}

/// The smallest window the app supports.
pub const SMALLEST: (u32, u32) = (1024, 640);

pub async fn screenshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("TESSERA_SCREENSHOT_DIR") {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = client.screenshot().await.expect("screenshot");
        std::fs::write(PathBuf::from(dir).join(name), png).expect("write screenshot");
    }
}

/// The screen fits the (smallest, 1024 px) window without scrolling sideways, and its body text and muted text
/// keep a WCAG AA contrast (4.5:1) against their backgrounds.
pub async fn fits_and_reads(client: &Client, screen: &str) {
    let report = client
        .execute(
            "const px = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
             const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                                const [r, g, b] = px(c); return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
             const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
             const body = getComputedStyle(document.body);
             const muted = document.querySelector('.card .muted');
             const card = muted && muted.closest('.card');
             return { overflow: document.documentElement.scrollWidth - window.innerWidth,
                      width: window.innerWidth,
                      text: ratio(body.color, body.backgroundColor),
                      muted: card ? ratio(getComputedStyle(muted).color, getComputedStyle(card).backgroundColor) : 21 };",
            vec![],
        )
        .await
        .expect("measure the screen");
    let get = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
    assert!(
        get("width") <= 1024.0,
        "{screen}: measured in the smallest window: {report}"
    );
    assert!(
        get("overflow") <= 0.0,
        "{screen}: scrolls sideways at {} px: {report}",
        get("width")
    );
    assert!(get("text") >= 4.5, "{screen}: body text contrast {report}");
    assert!(
        get("muted") >= 4.5,
        "{screen}: muted text contrast {report}"
    );
}

/// Clicks the element `css`, which must be on screen: found again when a repaint replaced
/// it meanwhile.
pub async fn click(client: &Client, css: &str) {
    let mut last = String::new();
    for _ in 0..20 {
        match client.find(Locator::Css(css)).await {
            Ok(el) => match el.click().await {
                Ok(_) => return,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("click {css}: {last}");
}

/// Types `text` into the element `css`, which must be on screen.
pub async fn type_into(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} is not on screen: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Chooses `value` in the select element `css`, which must be on screen: found again when a
/// repaint (a page of tasks arriving) replaced it meanwhile.
pub async fn select(client: &Client, css: &str, value: &str) {
    let mut last = String::new();
    for _ in 0..20 {
        match client.find(Locator::Css(css)).await {
            Ok(el) => match el.select_by_value(value).await {
                Ok(()) => return,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("choose {value} in {css}: {last}");
}

/// The screen fits and reads in the theme showing and in the other one (T), its screenshot
/// taken in the first; the theme is left as it was.
pub async fn in_both_themes(client: &Client, screen: &str, png: Option<&str>) {
    fits_and_reads(client, screen).await;
    if let Some(png) = png {
        screenshot(client, png).await;
    }
    press(client, 't').await;
    fits_and_reads(client, &format!("{screen}, other theme")).await;
    press(client, 't').await;
}

/// Opens tab `key` (1–6) of the project screen and waits until it shows `name`.
pub async fn tab(client: &Client, key: char, name: &str) {
    press(client, key).await;
    wait_for(
        client,
        &format!("#project[data-tab='{name}']"),
        &format!("the {name} tab"),
    )
    .await;
}

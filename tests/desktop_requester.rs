//! The requester's side of the desktop app in a real window under Xvfb: a project made in
//! the schema editor, batches dropped on it (a bad one refused with its line), live progress,
//! the task browser and exports. The whole cockpit on a real-looking project is in
//! `desktop_cockpit.rs`.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use tessera_api::Role;
use tessera_tests::{Backend, TestServer, built_binary};

mod desktop;

use desktop::*;

/// Drops a file named `name` holding `text` on the element `css`, as a drag from the file
/// manager would.
async fn drop_file(client: &Client, css: &str, name: &str, text: &str) {
    client
        .execute(
            "const [css, name, text] = arguments;
             const dt = new DataTransfer();
             dt.items.add(new File([text], name));
             document.querySelector(css).dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));",
            vec![css.into(), name.into(), text.into()],
        )
        .await
        .expect("drop a file");
}

/// The requester's side from the keyboard and a dropped file: a project made in the schema
/// editor, a bad batch rejected with its line and nothing stored, a good one added, live
/// progress and charts once annotators answer, and an export written to disk.
#[tokio::test(flavor = "multi_thread")]
async fn a_requester_runs_a_project_from_the_dashboard() {
    let app = built_binary("tessera-desktop");
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let (home, window) = signed_in_window(&app, &server.url, &token, Some(SMALLEST)).await;
    let client = window.client.clone();
    wait_for(&client, "#dashboard", "the requester's dashboard").await;

    // N opens the schema editor; the preview follows the form.
    press(&client, 'n').await;
    let name = wait_for(&client, "#new-name", "the schema editor").await;
    name.send_keys("reviews").await.expect("name");
    client
        .find(Locator::Css("#new-labels"))
        .await
        .expect("labels")
        .send_keys(&format!("positive{}negative", char::from(Key::Enter)))
        .await
        .expect("labels");
    let overlap = client
        .find(Locator::Css("#new-overlap"))
        .await
        .expect("overlap");
    overlap.clear().await.expect("clear");
    overlap.send_keys("1").await.expect("overlap");
    let preview = text_of(&client, "#schema-preview").await.expect("preview");
    assert!(
        preview.contains("\"negative\"") && preview.contains("\"overlap\": 1"),
        "{preview}"
    );
    fits_and_reads(&client, "schema editor").await;
    screenshot(&client, "new-project.png").await;
    click(&client, "#create-project").await;
    let project_el = wait_for(&client, "#project", "the new project's screen").await;
    let project: i64 = project_el
        .attr("data-project")
        .await
        .expect("attr")
        .expect("project id")
        .parse()
        .expect("a number");

    // Batches are on their own tab (5).
    tab(&client, '5', "batches").await;
    // A batch with a broken second line: rejected, the line named, nothing stored.
    let bad = "{\"data\":{\"text\":\"fine\"}}\n{\"data\":{\"text\":\"broken\"}\n";
    drop_file(&client, "#drop-zone", "bad.jsonl", bad).await;
    let rejected = text_where(&client, "#upload-report", 10, "the rejection", |t| {
        t.contains("rejected")
    })
    .await;
    assert!(
        rejected.contains("line 2") && rejected.contains("nothing from it was stored"),
        "{rejected}"
    );
    assert_eq!(requester.status(project).await.expect("status").tasks, 0);

    // A good batch at priority 3, big enough (1.6 MB) to go up in several chunks.
    let priority = client
        .find(Locator::Css("#upload-priority"))
        .await
        .expect("priority field");
    priority.clear().await.expect("clear");
    priority.send_keys("3").await.expect("priority");
    let note = "n".repeat(400_000);
    let good: String = (1..=4)
        .map(|i| {
            format!(
                "{{\"id\":\"r{i}\",\"data\":{{\"text\":\"review {i}\",\"note\":\"{note}\"}}}}\n"
            )
        })
        .collect();
    drop_file(&client, "#drop-zone", "reviews.jsonl", &good).await;
    let added = text_where(&client, "#upload-report", 20, "the upload report", |t| {
        t.contains("added")
    })
    .await;
    assert!(
        added.contains("4 tasks added") && added.contains("priority 3"),
        "{added}"
    );
    let batches = requester.batches(project).await.expect("batches");
    assert_eq!(
        batches
            .iter()
            .map(|b| (b.task_count, b.priority))
            .collect::<Vec<_>>(),
        [(4, 3)],
        "one batch stored, at the priority asked"
    );
    // The batches table changes a priority in place.
    let field = client
        .find(Locator::Css(&format!("#batch-priority-{}", batches[0].id)))
        .await
        .expect("the batch's priority field");
    assert_eq!(
        field.prop("value").await.expect("value").as_deref(),
        Some("3")
    );
    field.clear().await.expect("clear");
    field.send_keys("1\t").await.expect("priority");
    text_where(&client, "#batch-report", 10, "the new priority", |t| {
        t.contains("now has priority 1")
    })
    .await;
    assert_eq!(
        requester.batches(project).await.expect("batches")[0].priority,
        1
    );

    // Two annotators answer; the screen shows the progress and the charts.
    for (name, label) in [("ann", "positive"), ("bo", "negative")] {
        let (api, _) = server.user(Role::Annotator, name).await;
        lease_and_answer(&api, project, 2, label).await;
    }
    // The figures refresh by themselves every 30 s; R does it now.
    tab(&client, '1', "overview").await;
    press(&client, 'r').await;
    text_where(
        &client,
        "[data-figure='Answers']",
        15,
        "progress: 4 answers",
        |t| t == "4",
    )
    .await;
    tab(&client, '4', "quality").await;
    let annotators = text_of(&client, "#annotators")
        .await
        .expect("annotators table");
    assert!(
        annotators.contains("ann") && annotators.contains("bo"),
        "{annotators}"
    );
    // Which method made the consensus: the vote, before any re-fit.
    tab(&client, '1', "overview").await;
    let methods = text_of(&client, "#consensus-methods")
        .await
        .expect("the consensus methods line");
    assert!(methods.contains("by majority vote"), "{methods}");
    // The task browser: the complete tasks, one opened with its answer, sent to review.
    tab(&client, '3', "tasks").await;
    select(&client, "#task-status", "complete").await;
    text_where(
        &client,
        "#task-table tbody",
        10,
        "the complete tasks",
        |t| t.matches("complete").count() == 4,
    )
    .await;
    let first = client
        .find(Locator::Css("#task-table tbody tr"))
        .await
        .expect("a task row");
    let task: i64 = first
        .attr("data-task")
        .await
        .expect("attr")
        .expect("task id")
        .parse()
        .expect("a number");
    // A row is opened by a click on any of its cells.
    click(&client, "#task-table tbody tr td.preview").await;
    let opened = text_where(&client, "#task-answers", 10, "the task's answers", |t| {
        t.contains("ann") || t.contains("bo")
    })
    .await;
    assert!(opened.contains(':'), "{opened}");
    click(&client, "#task-review").await;
    text_where(&client, "#task-notice", 10, "sent to review", |t| {
        t.contains("waiting for review")
    })
    .await;
    let waiting = requester.review_queue(project, 10).await.expect("queue");
    assert_eq!(
        waiting.iter().map(|r| r.task_id).collect::<Vec<_>>(),
        [task]
    );
    in_both_themes(&client, "task browser", None).await;
    tab(&client, '1', "overview").await;
    let bars = client
        .find_all(Locator::Css("#chart-answers svg.chart-plot rect"))
        .await
        .expect("bars");
    assert!(!bars.is_empty(), "answers per minute has a bar");
    fits_and_reads(&client, "project").await;
    tab(&client, '5', "batches").await;

    // J writes the JSONL export.
    press(&client, 'j').await;
    let exported = text_where(&client, "#export-report", 10, "the export", |_| true).await;
    let path = home
        .path()
        .join("exports")
        .join(format!("reviews-{project}.jsonl"));
    assert!(exported.contains(&path.display().to_string()), "{exported}");
    let written = std::fs::read_to_string(&path).expect("the export file");
    assert_eq!(written.lines().count(), 4);

    // The export menu: Prodigy, every answer with who gave it.
    select(&client, "#export-format", "prodigy").await;
    select(&client, "#export-label", "answers").await;
    click(&client, "#export-go").await;
    let prodigy = home
        .path()
        .join("exports")
        .join(format!("reviews-{project}.prodigy.jsonl"));
    text_where(&client, "#export-report", 10, "the Prodigy export", |t| {
        t.contains("prodigy.jsonl")
    })
    .await;
    let lines = std::fs::read_to_string(&prodigy).expect("the Prodigy file");
    let annotators: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter_map(|v| v["_annotator_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(annotators.len(), 4, "a line per answer: {lines}");

    press(&client, char::from(Key::Escape)).await;
    let listed = text_where(&client, ".projects-table", 10, "the project list", |_| true).await;
    assert!(
        listed.contains("reviews") && listed.contains("4 / 4"),
        "{listed}"
    );
    fits_and_reads(&client, "dashboard").await;
    screenshot(&client, "dashboard.png").await;
    client.close().await.expect("close session");
}

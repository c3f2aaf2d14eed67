//! The requester's cockpit in the desktop app, in a real window under Xvfb, on an
//! airline-style project run from the app alone: annotators invited by the requester, a
//! spammer caught by gold and let back, charts with axes in both themes, the task browser's
//! order, priority and cancel, people added and revoked, the schema edited (and a change that
//! would break answers refused), archive, restore and delete.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use tessera_api::Role;
use tessera_tests::{Backend, TestServer, answer_push, api_error, built_binary};

mod desktop;

use desktop::*;

fn of_status(status: tessera_api::TaskStatus) -> tessera_api::TaskListQuery {
    tessera_api::TaskListQuery {
        status: Some(status),
        limit: Some(500),
        ..tessera_api::TaskListQuery::default()
    }
}

/// The tasks the browser's rows show once `done` holds of them (or what they show after 10 s).
async fn rows_when(client: &Client, done: impl Fn(&[i64]) -> bool) -> Vec<i64> {
    let mut shown = Vec::new();
    for _ in 0..100 {
        shown = client
            .execute(
                "return [...document.querySelectorAll('#task-table tbody tr')].map(r => Number(r.dataset.task))",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<i64>>(v).ok())
            .unwrap_or_default();
        if done(&shown) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shown
}

/// The tasks the browser's rows show once they are `want` (or what they show after 10 s).
async fn eventually_rows(client: &Client, want: &[i64]) -> Vec<i64> {
    rows_when(client, |shown| shown == want).await
}

/// The task the browser's first row shows once it is `want` (0 for none).
async fn eventually_first_row(client: &Client, want: i64) -> i64 {
    let shown = rows_when(client, |shown| shown.first() == Some(&want)).await;
    shown.first().copied().unwrap_or(0)
}

/// The first task of `project` in `order`, as the API lists it.
async fn first_task(
    api: &tessera_client::ApiClient,
    project: i64,
    order: Option<tessera_api::TaskOrder>,
) -> i64 {
    let query = tessera_api::TaskListQuery {
        order,
        limit: Some(1),
        ..tessera_api::TaskListQuery::default()
    };
    api.tasks(project, &query)
        .await
        .expect("the API's list")
        .tasks[0]
        .task_id
}

/// Tweets about airlines as a requester would upload them: (text, the true label). Written
/// for this test from templates, not taken from a dataset.
fn tweets(n: usize) -> Vec<(String, &'static str)> {
    let airlines = [
        "@united",
        "@AmericanAir",
        "@SouthwestAir",
        "@JetBlue",
        "@Delta",
    ];
    let templates: [(&str, &str); 6] = [
        (
            "{a} flight {n} delayed three hours and nobody at the gate knows why",
            "negative",
        ),
        (
            "{a} lost my bag on flight {n}, second time this month",
            "negative",
        ),
        (
            "{a} crew on flight {n} was fantastic, thank you!",
            "positive",
        ),
        (
            "{a} upgraded me on {n} for no reason, you made my week",
            "positive",
        ),
        ("{a} does flight {n} still board at gate B12?", "neutral"),
        ("{a} what is the carry-on size for flight {n}", "neutral"),
    ];
    (0..n)
        .map(|i| {
            let (text, label) = templates[i % templates.len()];
            let text = text
                .replace("{a}", airlines[i % airlines.len()])
                .replace("{n}", &(1200 + i * 7).to_string());
            (text, label)
        })
        .collect()
}

/// The airline-style scenario from the app alone: five annotators, one a spammer whom the
/// gold catches; people invited and revoked, the suspension lifted, the consensus re-fitted;
/// charts with axes in both themes; the schema edited, archive, restore and delete.
#[tokio::test(flavor = "multi_thread")]
async fn a_requester_runs_people_quality_and_settings_from_the_app() {
    let app = built_binary("tessera-desktop");
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, token) = server.user(Role::Requester, "rita").await;
    let schema = tessera_core::LabelSchema::from_json(
        r#"{"kind":"classification","labels":["positive","negative","neutral"],"overlap":3,
            "gold_rate":0.5,"suspend_below":0.8,"gold_min_answers":6,
            "instructions":"The tweet's sentiment toward the airline."}"#,
    )
    .expect("schema");
    let project = requester
        .create_project("Airline tweets", schema)
        .await
        .expect("project")
        .id;
    let all = tweets(96);
    let truth: std::collections::HashMap<String, &str> =
        all.iter().map(|(t, l)| (t.clone(), *l)).collect();
    let lines = |rows: &[(String, &str)], gold: bool| -> String {
        rows.iter()
            .map(|(text, label)| {
                let mut line = serde_json::json!({"data": {"text": text}});
                if gold {
                    line["gold"] = serde_json::json!(label);
                }
                line.to_string() + "\n"
            })
            .collect()
    };
    for (batch, gold) in [
        (&all[..16], true),
        (&all[16..56], false),
        (&all[56..], false),
    ] {
        requester
            .upload(
                project,
                tessera_core::UploadFormat::Jsonl,
                lines(batch, gold),
            )
            .await
            .expect("upload");
    }
    // Four honest annotators (each wrong now and then) and a spammer who always says
    // negative, answering over the last hour and a half by their devices' clocks. Half of
    // each lease is gold while gold lasts, so everyone meets all 16 gold tweets: the
    // spammer's 6 of 16 right is under the 0.8 bar whatever order they come in.
    let start = chrono::Utc::now() - chrono::Duration::minutes(95);
    let mut clock = 0i64;
    let mut people = Vec::new();
    for (name, wrong_every) in [
        ("ana", 11),
        ("bo", 9),
        ("chen", 13),
        ("dee", 17),
        ("spam", 0),
    ] {
        // Invited by the requester, as the People tab does: members of this project only.
        let invited = requester
            .invite(project, name, tessera_api::ProjectRole::Annotator)
            .await
            .expect("invite");
        let api = tessera_client::ApiClient::new(&server.url, Some(invited.token)).expect("client");
        people.push((api, wrong_every));
    }
    for round in 0..5 {
        for (api, wrong_every) in &people {
            let wrong_every = *wrong_every;
            let Ok(leased) = api.lease(project, 8, None).await else {
                continue; // suspended
            };
            let answers: Vec<_> = leased
                .tasks
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let text = t.data["text"].as_str().unwrap_or_default();
                    let right = truth.get(text).copied().unwrap_or("neutral");
                    let label = if wrong_every == 0 {
                        "negative"
                    } else if (i + round * 8) % wrong_every == 0 {
                        if right == "positive" {
                            "neutral"
                        } else {
                            "positive"
                        }
                    } else {
                        right
                    };
                    clock += 9 + ((i * 7 + round * 3) % 29) as i64;
                    let mut a = answer_push(t.task_id, &[label]);
                    a.answered_at = start + chrono::Duration::seconds(clock);
                    a
                })
                .collect();
            api.push(answers).await.expect("push");
        }
    }
    let skills = requester.annotators(project).await.expect("annotators");
    let spam = skills
        .iter()
        .find(|a| a.annotator == "spam")
        .expect("the spammer answered");
    assert!(spam.suspended, "the gold caught the spammer: {spam:?}");
    let spam_id = spam.annotator_id;

    let (_home, window) = signed_in_window(&app, &server.url, &token, Some(SMALLEST)).await;
    let client = window.client.clone();
    open_first_project(&client).await;

    // The charts: drawn with axes and units, values written on the bars, in both themes.
    let answers_chart = text_where(&client, "#chart-answers", 15, "the answers chart", |t| {
        t.contains("answers per")
    })
    .await;
    assert!(
        answers_chart.contains("ana") && answers_chart.contains("spam"),
        "a legend: {answers_chart}"
    );
    for chart in [
        "chart-complete",
        "chart-answers",
        "chart-agreement",
        "chart-seconds",
        "chart-labels",
    ] {
        let ticks = client
            .find_all(Locator::Css(&format!(
                "#{chart} svg.chart-plot g[aria-label='y-axis tick label'] text, #{chart} svg.chart-plot g[aria-label='x-axis tick label'] text"
            )))
            .await
            .expect("ticks");
        assert!(
            ticks.len() >= 3,
            "{chart} has axes with ticks: {}",
            ticks.len()
        );
    }
    let labels = text_of(&client, "#chart-labels")
        .await
        .expect("labels chart");
    assert!(
        labels.contains("negative") && labels.contains("tasks"),
        "{labels}"
    );
    let width: f64 = client
        .execute(
            "return document.querySelector('#chart-answers svg.chart-plot').getBoundingClientRect().width",
            vec![],
        )
        .await
        .expect("measure")
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        width > 300.0,
        "the chart is drawn at a readable size: {width}"
    );
    let gold = text_of(&client, "[data-figure='Gold']")
        .await
        .expect("gold figure");
    assert_eq!(gold, "16", "gold counted apart");
    for theme in ["first", "other"] {
        fits_and_reads(&client, &format!("overview, {theme} theme")).await;
        let dark = client
            .execute(
                "return document.documentElement.dataset.theme === 'dark'",
                vec![],
            )
            .await
            .expect("theme")
            .as_bool()
            .unwrap_or(false);
        screenshot(
            &client,
            if dark {
                "overview-dark.png"
            } else {
                "overview.png"
            },
        )
        .await;
        press(&client, 't').await;
    }

    // Quality: the spammer shows suspended; lifting it from the app lets them lease again.
    tab(&client, '4', "quality").await;
    let quality = text_of(&client, "#annotators").await.expect("annotators");
    assert!(quality.contains("suspended"), "{quality}");
    click(&client, "#confusion, details.confusion summary").await;
    in_both_themes(&client, "quality", Some("quality.png")).await;
    let spammer = &people[4].0;
    let (code, body) = api_error(
        spammer
            .lease(project, 1, None)
            .await
            .expect_err("suspended"),
    );
    assert_eq!((code, body.code.as_str()), (403, "suspended"));
    click(&client, &format!("[data-unsuspend='{spam_id}']")).await;
    text_where(&client, "#notice", 10, "the lift", |t| t.contains("lifted")).await;
    spammer
        .lease(project, 1, None)
        .await
        .expect("leases again once lifted");
    click(&client, "#refit").await;
    text_where(&client, "#notice", 20, "the re-fit", |t| {
        t.contains("Re-fitted")
    })
    .await;

    // Tasks: the most disputed first; one open task moved to the front of the queue, one
    // cancelled.
    tab(&client, '3', "tasks").await;
    click(&client, "#task-disputed").await;
    let lowest = first_task(
        &requester,
        project,
        Some(tessera_api::TaskOrder::Confidence),
    )
    .await;
    let shown_first = eventually_first_row(&client, lowest).await;
    assert_eq!(
        shown_first, lowest,
        "the app lists the lowest confidence first"
    );
    click(&client, "#task-disputed").await;
    let first = first_task(&requester, project, None).await;
    assert_eq!(
        eventually_first_row(&client, first).await,
        first,
        "upload order again"
    );
    select(&client, "#task-status", "open").await;
    let open_ids: Vec<i64> = requester
        .tasks(project, &of_status(tessera_api::TaskStatus::Open))
        .await
        .expect("open tasks")
        .tasks
        .iter()
        .map(|t| t.task_id)
        .collect();
    assert!(open_ids.len() >= 2, "{open_ids:?}");
    assert_eq!(
        eventually_first_row(&client, open_ids[0]).await,
        open_ids[0],
        "the open tasks"
    );
    for (task, button, done) in [
        (open_ids[0], "#task-raise", "front of the queue"),
        (open_ids[1], "#task-cancel", "cancelled"),
    ] {
        click(
            &client,
            &format!("#task-table tbody tr[data-task='{task}'] td.preview"),
        )
        .await;
        wait_for(
            &client,
            &format!("#task-detail[data-task='{task}']"),
            "the task",
        )
        .await;
        client
            .find(Locator::Css(button))
            .await
            .expect(button)
            .click()
            .await
            .expect("click");
        text_where(&client, "#task-notice", 10, done, |t| t.contains(done)).await;
    }
    // The label, annotator and confidence filters list what the API lists.
    select(&client, "#task-status", "").await;
    let ana = skills
        .iter()
        .find(|a| a.annotator == "ana")
        .expect("ana")
        .annotator_id;
    for (css, value, query) in [
        (
            "#task-label",
            "negative".to_owned(),
            tessera_api::TaskListQuery {
                label: Some("negative".to_owned()),
                ..tessera_api::TaskListQuery::default()
            },
        ),
        (
            "#task-annotator",
            ana.to_string(),
            tessera_api::TaskListQuery {
                label: Some("negative".to_owned()),
                annotator: Some(ana),
                ..tessera_api::TaskListQuery::default()
            },
        ),
        (
            "#task-confidence",
            "0.9".to_owned(),
            tessera_api::TaskListQuery {
                label: Some("negative".to_owned()),
                annotator: Some(ana),
                max_confidence: Some(0.9),
                ..tessera_api::TaskListQuery::default()
            },
        ),
    ] {
        select(&client, css, &value).await;
        let want: Vec<i64> = requester
            .tasks(project, &query)
            .await
            .expect("the API's list")
            .tasks
            .iter()
            .map(|t| t.task_id)
            .collect();
        assert_eq!(
            eventually_rows(&client, &want).await,
            want,
            "{css} = {value}"
        );
    }
    in_both_themes(&client, "task browser", Some("task-browser.png")).await;
    let detail = |task: i64| {
        let requester = requester.clone();
        async move { requester.task(project, task).await.expect("task") }
    };
    assert_eq!(detail(open_ids[0]).await.priority, 1_000);
    assert_eq!(
        detail(open_ids[1]).await.status,
        tessera_api::TaskStatus::Cancelled
    );

    // People: invite an annotator, whose token works here at once; revoke it, and it stops.
    tab(&client, '2', "people").await;
    let listed = text_where(&client, "#people-table", 10, "the people", |t| {
        t.contains("ana")
    })
    .await;
    assert!(
        listed.contains("requester") && listed.contains("annotator"),
        "{listed}"
    );
    // Fay, who has a token from the admin, joins as a reviewer by her user id.
    let (_, fay_token) = server.user(Role::Annotator, "fay").await;
    let fay = tessera_client::ApiClient::new(&server.url, Some(fay_token)).expect("client");
    let fay_id = fay.me().await.expect("me").user_id;
    for (css, text) in [
        ("#member-id", fay_id.to_string()),
        ("#member-name", "fay".to_owned()),
    ] {
        type_into(&client, css, &text).await;
    }
    select(&client, "#member-role", "reviewer").await;
    click(&client, "#member-go").await;
    text_where(&client, "#people-notice", 10, "fay added", |t| {
        t.contains("now reviewer")
    })
    .await;
    let members = requester.members(project).await.expect("members");
    assert!(
        members
            .iter()
            .any(|m| m.user_id == fay_id && m.role == tessera_api::ProjectRole::Reviewer),
        "{members:?}"
    );
    type_into(&client, "#invite-name", "eve").await;
    click(&client, "#invite-go").await;
    let shown = wait_for(&client, "#invite-token", "the new token").await;
    let new_token = shown.prop("value").await.expect("value").expect("a token");
    let eve = tessera_client::ApiClient::new(&server.url, Some(new_token.clone())).expect("client");
    let projects = eve.projects().await.expect("eve signs in");
    assert_eq!(projects.iter().map(|p| p.id).collect::<Vec<_>>(), [project]);
    let row = text_where(&client, "#people-table", 10, "eve listed", |t| {
        t.contains("eve")
    })
    .await;
    assert!(row.contains("invited"), "{row}");
    in_both_themes(&client, "people", Some("people.png")).await;
    let eve_id = eve.me().await.expect("me").user_id;
    click(&client, &format!("[data-revoke='{eve_id}']")).await;
    text_where(&client, "#people-notice", 10, "revoked", |t| {
        t.contains("revoked")
    })
    .await;
    let (code, _) = api_error(eve.projects().await.expect_err("revoked"));
    assert_eq!(code, 401);

    // Settings: a label added applies at once; removing one the answers use is refused with
    // the reason; archive and restore; delete after typing the name.
    tab(&client, '6', "settings").await;
    let editor = wait_for(&client, "#schema-editor", "the schema editor").await;
    let text = editor
        .prop("value")
        .await
        .expect("value")
        .expect("schema text");
    let mut edited: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    edited["labels"] = serde_json::json!(["positive", "negative", "neutral", "irrelevant"]);
    let set_schema = |v: serde_json::Value| {
        let client = client.clone();
        async move {
            client
                .execute(
                    "const el = document.querySelector('#schema-editor'); el.value = arguments[0]; el.dispatchEvent(new Event('input'));",
                    vec![v.to_string().into()],
                )
                .await
                .expect("type the schema");
            click(&client, "#schema-save").await;
        }
    };
    set_schema(edited.clone()).await;
    text_where(&client, "#notice", 10, "saved", |t| t.contains("saved")).await;
    let labels = requester
        .project(project)
        .await
        .expect("project")
        .schema
        .labels;
    assert!(labels.iter().any(|l| l == "irrelevant"), "{labels:?}");
    in_both_themes(&client, "settings", Some("settings.png")).await;
    edited["labels"] = serde_json::json!(["negative", "neutral", "irrelevant"]);
    set_schema(edited).await;
    let refused = text_where(&client, "#notice", 10, "the refusal", |t| {
        t.contains("positive")
    })
    .await;
    assert!(!refused.contains("saved"), "{refused}");
    assert!(
        requester
            .project(project)
            .await
            .expect("project")
            .schema
            .labels
            .iter()
            .any(|l| l == "positive"),
        "the refused change left the schema as it was"
    );
    click(&client, "#archive").await;
    wait_for(&client, "#archived-badge", "the archived badge").await;
    assert!(
        requester
            .project(project)
            .await
            .expect("project")
            .archived_at
            .is_some()
    );
    click(&client, "#archive").await;
    text_where(&client, "#notice", 10, "restored", |t| {
        t.contains("Restored")
    })
    .await;
    assert!(
        requester
            .project(project)
            .await
            .expect("project")
            .archived_at
            .is_none()
    );
    // A wrong name deletes nothing.
    type_into(&client, "#delete-confirm", "Airline").await;
    click(&client, "#delete-go").await;
    text_where(&client, "#delete-export", 5, "the name asked for", |t| {
        t.contains("exactly")
    })
    .await;
    requester.project(project).await.expect("still there");
    type_into(&client, "#delete-confirm", " tweets").await;
    click(&client, "#delete-go").await;
    let gone = text_where(&client, "#notice", 20, "deleted", |t| t.contains("Deleted")).await;
    assert!(gone.contains("96 tasks"), "{gone}");
    wait_for(&client, "#dashboard", "back to the project list").await;
    let (code, _) = api_error(requester.project(project).await.expect_err("deleted"));
    assert_eq!(code, 404);
    press(&client, char::from(Key::Escape)).await;
    client.close().await.expect("close session");
}

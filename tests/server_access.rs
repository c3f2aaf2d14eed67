//! Access over a real socket: roles, the role × endpoint matrix, memberships, and the OpenAPI
//! document, on both storage backends.

on_both_backends!(
    roles_are_enforced_with_json_errors,
    members_close_a_project_and_reviewer_members_review,
);

use chrono::Utc;
use tessera_api::{AnswerPush, ProjectRole, PushStatus, ReviewRequest, Role};
use tessera_client::ApiClient;
use tessera_tests::on_both_backends;
use tessera_tests::scenario::{answer, project_with, project_with_tasks, schema};
use tessera_tests::{Backend, TestServer, api_error, export_records, sample_jsonl};
use uuid::Uuid;

async fn roles_are_enforced_with_json_errors(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 3, 2).await;
    let (alice, _) = server.user(Role::Annotator, "alice").await;

    let anonymous = ApiClient::new(&server.url, None).expect("client");
    let (status, body) = api_error(anonymous.projects().await.expect_err("401"));
    assert_eq!((status, body.code.as_str()), (401, "unauthenticated"));
    let forged = ApiClient::new(&server.url, Some("tsr_0000".into())).expect("client");
    assert_eq!(
        api_error(forged.me().await.expect_err("401")).1.code,
        "invalid_token"
    );

    let (status, body) = api_error(alice.create_project("x", schema(1)).await.expect_err("403"));
    assert_eq!((status, body.code.as_str()), (403, "forbidden"));
    assert_eq!(
        api_error(alice.export(project, "jsonl").await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(
            alice
                .create_token("eve", Role::Admin)
                .await
                .expect_err("403")
        )
        .0,
        403
    );
    assert_eq!(
        api_error(requester.lease(project, 1, None).await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(
            requester
                .create_token("eve", Role::Admin)
                .await
                .expect_err("403")
        )
        .0,
        403
    );

    // Answers to tasks never leased to you are refused, not stored.
    let task = export_records(&requester, project).await[0].task_id;
    let pushed = alice
        .push(vec![answer(task, "positive")])
        .await
        .expect("push");
    assert_eq!(pushed.results[0].status, PushStatus::Rejected);
    assert_eq!(
        pushed.results[0].error.as_ref().map(|e| e.code.as_str()),
        Some("not_leased")
    );

    // Malformed JSON gets our error body, not plain text.
    let raw = reqwest::Client::new()
        .post(format!("{}/api/answers", server.url))
        .bearer_auth(server.user(Role::Annotator, "bob").await.1)
        .header("content-type", "application/json")
        .body("{\"answers\": [")
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), 400);
    let body: tessera_api::ErrorBody = raw.json().await.expect("json error body");
    assert_eq!(body.code, "invalid_json");

    // Bad paths, bad query strings, unknown routes and wrong methods: JSON bodies too.
    let http = reqwest::Client::new();
    let admin = &server.admin_token;
    for (method, path, status, code) in [
        (
            reqwest::Method::GET,
            "/api/projects/abc/status",
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/projects/1/export?format=xml",
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/projects/1/export?colour=red",
            400,
            "bad_request",
        ),
        (reqwest::Method::GET, "/api/nothing", 404, "not_found"),
        (
            reqwest::Method::DELETE,
            "/api/projects",
            405,
            "method_not_allowed",
        ),
    ] {
        let resp = http
            .request(method.clone(), format!("{}{path}", server.url))
            .bearer_auth(admin)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), status, "{method} {path}");
        let body: tessera_api::ErrorBody = resp.json().await.expect("json error body");
        assert_eq!(body.code, code, "{method} {path}: {}", body.message);
    }
}

/// The OpenAPI document is generated from the handlers: every endpoint the router serves is
/// in it with its method, and the wire types are in its components.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_endpoint() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/api/openapi.json", server.url))
        .await
        .expect("GET /api/openapi.json");
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.expect("JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let endpoints = [
        ("get", "/api/health"),
        ("get", "/api/me"),
        ("post", "/api/tokens"),
        ("get", "/api/tokens"),
        ("delete", "/api/tokens/{user_id}"),
        ("get", "/api/projects"),
        ("post", "/api/projects"),
        ("get", "/api/projects/{id}"),
        ("patch", "/api/projects/{id}"),
        ("delete", "/api/projects/{id}"),
        ("post", "/api/projects/{id}/archive"),
        ("post", "/api/projects/{id}/restore"),
        ("post", "/api/projects/{id}/batches"),
        ("get", "/api/projects/{id}/batches"),
        ("post", "/api/projects/{id}/answers/import"),
        ("patch", "/api/projects/{id}/batches/{batch_id}"),
        ("post", "/api/projects/{id}/leases"),
        ("post", "/api/projects/{id}/tasks/cancel"),
        ("get", "/api/projects/{id}/status"),
        ("get", "/api/projects/{id}/review"),
        ("post", "/api/projects/{id}/review"),
        ("post", "/api/projects/{id}/consensus/refit"),
        ("get", "/api/projects/{id}/annotators"),
        ("post", "/api/projects/{id}/annotators/{user_id}/unsuspend"),
        ("get", "/api/projects/{id}/tasks"),
        ("get", "/api/projects/{id}/tasks/{task_id}"),
        ("post", "/api/projects/{id}/tasks/review"),
        ("post", "/api/projects/{id}/tasks/priority"),
        ("get", "/api/projects/{id}/stats"),
        ("get", "/api/projects/{id}/export"),
        ("post", "/api/answers"),
        ("get", "/api/changes"),
        ("get", "/metrics"),
        ("get", "/api/projects/{id}/members"),
        ("post", "/api/projects/{id}/members"),
        ("post", "/api/projects/{id}/invites"),
        ("delete", "/api/projects/{id}/members/{user_id}"),
        ("post", "/api/projects/{id}/webhooks"),
        ("get", "/api/projects/{id}/webhooks"),
        ("delete", "/api/projects/{id}/webhooks/{webhook_id}"),
        ("get", "/api/projects/{id}/webhooks/deliveries"),
        ("post", "/api/projects/{id}/ml-backends"),
        ("get", "/api/projects/{id}/ml-backends"),
        ("delete", "/api/projects/{id}/ml-backends/{backend_id}"),
        ("post", "/api/projects/{id}/ml-backends/{backend_id}/train"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in endpoints {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        documented,
        endpoints.len(),
        "an endpoint is documented but not listed here"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ErrorBody",
        "LeaseRequest",
        "LeasedTask",
        "AnswerPush",
        "ExportRecord",
        "LabelSchema",
        "Change",
        "Webhook",
        "Delivery",
        "MlBackend",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // Annotator-facing task shape carries no gold.
    assert!(schemas["LeasedTask"]["properties"].get("gold").is_none());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Who may call what: every endpoint × no token, annotator, requester and admin. Allowed
/// calls never answer 401/403; forbidden ones answer 403 with the JSON code `forbidden`;
/// without a token, 401 `unauthenticated`. And what annotators may read never carries a gold
/// answer or another annotator's answer.
#[tokio::test(flavor = "multi_thread")]
async fn the_role_endpoint_matrix_holds_and_annotators_see_no_gold_or_others_answers() {
    let server = TestServer::start().await;
    let (requester, requester_token) = server.user(Role::Requester, "rita").await;
    let mut schema = schema(2);
    schema.gold_rate = 0.5;
    let gold = r#"{"id":"g1","data":{"text":"a gold sentence"},"gold":"neutral"}"#;
    let project = project_with(&requester, schema.clone(), &[gold, &sample_jsonl(6)]).await;
    let (ann, ann_token) = server.user(Role::Annotator, "ann").await;
    let (zed, _) = server.user(Role::Annotator, "zed").await;
    // Zed answers everything he holds; his answers must never reach Ann.
    let zed_tasks = zed.lease(project, 7, None).await.expect("lease").tasks;
    let zed_answers: Vec<AnswerPush> = zed_tasks
        .iter()
        .map(|t| answer(t.task_id, "negative"))
        .collect();
    let zed_ids: Vec<String> = zed_answers.iter().map(|a| a.id.to_string()).collect();
    zed.push(zed_answers).await.expect("push");
    let task = ann.lease(project, 7, None).await.expect("lease").tasks[0].task_id;
    let admin_token = server.admin_token.clone();
    // Another requester runs a project of her own and none of Rita's.
    let (other, other_token) = server.user(Role::Requester, "olga").await;
    let hers = project_with(&other, schema.clone(), &[&sample_jsonl(1)]).await;
    // A project of Rita's to make tokens for (their holders close it to other annotators).
    let invites_to = project_with(&requester, schema, &[&sample_jsonl(1)]).await;

    let p = format!("/api/projects/{project}");
    let batch = requester.batches(project).await.expect("batches")[0].id;
    let push = serde_json::json!({"answers": [{
        "id": Uuid::now_v7(), "task_id": task, "revision": 1, "labels": ["positive"],
        "answered_at": Utc::now()
    }]});
    let endpoints: Vec<(&str, String, Option<serde_json::Value>, &[Role])> = vec![
        (
            "GET",
            "/api/me".into(),
            None,
            &[Role::Annotator, Role::Requester],
        ),
        (
            "POST",
            "/api/tokens".into(),
            Some(serde_json::json!({"name": "n", "role": "annotator", "projects": [invites_to]})),
            &[Role::Requester],
        ),
        ("GET", "/api/tokens".into(), None, &[Role::Requester]),
        (
            "GET",
            "/api/projects".into(),
            None,
            &[Role::Annotator, Role::Requester],
        ),
        (
            "POST",
            "/api/projects".into(),
            Some(
                serde_json::json!({"name": "x", "schema": {"kind": "classification", "labels": ["a", "b"]}}),
            ),
            &[Role::Requester],
        ),
        ("GET", p.clone(), None, &[Role::Annotator, Role::Requester]),
        (
            "POST",
            format!("{p}/leases"),
            Some(serde_json::json!({"limit": 1})),
            &[Role::Annotator],
        ),
        (
            "POST",
            format!("{p}/tasks/cancel"),
            Some(serde_json::json!({"external_ids": ["t6"]})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/status"), None, &[Role::Requester]),
        ("GET", format!("{p}/batches"), None, &[Role::Requester]),
        (
            "POST",
            format!("{p}/answers/import"),
            Some(serde_json::json!("task,worker,label")),
            &[Role::Requester],
        ),
        (
            "PATCH",
            format!("{p}/batches/{batch}"),
            Some(serde_json::json!({"priority": 1})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/review"), None, &[Role::Requester]),
        (
            "POST",
            format!("{p}/review"),
            Some(serde_json::json!({"task_id": task, "labels": ["neutral"]})),
            &[Role::Requester],
        ),
        (
            "POST",
            format!("{p}/consensus/refit"),
            Some(serde_json::json!({})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/annotators"), None, &[Role::Requester]),
        (
            "POST",
            format!("{p}/annotators/1/unsuspend"),
            Some(serde_json::json!({})),
            &[Role::Requester],
        ),
        (
            "GET",
            format!("{p}/tasks?status=open"),
            None,
            &[Role::Requester],
        ),
        ("GET", format!("{p}/tasks/{task}"), None, &[Role::Requester]),
        (
            "POST",
            format!("{p}/tasks/priority"),
            Some(serde_json::json!({"task_ids": [task], "priority": 0})),
            &[Role::Requester],
        ),
        ("GET", format!("{p}/stats"), None, &[Role::Requester]),
        ("GET", format!("{p}/members"), None, &[Role::Requester]),
        ("GET", format!("{p}/export"), None, &[Role::Requester]),
        (
            "POST",
            "/api/answers".into(),
            Some(push),
            &[Role::Annotator],
        ),
        ("GET", "/api/changes".into(), None, &[Role::Annotator]),
    ];
    let http = reqwest::Client::new();
    let callers = [
        (None, None, false),
        (Some(Role::Annotator), Some(ann_token.as_str()), false),
        (Some(Role::Requester), Some(requester_token.as_str()), false),
        (Some(Role::Requester), Some(other_token.as_str()), true),
        (Some(Role::Admin), Some(admin_token.as_str()), false),
    ];
    for (method, path, body, allowed) in &endpoints {
        for (role, token, outsider) in callers {
            // What an annotator may do, the other requester may do too; Rita's project's
            // requester endpoints, and the project itself, are closed to her — and so is
            // making a token for it.
            let closed = if (*method, path.as_str()) == ("POST", "/api/tokens") {
                Some(invites_to)
            } else {
                path.starts_with(&p).then_some(project)
            };
            let outside =
                outsider && closed.is_some() && (!allowed.contains(&Role::Annotator) || *path == p);
            let mut request = http.request(
                method.parse().expect("method"),
                format!("{}{path}", server.url),
            );
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            let who =
                format!("{method} {path} as {role:?} (outsider: {outsider}): {status} {text}");
            if outside {
                assert_eq!(status, 403, "{who}");
                assert!(
                    closed
                        .is_some_and(|c| text.contains(&format!("not a requester of project {c}"))),
                    "{who}"
                );
                continue;
            }
            match role {
                None => {
                    assert_eq!(status, 401, "{who}");
                    assert!(text.contains("\"code\":\"unauthenticated\""), "{who}");
                }
                Some(Role::Admin) => assert!(status != 401 && status != 403, "{who}"),
                Some(r) if allowed.contains(&r) => {
                    assert!(status != 401 && status != 403, "{who}");
                    if r == Role::Annotator {
                        assert!(!text.contains("\"gold\":"), "gold leaked: {who}");
                        for id in &zed_ids {
                            assert!(
                                !text.contains(id.as_str()),
                                "another annotator's answer: {who}"
                            );
                        }
                    }
                }
                Some(_) => {
                    assert_eq!(status, 403, "{who}");
                    assert!(text.contains("\"code\":\"forbidden\""), "{who}");
                }
            }
        }
    }
    // Each requester lists the projects they run (the matrix made one more for each); the
    // annotator and the admin see every one.
    let ids =
        |projects: Vec<tessera_api::Project>| projects.iter().map(|p| p.id).collect::<Vec<_>>();
    let ritas = ids(requester.projects().await.expect("list"));
    let olgas = ids(other.projects().await.expect("list"));
    assert!(
        ritas.contains(&project) && !ritas.contains(&hers),
        "{ritas:?}"
    );
    assert!(
        olgas.contains(&hers) && !olgas.contains(&project),
        "{olgas:?}"
    );
    assert!(
        ritas.iter().all(|p| !olgas.contains(p)),
        "{ritas:?} {olgas:?}"
    );
    // The annotator sees every one but the project a token was made for (its holder is a
    // member: it is closed to others); the admin sees every one.
    let anns = ids(ann.projects().await.expect("list"));
    assert!(
        ritas
            .iter()
            .chain(&olgas)
            .all(|p| anns.contains(p) == (*p != invites_to)),
        "{anns:?}"
    );
    let all = ids(server.admin().projects().await.expect("list"));
    assert!(
        ritas.iter().chain(&olgas).all(|p| all.contains(p)),
        "{all:?}"
    );
    // A requester member added by Rita runs her project from then on; she stays open to
    // every annotator (a requester member does not close a project).
    let olga = other.me().await.expect("me").user_id;
    requester
        .add_member(project, olga, Some("olga"), ProjectRole::Requester)
        .await
        .expect("add a requester");
    other
        .status(project)
        .await
        .expect("Olga now runs Rita's project");
    assert!(ids(other.projects().await.expect("list")).contains(&project));
    let (newcomer, _) = server.user(Role::Annotator, "nia").await;
    newcomer
        .lease(project, 1, None)
        .await
        .expect("a requester member leaves the project open to every annotator");
}

async fn members_close_a_project_and_reviewer_members_review(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (requester, project) = project_with_tasks(&server, 1, 4).await;
    let url = server.url.clone();
    let ids = |name: &str| {
        let admin = server.admin();
        let (name, url) = (name.to_owned(), url.clone());
        async move {
            let made = admin
                .create_token(&name, Role::Annotator)
                .await
                .expect("token");
            (
                ApiClient::new(&url, Some(made.token)).expect("client"),
                made.user_id,
            )
        }
    };
    let (member, member_id) = ids("mia").await;
    let (outsider, _) = ids("otto").await;
    let (reviewer, reviewer_id) = ids("rex").await;
    // Open until it has members.
    assert_eq!(
        outsider
            .lease(project, 1, None)
            .await
            .expect("open project")
            .tasks
            .len(),
        1
    );
    requester
        .add_member(project, member_id, Some("mia"), ProjectRole::Annotator)
        .await
        .expect("add");
    let members = requester
        .add_member(project, reviewer_id, Some("rex"), ProjectRole::Reviewer)
        .await
        .expect("add reviewer");
    let roles: Vec<(&str, ProjectRole)> =
        members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert_eq!(
        roles,
        [
            ("rita", ProjectRole::Requester),
            ("mia", ProjectRole::Annotator),
            ("rex", ProjectRole::Reviewer)
        ]
    );
    let (code, body) = api_error(outsider.lease(project, 1, None).await.expect_err("closed"));
    assert_eq!((code, body.code.as_str()), (403, "forbidden"));
    assert!(body.message.contains("members only"), "{}", body.message);
    let task = member
        .lease(project, 1, None)
        .await
        .expect("member leases")
        .tasks[0]
        .task_id;
    member
        .push(vec![answer(task, "positive")])
        .await
        .expect("push");

    // The reviewer member reads the review queue and gives a verdict; an annotator member may not.
    assert!(
        reviewer
            .review_queue(project, 10)
            .await
            .expect("queue")
            .is_empty()
    );
    let verdict = ReviewRequest {
        task_id: task,
        labels: vec!["negative".to_owned()],
    };
    reviewer.review(project, &verdict).await.expect("verdict");
    let record = export_records(&requester, project)
        .await
        .into_iter()
        .find(|r| r.task_id == task)
        .expect("task");
    assert_eq!(record.review.map(|r| r.reviewer), Some("rex".to_owned()));
    assert_eq!(
        api_error(member.review_queue(project, 10).await.expect_err("403")).0,
        403
    );
    assert_eq!(
        api_error(member.review(project, &verdict).await.expect_err("403")).0,
        403
    );
    // Only requesters manage members; unknown users are refused.
    assert_eq!(
        api_error(
            member
                .add_member(project, member_id, Some("mia"), ProjectRole::Reviewer)
                .await
                .expect_err("403")
        )
        .0,
        403
    );
    assert_eq!(
        api_error(
            requester
                .add_member(project, 987_654, Some("nobody"), ProjectRole::Annotator)
                .await
                .expect_err("404")
        )
        .0,
        404
    );
}

//! Who may see and run what: tokens listed and revoked (API and CLI), a project never left
//! without a requester nor its creator shut out by a co-requester, and a project's name,
//! schema and instructions shown only to its people, and no user's name learnt from an id.
//! Run on both stores.

use tessera_api::{ProjectRole, Role};
use tessera_tests::{Backend, TestServer, api_error, project_ids, sentiment_project, tessera_ok};

async fn me(server: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/me", server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_lists_and_revokes_tokens() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let admin = server.admin();
        let (ann, ann_token) = server.user(Role::Annotator, "ann").await;
        let ann_id = ann.me().await.expect("me").user_id;
        assert_eq!(me(&server, &ann_token).await, 200);

        let listed = admin.tokens().await.expect("list");
        let names: Vec<(&str, Role)> = listed.iter().map(|t| (t.name.as_str(), t.role)).collect();
        assert_eq!(names, [("admin", Role::Admin), ("ann", Role::Annotator)]);
        assert!(listed.iter().all(|t| t.revoked_at.is_none()));

        // Revoked: the token signs no one in from the next request on; again is a no-op.
        let revoked = admin.revoke_token(ann_id).await.expect("revoke");
        assert!(revoked.revoked_at.is_some());
        assert_eq!(me(&server, &ann_token).await, 401);
        let again = admin.revoke_token(ann_id).await.expect("again");
        assert_eq!(again.revoked_at, revoked.revoked_at);

        // The last working admin token stays; no one else may list or revoke.
        let admin_id = admin.me().await.expect("me").user_id;
        let (status, body) = api_error(admin.revoke_token(admin_id).await.expect_err("last"));
        assert_eq!(
            (status, body.code.as_str()),
            (409, "conflict"),
            "{}",
            body.message
        );
        let (status, _) = api_error(admin.revoke_token(9_999).await.expect_err("nobody"));
        assert_eq!(status, 404);
        // A requester with no projects sees herself alone, and revokes no one.
        let (requester, _) = server.user(Role::Requester, "rita").await;
        let hers = requester.tokens().await.expect("her list");
        assert_eq!(
            hers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["rita"]
        );
        assert_eq!(
            api_error(requester.revoke_token(admin_id).await.expect_err("404")).0,
            404
        );
        let (zoe, _) = server.user(Role::Annotator, "zoe").await;
        assert_eq!(api_error(zoe.tokens().await.expect_err("403")).0, 403);

        // The CLI does the same.
        let env = [
            ("TESSERA_SERVER", server.url.as_str()),
            ("TESSERA_TOKEN", server.admin_token.as_str()),
        ];
        let cli = |args: &[&str]| tessera_ok(args, &env);
        let rita_id = requester.me().await.expect("me").user_id.to_string();
        let said = cli(&["token", "revoke", &rita_id]);
        assert!(said.contains("rita"), "{said}");
        let table = cli(&["token", "list"]);
        let rita_line = table
            .lines()
            .find(|l| l.contains("\trita\t"))
            .expect("rita listed");
        assert!(rita_line.contains("revoked"), "{table}");
        let admin_line = table
            .lines()
            .find(|l| l.contains("\tadmin\t"))
            .expect("admin");
        assert!(admin_line.ends_with("active"), "{table}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_always_keeps_a_requester() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (rita, _) = server.user(Role::Requester, "rita").await;
        let (rob, _) = server.user(Role::Requester, "rob").await;
        let project = sentiment_project(&rita, "kept", 2).await;
        let rita_id = rita.me().await.expect("me").user_id;
        let rob_id = rob.me().await.expect("me").user_id;

        // Alone, she cannot step down.
        let e = rita
            .add_member(project, rita_id, Some("rita"), ProjectRole::Annotator)
            .await
            .expect_err("the last requester");
        let (status, body) = api_error(e);
        assert_eq!(status, 409, "{}", body.message);
        assert!(body.message.contains("no requester"), "{}", body.message);
        rita.status(project).await.expect("still hers");

        // A co-requester cannot shut the creator out; she may step down herself while
        // another requester remains; the last one left may not.
        rita.add_member(project, rob_id, Some("rob"), ProjectRole::Requester)
            .await
            .expect("co-requester");
        let e = rob
            .add_member(project, rita_id, Some("rita"), ProjectRole::Annotator)
            .await
            .expect_err("the creator's role is hers to change");
        let (status, body) = api_error(e);
        assert_eq!(status, 409, "{}", body.message);
        assert!(body.message.contains("creator"), "{}", body.message);
        rita.status(project).await.expect("still hers");
        rita.add_member(project, rita_id, Some("rita"), ProjectRole::Reviewer)
            .await
            .expect("another requester remains");
        let e = rob
            .add_member(project, rob_id, Some("rob"), ProjectRole::Annotator)
            .await
            .expect_err("now the last");
        assert_eq!(api_error(e).0, 409);
        rob.status(project).await.expect("still his");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_cannot_read_user_names_off_the_member_list() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (rita, _) = server.user(Role::Requester, "rita").await;
        let (secret, _) = server.user(Role::Annotator, "someone-secret").await;
        let secret_id = secret.me().await.expect("me").user_id;
        let project = sentiment_project(&rita, "mine", 1).await;
        // An id alone is refused; an id with a wrong name is "not found", as a wrong id is.
        let (status, body) = api_error(
            rita.add_member(project, secret_id, None, ProjectRole::Annotator)
                .await
                .expect_err("no name"),
        );
        assert_eq!(status, 400, "{}", body.message);
        for (id, name) in [(secret_id, "guess"), (9_999, "guess")] {
            let (status, body) = api_error(
                rita.add_member(project, id, Some(name), ProjectRole::Annotator)
                    .await
                    .expect_err("wrong"),
            );
            assert_eq!(status, 404);
            assert!(!body.message.contains("someone-secret"), "{}", body.message);
        }
        let members = rita.members(project).await.expect("members");
        assert!(members.iter().all(|m| m.name != "someone-secret"));
        // With the name they were given, the requester adds them; an admin may use the id.
        rita.add_member(
            project,
            secret_id,
            Some("someone-secret"),
            ProjectRole::Annotator,
        )
        .await
        .expect("known by name");
        server
            .admin()
            .add_member(project, secret_id, None, ProjectRole::Reviewer)
            .await
            .expect("an admin by id");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_is_shown_to_its_people_only() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (rita, _) = server.user(Role::Requester, "rita").await;
        let (other, _) = server.user(Role::Requester, "olga").await;
        let open = sentiment_project(&rita, "open to all", 2).await;
        let closed = sentiment_project(&rita, "members only", 2).await;
        let (member, _) = server.user(Role::Annotator, "mia").await;
        let (outsider, _) = server.user(Role::Annotator, "otto").await;
        let mia = member.me().await.expect("me").user_id;
        rita.add_member(closed, mia, Some("mia"), ProjectRole::Annotator)
            .await
            .expect("member");

        for id in [open, closed] {
            assert_eq!(
                api_error(other.project(id).await.expect_err("not hers")).0,
                403
            );
            rita.project(id).await.expect("her own");
            member.project(id).await.expect("open, or hers to work on");
        }
        outsider
            .project(open)
            .await
            .expect("open to every annotator");
        let (status, _) = api_error(outsider.project(closed).await.expect_err("closed"));
        assert_eq!(status, 403);

        let names = |projects: Vec<tessera_api::Project>| -> Vec<String> {
            projects.into_iter().map(|p| p.name).collect()
        };
        assert_eq!(
            names(outsider.projects().await.expect("list")),
            ["open to all"]
        );
        assert_eq!(
            names(member.projects().await.expect("list")),
            ["open to all", "members only"]
        );
        assert!(other.projects().await.expect("list").is_empty());
    }
}

/// Runs the CLI with exactly `env` (no inherited sign-in, token or data folder) in `cwd`.
fn cli_in(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(tessera_tests::built_binary("tessera"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("TESSERA_TOKEN")
        .env_remove("TESSERA_SERVER")
        .env_remove("TESSERA_DATA_DIR");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run tessera")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_signs_in_once_and_runs_the_project_from_any_folder() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (rita, rita_token) = server.user(Role::Requester, "rita").await;
    let project = sentiment_project(&rita, "signed in", 3).await;
    let (ann, _) = server.user(Role::Annotator, "ann").await;
    let ann_id = ann.me().await.expect("me").user_id.to_string();
    let home = tempfile::tempdir().expect("home");
    let elsewhere = tempfile::tempdir().expect("a folder with no server in it");
    let config = home.path().join("tessera").join("login.json");
    let config_text = config.display().to_string();
    let empty_data = elsewhere.path().join("no-data");
    let env = [
        ("TESSERA_CONFIG", config_text.as_str()),
        ("TESSERA_DATA_DIR", empty_data.to_str().expect("utf-8 path")),
    ];
    let run = |args: &[&str]| cli_in(elsewhere.path(), args, &env);
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    // Before signing in, a requester command from another folder has no token to send.
    let before = run(&["status", &project.to_string()]);
    assert!(!before.status.success(), "{}", text(&before));

    // A token the server refuses is not saved.
    let refused = run(&["login", &server.url, "not-a-token"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("did not accept the token"),
        "{}",
        text(&refused)
    );
    assert!(!config.exists());

    let signed = run(&["login", &server.url, &rita_token]);
    assert!(signed.status.success(), "{}", text(&signed));
    assert!(
        text(&signed).contains("as rita (requester)"),
        "{}",
        text(&signed)
    );
    let mode = std::fs::metadata(&config)
        .expect("saved")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the saved token is the user's alone");

    // Now with neither --server nor --token.
    let status = run(&["status", &project.to_string()]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains(&format!("project {project}:")));
    let added = run(&[
        "member",
        "add",
        &project.to_string(),
        &ann_id,
        "--role",
        "reviewer",
        "--name",
        "ann",
    ]);
    assert!(added.status.success(), "{}", text(&added));
    let listed = run(&["member", "list", &project.to_string()]);
    let table = text(&listed);
    assert!(
        table
            .lines()
            .any(|l| l == format!("{ann_id}\tann\treviewer")),
        "{table}"
    );
    assert_eq!(
        rita.members(project).await.expect("members").len(),
        2,
        "rita and ann"
    );
    let bad_role = run(&[
        "member",
        "add",
        &project.to_string(),
        &ann_id,
        "--role",
        "boss",
    ]);
    assert!(
        text(&bad_role).contains("use annotator, reviewer or requester"),
        "{}",
        text(&bad_role)
    );

    // Signed out: the token is gone from the disk and from the commands.
    let out = run(&["logout"]);
    assert!(out.status.success() && !config.exists(), "{}", text(&out));
    let after = run(&["status", &project.to_string()]);
    assert!(!after.status.success(), "{}", text(&after));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_invites_people_into_their_project() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (rita, rita_token) = server.user(Role::Requester, "rita").await;
        let project = sentiment_project(&rita, "invited", 3).await;
        let (other, _) = server.user(Role::Requester, "otto").await;
        let others = sentiment_project(&other, "not rita's", 3).await;

        // By the CLI: the token alone on standard output, and it signs the person in.
        let env = [
            ("TESSERA_SERVER", server.url.as_str()),
            ("TESSERA_TOKEN", rita_token.as_str()),
        ];
        let token = tessera_ok(
            &["member", "invite", &project.to_string(), "--name", "ann"],
            &env,
        );
        let ann = tessera_client::ApiClient::new(&server.url, Some(token.trim().to_owned()))
            .expect("client");
        let me = ann.me().await.expect("the invited token signs in");
        assert_eq!((me.name.as_str(), me.role), ("ann", Role::Annotator));
        let members = rita.members(project).await.expect("members");
        assert!(
            members
                .iter()
                .any(|m| m.user_id == me.user_id && m.role == ProjectRole::Annotator),
            "{members:?}"
        );
        let leased = ann
            .lease(project, 2, None)
            .await
            .expect("the invited annotator works on the project");
        assert_eq!(leased.tasks.len(), 2);
        // Confined to it: otto's project is open to every annotator, but not to ann.
        let (plain, _) = server.user(Role::Annotator, "pat").await;
        assert_eq!(
            plain
                .lease(others, 1, None)
                .await
                .expect("open to pat")
                .tasks
                .len(),
            1
        );
        let (status, _) = api_error(
            ann.lease(others, 1, None)
                .await
                .expect_err("ann is confined to her projects"),
        );
        assert_eq!(status, 403);
        let seen = project_ids(&ann).await;
        assert_eq!(seen, [project], "ann sees only her project");

        // By the API: a reviewer; not a requester; not into someone else's project; not by an
        // annotator; not with an empty name.
        let rev = rita
            .invite(project, "rev", ProjectRole::Reviewer)
            .await
            .expect("reviewer");
        assert_eq!(rev.role, ProjectRole::Reviewer);
        let (status, body) = api_error(
            rita.invite(project, "boss", ProjectRole::Requester)
                .await
                .expect_err("a requester comes from an admin"),
        );
        assert_eq!((status, body.code.as_str()), (400, "bad_request"));
        assert!(body.message.contains("admin"), "{}", body.message);
        let (status, _) = api_error(
            rita.invite(others, "sneak", ProjectRole::Annotator)
                .await
                .expect_err("not rita's project"),
        );
        assert!(status == 403 || status == 404, "{status}");
        let (status, _) = api_error(
            ann.invite(project, "friend", ProjectRole::Annotator)
                .await
                .expect_err("annotators do not invite"),
        );
        assert_eq!(status, 403);
        let (status, _) = api_error(
            rita.invite(project, "  ", ProjectRole::Annotator)
                .await
                .expect_err("no name"),
        );
        assert_eq!(status, 400);
        // Taken out again: ann's work on the project ends; the last requester stays.
        let ann_id = me.user_id.to_string();
        let left = tessera_ok(&["member", "remove", &project.to_string(), &ann_id], &env);
        assert!(!left.contains("\tann\t"), "{left}");
        assert!(left.contains("\trev\treviewer"), "{left}");
        let (status, _) = api_error(
            ann.lease(project, 1, None)
                .await
                .expect_err("no longer a member"),
        );
        assert_eq!(status, 403);
        let (status, _) = api_error(
            rita.remove_member(project, me.user_id)
                .await
                .expect_err("not a member any more"),
        );
        assert_eq!(status, 404);
        let rita_id = rita.me().await.expect("me").user_id;
        let (status, body) = api_error(
            rita.remove_member(project, rita_id)
                .await
                .expect_err("the last requester"),
        );
        assert_eq!(
            (status, body.code.as_str()),
            (409, "conflict"),
            "{}",
            body.message
        );
        // Nobody was created by the refused invites.
        let names: Vec<String> = server
            .admin()
            .tokens()
            .await
            .expect("tokens")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            ["admin", "rita", "otto", "ann", "pat", "rev"],
            "{names:?}"
        );
    }
}

/// A requester makes tokens for her own projects (`token create --project`), lists the
/// people of her projects with their last use, and revokes those she invited — never
/// another requester's people, nor anyone working beyond her projects.
#[tokio::test(flavor = "multi_thread")]
async fn a_requester_makes_lists_and_revokes_tokens_for_her_projects() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (rita, rita_token) = server.user(Role::Requester, "rita").await;
        let project = sentiment_project(&rita, "hers", 3).await;
        let (otto, _) = server.user(Role::Requester, "otto").await;
        let ottos = sentiment_project(&otto, "his", 3).await;
        let cli = |token: &str, args: &[&str]| {
            tessera_ok(
                args,
                &[
                    ("TESSERA_SERVER", server.url.as_str()),
                    ("TESSERA_TOKEN", token),
                ],
            )
        };
        let p = project.to_string();

        // The token alone on standard output; it works in her project only.
        let token = cli(
            &rita_token,
            &[
                "token",
                "create",
                "--role",
                "annotator",
                "--name",
                "ann",
                "--project",
                &p,
            ],
        );
        let ann = tessera_client::ApiClient::new(&server.url, Some(token.trim().to_owned()))
            .expect("client");
        let seen = project_ids(&ann).await;
        assert_eq!(seen, [project], "Otto's open project is closed to Ann");
        assert_eq!(
            ann.lease(project, 1, None)
                .await
                .expect("lease")
                .tasks
                .len(),
            1
        );
        let reviewer = cli(
            &rita_token,
            &[
                "token",
                "create",
                "--role",
                "reviewer",
                "--name",
                "rev",
                "--project",
                &p,
            ],
        );
        let rev = tessera_client::ApiClient::new(&server.url, Some(reviewer.trim().to_owned()))
            .expect("client");
        rev.review_queue(project, 10)
            .await
            .expect("a reviewer of her project");

        // Refused: a token for Otto's project, one for no project, an admin's.
        let e = rita
            .create_project_token("x", &[ottos], ProjectRole::Annotator)
            .await
            .expect_err("not hers");
        assert_eq!(api_error(e).0, 403);
        let e = rita
            .create_token("x", Role::Annotator)
            .await
            .expect_err("no project");
        let (status, body) = api_error(e);
        assert_eq!(status, 400, "{}", body.message);
        assert!(body.message.contains("--project"), "{}", body.message);
        assert_eq!(
            api_error(
                rita.create_token("x", Role::Admin)
                    .await
                    .expect_err("admin")
            )
            .0,
            403
        );

        // Her list: herself and her project's people, with when each token was last used.
        let ann_id = ann.me().await.expect("me").user_id;
        let listed = tessera_tests::eventually(
            std::time::Duration::from_secs(10),
            "Ann's last use noted",
            || async {
                let list = rita.tokens().await.expect("list");
                list.iter()
                    .find(|t| t.user_id == ann_id)
                    .is_some_and(|t| t.last_used_at.is_some())
                    .then_some(list)
            },
        )
        .await;
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["rita", "ann", "rev"], "{listed:?}");
        let of_ann = listed.iter().find(|t| t.name == "ann").expect("ann");
        assert_eq!(
            (of_ann.projects.as_slice(), of_ann.invited),
            ([project].as_slice(), true)
        );
        let table = cli(&rita_token, &["token", "list"]);
        let line = table
            .lines()
            .find(|l| l.contains("\tann\t"))
            .expect("ann listed");
        assert!(
            line.contains(&format!("projects {project}")) && line.contains("used "),
            "{table}"
        );
        assert!(!table.contains("otto"), "{table}");
        let ottos_list = otto.tokens().await.expect("his list");
        assert!(
            ottos_list.iter().all(|t| t.name == "otto"),
            "{ottos_list:?}"
        );

        // She revokes Ann; not Otto, nor someone who also works in Otto's project.
        let said = cli(&rita_token, &["token", "revoke", &ann_id.to_string()]);
        assert!(said.contains("ann"), "{said}");
        assert_eq!(me(&server, token.trim()).await, 401);
        let otto_id = otto.me().await.expect("me").user_id;
        assert_eq!(
            api_error(rita.revoke_token(otto_id).await.expect_err("404")).0,
            404
        );
        let rev_id = rev.me().await.expect("me").user_id;
        otto.add_member(ottos, rev_id, Some("rev"), ProjectRole::Reviewer)
            .await
            .expect("Otto takes Rev on too");
        let (status, body) = api_error(rita.revoke_token(rev_id).await.expect_err("shared"));
        assert_eq!(status, 403, "{}", body.message);
        assert_eq!(me(&server, reviewer.trim()).await, 200);
    }
}

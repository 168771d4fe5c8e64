//! The audit trail through `GET /api/v1/audit`: every recorded action leaves
//! its entry (and never a secret), project administrators read only their
//! projects' entries, everyone else is refused, and the filters hold.

use serde_json::{json, Value};

use crate::helpers::{finished, session_cookie, sign_in, spawn_app, spawn_app_in, TestApp};
use crate::pipelines::{create_pipeline, slow_peer};
use crate::webhooks::{push, run_result, seed, Seed};

/// The audit trail as `token` reads it with `query`: the status and the answer.
async fn audit(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/api/v1/audit{query}"), token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The entries of an answer that has them.
fn entries(answer: &Value) -> &Vec<Value> {
    answer
        .as_array()
        .unwrap_or_else(|| panic!("a list of entries: {answer}"))
}

/// The one entry of `action` about `target`.
fn entry<'a>(entries: &'a [Value], action: &str, target: &str) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["action"] == action && entry["target"] == target)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {action} of {target} in {}",
        Value::from(entries.to_vec())
    );
    found[0]
}

/// The secure token of a hook URL (`…?secureToken=T`).
fn secure_token(webhook: &Value) -> String {
    let hook_url = webhook["hook_url"].as_str().expect("a hook URL");
    hook_url
        .split_once("secureToken=")
        .map(|(_, token)| token.to_string())
        .expect("the token is in the hook URL")
}

async fn send(request: reqwest::RequestBuilder, token: &str, expected: u16) -> Value {
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let answer = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{answer}");
    answer
}

#[tokio::test]
async fn every_action_leaves_its_entry_and_no_secret() {
    // Arrange: the manual's setup (its own entries: project, endpoints,
    // pipeline, webhook), then the cluster taken away so runs fail.
    let Seed {
        app,
        hub,
        cluster,
        webhook,
    } = seed("docker-hub", "svendowideit/*").await;
    drop(cluster);
    let admin = app.admin_token.clone();
    let client = &app.client;
    let mut secrets: Vec<String> = vec![
        admin.clone(),
        "hub-password".into(),
        "cluster-token".into(),
        secure_token(&webhook),
    ];

    // Act: sign-ins, tokens, users, members, project, endpoints, pipelines,
    // runs and webhooks, through the API and the sign-in form.
    let ann_cookie = session_cookie(&app, "ann", "ann-password-1").await;
    secrets.push("ann-password-1".into());
    secrets.push(ann_cookie.split_once('=').unwrap().1.to_string());
    assert_eq!(sign_in(&app, "ann", "wrong-password-1").await.status(), 401);
    assert_eq!(
        sign_in(&app, "nobody", "wrong-password-2").await.status(),
        401
    );
    secrets.push("wrong-password-1".into());
    secrets.push("wrong-password-2".into());

    let token = send(
        client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "ci"})),
        &admin,
        201,
    )
    .await;
    secrets.push(token["token"].as_str().unwrap().to_string());
    send(
        client.delete(app.url(&format!("/api/v1/tokens/{}", token["info"]["id"]))),
        &admin,
        204,
    )
    .await;
    send(
        client
            .post(app.url("/api/v1/users"))
            .json(&json!({"username": "dave", "password": "dave-password-1"})),
        &admin,
        201,
    )
    .await;
    secrets.push("dave-password-1".into());
    let member = app.url("/api/v1/projects/Demo/members/dave");
    send(
        client.put(&member).json(&json!({"role": "developer"})),
        &admin,
        200,
    )
    .await;
    send(
        client.put(&member).json(&json!({"role": "viewer"})),
        &admin,
        200,
    )
    .await;
    send(client.delete(&member), &admin, 204).await;
    send(
        client
            .put(app.url("/api/v1/projects/Demo"))
            .json(&json!({"name": "Demo", "description": "audited"})),
        &admin,
        200,
    )
    .await;

    let registry = json!({"project": "Demo", "name": "hub", "kind": "docker-registry", "server_type": "docker-hub",
        "url": "https://index.docker.io/v1/", "username": "svendowideit", "password": "hub-password-2"});
    send(
        client.put(app.url("/api/v1/endpoints/hub")).json(&registry),
        &admin,
        200,
    )
    .await;
    secrets.push("hub-password-2".into());
    send(
        client.post(app.url("/api/v1/endpoints/hub/validate")),
        &admin,
        200,
    )
    .await;
    let spare = json!({"project": "Demo", "name": "spare", "kind": "kubernetes",
        "url": "https://cluster.example:6443/k8s?access=url-query-secret",
        "token": "spare-cluster-token", "namespace": "default"});
    send(
        client.post(app.url("/api/v1/endpoints")).json(&spare),
        &admin,
        201,
    )
    .await;
    secrets.push("spare-cluster-token".into());
    secrets.push("url-query-secret".into());
    send(
        client.delete(app.url("/api/v1/endpoints/spare?project=Demo")),
        &admin,
        204,
    )
    .await;

    let peer = slow_peer().await;
    let mut spec = json!({
        "project": "Demo", "name": "waits",
        "stages": [{"name": "s", "tasks": [{"name": "p", "type": "poll", "url": format!("{peer}/never"),
            "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 60}]}]
    });
    let waiting = create_pipeline(&app, spec.clone()).await;
    spec["description"] = json!("still waits");
    send(
        client
            .put(app.url(&format!("/api/v1/pipelines/{}", waiting["id"])))
            .json(&spec),
        &admin,
        200,
    )
    .await;
    let run = send(
        client.post(app.url(&format!("/api/v1/pipelines/{}/executions", waiting["id"]))),
        &admin,
        201,
    )
    .await;
    send(
        client.post(app.url(&format!("/api/v1/executions/{}/cancel", run["id"]))),
        &admin,
        200,
    )
    .await;
    finished(&app, &run["id"]).await;

    let webhook_path = app.url(&format!("/api/v1/webhooks/docker/{}", webhook["id"]));
    let (_, pushed) = push(
        &hub,
        webhook["hook_url"].as_str().unwrap(),
        "latest",
        1_417_566_161.0,
    )
    .await;
    assert_eq!(
        run_result(&app, &pushed["execution_id"]).await["status"],
        "FAILED"
    );
    let rerun = send(
        client.post(app.url(&format!("/api/v1/activity/{}/rerun", pushed["event_id"]))),
        &admin,
        201,
    )
    .await;
    send(
        client.put(&webhook_path).json(&json!({
            "project": "Demo", "name": "demo_webhook", "endpoint": "hub", "pipeline": "deploy-testhook",
            "image": "svendowideit/*", "tag": "v*", "source_cidrs": ["10.0.0.0/8"]
        })),
        &admin,
        200,
    )
    .await;
    send(
        client.patch(&webhook_path).json(&json!({"enabled": false})),
        &admin,
        200,
    )
    .await;
    let regenerated = send(
        client.post(format!("{webhook_path}/regenerate-token")),
        &admin,
        200,
    )
    .await;
    secrets.push(secure_token(&regenerated));
    send(client.post(format!("{webhook_path}/sync")), &admin, 200).await;
    // A pattern has no Docker Hub twin: the delete says the Hub side is left.
    send(client.delete(&webhook_path), &admin, 200).await;

    // Assert
    let (status, answer) = audit(&app, &admin, "?limit=500").await;
    assert_eq!(status, 200, "{answer}");
    let all = entries(&answer);
    let run_name = |summary: &Value| {
        format!(
            "{} #{}",
            summary["pipeline"].as_str().unwrap(),
            summary["run_number"]
        )
    };

    let signed_in = all
        .iter()
        .find(|entry| entry["action"] == "session.sign_in")
        .expect("the sign-in");
    assert_eq!(
        (&signed_in["actor"], &signed_in["outcome"]),
        (&json!("ann"), &json!("success"))
    );
    let failed: Vec<&Value> = all
        .iter()
        .filter(|entry| entry["action"] == "session.sign_in_failed")
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|entry| entry["outcome"] == "failure"));
    assert!(failed
        .iter()
        .any(|entry| entry["actor"] == "ann" && entry["actor_id"].is_i64()));
    assert!(failed
        .iter()
        .any(|entry| entry["actor"] == "nobody" && entry["actor_id"].is_null()));

    let created = entry(all, "token.created", "ci");
    assert_eq!(created["detail"]["prefix"], token["info"]["prefix"]);
    assert!(
        created["project_id"].is_null(),
        "tokens belong to no project"
    );
    entry(all, "token.revoked", "ci");
    assert_eq!(
        entry(all, "user.created", "dave")["detail"]["is_admin"],
        false
    );
    let added = entry(all, "member.added", "dave");
    assert_eq!(
        (&added["project"], &added["detail"]["role"]),
        (&json!("Demo"), &json!("developer"))
    );
    assert_eq!(
        entry(all, "member.changed", "dave")["detail"],
        json!({"role": "viewer", "previous_role": "developer"})
    );
    assert_eq!(
        entry(all, "member.removed", "dave")["detail"]["previous_role"],
        "viewer"
    );
    entry(all, "project.created", "Demo");
    entry(all, "project.changed", "Demo");

    assert_eq!(
        entry(all, "endpoint.created", "hub")["detail"]["kind"],
        "docker-registry"
    );
    let hub_changed = entry(all, "endpoint.changed", "hub");
    assert_eq!(
        hub_changed["detail"]["sensitive_fields_entered"],
        json!(["password"])
    );
    assert_eq!(hub_changed["detail"]["address"], "https://index.docker.io");
    let validated = entry(all, "endpoint.validated", "hub");
    assert_eq!(validated["detail"]["draft"], false);
    assert!(["success", "failure"].contains(&validated["outcome"].as_str().unwrap()));
    assert_eq!(
        entry(all, "endpoint.created", "spare")["detail"]["address"],
        "https://cluster.example:6443",
        "no path or query"
    );
    entry(all, "endpoint.deleted", "spare");

    entry(all, "pipeline.created", "deploy-testhook");
    entry(all, "pipeline.created", "waits");
    entry(all, "pipeline.changed", "waits");
    let started = entry(all, "run.started", &run_name(&run));
    assert_eq!(started["target_id"], run["id"]);
    assert_eq!(started["target_kind"], "execution");
    entry(all, "run.canceled", &run_name(&run));
    let rerun_run = finished(&app, &rerun["execution_id"]).await;
    let rerun_started = entry(all, "run.started", &run_name(&rerun_run));
    assert_eq!(
        rerun_started["detail"]["rerun_of_event"],
        pushed["event_id"]
    );

    entry(all, "webhook.created", "demo_webhook");
    assert_eq!(
        entry(all, "webhook.changed", "demo_webhook")["detail"]["allow_list"],
        json!(["10.0.0.0/8"])
    );
    assert_eq!(
        entry(all, "webhook.toggled", "demo_webhook")["detail"]["enabled"],
        false
    );
    entry(all, "webhook.token_regenerated", "demo_webhook");
    entry(all, "webhook.sync_retried", "demo_webhook");
    assert_eq!(
        entry(all, "webhook.deleted", "demo_webhook")["detail"]["hub_side_left"],
        true
    );

    // Who and from where: the admin's API calls, from this machine.
    for entry in all.iter().filter(|entry| entry["actor"] == "test-admin") {
        assert_eq!(entry["client"], "127.0.0.1", "{entry}");
    }
    let text = answer.to_string();
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the audit trail holds a secret: {secret}"
        );
    }
}

#[tokio::test]
async fn a_project_administrator_reads_their_projects_entries_only() {
    // Arrange: "Shop" administered by pat, "Blog" where pat is a developer,
    // and global entries (a token).
    let app = spawn_app().await;
    app.create_project("Shop").await;
    app.create_project("Blog").await;
    let pat = app.member_token("Shop", "pat", "administrator").await;
    app.member_token("Blog", "pat", "developer").await;
    let dev = app.member_token("Shop", "dev", "developer").await;
    let viewer = app.member_token("Shop", "vera", "viewer").await;
    let executor = app.member_token("Shop", "eli", "executor").await;
    app.post_json(
        "/api/v1/tokens",
        &app.admin_token,
        &json!({"name": "global"}),
    )
    .await;

    // Act
    let (status, answer) = audit(&app, &pat, "").await;
    let (blog_status, blog) = audit(&app, &pat, "?project=Blog").await;
    let (admin_status, everything) = audit(&app, &app.admin_token, "").await;

    // Assert
    assert_eq!(status, 200, "{answer}");
    let seen = entries(&answer);
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|entry| entry["project"] == "Shop"),
        "only Shop: {answer}"
    );
    assert_eq!(blog_status, 403, "{blog}");
    assert!(blog["message"]
        .as_str()
        .unwrap()
        .contains("administrator role"));
    assert_eq!(admin_status, 200);
    let everything = entries(&everything);
    assert!(everything.iter().any(|entry| entry["project"] == "Blog"));
    assert!(everything
        .iter()
        .any(|entry| entry["action"] == "token.created" && entry["project"].is_null()));
    for (token, who) in [
        (&dev, "developer"),
        (&viewer, "viewer"),
        (&executor, "executor"),
    ] {
        let (status, refused) = audit(&app, token, "").await;
        assert_eq!(status, 403, "a {who}: {refused}");
    }

    // The navigation asks the same question through the server function.
    let allowed = |cookie: String| {
        let request = app
            .client
            .post(app.url("/api/audit/allowed"))
            .header("Cookie", cookie)
            .header("Origin", &app.address)
            .header("Accept", "application/json");
        async move { request.send().await.unwrap().json::<bool>().await.unwrap() }
    };
    assert!(allowed(session_cookie(&app, "pat", "pat-password-1").await).await);
    assert!(!allowed(session_cookie(&app, "dev", "dev-password-1").await).await);
}

#[tokio::test]
async fn filters_by_project_user_and_action_and_pages_by_id() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Shop").await;
    app.create_project("Blog").await;
    let pat = app.member_token("Shop", "pat", "administrator").await;
    app.post_json("/api/v1/tokens", &pat, &json!({"name": "pats"}))
        .await;
    assert_eq!(sign_in(&app, "ghost", "not-a-password").await.status(), 401);
    let admin = app.admin_token.clone();
    let (_, everything) = audit(&app, &admin, "").await;
    let pat_id = entries(&everything)
        .iter()
        .find(|entry| entry["action"] == "member.added")
        .map(|entry| entry["target_id"].clone())
        .unwrap();
    let shop_id = entries(&everything)
        .iter()
        .find(|entry| entry["target"] == "Shop")
        .map(|entry| entry["project_id"].clone())
        .unwrap();

    // Act and assert: each filter.
    let actions = |answer: &Value| {
        entries(answer)
            .iter()
            .map(|entry| entry["action"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, created) = audit(&app, &admin, "?action=project.created").await;
    assert_eq!(actions(&created), ["project.created", "project.created"]);
    for project in ["Shop".to_string(), shop_id.to_string()] {
        let (_, shop) = audit(&app, &admin, &format!("?project={project}")).await;
        assert_eq!(
            actions(&shop),
            ["member.added", "project.created"],
            "{project}"
        );
    }
    for user in ["pat".to_string(), pat_id.to_string()] {
        let (_, by_pat) = audit(&app, &admin, &format!("?user={user}")).await;
        assert_eq!(actions(&by_pat), ["token.created"], "{user}");
    }
    let (_, ghost) = audit(&app, &admin, "?user=ghost").await;
    assert_eq!(
        actions(&ghost),
        ["session.sign_in_failed"],
        "a name no user has matches the name tried"
    );
    let (_, none) = audit(&app, &admin, "?user=test-admin&action=token.created").await;
    assert!(entries(&none).is_empty(), "{none}");

    // Paging: newest first, then below the last id seen.
    let (_, first) = audit(&app, &admin, "?limit=2").await;
    let first = entries(&first).clone();
    let (_, second) = audit(&app, &admin, &format!("?limit=2&before={}", first[1]["id"])).await;
    let ids = |list: &[Value]| {
        list.iter()
            .map(|entry| entry["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let all_ids = ids(entries(&everything));
    assert_eq!(ids(&first), all_ids[..2]);
    assert_eq!(ids(entries(&second)), all_ids[2..4]);
    assert!(
        all_ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );

    // An unknown action is a 400 naming the known ones.
    let (status, unknown) = audit(&app, &admin, "?action=token.eaten").await;
    assert_eq!(status, 400, "{unknown}");
    let message = unknown["message"].as_str().unwrap();
    assert!(
        message.starts_with("unknown action 'token.eaten': use one of session.sign_in, "),
        "{message}"
    );
    // The scope holds under every filter: pat asking for everyone's tokens sees none.
    let (_, pats) = audit(&app, &pat, "?action=token.created").await;
    assert!(entries(&pats).is_empty(), "{pats}");
    // A limit past the maximum is cut to it, not refused.
    assert_eq!(audit(&app, &admin, "?limit=100000").await.0, 200);
}

#[tokio::test]
async fn a_server_function_records_where_the_browser_called_from() {
    // Arrange
    let app = spawn_app().await;
    let cookie = session_cookie(&app, "admin-in-browser", "browser-password-1").await;
    app.store
        .set_user_admin(
            app.store
                .user_by_name("admin-in-browser")
                .await
                .unwrap()
                .unwrap()
                .id,
            true,
        )
        .await
        .unwrap();

    // Act: create a project through the page's server function.
    let created = app
        .client
        .post(app.url("/api/projects/create"))
        .header("Cookie", cookie)
        .header("Origin", &app.address)
        .header("Accept", "application/json")
        .form(&[("name", "From the page"), ("description", "")])
        .send()
        .await
        .unwrap();

    // Assert
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
    let (_, answer) = audit(&app, &app.admin_token, "?action=project.created").await;
    let entry = &entries(&answer)[0];
    assert_eq!(
        (&entry["actor"], &entry["target"], &entry["client"]),
        (
            &json!("admin-in-browser"),
            &json!("From the page"),
            &json!("127.0.0.1")
        )
    );
}

/// Runs `slipway` with `args` (and `stdin`) on the data directory and, when
/// the tests run on PostgreSQL, its database; expects success and answers
/// (stdout, stderr).
async fn slipway(args: &[&str], data_dir: &std::path::Path, stdin: &str) -> (String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let database = crate::helpers::postgres_database_of(data_dir).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(
            database
                .map(|url| ["--database-url".to_string(), url])
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the slipway binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

#[tokio::test]
async fn the_command_line_is_an_actor_too() {
    // Arrange and act: the bootstrap a script runs.
    let data_dir = tempfile::tempdir().unwrap();
    let (stdout, token_log) = slipway(
        &["token", "create", "--user", "ci-bot"],
        data_dir.path(),
        "",
    )
    .await;
    let token = stdout.lines().last().unwrap().to_string();
    let (_, password_log) = slipway(
        &[
            "user",
            "set-password",
            "--user",
            "ci-bot",
            "--role",
            "admin",
        ],
        data_dir.path(),
        "ci-bot-password-1\n",
    )
    .await;

    // Assert: the entries, as the API reads them.
    let app = spawn_app_in(data_dir).await;
    let (_, answer) = audit(&app, &app.admin_token, "?user=command%20line").await;
    let all = entries(&answer);
    let mut seen: Vec<(&str, &str)> = all
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap(),
                entry["target"].as_str().unwrap(),
            )
        })
        .collect();
    seen.reverse();
    assert_eq!(
        seen,
        [
            ("user.created", "ci-bot"),
            ("token.created", "cli"),
            ("user.role_changed", "ci-bot"),
            ("user.password_set", "ci-bot"),
        ]
    );
    assert!(all
        .iter()
        .all(|entry| entry["actor_id"].is_null() && entry["client"].is_null()));
    assert_eq!(
        entry(all, "token.created", "cli")["detail"]["user"],
        "ci-bot"
    );
    assert_eq!(
        entry(all, "user.role_changed", "ci-bot")["detail"]["is_admin"],
        true
    );
    // The command's own log line has the entry, and neither the token nor the password.
    assert!(
        token_log.contains(r#""action":"token.created""#),
        "{token_log}"
    );
    assert!(!token_log.contains(&token) && !answer.to_string().contains(&token));
    assert!(
        password_log.contains(r#""action":"user.password_set""#),
        "{password_log}"
    );
    assert!(!password_log.contains("ci-bot-password-1"));
}

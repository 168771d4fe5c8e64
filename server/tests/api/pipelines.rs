use std::time::{Duration, Instant};

use serde_json::{json, Value};
use slipway_standins::kube::KubeStandin;

use crate::helpers::{eventually, finished, run_when, spawn_app, spawn_app_with, TestApp};

/// A local HTTP peer for REST and Poll tasks: `/slow` answers after 400 ms,
/// `/never` answers `{"ready": false}` forever.
pub(crate) async fn slow_peer() -> String {
    use axum::routing::get;
    let router = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                axum::Json(json!({"ok": true}))
            }),
        )
        .route(
            "/never",
            get(|| async { axum::Json(json!({"ready": false})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

pub(crate) async fn create_pipeline(app: &TestApp, body: Value) -> Value {
    let response = app
        .post_json("/api/v1/pipelines", &app.admin_token, &body)
        .await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{answer}");
    answer
}

pub(crate) async fn run(app: &TestApp, pipeline_id: &Value, inputs: Value) -> i64 {
    let response = app
        .post_json(
            &format!("/api/v1/pipelines/{pipeline_id}/executions"),
            &app.admin_token,
            &json!({ "inputs": inputs }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    answer["id"].as_i64().unwrap()
}

async fn assert_no_pipelines(app: &TestApp) {
    let listed: Vec<Value> = app
        .get("/api/v1/pipelines", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

/// A stand-in cluster and an app with project "Demo" and its endpoint "dev" for it.
pub(crate) async fn demo_with_cluster() -> (slipway_standins::kube::KubeStandinHandle, TestApp) {
    demo_with_cluster_and(spawn_app()).await
}

/// As [`demo_with_cluster`], with the app `spawned` by the caller.
pub(crate) async fn demo_with_cluster_and(
    spawned: impl std::future::Future<Output = TestApp>,
) -> (slipway_standins::kube::KubeStandinHandle, TestApp) {
    let cluster = KubeStandin::builder().token("t0ken").start().await.unwrap();
    let app = spawned.await;
    app.create_project("Demo").await;
    let endpoint = app
        .post_json("/api/v1/endpoints", &app.admin_token, &json!({
            "project": "Demo", "name": "dev", "kind": "kubernetes", "url": cluster.url(), "token": "t0ken", "namespace": "default"
        }))
        .await;
    assert_eq!(endpoint.status(), 201);
    (cluster, app)
}

pub(crate) fn condition_task(name: &str, expression: &str) -> Value {
    json!({"name": name, "type": "condition", "expression": expression})
}

#[tokio::test]
async fn a_run_passes_inputs_and_outputs_between_stages() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "checks",
        "inputs": [{"name": "ANSWER", "default": "41"}],
        "inject_docker_parameters": true,
        "stages": [
            {"name": "first", "tasks": [condition_task("positive", "${input.ANSWER} > 0")]},
            {"name": "second", "tasks": [condition_task("chained", "${first.positive.output.result} == true && '${input.DOCKER_TAG}' == 'v2'")]}
        ]
    })).await;

    // Act
    let id = run(
        &app,
        &pipeline["id"],
        json!({"ANSWER": "42", "DOCKER_TAG": "v2"}),
    )
    .await;
    let execution = finished(&app, id).await;

    // Assert
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    assert_eq!(execution["inputs"]["ANSWER"], "42");
    assert_eq!(
        execution["inputs"]["DOCKER_IMAGE"], "",
        "injected inputs default to empty"
    );
    assert_eq!(execution["run_number"], 1);
    assert_eq!(execution["trigger"]["kind"], "manual");
    let stages = execution["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1]["tasks"][0]["status"], "COMPLETED");
    assert_eq!(stages[1]["tasks"][0]["output"]["result"], true);
    assert!(
        stages[0]["tasks"][0]["finished_at"].as_i64()
            <= stages[1]["tasks"][0]["started_at"].as_i64()
    );
}

#[tokio::test]
async fn a_false_condition_fails_the_run_and_later_stages_do_not_run() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(
        &app,
        json!({
            "project": "Demo", "name": "gate",
            "inputs": [{"name": "X", "default": "no"}],
            "stages": [
                {"name": "check", "tasks": [condition_task("approved", "'${input.X}' == 'yes'")]},
                {"name": "after", "tasks": [condition_task("never", "true")]}
            ]
        }),
    )
    .await;

    let execution = finished(&app, run(&app, &pipeline["id"], json!({})).await).await;

    assert_eq!(execution["status"], "FAILED");
    assert!(
        execution["error"]
            .as_str()
            .unwrap()
            .contains("check.approved"),
        "{execution}"
    );
    assert!(execution["stages"][1]["tasks"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn deleting_a_pipeline_with_runs_needs_their_deletion_confirmed() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(
        &app,
        json!({"project": "Demo", "name": "ran-once",
               "stages": [{"name": "check", "tasks": [condition_task("ok", "true")]}]}),
    )
    .await;
    let execution = finished(&app, run(&app, &pipeline["id"], json!({})).await).await;
    let path = format!("/api/v1/pipelines/{}", pipeline["id"]);

    // Act
    let unconfirmed = app.delete(&path, &app.admin_token).await;
    let kept = app.get(&path, &app.admin_token).await.status();
    let confirmed = app
        .delete(&format!("{path}?delete_runs=true"), &app.admin_token)
        .await;

    // Assert
    assert_eq!(unconfirmed.status(), 409);
    let refusal = unconfirmed.text().await.unwrap();
    assert!(refusal.contains("finished runs (1)"), "{refusal}");
    assert!(refusal.contains("delete_runs=true"), "{refusal}");
    assert_eq!(kept, 200, "a refused delete changes nothing");
    assert_eq!(confirmed.status(), 204);
    assert_eq!(app.get(&path, &app.admin_token).await.status(), 404);
    let run_path = format!("/api/v1/executions/{}", execution["id"]);
    assert_eq!(app.get(&run_path, &app.admin_token).await.status(), 404);
}

#[tokio::test]
async fn a_pipeline_written_in_yaml_round_trips() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let yaml = "project: Demo\nname: from-yaml\ninject_docker_parameters: true\nstages:\n  - name: check\n    tasks:\n      - name: ok\n        type: condition\n        expression: 'true'\n";

    let created = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let as_yaml = app
        .client
        .get(app.url("/api/v1/pipelines/from-yaml?project=Demo"))
        .bearer_auth(&app.admin_token)
        .header("Accept", "application/yaml")
        .send()
        .await
        .unwrap();

    assert_eq!(as_yaml.headers()["content-type"], "application/yaml");
    let text = as_yaml.text().await.unwrap();
    assert!(text.contains("inject_docker_parameters: true"), "{text}");
    assert!(
        text.contains("expression: 'true'") || text.contains("expression: \"true\""),
        "{text}"
    );
}

#[tokio::test]
async fn invalid_pipelines_are_refused_naming_the_place() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let stage = |name: &str, tasks: Value| json!({"name": name, "tasks": tasks});
    let cases = vec![
        (
            json!({"project": "Demo", "name": "p", "stages": [stage("deploy", json!([{"name": "web", "type": "kubernetes", "endpoint": "missing", "action": "CREATE", "yaml": "kind: x"}]))]}),
            422,
            "stages[0].tasks[0].endpoint",
        ),
        (
            json!({"project": "Demo", "name": "p", "stages": [stage("a", json!([condition_task("t", "true")])), stage("a", json!([condition_task("u", "true")]))]}),
            422,
            "stages[1].name",
        ),
        (
            json!({"project": "Demo", "name": "p", "stages": [stage("a", json!([condition_task("t", "true"), condition_task("u", "${a.t.output.result}")]))]}),
            422,
            "stages[0].tasks[1]",
        ),
        (
            json!({"project": "Demo", "name": "p", "stages": [stage("a", json!([{"name": "t", "type": "teleport"}]))]}),
            400,
            "teleport",
        ),
        (
            json!({"project": "Nope", "name": "p", "stages": [stage("a", json!([condition_task("t", "true")]))]}),
            422,
            "project",
        ),
    ];
    for (body, status, place) in cases {
        let response = app
            .post_json("/api/v1/pipelines", &app.admin_token, &body)
            .await;
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer.to_string().contains(place), "{place} in {answer}");
    }
    let wrong_type = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=p")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert_no_pipelines(&app).await;
}

#[tokio::test]
async fn the_kubernetes_task_creates_the_deployment_with_the_bound_image() {
    // Arrange: a cluster and its endpoint.
    let (cluster, app) = demo_with_cluster().await;
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: testhook\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: testhook}\n  template:\n    metadata:\n      labels: {app: testhook}\n    spec:\n      containers:\n        - name: app\n          image: ${input.DOCKER_IMAGE}:${input.DOCKER_TAG}\n";
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "deploy", "inject_docker_parameters": true,
        "stages": [{"name": "deploy", "tasks": [{"name": "web", "type": "kubernetes", "endpoint": "dev", "action": "APPLY", "yaml": yaml, "wait_for_rollout": true, "rollout_timeout_seconds": 10}]}]
    })).await;

    // Act: two runs with two tags; APPLY is idempotent and updates the image.
    let first = finished(
        &app,
        run(
            &app,
            &pipeline["id"],
            json!({"DOCKER_IMAGE": "svendowideit/testhook", "DOCKER_TAG": "latest"}),
        )
        .await,
    )
    .await;
    let second = finished(
        &app,
        run(
            &app,
            &pipeline["id"],
            json!({"DOCKER_IMAGE": "svendowideit/testhook", "DOCKER_TAG": "v2"}),
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(first["status"], "COMPLETED", "{first}");
    assert_eq!(second["status"], "COMPLETED", "{second}");
    let task = &second["stages"][0]["tasks"][0];
    assert_eq!(task["output"]["image"], "svendowideit/testhook:v2");
    assert!(!task["log"].as_array().unwrap().is_empty());
    let stored = cluster
        .object("apps", "v1", "deployments", Some("default"), "testhook")
        .unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "svendowideit/testhook:v2"
    );
    assert_eq!(
        first["stages"][0]["tasks"][0]["output"]["objects"][0]["uid"],
        task["output"]["objects"][0]["uid"],
        "the same object was applied twice"
    );
    // The endpoint is in use now.
    assert_eq!(
        app.delete("/api/v1/endpoints/dev?project=Demo", &app.admin_token)
            .await
            .status(),
        409
    );
}

#[tokio::test]
async fn tasks_of_a_stage_run_in_parallel_and_stages_in_order() {
    let peer = slow_peer().await;
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let rest = |name: &str| json!({"name": name, "type": "rest", "url": format!("{peer}/slow")});
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "parallel",
        "stages": [{"name": "both", "tasks": [rest("a"), rest("b"), rest("c")]}, {"name": "then", "tasks": [rest("d")]}]
    })).await;

    let execution = finished(&app, run(&app, &pipeline["id"], json!({})).await).await;

    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    let tasks = execution["stages"][0]["tasks"].as_array().unwrap();
    let latest_start = tasks
        .iter()
        .map(|t| t["started_at"].as_i64().unwrap())
        .max()
        .unwrap();
    let earliest_end = tasks
        .iter()
        .map(|t| t["finished_at"].as_i64().unwrap())
        .min()
        .unwrap();
    assert!(
        latest_start < earliest_end,
        "the three 400 ms calls overlapped in time"
    );
    let then = &execution["stages"][1]["tasks"][0];
    let stage_end = tasks
        .iter()
        .map(|t| t["finished_at"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(then["started_at"].as_i64().unwrap() >= stage_end);
}

#[tokio::test]
async fn the_concurrency_limit_keeps_extra_runs_queued() {
    let peer = slow_peer().await;
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "one-at-a-time", "concurrency": 1,
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "rest", "url": format!("{peer}/slow")}]}]
    })).await;

    let ids = [
        run(&app, &pipeline["id"], json!({})).await,
        run(&app, &pipeline["id"], json!({})).await,
        run(&app, &pipeline["id"], json!({})).await,
    ];
    // While they go, never more than one is RUNNING.
    eventually("the runs to complete", Duration::from_secs(20), || async {
        let listed: Vec<Value> = app
            .get("/api/v1/executions?limit=10", &app.admin_token)
            .await
            .json()
            .await
            .unwrap();
        let running = listed.iter().filter(|e| e["status"] == "RUNNING").count();
        assert!(running <= 1, "{running} runs at once");
        listed
            .iter()
            .all(|e| e["status"] == "COMPLETED")
            .then_some(())
    })
    .await;
    let runs: Vec<Value> = all_finished(&app, &ids).await;
    let mut spans: Vec<(i64, i64)> = runs
        .iter()
        .map(|e| {
            (
                e["started_at"].as_i64().unwrap(),
                e["finished_at"].as_i64().unwrap(),
            )
        })
        .collect();
    spans.sort();
    assert!(
        spans.windows(2).all(|pair| pair[0].1 <= pair[1].0),
        "runs did not overlap: {spans:?}"
    );
}

/// Runs waiting behind one pipeline's limit (its one run waits for an
/// approval) hold up no other pipeline's run, however many of them wait.
#[tokio::test]
async fn a_backlog_behind_one_pipelines_limit_holds_up_no_other_pipeline() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let held = create_pipeline(&app, json!({
        "project": "Demo", "name": "held", "concurrency": 1,
        "stages": [{"name": "gate", "tasks": [{"name": "approve", "type": "approval", "approvers": ["admin"]}]}]
    })).await;
    let other = create_pipeline(&app, json!({
        "project": "Demo", "name": "other",
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "true"}]}]
    })).await;
    let mut backlog = Vec::new();
    for _ in 0..40 {
        backlog.push(run(&app, &held["id"], json!({})).await);
    }
    run_when(&app, backlog[0], "to wait for its approval", |first| {
        first["status"] == "WAITING"
    })
    .await;

    let other_run = finished(&app, run(&app, &other["id"], json!({})).await).await;

    assert_eq!(other_run["status"], "COMPLETED", "{other_run}");
    let last = run_when(&app, backlog[39], "to be read", |_| true).await;
    assert_eq!(last["status"], "QUEUED", "{last}");
}

async fn all_finished(app: &TestApp, ids: &[i64]) -> Vec<Value> {
    let mut runs = Vec::new();
    for id in ids {
        runs.push(finished(app, *id).await);
    }
    runs
}

#[tokio::test]
async fn cancel_stops_a_waiting_task_promptly() {
    let peer = slow_peer().await;
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "waits",
        "stages": [{"name": "s", "tasks": [{"name": "poll", "type": "poll", "url": format!("{peer}/never"), "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 120}]}]
    })).await;
    let id = run(&app, &pipeline["id"], json!({})).await;
    run_when(&app, id, "to be RUNNING", |execution| {
        execution["status"] == "RUNNING"
    })
    .await;

    let started = Instant::now();
    let canceled = app
        .post_json(
            &format!("/api/v1/executions/{id}/cancel"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    assert_eq!(canceled.status(), 200);
    let execution = finished(&app, id).await;

    assert_eq!(execution["status"], "CANCELED");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(execution["stages"][0]["tasks"][0]["status"], "CANCELED");
    let again = app
        .post_json(
            &format!("/api/v1/executions/{id}/cancel"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn runs_need_the_executor_role_and_required_inputs() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(
        &app,
        json!({
            "project": "Demo", "name": "needs-input",
            "inputs": [{"name": "TARGET", "required": true}],
            "stages": [{"name": "s", "tasks": [condition_task("t", "true")]}]
        }),
    )
    .await;
    let path = format!("/api/v1/pipelines/{}/executions", pipeline["id"]);
    let viewer = app.member_token("Demo", "vic", "viewer").await;
    let executor = app.member_token("Demo", "eve", "executor").await;

    assert_eq!(
        app.post_json(&path, &viewer, &json!({"inputs": {"TARGET": "x"}}))
            .await
            .status(),
        403
    );
    let missing = app.post_json(&path, &executor, &json!({})).await;
    assert_eq!(missing.status(), 422);
    let unknown = app
        .post_json(
            &path,
            &executor,
            &json!({"inputs": {"TARGET": "x", "OTHER": "y"}}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    let ok = app
        .post_json(&path, &executor, &json!({"inputs": {"TARGET": "x"}}))
        .await;
    assert_eq!(ok.status(), 201);
    let edit = app.post_json("/api/v1/pipelines", &executor, &json!({"project": "Demo", "name": "mine", "stages": [{"name": "s", "tasks": [condition_task("t", "true")]}]})).await;
    assert_eq!(edit.status(), 403);
}

/// "Billion laughs": one anchored list of 40 tasks named by 1,000 stages is
/// 40,000 tasks once aliases are expanded, from a few dozen kilobytes.
fn yaml_bomb() -> String {
    let mut yaml =
        String::from("project: Demo\nname: bomb\nstages:\n  - name: s0\n    tasks: &tasks\n");
    for task in 0..40 {
        yaml.push_str(&format!(
            "      - {{name: t{task}, type: condition, expression: 'true'}}\n"
        ));
    }
    for stage in 1..1000 {
        yaml.push_str(&format!("  - {{name: s{stage}, tasks: *tasks}}\n"));
    }
    yaml
}

async fn post_yaml(app: &TestApp, token: Option<&str>, yaml: String) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .header("Content-Type", "application/yaml")
        .body(yaml);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn yaml_aliases_and_oversized_yaml_are_refused_before_anything_is_built() {
    let app = spawn_app().await;
    app.create_project("Demo").await;

    let (status, answer) = post_yaml(&app, Some(&app.admin_token), yaml_bomb()).await;
    assert_eq!(status, 400, "{}", answer["message"]);
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains("aliases"), "{answer}");
    assert!(
        message.contains("line 5,"),
        "the anchor's place (anchors are refused before any alias): {answer}"
    );

    let small_alias = "project: Demo\nname: &n aliased\ndescription: *n\nstages: []\n";
    let (status, answer) = post_yaml(&app, Some(&app.admin_token), small_alias.into()).await;
    assert_eq!(status, 400, "{answer}");

    let padding = "#".repeat(1024 * 1024);
    let oversized = format!("{padding}\nproject: Demo\nname: big\nstages: []\n");
    let (status, answer) = post_yaml(&app, Some(&app.admin_token), oversized).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1048576 bytes"),
        "the limit is named: {answer}"
    );

    // Without a token the body is never read as a pipeline.
    let (status, _) = post_yaml(&app, None, yaml_bomb()).await;
    assert_eq!(status, 401);
    assert_no_pipelines(&app).await;
}

#[tokio::test]
async fn durations_and_counts_beyond_their_limits_are_refused_naming_field_and_limit() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let poll = |interval: u64, timeout: u64, attempts: u64| {
        json!({"project": "Demo", "name": "p", "stages": [{"name": "s", "tasks": [{
            "name": "wait", "type": "poll", "url": "http://peer.test/x", "condition": "true",
            "interval_seconds": interval, "timeout_seconds": timeout, "max_attempts": attempts
        }]}]})
    };
    let kubernetes = |concurrency: u64, rollout_timeout: u64| {
        json!({"project": "Demo", "name": "k", "concurrency": concurrency, "stages": [{"name": "s", "tasks": [{
            "name": "web", "type": "kubernetes", "endpoint": "dev", "action": "CREATE",
            "yaml": "kind: x", "wait_for_rollout": true, "rollout_timeout_seconds": rollout_timeout
        }]}]})
    };
    let cases = [
        (
            poll(u64::MAX, u64::MAX, 1),
            "stages[0].tasks[0].interval_seconds",
            "86400",
        ),
        (
            poll(1, u64::MAX, 1),
            "stages[0].tasks[0].timeout_seconds",
            "86400",
        ),
        (
            poll(1, 10, 1_000_000),
            "stages[0].tasks[0].max_attempts",
            "86400",
        ),
        (
            kubernetes(1, 86_401),
            "stages[0].tasks[0].rollout_timeout_seconds",
            "86400",
        ),
        (kubernetes(100_000, 60), "concurrency", "100"),
    ];
    for (body, field, limit) in cases {
        let response = app
            .post_json("/api/v1/pipelines", &app.admin_token, &body)
            .await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{field}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(limit), "{limit} in {answer}");
    }
}

#[tokio::test]
async fn an_input_cannot_add_yaml_keys_or_header_lines() {
    // Arrange: a cluster, a pipeline that binds an input into its YAML and a header.
    let (cluster, app) = demo_with_cluster().await;
    let peer = slow_peer().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: ${input.GREETING}\n";
    let deploy = create_pipeline(&app, json!({
        "project": "Demo", "name": "deploy", "inputs": [{"name": "GREETING"}],
        "stages": [{"name": "deploy", "tasks": [{"name": "config", "type": "kubernetes", "endpoint": "dev", "action": "CREATE", "yaml": yaml}]}]
    })).await;
    let call = create_pipeline(&app, json!({
        "project": "Demo", "name": "call", "inputs": [{"name": "NOTE"}],
        "stages": [{"name": "call", "tasks": [{"name": "hook", "type": "rest", "url": format!("{peer}/slow"), "headers": {"X-Note": "${input.NOTE}"}}]}]
    })).await;

    // Act: the inputs smuggle a second key and a second header line.
    let smuggled = finished(
        &app,
        run(
            &app,
            &deploy["id"],
            json!({"GREETING": "hi\n  hostPath: /etc"}),
        )
        .await,
    )
    .await;
    let header = finished(
        &app,
        run(&app, &call["id"], json!({"NOTE": "ok\r\nX-Injected: yes"})).await,
    )
    .await;

    // Assert: both tasks fail, saying which binding and why; nothing was created.
    assert_eq!(smuggled["status"], "FAILED", "{smuggled}");
    let reason = smuggled["stages"][0]["tasks"][0]["error"].to_string();
    assert!(
        reason.contains("${input.GREETING}") && reason.contains("line break"),
        "{reason}"
    );
    assert!(cluster
        .object("", "v1", "configmaps", Some("default"), "settings")
        .is_none());
    assert_eq!(header["status"], "FAILED", "{header}");
    let reason = header["stages"][0]["tasks"][0]["error"].to_string();
    assert!(
        reason.contains("${input.NOTE}") && reason.contains("line break"),
        "{reason}"
    );
}

/// A peer whose `/huge` streams `chunks` chunks of 64 KiB (chunked, no
/// Content-Length); answers its address and how many chunks it produced.
async fn huge_peer(chunks: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::get;
    use futures::StreamExt as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let produced = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let router = axum::Router::new().route(
        "/huge",
        get(move || {
            let counter = counter.clone();
            async move {
                let stream = futures::stream::iter(0..chunks).map(move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 64 * 1024]))
                });
                axum::body::Body::from_stream(stream)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), produced)
}

#[tokio::test]
async fn a_task_response_larger_than_the_limit_fails_the_task_without_reading_it_all() {
    // 800 × 64 KiB = 50 MiB, streamed.
    let (peer, produced) = huge_peer(800).await;
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "huge",
        "stages": [{"name": "s", "tasks": [{"name": "get", "type": "rest", "url": format!("{peer}/huge")}]}]
    })).await;

    let id = run(&app, &pipeline["id"], json!({})).await;
    let execution = finished(&app, id).await;

    assert_eq!(execution["status"], "FAILED", "{execution}");
    let reason = execution["stages"][0]["tasks"][0]["error"].to_string();
    assert!(
        reason.contains("the response was larger than 1048576 bytes"),
        "{reason}"
    );
    // Reading stopped near the limit: far from all 50 MiB were produced.
    let sent = produced.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 400, "{sent} chunks of 64 KiB were produced");
}

#[tokio::test]
async fn with_deny_private_egress_a_task_to_a_loopback_address_is_refused() {
    let peer = slow_peer().await;
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.deny_private_egress = true;
    })
    .await;
    app.create_project("Demo").await;
    let by_name = peer.replace("127.0.0.1", "localhost");
    let pipeline = create_pipeline(
        &app,
        json!({
            "project": "Demo", "name": "private",
            "stages": [{"name": "s", "tasks": [
                {"name": "address", "type": "rest", "url": format!("{peer}/slow")},
                {"name": "name", "type": "rest", "url": format!("{by_name}/slow")}
            ]}]
        }),
    )
    .await;

    let id = run(&app, &pipeline["id"], json!({})).await;
    let execution = finished(&app, id).await;

    assert_eq!(execution["status"], "FAILED", "{execution}");
    for task in execution["stages"][0]["tasks"].as_array().unwrap() {
        let reason = task["error"].to_string();
        assert_eq!(task["status"], "FAILED", "{task}");
        assert!(reason.contains("private egress is denied"), "{reason}");
        assert!(reason.contains("loopback"), "{reason}");
        assert!(reason.contains("--deny-private-egress"), "{reason}");
    }
}

#[tokio::test]
async fn a_poll_answered_with_too_large_a_response_fails_at_once() {
    let (peer, _) = huge_peer(800).await;
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(&app, json!({
        "project": "Demo", "name": "huge-poll",
        "stages": [{"name": "s", "tasks": [{"name": "poll", "type": "poll", "url": format!("{peer}/huge"), "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 120}]}]
    })).await;

    let started = Instant::now();
    let id = run(&app, &pipeline["id"], json!({})).await;
    let execution = finished(&app, id).await;

    assert_eq!(execution["status"], "FAILED", "{execution}");
    let reason = execution["stages"][0]["tasks"][0]["error"].to_string();
    assert!(
        reason.contains("the response was larger than 1048576 bytes"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

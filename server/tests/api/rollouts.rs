//! Safe rollouts through the HTTP API against the Kubernetes stand-in: a
//! rollout that cannot succeed fails early and, with `rollback_on_failure`,
//! goes back to the previous image; `dry_run` shows the diff and changes nothing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use slipway_standins::kube::KubeStandinHandle;

use crate::helpers::{finished, run_when, TestApp};
use crate::pipelines::{create_pipeline, demo_with_cluster, demo_with_cluster_and, run};

fn deployment_yaml(image: &str) -> String {
    named_deployment_yaml("web", image)
}

fn named_deployment_yaml(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 2\n  \
         selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        \
         app: web\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    )
}

/// A pipeline "deploy" whose one stage APPLYs the Deployment `web` with `${input.IMAGE}`.
async fn deploy_pipeline(app: &TestApp, name: &str, task: Value, more_stages: Vec<Value>) -> Value {
    let mut kubernetes = json!({
        "name": "web", "type": "kubernetes", "endpoint": "dev", "action": "APPLY",
        "yaml": deployment_yaml("${input.IMAGE}"),
    });
    for (key, value) in task.as_object().into_iter().flatten() {
        kubernetes[key] = value.clone();
    }
    let mut stages = vec![json!({"name": "deploy", "tasks": [kubernetes]})];
    stages.extend(more_stages);
    create_pipeline(
        app,
        json!({"project": "Demo", "name": name, "inputs": [{"name": "IMAGE"}], "stages": stages}),
    )
    .await
}

fn live_image(cluster: &KubeStandinHandle) -> Value {
    let deployment = cluster
        .object("apps", "v1", "deployments", Some("default"), "web")
        .expect("the Deployment exists");
    deployment["spec"]["template"]["spec"]["containers"][0]["image"].clone()
}

fn log_text(task: &Value) -> String {
    task["log"].to_string()
}

/// Runs `pipeline` with `image` and answers the finished run and how long it took.
async fn run_image(app: &TestApp, pipeline: &Value, image: &str) -> (Value, Duration) {
    let started = Instant::now();
    let id = run(app, &pipeline["id"], json!({"IMAGE": image})).await;
    let execution = finished(app, id).await;
    (execution, started.elapsed())
}

#[tokio::test]
async fn a_broken_image_is_rolled_back_within_seconds_not_at_the_timeout() {
    // Arrange: nginx:1.26 runs; the pipeline waits up to 120 s and rolls back.
    let (cluster, app) = demo_with_cluster().await;
    let settings = json!({
        "wait_for_rollout": true, "rollout_timeout_seconds": 120, "rollback_on_failure": true,
    });
    let pipeline = deploy_pipeline(&app, "deploy", settings, Vec::new()).await;
    let (first, _) = run_image(&app, &pipeline, "nginx:1.26").await;
    assert_eq!(first["status"], "COMPLETED", "{first}");

    // Act
    let (execution, took) = run_image(&app, &pipeline, "nginx:broken").await;

    // Assert
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(execution["status"], "FAILED", "{execution}");
    let task = &execution["stages"][0]["tasks"][0];
    assert_eq!(task["status"], "FAILED");
    let error = task["error"].as_str().unwrap_or_default();
    assert!(error.contains("ImagePullBackOff"), "{error}");
    assert!(
        error.ends_with("rolled back Deployment/web to revision 1 (image nginx:1.26)"),
        "{error}"
    );
    assert_eq!(
        task["output"]["rolled_back"],
        json!([{"kind": "Deployment", "name": "web", "namespace": "default", "revision": 1, "image": "nginx:1.26"}]),
        "the failed task's output says what was rolled back"
    );
    assert_eq!(live_image(&cluster), "nginx:1.26");
}

#[tokio::test]
async fn without_rollback_a_broken_image_fails_early_and_stays() {
    // Arrange
    let (cluster, app) = demo_with_cluster().await;
    let settings = json!({"wait_for_rollout": true, "rollout_timeout_seconds": 120});
    let pipeline = deploy_pipeline(&app, "deploy", settings, Vec::new()).await;
    run_image(&app, &pipeline, "nginx:1.26").await;

    // Act
    let (execution, took) = run_image(&app, &pipeline, "nginx:broken").await;

    // Assert
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(execution["status"], "FAILED", "{execution}");
    let error = execution["stages"][0]["tasks"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.starts_with("deployments/web in default: the rollout failed: pod web-"),
        "{error}"
    );
    assert!(
        error.contains("in ImagePullBackOff") && error.contains("Back-off pulling image"),
        "{error}"
    );
    assert!(!error.contains("rolled back"), "{error}");
    assert_eq!(live_image(&cluster), "nginx:broken");
}

#[tokio::test]
async fn a_dry_run_shows_the_image_diff_changes_nothing_and_feeds_a_condition() {
    // Arrange: nginx:1.26 runs; a dry run of nginx:1.27, then a condition on its diff.
    let (cluster, app) = demo_with_cluster().await;
    let plain = deploy_pipeline(&app, "deploy", json!({}), Vec::new()).await;
    run_image(&app, &plain, "nginx:1.26").await;
    let gate = json!({"name": "gate", "tasks": [{
        "name": "changed", "type": "condition", "expression": "${deploy.web.output.diff.changed} == true",
    }]});
    let preview = deploy_pipeline(&app, "preview", json!({"dry_run": true}), vec![gate]).await;
    cluster.clear_requests();

    // Act
    let (execution, _) = run_image(&app, &preview, "nginx:1.27").await;

    // Assert
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    let task = &execution["stages"][0]["tasks"][0];
    let diff = &task["output"]["diff"];
    assert_eq!(diff["changed"], true);
    assert_eq!(
        diff["summary"],
        "Deployment/web: image nginx:1.26 → nginx:1.27"
    );
    assert_eq!(
        diff["objects"][0]["fields"][0],
        json!({"path": "spec.template.spec.containers[web].image", "before": "nginx:1.26", "after": "nginx:1.27"})
    );
    assert!(
        log_text(task).contains("nginx:1.26 → nginx:1.27"),
        "{}",
        log_text(task)
    );
    assert_eq!(execution["stages"][1]["tasks"][0]["status"], "COMPLETED");
    assert_eq!(
        live_image(&cluster),
        "nginx:1.26",
        "the cluster is unchanged"
    );
    assert!(cluster
        .requests()
        .iter()
        .filter(|request| request.method != "GET")
        .all(|request| request
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("dryRun=All")));

    // The same image again: no change, and the condition fails the run.
    let (same, _) = run_image(&app, &preview, "nginx:1.26").await;
    assert_eq!(
        same["stages"][0]["tasks"][0]["output"]["diff"]["changed"],
        false
    );
    assert_eq!(same["status"], "FAILED");
}

#[tokio::test]
async fn rollback_on_failure_without_waiting_is_refused_naming_the_field() {
    let (_cluster, app) = demo_with_cluster().await;
    let body = json!({"project": "Demo", "name": "bad", "stages": [{"name": "deploy", "tasks": [{
        "name": "web", "type": "kubernetes", "endpoint": "dev", "action": "APPLY",
        "yaml": deployment_yaml("nginx:1"), "rollback_on_failure": true,
    }]}]});

    let response = app
        .post_json("/api/v1/pipelines", &app.admin_token, &body)
        .await;

    assert_eq!(response.status(), 422);
    let answer = response.text().await.unwrap_or_default();
    assert!(
        answer.contains("stages[0].tasks[0].rollback_on_failure"),
        "{answer}"
    );
    assert!(answer.contains("wait_for_rollout"), "{answer}");
}

#[tokio::test]
async fn an_approver_sees_what_the_next_stage_would_change_before_it_changes() {
    // Arrange: nginx:1.26 runs; "release" waits for approval, then APPLYs ${input.IMAGE}.
    let (cluster, app) = demo_with_cluster().await;
    let plain = deploy_pipeline(&app, "deploy", json!({}), Vec::new()).await;
    run_image(&app, &plain, "nginx:1.26").await;
    let release = create_pipeline(
        &app,
        json!({"project": "Demo", "name": "release", "inputs": [{"name": "IMAGE"}], "stages": [
            {"name": "gate", "tasks": [{
                "name": "approve", "type": "approval", "approvers": ["test-admin"],
                "allow_self_approval": true, "summary": "Deploy ${input.IMAGE}?"
            }]},
            {"name": "deploy", "tasks": [{
                "name": "web", "type": "kubernetes", "endpoint": "dev", "action": "APPLY",
                "yaml": deployment_yaml("${input.IMAGE}"),
            }]}
        ]}),
    )
    .await;

    // Act
    let id = run(&app, &release["id"], json!({"IMAGE": "nginx:1.27"})).await;
    let waiting = run_when(&app, id, "to wait for approval", |run| {
        run["status"] == "WAITING"
    })
    .await;
    let image_while_waiting = live_image(&cluster);
    let approved = app
        .post_json(
            &format!("/api/v1/executions/{id}/approve"),
            &app.admin_token,
            &json!({"task": "gate.approve"}),
        )
        .await;
    let execution = finished(&app, id).await;

    // Assert
    let preview = &waiting["stages"][0]["tasks"][0]["approval"]["preview"];
    assert_eq!(preview[0]["task"], "deploy.web", "{waiting}");
    assert_eq!(
        preview[0]["diff"]["summary"],
        "Deployment/web: image nginx:1.26 → nginx:1.27"
    );
    assert_eq!(
        image_while_waiting, "nginx:1.26",
        "a preview changes nothing"
    );
    assert_eq!(approved.status(), 200);
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    assert_eq!(
        execution["stages"][0]["tasks"][0]["output"]["preview"][0]["task"], "deploy.web",
        "the decision keeps what was approved"
    );
    assert_eq!(live_image(&cluster), "nginx:1.27");
}

#[tokio::test]
async fn dev_then_approval_then_prod_with_rollback_notifying_a_webhook_end_to_end() {
    // Arrange: the pipeline. `web-dev` and `web-prod` stand for the two
    // clusters (one stand-in); prod rolls back a failed rollout.
    let target = crate::notifications::webhook_target().await;
    let (cluster, app) = demo_with_cluster_and(crate::notifications::spawn_notifying_app()).await;
    let alice = app.member_token("Demo", "alice", "viewer").await;
    let kubernetes = |name: &str, settings: Value| {
        let mut task = json!({
            "name": name, "type": "kubernetes", "endpoint": "dev", "action": "APPLY",
            "yaml": named_deployment_yaml(name, "${input.IMAGE}"),
        });
        for (key, value) in settings.as_object().into_iter().flatten() {
            task[key] = value.clone();
        }
        task
    };
    let pipeline = create_pipeline(
        &app,
        json!({"project": "Demo", "name": "promote", "inputs": [{"name": "IMAGE"}],
            "stages": [
                {"name": "dev", "tasks": [kubernetes("web-dev", json!({}))]},
                {"name": "gate", "tasks": [{
                    "name": "approve", "type": "approval", "approvers": ["alice"],
                    "summary": "Promote ${input.IMAGE} to production?"
                }]},
                {"name": "prod", "tasks": [kubernetes("web-prod", json!({
                    "wait_for_rollout": true, "rollout_timeout_seconds": 120, "rollback_on_failure": true
                }))]}
            ],
            "notifications": [{"on": ["started", "waiting", "completed", "failed"],
                "webhook": {"url": format!("{}/ok", target.url)}}]
        }),
    )
    .await;
    let promote = |image: &'static str| {
        let (app, pipeline, alice) = (&app, &pipeline, alice.clone());
        async move {
            let id = run(app, &pipeline["id"], json!({"IMAGE": image})).await;
            let waiting = run_when(app, id, "to wait for approval", |run| {
                run["status"] == "WAITING"
            })
            .await;
            let approved = app
                .post_json(
                    &format!("/api/v1/executions/{id}/approve"),
                    &alice,
                    &json!({}),
                )
                .await;
            assert_eq!(approved.status(), 200);
            (id, waiting, finished(app, id).await)
        }
    };

    // Act: a good image is promoted; then a broken one reaches prod and is rolled back.
    let (good_id, good_waiting, good) = promote("nginx:1.26").await;
    let (_, broken_waiting, broken) = promote("nginx:broken").await;

    // Assert
    assert_eq!(good["status"], "COMPLETED", "{good}");
    assert_eq!(
        good_waiting["stages"][1]["tasks"][0]["approval"]["preview"][0]["diff"]["objects"][0]
            ["change"],
        "create",
        "{good_waiting}"
    );
    let image_of = |name: &str| {
        cluster
            .object("apps", "v1", "deployments", Some("default"), name)
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .clone()
    };
    assert_eq!(
        broken_waiting["stages"][1]["tasks"][0]["approval"]["preview"][0]["diff"]["summary"],
        "Deployment/web-prod: image nginx:1.26 → nginx:broken"
    );
    assert_eq!(broken["status"], "FAILED", "{broken}");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.contains("rolled back Deployment/web-prod to revision 1 (image nginx:1.26)"),
        "{error}"
    );
    assert_eq!(
        image_of("web-prod"),
        "nginx:1.26",
        "prod is back on the good image"
    );
    assert_eq!(
        image_of("web-dev"),
        "nginx:broken",
        "dev keeps what it was given"
    );
    let events_of = |id: i64| {
        let mut events: Vec<String> = target
            .received("/ok")
            .iter()
            .filter(|body| body["run"]["id"] == id)
            .map(|body| body["event"].as_str().unwrap_or_default().to_string())
            .collect();
        events.sort();
        events
    };
    crate::helpers::eventually(
        "the notifications to arrive",
        Duration::from_secs(20),
        || async { (events_of(good_id) == ["completed", "started", "waiting"]).then_some(()) },
    )
    .await;
}

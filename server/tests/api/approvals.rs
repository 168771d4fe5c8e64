//! Approval tasks through the API: a run waits WAITING for a person, who
//! approves or rejects it; nobody else may; it expires; it survives a
//! restart; it can be canceled while it waits.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{create_token, finished, run_when, spawn_app, spawn_app_in, TestApp};
use crate::pipelines::create_pipeline;

/// A pipeline "release": stage `gate` waits for `approval` (merged into the
/// approval task), stage `after` reads the decision.
async fn release_pipeline(app: &TestApp, approval: Value) -> Value {
    let mut gate = json!({
        "name": "approve", "type": "approval",
        "summary": "Deploy ${input.TAG} to production?"
    });
    gate.as_object_mut()
        .unwrap()
        .extend(approval.as_object().unwrap().clone());
    create_pipeline(
        app,
        json!({
            "project": "Demo", "name": "release",
            "inputs": [{"name": "TAG", "default": "v7"}],
            "stages": [
                {"name": "gate", "tasks": [gate]},
                {"name": "after", "tasks": [{
                    "name": "approved", "type": "condition",
                    "expression": "'${gate.approve.output.decision}' == 'approved' && '${gate.approve.output.responded_by}' == 'alice'"
                }]}
            ]
        }),
    )
    .await
}

/// Project "Demo" with alice and bob as viewers (tokens answered).
async fn demo_with_people(app: &TestApp) -> (String, String) {
    app.create_project("Demo").await;
    let alice = app.member_token("Demo", "alice", "viewer").await;
    let bob = app.member_token("Demo", "bob", "viewer").await;
    (alice, bob)
}

async fn start(app: &TestApp, token: &str, pipeline: &Value) -> i64 {
    let response = app
        .post_json(
            &format!("/api/v1/pipelines/{}/executions", pipeline["id"]),
            token,
            &json!({}),
        )
        .await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_i64().unwrap()
}

async fn waiting(app: &TestApp, id: i64) -> Value {
    run_when(app, id, "to wait for approval", |run| {
        run["status"] == "WAITING"
    })
    .await
}

async fn decide(app: &TestApp, id: i64, verb: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .post_json(&format!("/api/v1/executions/{id}/{verb}"), token, &body)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn gate_task(run: &Value) -> &Value {
    &run["stages"][0]["tasks"][0]
}

#[tokio::test]
async fn an_approver_approves_a_waiting_run_and_later_tasks_read_the_decision() {
    // Arrange
    let app = spawn_app().await;
    let (alice, bob) = demo_with_people(&app).await;
    let pipeline = release_pipeline(&app, json!({"approvers": ["alice"]})).await;
    let id = start(&app, &app.admin_token, &pipeline).await;

    // Act
    let run = waiting(&app, id).await;
    let as_alice: Value = app
        .get(&format!("/api/v1/executions/{id}"), &alice)
        .await
        .json()
        .await
        .unwrap();
    let list: Value = app
        .get("/api/v1/approvals", &alice)
        .await
        .json()
        .await
        .unwrap();
    let bobs_list: Value = app
        .get("/api/v1/approvals", &bob)
        .await
        .json()
        .await
        .unwrap();
    let by_bob = decide(&app, id, "approve", &bob, json!({"task": "gate.approve"})).await;
    let wrong_task = decide(&app, id, "approve", &alice, json!({"task": "gate.nope"})).await;
    let approved = decide(
        &app,
        id,
        "approve",
        &alice,
        json!({"task": "gate.approve", "comment": "ship it"}),
    )
    .await;
    let run_end = finished(&app, id).await;
    let again = decide(&app, id, "approve", &alice, json!({"task": "gate.approve"})).await;

    // Assert
    let gate = gate_task(&run);
    assert_eq!(gate["status"], "WAITING", "{run}");
    assert_eq!(gate["approval"]["summary"], "Deploy v7 to production?");
    assert_eq!(gate["approval"]["approvers"], json!(["alice"]));
    assert!(gate["approval"]["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(
        gate["approval"]["can_decide"], false,
        "the admin is not an approver"
    );
    assert_eq!(gate_task(&as_alice)["approval"]["can_decide"], true);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["task"], "gate.approve");
    assert_eq!(list[0]["summary"], "Deploy v7 to production?");
    assert_eq!(bobs_list, json!([]));
    assert_eq!(by_bob.0, 403, "{by_bob:?}");
    assert!(
        by_bob.1["message"].as_str().unwrap().contains("only alice"),
        "{by_bob:?}"
    );
    assert_eq!(wrong_task.0, 422, "{wrong_task:?}");
    assert_eq!(approved.0, 200, "{approved:?}");
    assert_eq!(run_end["status"], "COMPLETED", "{run_end}");
    let output = &gate_task(&run_end)["output"];
    assert_eq!(output["decision"], "approved");
    assert_eq!(output["responded_by"], "alice");
    assert_eq!(output["comment"], "ship it");
    assert!(output["responded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(run_end["stages"][1]["tasks"][0]["status"], "COMPLETED");
    assert_eq!(again.0, 409, "{again:?}");
}

#[tokio::test]
async fn a_rejection_fails_the_run_saying_who_and_why() {
    let app = spawn_app().await;
    let (alice, _) = demo_with_people(&app).await;
    let pipeline = release_pipeline(&app, json!({"approver_roles": ["viewer"]})).await;
    let id = start(&app, &app.admin_token, &pipeline).await;
    waiting(&app, id).await;

    // The one waiting approval needs no name.
    let rejected = decide(
        &app,
        id,
        "reject",
        &alice,
        json!({"comment": "not on a Friday"}),
    )
    .await;
    let run = finished(&app, id).await;

    assert_eq!(rejected.0, 200, "{rejected:?}");
    assert_eq!(run["status"], "FAILED");
    assert_eq!(
        run["error"], "gate.approve: rejected by alice: not on a Friday",
        "{run}"
    );
    assert_eq!(gate_task(&run)["output"]["decision"], "rejected");
    assert!(run["stages"][1]["tasks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn whoever_started_a_run_may_not_approve_it_unless_allowed() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let carol = app.member_token("Demo", "carol", "executor").await;
    let strict = release_pipeline(&app, json!({"approvers": ["carol"]})).await;
    let id = start(&app, &carol, &strict).await;
    waiting(&app, id).await;

    let refused = decide(&app, id, "approve", &carol, json!({})).await;

    assert_eq!(refused.0, 403, "{refused:?}");
    assert!(refused.1["message"]
        .as_str()
        .unwrap()
        .contains("you started this run"));
    let still: Value = app
        .get(&format!("/api/v1/executions/{id}"), &carol)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "WAITING", "a refusal changes nothing");
    assert_eq!(gate_task(&still)["approval"]["can_decide"], false);

    let relaxed = app
        .put_json(
            "/api/v1/pipelines/release",
            &app.admin_token,
            &json!({
                "project": "Demo", "name": "release",
                "stages": [{"name": "gate", "tasks": [{
                    "name": "approve", "type": "approval",
                    "approvers": ["carol"], "allow_self_approval": true
                }]}]
            }),
        )
        .await;
    assert_eq!(relaxed.status(), 200);
    // A waiting run counts against the pipeline's concurrency (1): end it first.
    let canceled = app
        .post_json(
            &format!("/api/v1/executions/{id}/cancel"),
            &carol,
            &json!({}),
        )
        .await;
    assert_eq!(canceled.status(), 200);
    let own = start(&app, &carol, &strict).await;
    waiting(&app, own).await;
    let approved = decide(&app, own, "approve", &carol, json!({})).await;
    assert_eq!(approved.0, 200, "{approved:?}");
    assert_eq!(finished(&app, own).await["status"], "COMPLETED");
}

#[tokio::test]
async fn an_approval_nobody_decides_expires_and_stops_the_run() {
    let app = spawn_app().await;
    demo_with_people(&app).await;
    let pipeline = release_pipeline(
        &app,
        json!({"approvers": ["alice"], "expires_after_seconds": 1}),
    )
    .await;
    let started = Instant::now();

    let id = start(&app, &app.admin_token, &pipeline).await;
    let run = finished(&app, id).await;

    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["error"], "gate.approve: approval expired", "{run}");
    assert_eq!(gate_task(&run)["output"]["decision"], "expired");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_waiting_run_survives_a_restart_and_is_approved_after_it() {
    // Arrange
    let app = spawn_app().await;
    let (alice, _) = demo_with_people(&app).await;
    let pipeline = release_pipeline(&app, json!({"approvers": ["alice"]})).await;
    let id = start(&app, &app.admin_token, &pipeline).await;
    waiting(&app, id).await;

    // Act
    let data_dir = app.stop().await;
    let app = spawn_app_in(data_dir).await;
    let after_restart = waiting(&app, id).await;
    let approved = decide(&app, id, "approve", &alice, json!({"task": "gate.approve"})).await;
    let run = finished(&app, id).await;

    // Assert
    assert_eq!(gate_task(&after_restart)["status"], "WAITING");
    assert_eq!(approved.0, 200, "{approved:?}");
    assert_eq!(run["status"], "COMPLETED", "{run}");
}

#[tokio::test]
async fn a_waiting_run_is_canceled_at_once_and_can_no_longer_be_approved() {
    let app = spawn_app().await;
    let (alice, _) = demo_with_people(&app).await;
    let pipeline = release_pipeline(&app, json!({"approvers": ["alice"]})).await;
    let id = start(&app, &app.admin_token, &pipeline).await;
    waiting(&app, id).await;

    let canceled = app
        .post_json(
            &format!("/api/v1/executions/{id}/cancel"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    let canceled_status = canceled.status();
    let answer: Value = canceled.json().await.unwrap();
    let late = decide(&app, id, "approve", &alice, json!({})).await;
    let run = finished(&app, id).await;

    assert_eq!(canceled_status, 200);
    assert_eq!(answer["status"], "CANCELED", "{answer}");
    assert_eq!(late.0, 409, "{late:?}");
    assert_eq!(gate_task(&run)["status"], "CANCELED");
}

#[tokio::test]
async fn approval_tasks_that_name_nobody_or_nobody_known_are_refused() {
    let app = spawn_app().await;
    app.create_project("Demo").await;
    create_token(&app.store, "alice", false).await;
    let cases = [
        (json!({}), "stages[0].tasks[0].approvers"),
        (
            json!({"approvers": ["mallory"]}),
            "stages[0].tasks[0].approvers[0]",
        ),
        (
            json!({"approvers": ["alice"], "expires_after_seconds": 0}),
            "stages[0].tasks[0].expires_after_seconds",
        ),
        (
            json!({"approver_roles": ["boss"]}),
            "stages[0].tasks[0].approver_roles[0]",
        ),
    ];
    for (approval, field) in cases {
        let mut task = json!({"name": "approve", "type": "approval"});
        task.as_object_mut()
            .unwrap()
            .extend(approval.as_object().unwrap().clone());
        let response = app
            .post_json(
                "/api/v1/pipelines",
                &app.admin_token,
                &json!({"project": "Demo", "name": "release", "stages": [{"name": "gate", "tasks": [task]}]}),
            )
            .await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{approval}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
}

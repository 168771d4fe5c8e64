//! Stored data that no longer reads (edited by hand, a bad restore, an old
//! bug) stops deliveries and views with the one internal error: it is never
//! taken for a default, and what was wrong stays in the server log.

use serde_json::{json, Value};

use crate::helpers::{database, Database, TestApp};
use crate::webhooks::{seed_with, Seed};

const INTERNAL_REASON: &str =
    "the run could not be started: internal error (the server log has the details)";

async fn set_column(database: &Database, table: &str, column: &str, id: i64, value: &str) {
    let statement = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
    let changed = database.set_text(&statement, value, id).await;
    assert_eq!(changed, 1, "{table} {id}");
}

/// Delivers the Docker Hub fixture to the webhook: the status and the answer.
async fn push(app: &TestApp, webhook: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(webhook["hook_url"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .body(include_str!("../fixtures/docker-hub-push.json"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The webhook's Activity rows (not through the webhook's own route: that
/// shows the webhook, which may be what does not read).
async fn activity(app: &TestApp, webhook_id: i64) -> Vec<Value> {
    app.get(
        &format!("/api/v1/activity?webhook={webhook_id}"),
        &app.admin_token,
    )
    .await
    .json()
    .await
    .unwrap()
}

fn assert_internal(status: u16, answer: &Value, case: &str) {
    assert_eq!(status, 500, "{case}: {answer}");
    assert_eq!(answer["error"], "internal", "{case}: {answer}");
    assert_eq!(
        answer["message"], "internal error: the server log has the details",
        "{case}: no detail in the answer"
    );
}

#[tokio::test]
async fn webhooks_with_an_unreadable_stored_allow_list_refuse_deliveries() {
    let Seed { app, webhook, .. } = seed_reading_webhooks_each_time().await;
    let id = webhook["id"].as_i64().unwrap();
    let database = database(&app).await;

    // Each of these used to let the push in (127.0.0.1 sends it): the list
    // read as empty, or the entry that did not parse was skipped.
    for (stored, case) in [
        ("not json", "not JSON"),
        ("{}", "not an array"),
        (
            r#"["127.0.0.0/8", "10.0.0.0/99"]"#,
            "an entry that no longer parses",
        ),
        (
            r#"["127.0.0.0/8", "nonsense"]"#,
            "an entry that is no address",
        ),
        (r#"["127.0.0.0/8", 7]"#, "an entry that is no string"),
    ] {
        set_column(&database, "docker_webhooks", "source_cidrs", id, stored).await;
        let (status, answer) = push(&app, &webhook).await;
        assert_internal(status, &answer, case);
    }
    assert!(activity(&app, id).await.is_empty(), "nothing recorded");

    // The webhook's view is an internal error too, not a webhook shown
    // without its allow-list.
    set_column(&database, "docker_webhooks", "source_cidrs", id, "not json").await;
    let view = app
        .get(&format!("/api/v1/webhooks/docker/{id}"), &app.admin_token)
        .await;
    assert_eq!(view.status(), 500);

    // A list that reads is enforced as before.
    set_column(
        &database,
        "docker_webhooks",
        "source_cidrs",
        id,
        r#"["10.0.0.0/8"]"#,
    )
    .await;
    let (status, answer) = push(&app, &webhook).await;
    assert_eq!(status, 403, "{answer}");
    let rows = activity(&app, id).await;
    let statuses: Vec<&Value> = rows.iter().map(|row| &row["status"]).collect();
    assert_eq!(statuses, [&json!("REJECTED")], "no push got through");
}

#[tokio::test]
async fn webhooks_with_unreadable_stored_inputs_refuse_deliveries() {
    let Seed { app, webhook, .. } = seed_reading_webhooks_each_time().await;
    let id = webhook["id"].as_i64().unwrap();
    let database = database(&app).await;
    set_column(&database, "docker_webhooks", "inputs", id, "not json").await;

    let (status, answer) = push(&app, &webhook).await;
    assert_internal(status, &answer, "inputs not JSON");
    assert!(
        activity(&app, id).await.is_empty(),
        "no run without its inputs"
    );
    let view = app
        .get(&format!("/api/v1/webhooks/docker/{id}"), &app.admin_token)
        .await;
    assert_eq!(view.status(), 500, "not a webhook without inputs");
}

#[tokio::test]
async fn webhooks_whose_run_fails_to_start_inside_say_so_without_detail() {
    let Seed { app, webhook, .. } = seed_reading_webhooks_each_time().await;
    let id = webhook["id"].as_i64().unwrap();
    let pipeline_id = webhook["pipeline_id"].as_i64().unwrap();
    let database = database(&app).await;
    let spec = database
        .text("SELECT spec FROM pipelines WHERE id = $1", pipeline_id)
        .await;
    set_column(&database, "pipelines", "spec", pipeline_id, "not json").await;

    let (status, answer) = push(&app, &webhook).await;
    assert_internal(status, &answer, "pipeline spec not JSON");
    let rows = activity(&app, id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "REJECTED");
    assert_eq!(rows[0]["reason"], INTERNAL_REASON, "no database text");

    // The registry's retry is not a DUPLICATE of a run that never started.
    set_column(&database, "pipelines", "spec", pipeline_id, &spec).await;
    let (status, answer) = push(&app, &webhook).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "TRIGGERED", "{answer}");
}

#[tokio::test]
async fn webhooks_and_pipelines_naming_an_unreadable_endpoint_fail_inside_not_on_the_field() {
    let Seed { app, webhook, .. } = seed_reading_webhooks_each_time().await;
    let database = database(&app).await;
    let cluster_id = database
        .number("SELECT id FROM endpoints WHERE name = 'dev'")
        .await;
    let pipeline = |endpoint: &str| {
        json!({
            "project": "Demo", "name": "other",
            "stages": [{"name": "deploy", "tasks": [{"name": "web", "type": "kubernetes", "endpoint": endpoint, "action": "APPLY", "yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"}]}]
        })
    };

    // An endpoint that does not exist is the field's problem…
    let missing = app
        .post_json("/api/v1/pipelines", &app.admin_token, &pipeline("nope"))
        .await;
    assert_eq!(missing.status(), 422);
    let answer: Value = missing.json().await.unwrap();
    assert_eq!(answer["field"], "stages[0].tasks[0].endpoint", "{answer}");

    // …one whose stored settings do not read is the server's.
    set_column(&database, "endpoints", "settings", cluster_id, "not json").await;
    let broken = app
        .post_json("/api/v1/pipelines", &app.admin_token, &pipeline("dev"))
        .await;
    let status = broken.status().as_u16();
    assert_internal(status, &broken.json().await.unwrap(), "endpoint settings");

    let registry_id = webhook["endpoint_id"].as_i64().unwrap();
    set_column(&database, "endpoints", "settings", registry_id, "not json").await;
    let id = webhook["id"].as_i64().unwrap();
    let edit = app
        .put_json(
            &format!("/api/v1/webhooks/docker/{id}"),
            &app.admin_token,
            &json!({"name": "demo_webhook", "endpoint": "hub", "pipeline": "deploy-testhook", "image": "svendowideit/testhook"}),
        )
        .await;
    let status = edit.status().as_u16();
    assert_internal(status, &edit.json().await.unwrap(), "registry settings");
}

/// A Docker Hub webhook seed whose server reads the webhook for every
/// delivery: these tests change its row past the server, which a server
/// would otherwise see only once its read of the webhook is no longer fresh
/// (`--webhook-cache-ms`).
async fn seed_reading_webhooks_each_time() -> Seed {
    seed_with("docker-hub", "svendowideit/testhook", |args| {
        args.replica.webhook_cache_ms = 0;
    })
    .await
}

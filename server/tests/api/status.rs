//! `GET /api/v1/status`: the status page's numbers, for global admins only.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{create_token, eventually, spawn_app_with};

#[tokio::test]
async fn a_global_admin_reads_replicas_database_queue_and_retention() {
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.replica.replica_id = Some("replica-under-test".into());
    })
    .await;
    // The first heartbeat is written as the server starts serving.
    let status: Value = eventually("the first heartbeat", Duration::from_secs(10), || async {
        let answer = app.get("/api/v1/status", &app.admin_token).await;
        assert_eq!(answer.status(), 200);
        let status: Value = answer.json().await.unwrap();
        (!status["replicas"].as_array().unwrap().is_empty()).then_some(status)
    })
    .await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["replica_id"], "replica-under-test");
    let replicas = status["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{status}");
    assert_eq!(replicas[0]["replica_id"], "replica-under-test");
    assert!(replicas[0]["last_seen_at"].as_i64().unwrap() <= status["now"].as_i64().unwrap());
    let backend = if crate::helpers::on_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    assert_eq!(status["database_backend"], backend);
    assert!(status["database_size_bytes"].as_i64().unwrap() > 0);
    assert_eq!(
        [
            &status["runs_queued"],
            &status["runs_running"],
            &status["runs_waiting"],
            &status["outbox_pending"],
            &status["outbox_failed"],
        ],
        [&json!(0), &json!(0), &json!(0), &json!(0), &json!(0)]
    );
    assert_eq!(status["oldest_queued_at"], Value::Null);
    assert_eq!(status["keep_days"], 90);
}

#[tokio::test]
async fn anyone_but_a_global_admin_is_refused() {
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}).await;
    let member = create_token(&app.store, "just-a-member", false).await;
    let answer = app.get("/api/v1/status", &member).await;
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(
        body["message"].as_str().unwrap().contains("global admin"),
        "{body}"
    );
    assert_eq!(app.get("/api/v1/status", "not-a-token").await.status(), 401);
}

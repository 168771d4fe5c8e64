//! A server killed or stopped in the middle of a run loses nothing: the run
//! is continued (after a restart, or by another replica) from the task that
//! was cut off, and ends as it would have — never RUNNING forever, never
//! failed for the interruption.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{eventually, http_client};
use crate::processes::{admin_token, start_server, Peer};

/// A project, a pipeline "two-steps" (a REST call to `/first`, then a poll
/// of `/ready` until it says so) and a run of it, waited for until its poll
/// runs; answers the run's id.
async fn run_until_it_polls(address: &str, token: &str, peer: &str) -> i64 {
    let client = http_client();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{address}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    assert_eq!(
        post("/api/v1/projects", json!({"name": "Demo"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let pipeline = json!({
        "project": "Demo", "name": "two-steps",
        "stages": [
            {"name": "first", "tasks": [{"name": "call", "type": "rest", "url": format!("{peer}/first")}]},
            {"name": "then", "tasks": [{"name": "poll", "type": "poll", "url": format!("{peer}/ready"), "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 600}]}
        ]
    });
    assert_eq!(
        post("/api/v1/pipelines", pipeline).await.unwrap().status(),
        201
    );
    let queued: Value = post(
        "/api/v1/pipelines/two-steps/executions?project=Demo",
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = queued["id"].as_i64().expect("a run id");
    run_when(address, token, id, "to poll", |execution| {
        execution["stages"][1]["tasks"][0]["status"] == "RUNNING"
    })
    .await;
    id
}

pub(crate) async fn execution(address: &str, token: &str, id: i64) -> Value {
    http_client()
        .get(format!("{address}/api/v1/executions/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn run_when(
    address: &str,
    token: &str,
    id: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(
        &format!("run {id} {what}"),
        Duration::from_secs(20),
        || async {
            let execution = execution(address, token, id).await;
            done(&execution).then_some(execution)
        },
    )
    .await
}

/// The log lines of the first task of the run's stage `stage`.
async fn task_log(address: &str, token: &str, id: i64, stage: usize) -> Vec<String> {
    let execution = execution(address, token, id).await;
    execution["stages"][stage]["tasks"][0]["log"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|line| line["line"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_run_cut_off_by_kill_9_is_continued_after_restart_and_completes() {
    // Arrange: a run past its first task, polling in its second.
    let data_dir = tempfile::tempdir().unwrap();
    let token = admin_token(data_dir.path()).await;
    let peer = Peer::default();
    let peer_url = peer.start().await;
    let mut server = start_server(data_dir.path(), &[]).await;
    let id = run_until_it_polls(&server.address, &token, &peer_url).await;

    // The run says which replica runs it (the default name: host name and PID).
    let running = execution(&server.address, &token, id).await;
    let replica = running["replica"].as_str().unwrap_or_default().to_string();
    assert!(
        replica.ends_with(&format!("-{}", server.child.id())),
        "{running}"
    );

    // Act: kill -9, then start again on the same data.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    peer.make_ready();
    let restarted = start_server(data_dir.path(), &["--replica-id", "after-restart"]).await;

    // Assert: continued from the poll; the first task ran once.
    let ended = run_when(&restarted.address, &token, id, "to end", |execution| {
        execution["finished_at"].is_i64()
    })
    .await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(
        ended["replica"],
        Value::Null,
        "a finished run is on no replica"
    );
    assert_eq!(peer.calls("first"), 1);
    let log = task_log(&restarted.address, &token, id, 1).await;
    assert!(
        log.iter()
            .any(|line| line.starts_with("taken over from replica ")),
        "{log:?}"
    );
}

#[tokio::test]
async fn sigterm_drains_then_hands_the_run_back_to_be_continued() {
    // Arrange
    let data_dir = tempfile::tempdir().unwrap();
    let token = admin_token(data_dir.path()).await;
    let peer = Peer::default();
    let peer_url = peer.start().await;
    let mut server = start_server(data_dir.path(), &["--shutdown-grace-seconds", "2"]).await;
    let id = run_until_it_polls(&server.address, &token, &peer_url).await;
    let readyz = format!("{}/readyz", server.address);
    assert_eq!(
        http_client().get(&readyz).send().await.unwrap().status(),
        200
    );

    // Act: SIGTERM; while the grace period lasts the replica says it is not ready.
    let terminated = Instant::now();
    let signal = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signal.success());
    let draining = eventually("/readyz to answer 503", Duration::from_secs(2), || async {
        let answer = http_client().get(&readyz).send().await.ok()?;
        (answer.status() == 503).then_some(answer)
    })
    .await;
    let body: Value = draining.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let stopped_after = terminated.elapsed();
    assert!(stopped_after >= Duration::from_secs(2), "{stopped_after:?}");

    // Assert: the next server continues the run at once, not after the lease.
    peer.make_ready();
    let next = start_server(data_dir.path(), &[]).await;
    let started = Instant::now();
    let ended = run_when(&next.address, &token, id, "to end", |execution| {
        execution["finished_at"].is_i64()
    })
    .await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(peer.calls("first"), 1);
}

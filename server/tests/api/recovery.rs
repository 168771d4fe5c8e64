//! A server killed in the middle of a run loses nothing: after a restart the
//! run is FAILED with the reason, never RUNNING forever.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, http_client};

struct Server {
    child: Child,
    address: String,
}

/// Starts the real `slipway` binary and reads the address it prints.
fn start_server(data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slipway starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .expect("slipway prints its address");
    let address = first_line
        .trim()
        .rsplit(' ')
        .next()
        .expect("an address on the line")
        .to_string();
    Server { child, address }
}

#[tokio::test]
async fn a_run_cut_off_by_kill_9_ends_failed_after_restart() {
    // Arrange: a token, a server, a pipeline whose task waits forever.
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "token",
            "create",
            "--user",
            "ops",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data_dir.path())
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let peer = {
        let router = axum::Router::new().route(
            "/never",
            axum::routing::get(|| async { axum::Json(json!({"ready": false})) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    };
    let mut server = start_server(data_dir.path());
    let client = http_client();
    let post = |url: String, body: Value| client.post(url).bearer_auth(&token).json(&body).send();
    assert_eq!(
        post(
            format!("{}/api/v1/projects", server.address),
            json!({"name": "Demo"})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let pipeline = json!({
        "project": "Demo", "name": "forever",
        "stages": [{"name": "s", "tasks": [{"name": "poll", "type": "poll", "url": format!("{peer}/never"), "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 600}]}]
    });
    assert_eq!(
        post(format!("{}/api/v1/pipelines", server.address), pipeline)
            .await
            .unwrap()
            .status(),
        201
    );
    let queued: Value = post(
        format!(
            "{}/api/v1/pipelines/forever/executions?project=Demo",
            server.address
        ),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = queued["id"].as_i64().unwrap();
    let execution_url = |address: &str| format!("{address}/api/v1/executions/{id}");
    let url = execution_url(&server.address);
    eventually("the run to start", Duration::from_secs(10), || async {
        let execution: Value = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (execution["status"] == "RUNNING"
            && execution["stages"][0]["tasks"][0]["status"] == "RUNNING")
            .then_some(())
    })
    .await;

    // Act: kill -9, then start again on the same data.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut restarted = start_server(data_dir.path());

    // Assert
    let execution: Value = client
        .get(execution_url(&restarted.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(execution["status"], "FAILED", "{execution}");
    assert_eq!(execution["error"], "interrupted by server restart");
    assert_eq!(execution["stages"][0]["tasks"][0]["status"], "FAILED");
    assert!(execution["finished_at"].is_i64());
    restarted.child.kill().unwrap();
    let _ = restarted.child.wait();
}

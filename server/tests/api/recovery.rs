//! A server killed or stopped in the middle of a run loses nothing: the run
//! is continued (after a restart, or by another replica) from the task that
//! was cut off, and ends as it would have — never RUNNING forever, never
//! failed for the interruption.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use serde_json::{json, Value};

use crate::helpers::{eventually, http_client, postgres_database_of};

/// The lease of these servers: short, so a run of a killed PostgreSQL
/// replica is taken over within seconds.
const LEASE_SECONDS: &str = "3";

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The storage flags of a data directory's server: its PostgreSQL database
/// on the PostgreSQL pass, else the SQLite file in it.
async fn storage_args(data_dir: &Path) -> Vec<String> {
    let mut args = vec!["--data-dir".to_string(), data_dir.display().to_string()];
    if let Some(url) = postgres_database_of(data_dir).await {
        args.extend(["--database-url".to_string(), url]);
    }
    args
}

/// Starts the real `slipway` binary and reads the address it prints.
async fn start_server(data_dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--run-lease-seconds",
            LEASE_SECONDS,
        ])
        .args(storage_args(data_dir).await)
        .args(extra)
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

async fn admin_token(data_dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["token", "create", "--user", "ops", "--role", "admin"])
        .args(storage_args(data_dir).await)
        .output()
        .expect("token create runs");
    String::from_utf8(output.stdout)
        .expect("the token is text")
        .lines()
        .last()
        .expect("a token")
        .to_string()
}

/// A peer that counts the calls of each path; `/ready` answers
/// `{"ready": false}` until [`Peer::make_ready`].
#[derive(Clone, Default)]
struct Peer {
    calls: Arc<Mutex<HashMap<String, usize>>>,
    ready: Arc<AtomicBool>,
}

impl Peer {
    async fn start(&self) -> String {
        let router = axum::Router::new()
            .route("/{name}", axum::routing::get(peer_answer))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    fn calls(&self, name: &str) -> usize {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    fn make_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }
}

async fn peer_answer(
    State(peer): State<Peer>,
    UrlPath(name): UrlPath<String>,
) -> axum::Json<Value> {
    *peer.calls.lock().unwrap().entry(name).or_default() += 1;
    axum::Json(json!({"ready": peer.ready.load(Ordering::SeqCst)}))
}

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

async fn execution(address: &str, token: &str, id: i64) -> Value {
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

async fn run_when(
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

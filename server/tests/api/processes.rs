//! Slipway as separate processes (the real `slipway` binary, to be killed
//! or stopped) and a peer their tasks call.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use serde_json::{json, Value};

use crate::helpers::postgres_database_of;

/// The lease of these servers: short, so a run of a killed PostgreSQL
/// replica is taken over within seconds.
pub const LEASE_SECONDS: &str = "3";

pub struct Server {
    pub child: Child,
    pub address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The storage flags of a data directory's server: its PostgreSQL database
/// on the PostgreSQL pass, else the SQLite file in it.
pub async fn storage_args(data_dir: &Path) -> Vec<String> {
    let mut args = vec!["--data-dir".to_string(), data_dir.display().to_string()];
    if let Some(url) = postgres_database_of(data_dir).await {
        args.extend(["--database-url".to_string(), url]);
    }
    args
}

/// Starts the real `slipway` binary and reads the address it prints.
pub async fn start_server(data_dir: &Path, extra: &[&str]) -> Server {
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

pub async fn admin_token(data_dir: &Path) -> String {
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

/// One call the peer received.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub came: Instant,
    pub answered: Option<Instant>,
}

/// How long the peer's `/slow/{name}` takes to answer.
pub const SLOW_ANSWER: Duration = Duration::from_secs(1);

/// A peer that notes each call's path, when it came and when it was
/// answered (never, for a call cut off by its caller's death); `/ready`
/// answers `{"ready": false}` until [`Peer::make_ready`], `/slow/{name}`
/// answers after [`SLOW_ANSWER`].
#[derive(Clone, Default)]
pub struct Peer {
    calls: Arc<Mutex<HashMap<String, Vec<Call>>>>,
    ready: Arc<AtomicBool>,
}

impl Peer {
    pub async fn start(&self) -> String {
        let router = axum::Router::new()
            .route("/{name}", axum::routing::get(answer))
            .route("/slow/{name}", axum::routing::get(answer_slowly))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    /// How many times `path` (e.g. `first`, `slow/7`) was called.
    pub fn calls(&self, path: &str) -> usize {
        self.calls.lock().unwrap().get(path).map_or(0, Vec::len)
    }

    /// When each call of `path` came and when its answer was written.
    pub fn call_times(&self, path: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    pub fn make_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Notes a call as it comes; answers its place, for [`Peer::answered`].
    fn came(&self, path: String) -> (String, usize) {
        let mut calls = self.calls.lock().unwrap();
        let of_path = calls.entry(path.clone()).or_default();
        of_path.push(Call {
            came: Instant::now(),
            answered: None,
        });
        (path, of_path.len() - 1)
    }

    fn answered(&self, (path, index): (String, usize)) {
        if let Some(call) = self
            .calls
            .lock()
            .unwrap()
            .get_mut(&path)
            .and_then(|calls| calls.get_mut(index))
        {
            call.answered = Some(Instant::now());
        }
    }
}

async fn answer(State(peer): State<Peer>, UrlPath(name): UrlPath<String>) -> axum::Json<Value> {
    let call = peer.came(name);
    peer.answered(call);
    axum::Json(json!({"ready": peer.ready.load(Ordering::SeqCst)}))
}

async fn answer_slowly(
    State(peer): State<Peer>,
    UrlPath(name): UrlPath<String>,
) -> axum::Json<Value> {
    let call = peer.came(format!("slow/{name}"));
    tokio::time::sleep(SLOW_ANSWER).await;
    peer.answered(call);
    axum::Json(json!({"answered": name}))
}

//! Memory of the real `slipway` process: idle, and with 1,000 runs queued.
//!
//! `cargo bench -p server --bench rss` (QUEUED=1000, SETTLE_MS=2000). Starts the
//! `slipway` binary cargo built for this bench (the `bench` profile, which is
//! `release`; `SLIPWAY_BIN=target/release/slipway` measures another build) with
//! a fresh `--data-dir` on `127.0.0.1:0`, and reads `VmRSS` (now) and `VmHWM`
//! (peak) from `/proc/PID/status`:
//! 1. idle, once startup settled;
//! 2. with QUEUED runs waiting: a pipeline with concurrency 1 whose REST task
//!    hangs on a local peer holds one run RUNNING, and the rest stay QUEUED.

mod support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use support::ServerProcess;

fn print_memory(label: &str, (rss, hwm): (f64, f64)) {
    println!("  {label:<44} VmRSS {rss:>6.1} MiB   VmHWM {hwm:>6.1} MiB");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::install_crypto_provider();
    let queued = support::env_number("QUEUED", 1000);
    let settle = Duration::from_millis(support::env_number("SETTLE_MS", 2000) as u64);
    let binary = support::slipway_binary();
    let data_dir = tempfile::tempdir()?;
    let data_arg = data_dir.path().to_string_lossy().to_string();

    let server = ServerProcess::start(&data_arg, &[]).await?;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    tokio::time::sleep(settle).await;
    println!("rss: {binary}");
    print_memory("idle, startup settled", server.memory());

    // An API token from the CLI, as an operator would make one.
    let output = support::slipway_command(
        &[
            "token",
            "create",
            "--user",
            "bench",
            "--role",
            "admin",
            "--data-dir",
            &data_arg,
        ],
        "",
    )?;
    let token = output.lines().last().unwrap_or_default().trim().to_string();

    // A peer that never answers within the run: the one RUNNING run waits on it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hang_url = format!("http://{}/hang", listener.local_addr()?);
    let peer = axum::Router::new().route(
        "/hang",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "late"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, peer).await });

    let post = |path: String, body: Value| {
        support::send_post(&client, format!("{base}{path}"), &token, &body)
    };
    post("/api/v1/projects".into(), json!({"name": "Bench"}))
        .await?
        .error_for_status()?;
    let pipeline: Value = post("/api/v1/pipelines".into(), json!({"project": "Bench", "name": "one-at-a-time", "concurrency": 1,
        "inputs": [{"name": "NOTE", "default": "queued by the rss bench"}],
        "stages": [{"name": "wait", "tasks": [{"name": "hang", "type": "rest", "url": hang_url}]}]}))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let run_path = format!("/api/v1/pipelines/{}/executions", pipeline["id"]);
    let answers: Vec<_> = futures::stream::iter(0..queued)
        .map(|_| post(run_path.clone(), json!({})))
        .buffer_unordered(16)
        .collect()
        .await;
    for answer in answers {
        answer?.error_for_status()?;
    }
    print_memory(
        &format!("{queued} runs queued (just after)"),
        server.memory(),
    );
    tokio::time::sleep(settle).await;
    let listed: Vec<Value> = client
        .get(format!("{base}/api/v1/executions?status=QUEUED&limit=200"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    print_memory(&format!("{queued} runs queued (settled)"), server.memory());
    anyhow::ensure!(
        listed.len() == 200.min(queued - 1),
        "expected the runs to wait QUEUED, {} listed",
        listed.len()
    );
    Ok(())
}

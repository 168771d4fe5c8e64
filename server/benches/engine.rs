//! Engine overhead: N runs of a pipeline whose one task is a Condition that
//! always passes, queued at once through the API (spread over the replicas),
//! on SQLite or PostgreSQL with one or more replicas.
//!
//! `cargo bench -p server --bench engine` (RUNS=1000, LIMIT=8 by default;
//! BACKEND=postgres REPLICAS=3 for three replicas on a PostgreSQL database of
//! the cluster `SLIPWAY_TEST_POSTGRES_URL` names).
//! Prints runs/s, the p50/p99 time from QUEUED to the first task starting,
//! the most runs seen RUNNING at once (must not exceed LIMIT) and peak RSS.
//!
//! BACKLOG=N queues N runs of another pipeline first, one at a time through
//! its limit of 1 while its one run waits for an approval: they stay QUEUED
//! throughout, as a burst of pushes to a pipeline behind its limit would, and
//! every claim has to pass them by.

mod support;

use std::time::{Duration, Instant};

use app::execution::ExecutionStatus;
use futures::StreamExt;
use serde_json::json;
use server::store::ExecutionQuery;
use support::{env_number, peak_rss_mib, percentile, Bench};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = env_number("RUNS", 1000);
    let limit = env_number("LIMIT", 8);
    let replicas = Bench::start_replicas().await?;
    let bench = &replicas[0];
    let (base, store, token) = (&bench.base, &bench.store, &bench.token);
    let client = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        support::send_post(&client, format!("{base}{path}"), token, &body)
    };
    // Runs are queued on every replica in turn, each with its own token.
    let post_to = |replica: &Bench, path: String| {
        support::send_post(&client, replica.url(&path), &replica.token, &json!({}))
    };
    post("/api/v1/projects".into(), json!({"name": "Bench"}))
        .await?
        .error_for_status()?;
    let pipeline: serde_json::Value = post(
        "/api/v1/pipelines".into(),
        json!({"project": "Bench", "name": "pass", "concurrency": limit,
               "stages": [{"name": "check", "tasks": [{"name": "pass", "type": "condition", "expression": "true"}]}]}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let run_path = format!("/api/v1/pipelines/{}/executions", pipeline["id"]);
    let backlog = env_number("BACKLOG", 0);
    if backlog > 0 {
        let held: serde_json::Value = post(
            "/api/v1/pipelines".into(),
            json!({"project": "Bench", "name": "held", "concurrency": 1,
                   "stages": [{"name": "gate", "tasks": [{"name": "approve", "type": "approval", "approvers": ["admin"]}]}]}),
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
        let held_path = format!("/api/v1/pipelines/{}/executions", held["id"]);
        let queued: Vec<_> = futures::stream::iter(0..backlog)
            .map(|_| post(held_path.clone(), json!({})))
            .buffer_unordered(32)
            .collect()
            .await;
        for answer in queued {
            answer?.error_for_status()?;
        }
    }

    // The most runs RUNNING at once, as the database holds them: sampled, so
    // no replica's clock (a claim's start time is taken before it waits for
    // the pipeline's lock) makes runs seem to overlap.
    let (stop_sampling, mut sampling_stopped) = tokio::sync::watch::channel(false);
    let sampler = {
        let store = store.clone();
        let running = ExecutionQuery {
            status: Some(ExecutionStatus::Running),
            limit: runs as i64 + 10,
            ..ExecutionQuery::default()
        };
        tokio::spawn(async move {
            let mut most = 0;
            while !*sampling_stopped.borrow_and_update() {
                if let Ok(now_running) = store.list_executions(&running).await {
                    most = most.max(now_running.len());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        })
    };
    let started = Instant::now();
    let queued = futures::future::join_all(
        (0..runs).map(|run| post_to(&replicas[run % replicas.len()], run_path.clone())),
    )
    .await;
    let queue_time = started.elapsed();
    for answer in queued {
        answer?.error_for_status()?;
    }
    // Polled by asking for one unfinished run of each kind, not by listing
    // all of them: decoding a thousand runs every few milliseconds would load
    // the cores the engine is measured on.
    let pipeline_id = pipeline["id"].as_i64();
    let unfinished = |status| ExecutionQuery {
        pipeline_id,
        status: Some(status),
        limit: 1,
        ..ExecutionQuery::default()
    };
    loop {
        let mut left = 0;
        for status in [ExecutionStatus::Queued, ExecutionStatus::Running] {
            left += store.list_executions(&unfinished(status)).await?.len();
        }
        if left == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "runs did not complete in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let executions = store
        .list_executions(&ExecutionQuery {
            pipeline_id,
            limit: runs as i64 + 10,
            ..ExecutionQuery::default()
        })
        .await?;
    anyhow::ensure!(
        executions.len() == runs
            && executions
                .iter()
                .all(|execution| execution.status == ExecutionStatus::Completed),
        "not every run ended COMPLETED"
    );

    let mut waits = Vec::with_capacity(runs);
    for execution in &executions {
        let tasks = store.task_runs(execution.id).await?;
        let first_task = tasks
            .iter()
            .filter_map(|task| task.started_at)
            .min()
            .unwrap_or_default();
        waits.push(first_task - execution.created_at);
    }
    waits.sort_unstable();
    let _ = stop_sampling.send(true);
    let most_at_once = sampler.await?;

    println!(
        "engine: {runs} runs, concurrency limit {limit}, {}, {} replica(s), {backlog} runs queued behind another pipeline's limit",
        support::backend(),
        replicas.len()
    );
    println!(
        "  queued through the API in {:.2} s",
        queue_time.as_secs_f64()
    );
    println!(
        "  all COMPLETED after {:.2} s: {:.0} runs/s",
        elapsed.as_secs_f64(),
        runs as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  QUEUED -> first task started: p50 {} ms, p99 {} ms, max {} ms",
        percentile(&waits, 0.5),
        percentile(&waits, 0.99),
        waits[waits.len() - 1]
    );
    println!("  most runs RUNNING at once (sampled every 2 ms): {most_at_once} (limit {limit})");
    println!(
        "  peak RSS of the process (server + this client): {:.1} MiB",
        peak_rss_mib()
    );
    anyhow::ensure!(most_at_once <= limit, "the concurrency limit was exceeded");
    Ok(())
}

//! Database size under a steady stream of pushes, with retention and without.
//!
//! `cargo bench -p server --bench retention` (PUSHES=10000, KEEP=1000,
//! SAMPLE=1000, PRUNE_EVERY=100, LOG_LINES=20). Writes through the store, on
//! SQLite, what a triggering push leaves behind: an Activity row holding a
//! dedupe key and heading its tag, a run linked to it, one task with
//! LOG_LINES log lines, the run finished COMPLETED. Time is simulated: one
//! push per second, so a retention of KEEP seconds keeps the last KEEP
//! pushes' runs. Every PRUNE_EVERY pushes a retention pass runs (the same
//! `Pruner` the server runs hourly); the file size (database + WAL) is
//! sampled every SAMPLE pushes. The same stream runs twice on fresh
//! databases: pruning on (keep KEEP s), and off (`--keep-days 0`, where only
//! dedupe keys past their window go).

mod support;

#[allow(dead_code)]
#[path = "../tests/store/support.rs"]
mod fixtures;

use std::path::Path;
use std::time::{Duration, Instant};

use app::execution::{ExecutionStatus, TaskStatus};
use server::retention::{Pruner, RetentionPolicy, ROWS_PER_BATCH, RUNS_PER_BATCH};
use server::store::*;

/// The simulated time between two pushes.
const PUSH_SPACING_MILLIS: i64 = 1_000;
/// The simulated start: any time well after 1970.
const START_MILLIS: i64 = 1_800_000_000_000;
/// A log line of the length a `kubectl`-like task writes.
const LOG_LINE: &str = "deployment.apps/web configured; waiting for rollout: 1 of 3 updated replicas are available (image docker.io/demo/app@sha256:…)";
/// Tags pushed in turn: a repository's few moving tags.
const TAGS: [&str; 3] = ["latest", "main", "staging"];

struct Stream {
    pushes: usize,
    sample: usize,
    prune_every: usize,
    log_lines: usize,
}

/// The file's size and its WAL's, in MiB.
fn size_mib(database: &Path) -> f64 {
    let wal = database.with_extension("db-wal");
    let bytes: u64 = [database, wal.as_path()]
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|metadata| metadata.len())
        .sum();
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs the stream on a fresh database; answers the sampled sizes and
/// what retention pruned in all.
async fn run_stream(
    stream: &Stream,
    keep: Option<Duration>,
) -> anyhow::Result<(Vec<f64>, PrunedCounts)> {
    let directory = tempfile::tempdir()?;
    let file = directory.path().join("slipway.db");
    let store = server::store::open(&format!("sqlite:{}", file.display())).await?;
    // The store contract suite's fixtures: a project, an endpoint, a
    // pipeline and a webhook running it.
    let fixtures::Seed {
        user,
        pipeline,
        webhook,
        ..
    } = fixtures::seed(&store).await;
    let pruner = Pruner::new(
        store.clone(),
        "bench",
        RetentionPolicy {
            keep,
            interval: Duration::from_secs(3600),
            runs_per_batch: RUNS_PER_BATCH,
            rows_per_batch: ROWS_PER_BATCH,
        },
    );
    let mut sizes = Vec::new();
    let mut pruned = PrunedCounts::default();
    for push in 1..=stream.pushes {
        let now = START_MILLIS + push as i64 * PUSH_SPACING_MILLIS;
        let tag = TAGS[push % TAGS.len()];
        let digest = format!("sha256:{push:064x}");
        let event = NewEvent {
            tag: tag.into(),
            inputs: Some(format!(r#"{{"DOCKER_TAG":"{tag}"}}"#)),
            pushed_at: Some(now),
            digest: Some(digest.clone()),
            ..fixtures::push(webhook.id, now, &format!("demo/app:{tag}@{digest}"))
        };
        let order = fixtures::dedupe_only(now - server::service::delivery::DEDUPE_WINDOW_MILLIS);
        let PushRecorded::First(event_id) = store.record_push(event, &order).await? else {
            anyhow::bail!("push {push} was not recorded as the first of its key");
        };
        let run = store
            .queue_execution(NewExecution {
                inputs: r#"{"DOCKER_TAG":"latest"}"#,
                created_by: Some(user.id),
                ..fixtures::run(&pipeline, fixtures::DOCKER, now)
            })
            .await?;
        store.link_event(event_id, run.id).await?;
        let claimed = store.claim_execution("bench", now, now + 30_000).await?;
        anyhow::ensure!(
            claimed.map(|run| run.id) == Some(run.id),
            "the run is claimed"
        );
        let task = store
            .start_task(TaskStart {
                task_type: "kubernetes",
                inputs: Some("{}"),
                ..fixtures::task_start(run.id, now)
            })
            .await?;
        // One line per write, as a task logging now and then has them stored.
        let line = LogAppend {
            at: now,
            line: LOG_LINE,
        };
        for _ in 0..stream.log_lines {
            store.append_logs(task, &[line]).await?;
        }
        store
            .finish_task(task, TaskStatus::Completed, Some("{}"), None, now)
            .await?;
        let end = RunEndRecord {
            status: ExecutionStatus::Completed,
            error: None,
            now,
        };
        anyhow::ensure!(store.finish_execution(run.id, "bench", end).await?);
        if push % stream.prune_every == 0 {
            if let Some(pass) = pruner.prune_once(now).await? {
                pruned.runs += pass.runs;
                pruned.events += pass.events;
                pruned.dedupe_keys += pass.dedupe_keys;
                pruned.push_heads += pass.push_heads;
            }
        }
        if push % stream.sample == 0 {
            sizes.push(size_mib(&file));
        }
    }
    Ok((sizes, pruned))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stream = Stream {
        pushes: support::env_number("PUSHES", 10_000),
        sample: support::env_number("SAMPLE", 1_000).max(1),
        prune_every: support::env_number("PRUNE_EVERY", 100).max(1),
        log_lines: support::env_number("LOG_LINES", 20),
    };
    let keep_pushes = support::env_number("KEEP", 1_000);
    let keep = Duration::from_millis(keep_pushes as u64 * PUSH_SPACING_MILLIS as u64);
    println!(
        "retention: {} pushes (1 a simulated second), {} log lines each, a pass every {} pushes, \
         pruning on keeps {} s",
        stream.pushes, stream.log_lines, stream.prune_every, keep_pushes
    );
    let started = Instant::now();
    let (on, pruned_on) = run_stream(&stream, Some(keep)).await?;
    let on_took = started.elapsed();
    let started = Instant::now();
    let (off, pruned_off) = run_stream(&stream, None).await?;
    let off_took = started.elapsed();
    println!(
        "  {:>7}  {:>14}  {:>15}",
        "pushes", "pruning on MiB", "pruning off MiB"
    );
    for (index, (on, off)) in on.iter().zip(&off).enumerate() {
        println!(
            "  {:>7}  {on:>14.2}  {off:>15.2}",
            (index + 1) * stream.sample
        );
    }
    println!(
        "  pruned with retention: {} runs, {} Activity rows, {} dedupe keys ({:.1} s); \
         without: {} dedupe keys ({:.1} s)",
        pruned_on.runs,
        pruned_on.events,
        pruned_on.dedupe_keys,
        on_took.as_secs_f64(),
        pruned_off.dedupe_keys,
        off_took.as_secs_f64()
    );
    Ok(())
}

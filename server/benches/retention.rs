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

use std::path::Path;
use std::time::{Duration, Instant};

use app::endpoint::EndpointKind;
use app::execution::{ExecutionStatus, TaskStatus};
use app::webhook::{DeliverySource, EventStatus};
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

fn never_stale(_: &PushHead, _: HeadScope) -> String {
    "stale".into()
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
    let user = store.ensure_user("bench", false, START_MILLIS).await?;
    let project = store.create_project("Bench", "", START_MILLIS).await?;
    let endpoint = store
        .create_endpoint(EndpointWrite {
            project_id: project.id,
            name: "hub",
            description: "",
            kind: EndpointKind::DockerRegistry,
            url: "https://registry.example",
            settings: "{}",
            sealed_secrets: None,
            now: START_MILLIS,
        })
        .await?;
    let pipeline = store
        .create_pipeline(PipelineWrite {
            project_id: project.id,
            name: "deploy",
            description: "",
            enabled: true,
            concurrency: 1,
            spec: r#"{"stages":[{"name":"deploy","tasks":[{"name":"web","type":"kubernetes"}]}]}"#,
            endpoint_ids: &[endpoint.id],
            now: START_MILLIS,
        })
        .await?;
    let token = store
        .create_api_token(NewTokenRecord {
            user_id: user.id,
            name: "bench",
            prefix: "slw_",
            token_hash: "bench-token",
            created_at: START_MILLIS,
            expires_at: None,
        })
        .await?;
    let webhook = store
        .create_webhook(
            WebhookWrite {
                project_id: project.id,
                name: "on-push",
                description: "",
                endpoint_id: endpoint.id,
                pipeline_id: pipeline.id,
                api_token_id: token.id,
                image_pattern: "demo/app",
                tag_pattern: "",
                inputs: "{}",
                enabled: true,
                newer_only: false,
                source_cidrs: "[]",
                max_deliveries_per_minute: 6_000,
                now: START_MILLIS,
            },
            "bench-hook",
            "sealed",
        )
        .await?;
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
        let event = NewEvent {
            webhook_id: webhook.id,
            received_at: now,
            source: DeliverySource::Registry,
            repository: "demo/app".into(),
            tag: tag.into(),
            owner: "demo".into(),
            status: EventStatus::Triggered,
            reason: String::new(),
            dedupe_key: Some(format!("demo/app:{tag}@sha256:{push:064x}")),
            inputs: Some(format!(r#"{{"DOCKER_TAG":"{tag}"}}"#)),
            pushed_at: Some(now),
            digest: Some(format!("sha256:{push:064x}")),
        };
        let order = PushOrder {
            window_start: now - server::service::delivery::DEDUPE_WINDOW_MILLIS,
            duplicate_reason: Box::new(|first| format!("duplicate of {first}")),
            newer_than: None,
            stale_reason: Box::new(never_stale),
        };
        let PushRecorded::First(event_id) = store.record_push(event, &order).await? else {
            anyhow::bail!("push {push} was not recorded as the first of its key");
        };
        let run = store
            .queue_execution(NewExecution {
                pipeline_id: pipeline.id,
                project_id: project.id,
                inputs: r#"{"DOCKER_TAG":"latest"}"#,
                trigger: r#"{"kind":"docker"}"#,
                spec: r#"{"stages":[{"name":"deploy","tasks":[{"name":"web","type":"kubernetes"}]}]}"#,
                created_by: Some(user.id),
                now,
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
                execution_id: run.id,
                stage_index: 0,
                stage_name: "deploy",
                task_index: 0,
                task_name: "web",
                task_type: "kubernetes",
                inputs: Some("{}"),
                now,
            })
            .await?;
        for _ in 0..stream.log_lines {
            store.append_log(task, now, LOG_LINE).await?;
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

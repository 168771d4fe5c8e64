//! Retention through the real server: with `--keep-days 1` and a fast
//! prune interval, runs and Activity rows made by real pushes and by hand,
//! then aged two days in the database, go; what is still going, each
//! pipeline's last run and what is young stay. And the flag on the command line.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{database, eventually, finished, run_when, TestApp};
use crate::pipelines::{create_pipeline, run};
use crate::webhooks::{push, seed_with, Seed};

/// Passes this often: the test waits for a few of them.
const PRUNE_INTERVAL_MS: u64 = 100;
/// How far back rows are moved: older than `--keep-days 1`.
const AGE_MILLIS: i64 = 2 * 24 * 60 * 60 * 1000;
/// How long the pruning may take to show.
const PRUNE_WAIT: Duration = Duration::from_secs(20);

/// Moves every run, task, Activity row and dedupe key `AGE_MILLIS` back.
async fn age_everything(app: &TestApp) {
    let db = database(app).await;
    for statement in [
        format!(
            "UPDATE executions SET created_at = created_at - {AGE_MILLIS}, \
             started_at = started_at - {AGE_MILLIS}, finished_at = finished_at - {AGE_MILLIS}"
        ),
        format!("UPDATE docker_events SET received_at = received_at - {AGE_MILLIS}"),
        format!("UPDATE delivery_keys SET claimed_at = claimed_at - {AGE_MILLIS}"),
    ] {
        assert!(db.execute(&statement).await > 0, "{statement}");
    }
}

fn ids(rows: &[Value], field: &str) -> BTreeSet<i64> {
    rows.iter().filter_map(|row| row[field].as_i64()).collect()
}

/// Delivers a Docker Hub push of `latest` and waits for its run to end COMPLETED.
async fn pushed_run(seed: &Seed, hook_url: &str, pushed_at: f64) -> i64 {
    let (status, answer) = push(&seed.hub, hook_url, "latest", pushed_at).await;
    assert_eq!(status, 202, "{answer}");
    let execution = finished(&seed.app, &answer["execution_id"]).await;
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    execution["id"].as_i64().expect("a run id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_finished_runs_and_activity_are_pruned_and_what_must_stay_stays() {
    // Arrange: a Docker Hub webhook's pipeline, a manual one, and one that
    // waits for an approval (concurrency 1: a second run queues behind it).
    let seed = seed_with("docker-hub", "svendowideit/testhook", |args| {
        args.retention.keep_days = 1;
        args.retention.prune_interval_ms = PRUNE_INTERVAL_MS;
    })
    .await;
    let app = &seed.app;
    let hook_url = seed.webhook["hook_url"].as_str().unwrap().to_string();
    let check = create_pipeline(app, json!({
        "project": "Demo", "name": "check",
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "'a' == 'a'"}]}]
    }))
    .await;
    let gate = create_pipeline(app, json!({
        "project": "Demo", "name": "gate",
        "stages": [{"name": "s", "tasks": [{"name": "approve", "type": "approval", "summary": "Go?", "approver_roles": ["viewer"]}]}]
    }))
    .await;

    let pushed: Vec<i64> = {
        let mut runs = Vec::new();
        for pushed_at in [1_700_000_001.0, 1_700_000_002.0, 1_700_000_003.0] {
            runs.push(pushed_run(&seed, &hook_url, pushed_at).await);
        }
        runs
    };
    let mut checks = Vec::new();
    for _ in 0..2 {
        let id = run(app, &check["id"], json!({})).await;
        finished(app, id).await;
        checks.push(id);
    }
    let waiting = run(app, &gate["id"], json!({})).await;
    run_when(app, waiting, "to wait for its approval", |execution| {
        execution["status"] == "WAITING"
    })
    .await;
    let queued = run(app, &gate["id"], json!({})).await;

    // Act: everything is two days old; then one more push, young.
    age_everything(app).await;
    let young = pushed_run(&seed, &hook_url, 1_700_000_004.0).await;

    // Assert: the old finished runs of the pushes and the first manual run
    // go; the waiting and queued runs, the manual pipeline's last run and
    // the young run stay. Of the Activity rows only the young push's is left.
    let kept: BTreeSet<i64> = [waiting, queued, checks[1], young].into();
    eventually("the old runs to be pruned", PRUNE_WAIT, || async {
        (ids(&app.executions().await, "id") == kept).then_some(())
    })
    .await;
    let activity = eventually("the old Activity rows to be pruned", PRUNE_WAIT, || async {
        let rows = app.activity(100).await;
        (rows.len() == 1).then_some(rows)
    })
    .await;
    assert_eq!(ids(&activity, "execution_id"), [young].into());
    for gone in pushed.iter().chain(&checks[..1]) {
        let answer = app
            .get(&format!("/api/v1/executions/{gone}"), &app.admin_token)
            .await;
        assert_eq!(answer.status(), 404, "run {gone} is pruned");
    }
    // Passes go on: what is kept stays kept, the waiting run still waits.
    tokio::time::sleep(Duration::from_millis(5 * PRUNE_INTERVAL_MS)).await;
    let executions = app.executions().await;
    assert_eq!(ids(&executions, "id"), kept);
    let status_of = |id: i64| {
        executions
            .iter()
            .find(|execution| execution["id"] == id)
            .map(|execution| execution["status"].clone())
    };
    assert_eq!(status_of(waiting), Some(json!("WAITING")));
    assert_eq!(status_of(queued), Some(json!("QUEUED")));
    // The last pass is on record.
    let status = app
        .store
        .maintenance_status(server::store::RETENTION_LEASE)
        .await
        .unwrap()
        .expect("a pass is recorded");
    assert!(status.last_finished_at.is_some());
}

fn slipway(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .args(args)
        .env("SLIPWAY_DATA_DIR", data_dir.path())
        .env("SLIPWAY_LISTEN", "127.0.0.1:0")
        .env_remove("SLIPWAY_KEEP_DAYS");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("slipway runs")
}

#[test]
fn keep_days_is_documented_and_nonsense_is_refused() {
    let help = slipway(&["serve", "--help"], &[]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--keep-days <KEEP_DAYS>"), "{help}");
    assert!(help.contains("SLIPWAY_KEEP_DAYS"), "{help}");
    assert!(help.contains("[default: 90]"), "{help}");
    assert!(
        !help.contains("--prune-interval-ms"),
        "a test knob is hidden"
    );

    for bad in ["-1", "abc", "36501", "1.5", ""] {
        let refused = slipway(&["serve", &format!("--keep-days={bad}")], &[]);
        assert!(!refused.status.success(), "--keep-days {bad:?} is refused");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("--keep-days"), "{stderr}");
    }
    let refused = slipway(&["serve"], &[("SLIPWAY_KEEP_DAYS", "ninety")]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--keep-days"));
}

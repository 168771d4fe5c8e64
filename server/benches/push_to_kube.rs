//! Docker Hub push → first Kubernetes API request of the run it triggers, on SQLite.
//!
//! `cargo bench -p server --bench push_to_kube` (PUSHES=200 by default).
//!
//! The server in-process, the Kubernetes stand-in (`slipway-standins`) as the
//! cluster, a pipeline with injected Docker parameters and one Kubernetes APPLY
//! task deploying `${input.DOCKER_IMAGE_REF}`, and a Docker webhook whose
//! registry endpoint is the Docker Hub stand-in's Registry API (each push's tag
//! is resolved to its digest there before the 202, as for any Docker Hub
//! delivery). Pushes are POSTed one after another, each with its own tag; the next
//! is sent once the previous run has finished, so every request the stand-in
//! sees in between belongs to that run. Measured per push: the 202 answer (and
//! the moment the POST was sent) → the stand-in receiving the run's first request
//! (whatever it is: discovery counts).

mod support;

use std::time::{Duration, Instant};

use app::execution::ExecutionStatus;
use serde_json::{json, Value};
use slipway_standins::kube::KubeStandin;
use support::{summary, Bench};

const FIXTURE: &str = include_str!("../tests/fixtures/docker-hub-push.json");
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: testhook\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: testhook}\n  template:\n    metadata:\n      labels: {app: testhook}\n    spec:\n      containers:\n        - name: app\n          image: ${input.DOCKER_IMAGE_REF}\n";

fn push(index: usize) -> String {
    let mut payload: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    payload["push_data"]["tag"] = json!(format!("v{index}"));
    payload["push_data"]["pushed_at"] = json!(1_700_000_000.0 + index as f64);
    payload.to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pushes = support::env_number("PUSHES", 200);
    let cluster = KubeStandin::builder()
        .token("cluster-token")
        .rollout_delay(Duration::ZERO)
        .start()
        .await?;
    let registry =
        support::registry_with_tags((0..pushes).map(|index| format!("v{index}"))).await?;
    let bench = Bench::start().await?;
    bench
        .post("/api/v1/projects", json!({"name": "Bench"}))
        .await?;
    bench.post("/api/v1/endpoints", json!({"project": "Bench", "name": "registry", "kind": "docker-registry", "server_type": "registry", "url": registry.url()})).await?;
    bench.post("/api/v1/endpoints", json!({"project": "Bench", "name": "dev", "kind": "kubernetes", "url": cluster.url(), "token": "cluster-token", "namespace": "default"})).await?;
    bench.post("/api/v1/pipelines", json!({"project": "Bench", "name": "deploy", "inject_docker_parameters": true, "concurrency": 8,
        "stages": [{"name": "deploy", "tasks": [{"name": "web", "type": "kubernetes", "endpoint": "dev", "action": "APPLY", "yaml": DEPLOYMENT}]}]})).await?;
    let (_, hook_url) = bench.docker_hub_webhook(json!({"project": "Bench", "name": "deploy", "endpoint": "registry", "pipeline": "deploy",
        "api_token": bench.token, "image": "svendowideit/testhook", "tag": ""})).await?;

    let client = reqwest::Client::new();
    let mut from_answer = Vec::with_capacity(pushes);
    let mut from_send = Vec::with_capacity(pushes);
    let mut answers = Vec::with_capacity(pushes);
    let mut requests_per_run = Vec::with_capacity(pushes);
    let mut first_paths = std::collections::BTreeMap::<String, usize>::new();
    let mut failed = 0;
    for index in 0..pushes {
        cluster.clear_requests();
        let sent = Instant::now();
        let answer = client
            .post(&hook_url)
            .header("Content-Type", "application/json")
            .body(push(index))
            .send()
            .await?;
        let answered = Instant::now();
        anyhow::ensure!(answer.status() == 202, "push {index}: {}", answer.status());
        let body: Value = answer.json().await?;
        anyhow::ensure!(body["status"] == "TRIGGERED", "push {index}: {body}");
        let execution_id = body["execution_id"].as_i64().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let execution = loop {
            let execution = bench.store.execution_by_id(execution_id).await?;
            if let Some(execution) = execution.filter(|run| run.status.is_final()) {
                break execution;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "run {execution_id} did not finish"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if execution.status != ExecutionStatus::Completed {
            failed += 1;
            eprintln!(
                "run {execution_id} {}: {:?}",
                execution.status.as_str(),
                execution.error
            );
        }
        let requests = cluster.requests();
        let Some(first) = requests.iter().min_by_key(|request| request.received_at) else {
            anyhow::bail!("run {execution_id} sent no request to the cluster");
        };
        from_answer.push(first.received_at.saturating_duration_since(answered));
        from_send.push(first.received_at.saturating_duration_since(sent));
        answers.push(answered - sent);
        requests_per_run.push(requests.len());
        *first_paths
            .entry(format!("{} {}", first.method, first.path))
            .or_default() += 1;
    }
    println!("push_to_kube: {pushes} Docker Hub pushes one after another, SQLite, Kubernetes stand-in over HTTP");
    println!(
        "  POST sent -> 202 answered:                {}",
        summary(&mut answers)
    );
    println!(
        "  202 answered -> first Kubernetes request: {}",
        summary(&mut from_answer)
    );
    println!(
        "  POST sent -> first Kubernetes request:    {}",
        summary(&mut from_send)
    );
    requests_per_run.sort_unstable();
    println!(
        "  Kubernetes requests per run: min {}, max {}; first request: {first_paths:?}",
        requests_per_run[0],
        requests_per_run[requests_per_run.len() - 1]
    );
    anyhow::ensure!(failed == 0, "{failed} runs did not complete");
    Ok(())
}

//! Sustained webhook ingest on SQLite: the Docker Hub fixture POSTed by a
//! load generator on loopback to (1) a bare axum route answering a small JSON
//! body — the ceiling —, (2) a webhook whose tag pattern ignores the push, and
//! (3) one that triggers a run (each push of its own tag, so none is a
//! duplicate; the tag is resolved to its digest at a registry stand-in, as for
//! every Docker Hub delivery). Afterwards every 202 must be an Activity row. The webhooks
//! keep the default delivery limit, which must not refuse any of this (no 429).
//!
//! `cargo bench -p server --bench ingest` (REQUESTS=4000 per case, CLIENTS=32;
//! BACKEND=postgres REPLICAS=3 for three replicas on one PostgreSQL database,
//! the clients spread over them).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::store::EventQuery;
use support::{env_number, percentile, Bench};

const FIXTURE: &str = include_str!("../tests/fixtures/docker-hub-push.json");

struct Outcome {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    accepted: usize,
    /// Answered 429: over the webhook's delivery limit.
    limited: usize,
}

/// `clients` tasks send `requests` POSTs in all, one after another each,
/// client `n` to `urls[n % urls.len()]`.
async fn load(
    urls: &[String],
    requests: usize,
    clients: usize,
    body_for: impl Fn(usize) -> String + Sync,
) -> Outcome {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let per_client = requests / clients;
    let results = futures::future::join_all((0..clients).map(|worker| {
        let client = client.clone();
        let body_for = &body_for;
        let url = &urls[worker % urls.len()];
        async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut accepted = 0;
            let mut limited = 0;
            for index in 0..per_client {
                let body = body_for(worker * per_client + index);
                let sent = Instant::now();
                let response = client
                    .post(url)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await;
                latencies.push(sent.elapsed());
                match response.map(|response| response.status()) {
                    Ok(status) if status.is_success() => accepted += 1,
                    Ok(reqwest::StatusCode::TOO_MANY_REQUESTS) => limited += 1,
                    _ => {}
                }
            }
            (latencies, accepted, limited)
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let accepted = results.iter().map(|(_, accepted, _)| accepted).sum();
    let limited = results.iter().map(|(_, _, limited)| limited).sum();
    let mut latencies: Vec<Duration> = results
        .into_iter()
        .flat_map(|(latencies, _, _)| latencies)
        .collect();
    latencies.sort_unstable();
    Outcome {
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        accepted,
        limited,
    }
}

fn print(name: &str, outcome: &Outcome) {
    println!(
        "  {name:<24} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   2xx {}   429 {}",
        outcome.requests_per_second,
        outcome.p50.as_secs_f64() * 1000.0,
        outcome.p99.as_secs_f64() * 1000.0,
        outcome.accepted,
        outcome.limited
    );
}

fn push_with(index: usize) -> String {
    let mut payload: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    payload["push_data"]["tag"] = json!(tag_of(index));
    payload["push_data"]["pushed_at"] = json!(1_700_000_000.0 + index as f64);
    payload.to_string()
}

fn tag_of(index: usize) -> String {
    format!("t{index}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests = env_number("REQUESTS", 4000);
    let clients = env_number("CLIENTS", 32);

    // The ceiling: a bare axum route with a small JSON answer, same machine, same client.
    let bare = axum::Router::new().route(
        "/bare",
        axum::routing::post(|_body: axum::body::Bytes| async {
            (
                axum::http::StatusCode::ACCEPTED,
                axum::Json(json!({"status": "IGNORED"})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/bare", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, bare).await });

    let registry = support::registry_with_tags((0..requests).map(tag_of)).await?;
    let replicas = Bench::start_replicas().await?;
    let bench = &replicas[0];
    let store = &bench.store;
    bench
        .post("/api/v1/projects", json!({"name": "Bench"}))
        .await?;
    bench.post("/api/v1/endpoints", json!({"project": "Bench", "name": "registry", "kind": "docker-registry", "server_type": "registry", "url": registry.url()}))
        .await?;
    bench.post("/api/v1/pipelines", json!({"project": "Bench", "name": "pass", "concurrency": 8,
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "true"}]}]}))
        .await?;
    let mut hooks = Vec::new();
    for (name, tag) in [("ignores", "never-*"), ("triggers", "")] {
        hooks.push(
            bench
                .docker_hub_webhook(json!({"project": "Bench", "name": name, "endpoint": "registry", "pipeline": "pass", "api_token": bench.token, "image": "svendowideit/testhook", "tag": tag}))
                .await?,
        );
    }

    println!(
        "ingest: {requests} requests per case, {clients} concurrent clients, {}, {} replica(s)",
        support::backend(),
        replicas.len()
    );
    let ceiling = load(&[bare_url], requests, clients, |_| FIXTURE.to_string()).await;
    print("bare axum route", &ceiling);
    let mut lost = 0;
    let mut limited = 0;
    for ((id, hook_url), name) in hooks
        .iter()
        .zip(["webhook, tag ignored", "webhook, run triggered"])
    {
        // The same hook on every replica.
        let urls: Vec<String> = replicas
            .iter()
            .map(|replica| hook_url.replacen(&bench.base, &replica.base, 1))
            .collect();
        let outcome = load(&urls, requests, clients, push_with).await;
        print(name, &outcome);
        let rows = store
            .list_events(&EventQuery {
                webhook_id: Some(*id),
                limit: requests as i64 * 2,
                ..EventQuery::default()
            })
            .await?;
        println!(
            "    {} of {} accepted deliveries are Activity rows ({:.0}% of the ceiling)",
            rows.len(),
            outcome.accepted,
            100.0 * outcome.requests_per_second / ceiling.requests_per_second
        );
        lost += outcome.accepted.saturating_sub(rows.len());
        limited += outcome.limited;
    }
    anyhow::ensure!(
        limited == 0,
        "{limited} deliveries were refused by the default delivery limit"
    );
    anyhow::ensure!(
        lost == 0,
        "{lost} accepted deliveries are missing from Activity"
    );
    Ok(())
}

//! Sustained webhook ingest: pushes POSTed by a load generator on loopback to
//! (1) a bare axum route answering a small JSON body — the ceiling —, (2)
//! Slipway's whole router answering a POST to `/healthz` with 405 (its
//! middleware layers and routing, no handler work), (3) a webhook whose tag
//! pattern ignores the push (the Docker Hub fixture), (4) one that triggers a
//! run from a registry notification (the push names its digest), and (5) one
//! that triggers a run from Docker Hub's payload (no digest: the tag is
//! resolved at a registry stand-in first). Every push is its
//! own tag, so none is a duplicate. Each webhook case is run twice: as fast as
//! the clients go (each sends its next request when the last is answered),
//! then at half that rate, paced, for the latency under load. Afterwards
//! every 2xx must be an Activity row. The webhooks take the highest delivery
//! limit a webhook may have (100,000 a minute), which must not refuse any of
//! this (no 429) up to REQUESTS=50000.
//!
//! `cargo bench -p server --bench ingest` (REQUESTS=4000 per case, CLIENTS=32,
//! CASES=router,ignored,digest,resolved,store to run only some — `store` is
//! the recording of triggering pushes alone, straight into the store, and
//! needs one of the webhook cases beside it for its webhook;
//! BACKEND=postgres REPLICAS=3 for three replicas on one PostgreSQL database,
//! the clients spread over them; LIMIT=N the triggered pipeline's concurrency
//! limit, 8 by default — as many as the engine's workers).

mod support;

use std::time::{Duration, Instant};

use app::webhook::EventStatus;
use serde_json::{json, Value};
use server::store::EventQuery;
use support::{env_number, percentile, Bench};

const FIXTURE: &str = include_str!("../tests/fixtures/docker-hub-push.json");
const REGISTRY_FIXTURE: &str = include_str!("../tests/fixtures/registry-push-event.json");

struct Outcome {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    accepted: usize,
    /// Answered 429: over the webhook's delivery limit.
    limited: usize,
}

/// `clients` tasks send `requests` POSTs in all, one after another each,
/// client `n` to `urls[n % urls.len()]`; the bodies are `body_for(first..)`,
/// all made before the clock starts (the load generator shares the cores).
/// With `per_second`, the clients together send at that rate (each its
/// share, paced); without, each sends its next request once the last is
/// answered.
async fn load(
    urls: &[String],
    requests: usize,
    clients: usize,
    per_second: Option<f64>,
    first: usize,
    body_for: impl Fn(usize) -> String + Sync,
) -> Outcome {
    let client = reqwest::Client::new();
    let per_client = requests / clients;
    let bodies: Vec<bytes::Bytes> = (first..first + per_client * clients)
        .map(|index| body_for(index).into())
        .collect();
    let started = Instant::now();
    let results = futures::future::join_all((0..clients).map(|worker| {
        let client = client.clone();
        let bodies = &bodies[worker * per_client..(worker + 1) * per_client];
        let url = &urls[worker % urls.len()];
        async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut accepted = 0;
            let mut limited = 0;
            let mut pace = per_second.map(|rate| {
                let mut pace =
                    tokio::time::interval(Duration::from_secs_f64(clients as f64 / rate));
                pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                pace
            });
            for body in bodies {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let body = body.clone();
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

/// A registry notification of one push with its own tag and digest.
fn registry_push_with(index: usize) -> String {
    let mut envelope: Value = serde_json::from_str(REGISTRY_FIXTURE).expect("the fixture is JSON");
    let event = &mut envelope["events"][0];
    event["id"] = json!(format!("bench-{index}"));
    event["target"]["tag"] = json!(tag_of(index));
    event["target"]["digest"] = json!(format!("sha256:{index:064x}"));
    envelope.to_string()
}

/// Pushes per batch in the `store` case: about what the delivery writer
/// took per transaction at half the triggering load.
const STORE_BATCH: usize = 16;

/// The recording alone, without HTTP: `pushes` triggering pushes (each its
/// own tag and key) handed to `record_deliveries` [`STORE_BATCH`] at a time,
/// one batch after another, as the delivery writer does; the engine runs
/// their runs meanwhile, as it would.
async fn record_in_batches(
    store: &server::store::SharedStore,
    pushes: usize,
) -> anyhow::Result<()> {
    use server::store::{DeliveryRecorded, DeliveryWrite, NewEvent, PushOrder, PushRun, PushWrite};
    let pipeline = store
        .pipelines_by_name("pass")
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the bench's pipeline is missing"))?;
    let webhook_id = store
        .list_webhooks(None)
        .await?
        .first()
        .map(|webhook| webhook.id)
        .ok_or_else(|| anyhow::anyhow!("the store case needs a webhook case beside it"))?;
    let write = |index: usize| {
        let now = 1_800_000_000_000 + index as i64;
        DeliveryWrite::Push(PushWrite {
            event: NewEvent {
                webhook_id,
                received_at: now,
                source: app::webhook::DeliverySource::Registry,
                repository: "demo/store".into(),
                tag: tag_of(index),
                owner: String::new(),
                status: EventStatus::Triggered,
                reason: String::new(),
                dedupe_key: Some(format!("store|{index}")),
                inputs: Some("{}".into()),
                pushed_at: Some(now),
                digest: None,
            },
            order: PushOrder {
                window_start: now - 3_600_000,
                duplicate_reason: Box::new(|first| format!("duplicate of {first}")),
                newer_than: None,
                stale_reason: Box::new(|head, _| format!("older than {}", head.event_id)),
            },
            run: Ok(PushRun {
                pipeline_id: pipeline.id,
                project_id: pipeline.project_id,
                inputs: "{}".into(),
                spec: pipeline.spec.clone(),
                created_by: None,
                now,
                trigger: Box::new(|event_id| {
                    format!(r#"{{"kind":"docker","event_id":{event_id}}}"#)
                }),
                superseding_reason: Box::new(|event_id| format!("superseded by {event_id}")),
            }),
        })
    };
    let batches: Vec<Vec<DeliveryWrite>> = (0..pushes / STORE_BATCH)
        .map(|batch| {
            (batch * STORE_BATCH..(batch + 1) * STORE_BATCH)
                .map(write)
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(batches.len());
    let mut queued = 0;
    for batch in &batches {
        let sent = Instant::now();
        let recorded = store.record_deliveries(batch).await?;
        latencies.push(sent.elapsed());
        queued += recorded
            .iter()
            .filter(|outcome| matches!(outcome, Ok(DeliveryRecorded::Push { run: Some(_), .. })))
            .count();
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "  recording only, {STORE_BATCH} pushes a batch  {:>6.0} pushes/s   batch p50 {:>6.2} ms   p99 {:>6.2} ms   runs queued {queued}",
        (batches.len() * STORE_BATCH) as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    anyhow::ensure!(
        queued == batches.len() * STORE_BATCH,
        "only {queued} of {} pushes queued their run",
        batches.len() * STORE_BATCH
    );
    wait_for_idle_engine(store).await?;
    Ok(())
}

/// How long the engine may take to finish the runs a phase queued.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// Waits until no run is QUEUED or RUNNING; answers how long that took.
async fn wait_for_idle_engine(store: &server::store::SharedStore) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        let work = store.work_in_progress().await?;
        if work.queued == 0 && work.running == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            started.elapsed() < DRAIN_LIMIT,
            "{} runs were still queued and {} running after {DRAIN_LIMIT:?}",
            work.queued,
            work.running
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tag_of(index: usize) -> String {
    format!("t{index}")
}

/// A webhook case: its name, its two webhooks (one for each run of the case,
/// so each starts with a full delivery allowance), and the bodies.
struct Case {
    name: &'static str,
    webhooks: Vec<(i64, String)>,
    body_for: fn(usize) -> String,
    /// Whether each of its pushes queues a run (checked afterwards).
    queues_runs: bool,
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

    // Each case is sent twice (as fast as it goes, then paced): 2 × requests tags.
    let registry = support::registry_with_tags((0..2 * requests).map(tag_of)).await?;
    let replicas = Bench::start_replicas().await?;
    let bench = &replicas[0];
    let store = &bench.store;
    bench
        .post("/api/v1/projects", json!({"name": "Bench"}))
        .await?;
    bench.post("/api/v1/endpoints", json!({"project": "Bench", "name": "registry", "kind": "docker-registry", "server_type": "registry", "url": registry.url()}))
        .await?;
    // It takes the Docker inputs: without them every push would be refused
    // its run (REJECTED), which is not what the triggering cases measure.
    // LIMIT=1 gives it a pipeline's default limit: the runs then wait in one
    // backlog while the engine's other workers look for work beside it.
    let limit = env_number("LIMIT", 8);
    bench.post("/api/v1/pipelines", json!({"project": "Bench", "name": "pass", "concurrency": limit, "inject_docker_parameters": true,
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "true"}]}]}))
        .await?;
    // CASES=router,ignored,digest,resolved,store (any of them) runs only those.
    let wanted = std::env::var("CASES").ok();
    let wanted = |key: &str| {
        wanted
            .as_deref()
            .is_none_or(|wanted| wanted.split(',').any(|case| case.trim() == key))
    };
    // A webhook's default allowance (6,000 at once) would refuse part of a
    // longer run; each takes the most a webhook may be set to instead.
    let delivery_limit = *app::webhook::DELIVERIES_PER_MINUTE_RANGE.end();
    let mut cases = Vec::new();
    for (key, name, image, tag, body_for) in [
        (
            "ignored",
            "webhook, tag ignored",
            "svendowideit/testhook",
            "never-*",
            push_with as fn(usize) -> String,
        ),
        (
            "digest",
            "run triggered (digest sent)",
            "demo/app",
            "",
            registry_push_with,
        ),
        (
            "resolved",
            "run triggered (tag resolved)",
            "svendowideit/testhook",
            "",
            push_with,
        ),
    ] {
        if !wanted(key) {
            continue;
        }
        let mut webhooks = Vec::new();
        for run in ["fastest", "paced"] {
            let (webhook_id, hook_url) = bench
                .docker_hub_webhook(json!({"project": "Bench", "name": format!("case-{}-{run}", cases.len()), "endpoint": "registry", "pipeline": "pass", "api_token": bench.token, "image": image, "tag": tag, "max_deliveries_per_minute": delivery_limit}))
                .await?;
            // A registry notification goes to the registry receiver, Docker Hub's payload to Docker Hub's.
            let hook_url = if image == "demo/app" {
                hook_url.replacen("docker-hub-webhooks", "registry-webhooks", 1)
            } else {
                hook_url
            };
            webhooks.push((webhook_id, hook_url));
        }
        cases.push(Case {
            name,
            webhooks,
            body_for,
            queues_runs: key != "ignored",
        });
    }

    println!(
        "ingest: {requests} requests per case, {clients} concurrent clients, {}, {} replica(s)",
        support::backend(),
        replicas.len()
    );
    let ceiling = load(&[bare_url], requests, clients, None, 0, |_| {
        FIXTURE.to_string()
    })
    .await;
    print("bare axum route", &ceiling);
    // What every request pays before any handler: Slipway's whole router
    // (its middleware layers, routing) answering a POST to `/healthz` 405.
    if wanted("router") {
        let router_only = load(
            &[format!("{}/healthz", bench.base)],
            requests,
            clients,
            None,
            0,
            |_| FIXTURE.to_string(),
        )
        .await;
        print("router only (405)", &router_only);
        println!(
            "    {:.0}% of the ceiling",
            100.0 * router_only.requests_per_second / ceiling.requests_per_second
        );
    }
    if wanted("store") {
        record_in_batches(store, requests).await?;
    }
    let mut lost = 0;
    let mut limited = 0;
    let mut not_queued = 0;
    for case in &cases {
        // The same hook on every replica.
        let urls_of = |hook_url: &str| -> Vec<String> {
            replicas
                .iter()
                .map(|replica| hook_url.replacen(&bench.base, &replica.base, 1))
                .collect()
        };
        // Each phase starts with the runs of the one before finished: what a
        // phase measures is its own load, not the engine still working off
        // the last one's runs on the same cores.
        let drained = wait_for_idle_engine(store).await?;
        if case.queues_runs {
            println!("    (the runs before it finished within {drained:.1} s)");
        }
        let fastest = load(
            &urls_of(&case.webhooks[0].1),
            requests,
            clients,
            None,
            0,
            case.body_for,
        )
        .await;
        print(case.name, &fastest);
        let drained = wait_for_idle_engine(store).await?;
        if case.queues_runs {
            println!("    (its runs finished within {drained:.1} s of the last answer)");
        }
        let half_rate = fastest.requests_per_second / 2.0;
        let paced = load(
            &urls_of(&case.webhooks[1].1),
            requests,
            clients,
            Some(half_rate),
            requests,
            case.body_for,
        )
        .await;
        print(&format!("  paced at {half_rate:.0} req/s"), &paced);
        for ((webhook_id, _), outcome) in case.webhooks.iter().zip([&fastest, &paced]) {
            let rows = store
                .list_events(&EventQuery {
                    webhook_id: Some(*webhook_id),
                    limit: requests as i64 * 2,
                    ..EventQuery::default()
                })
                .await?;
            lost += outcome.accepted.saturating_sub(rows.len());
            limited += outcome.limited;
            if case.queues_runs {
                let queued = rows
                    .iter()
                    .filter(|row| {
                        row.status == EventStatus::Triggered && row.execution_id.is_some()
                    })
                    .count();
                not_queued += outcome.accepted.saturating_sub(queued);
            }
        }
        println!(
            "    {:.0}% of the ceiling; every 2xx is an Activity row: {}",
            100.0 * fastest.requests_per_second / ceiling.requests_per_second,
            lost == 0
        );
    }
    anyhow::ensure!(
        limited == 0,
        "{limited} deliveries were refused by the delivery limit"
    );
    anyhow::ensure!(
        lost == 0,
        "{lost} accepted deliveries are missing from Activity"
    );
    anyhow::ensure!(
        not_queued == 0,
        "{not_queued} accepted pushes of the triggering cases queued no run (see their Activity reasons)"
    );
    Ok(())
}

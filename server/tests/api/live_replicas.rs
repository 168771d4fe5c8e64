//! Live streams across replicas: two servers on one PostgreSQL database, a
//! page open on one follows what happens on the other (`LISTEN/NOTIFY`).
//! PostgreSQL only: with SQLite one process runs everything, and these tests
//! say so and pass without checking anything.

use std::time::{Duration, Instant};

use app::execution::ExecutionStatus;
use app::live::LiveEvent;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::helpers::{spawn_app, spawn_app_in, TestApp};
use crate::live::{is_final_state_of, slow_pipeline, LiveStream};
use crate::pipelines::run;

/// Events timed from one replica's bus to the other's.
const LATENCY_SAMPLES: usize = 200;
/// The budget for an event to reach a page on another replica (p95).
const LATENCY_BUDGET: Duration = Duration::from_millis(200);

/// Two servers sharing one PostgreSQL database; None (with a note) on SQLite.
async fn two_replicas(test: &str) -> Option<(TestApp, TestApp)> {
    if std::env::var("SLIPWAY_TEST_BACKEND").as_deref() != Ok("postgres") {
        eprintln!("{test}: skipped, replicas need PostgreSQL (SLIPWAY_TEST_BACKEND=postgres)");
        return None;
    }
    let first = spawn_app().await;
    let second_dir = tempfile::tempdir().expect("a temporary directory");
    // The helpers find a data directory's database in this file.
    std::fs::write(
        second_dir.path().join("test-database-url"),
        &first.database_url,
    )
    .expect("the second replica is pointed at the first one's database");
    let second = spawn_app_in(second_dir).await;
    assert_eq!(first.database_url, second.database_url);
    Some((first, second))
}

/// An event no server publishes by itself (project 0 does not exist).
fn probe(id: i64) -> LiveEvent {
    LiveEvent::Execution {
        id,
        project_id: 0,
        pipeline_id: 0,
        status: ExecutionStatus::Running,
    }
}

fn probe_id(event: &LiveEvent) -> Option<i64> {
    match event {
        LiveEvent::Execution {
            id, project_id: 0, ..
        } => Some(*id),
        _ => None,
    }
}

#[tokio::test]
async fn a_run_queued_on_one_replica_is_followed_live_on_another() {
    // Arrange
    let Some((a, b)) =
        two_replicas("a_run_queued_on_one_replica_is_followed_live_on_another").await
    else {
        return;
    };
    a.create_project("Demo").await;
    let pipeline = slow_pipeline(&a, "Demo", "slow").await;
    let mut on_b = LiveStream::open(&b, "", &b.admin_token).await;

    // Act: queued through replica A (either replica's engine may run it).
    let id = run(&a, &pipeline["id"], json!({})).await;
    let seen = on_b.until(is_final_state_of(id)).await;

    // Assert: B's page saw every state, QUEUED (announced by A) first.
    let states: Vec<&str> = seen
        .iter()
        .filter(|event| event["kind"] == "execution" && event["id"] == id)
        .map(|event| event["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["QUEUED", "RUNNING", "COMPLETED"], "{seen:#?}");
    // Each event once: B skips its own notices.
    assert!(
        seen.iter().all(|event| event["kind"] != "resync"),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn a_replica_whose_listener_reconnects_tells_its_streams_to_resync() {
    // Arrange
    let Some((a, b)) =
        two_replicas("a_replica_whose_listener_reconnects_tells_its_streams_to_resync").await
    else {
        return;
    };
    let mut on_b = LiveStream::open(&b, "", &b.admin_token).await;

    // Act: end the listening connections of this test's database (both replicas').
    let database = sqlx::PgPool::connect(&a.database_url)
        .await
        .expect("the test database answers");
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(server::live::replicas::LISTENER_APPLICATION_NAME)
    .fetch_all(&database)
    .await
    .expect("the listeners are ended");
    let resync = on_b
        .next_within(Duration::from_secs(10))
        .await
        .expect("B's stream hears of the reconnect");
    // Once B resynced it listens again: A's next event arrives.
    a.live.publish(probe(4242));
    let after = on_b
        .until(|event: &Value| event["kind"] == "execution" && event["id"] == 4242)
        .await;

    // Assert
    assert_eq!(ended, [true, true], "one listener per replica");
    assert_eq!(resync, json!({"kind": "resync"}));
    assert_eq!(after.len(), 1, "{after:#?}");
}

#[tokio::test]
async fn events_reach_another_replica_within_the_budget() {
    // Arrange
    let Some((a, b)) = two_replicas("events_reach_another_replica_within_the_budget").await else {
        return;
    };
    let mut on_b = b.live.subscribe();

    // Act: one event at a time (latency), then all at once (a burst queues up).
    let mut one_at_a_time = Vec::with_capacity(LATENCY_SAMPLES);
    for id in 0..LATENCY_SAMPLES as i64 {
        let sent = Instant::now();
        a.live.publish(probe(id));
        receive_probe(&mut on_b, id).await;
        one_at_a_time.push(sent.elapsed());
    }
    let burst_start = Instant::now();
    let mut published_at = Vec::with_capacity(LATENCY_SAMPLES);
    for id in 0..LATENCY_SAMPLES as i64 {
        published_at.push(burst_start.elapsed());
        a.live.publish(probe(10_000 + id));
    }
    let mut burst = Vec::with_capacity(LATENCY_SAMPLES);
    for (id, published) in published_at.iter().enumerate() {
        receive_probe(&mut on_b, 10_000 + id as i64).await;
        burst.push(burst_start.elapsed() - *published);
    }

    // Assert
    let paced = Figures::of(one_at_a_time);
    let burst = Figures::of(burst);
    println!(
        "live across replicas, {LATENCY_SAMPLES} events one at a time, A publish → B bus: {paced}"
    );
    println!(
        "live across replicas, {LATENCY_SAMPLES} events in one burst, A publish → B bus: {burst}"
    );
    assert!(paced.p95 <= LATENCY_BUDGET, "{paced}");
    assert_eq!(a.live.events_dropped_for_replicas(), 0);
}

#[tokio::test]
async fn events_beyond_the_queue_to_postgres_are_dropped_and_the_other_replica_resyncs() {
    // Arrange
    let Some((a, b)) = two_replicas(
        "events_beyond_the_queue_to_postgres_are_dropped_and_the_other_replica_resyncs",
    )
    .await
    else {
        return;
    };
    let mut on_b = b.live.subscribe();

    // Act: far more than the queue holds, published without yielding (the
    // test's runtime has one thread: the forwarder cannot drain meanwhile).
    for id in 0..20_000 {
        a.live.publish(probe(id));
    }
    let dropped = a.live.events_dropped_for_replicas();
    let resynced = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match on_b.recv().await {
                Ok(event) if *event == LiveEvent::Resync => return,
                // B's own readers may fall behind this burst; the resync still comes.
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("the bus closed"),
            }
        }
    })
    .await;

    // Assert: what the queue held went out; for the rest, B's streams resync.
    assert!(dropped > 0 && dropped < 20_000, "{dropped} dropped");
    assert!(resynced.is_ok(), "B's streams were not told to resync");
}

/// Waits for the probe `id` on a replica's bus; probes arrive in order.
async fn receive_probe(
    bus: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<LiveEvent>>,
    id: i64,
) {
    let received = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match bus.recv().await {
                Ok(event) if probe_id(&event) == Some(id) => return,
                Ok(event) => {
                    if let Some(other) = probe_id(&event) {
                        panic!("probe {other} came while waiting for {id}");
                    }
                }
                Err(RecvError::Lagged(missed)) => panic!("the test fell behind by {missed}"),
                Err(RecvError::Closed) => panic!("the bus closed"),
            }
        }
    })
    .await;
    assert!(
        received.is_ok(),
        "probe {id} never reached the other replica"
    );
}

struct Figures {
    p50: Duration,
    p95: Duration,
    max: Duration,
}

impl Figures {
    fn of(mut samples: Vec<Duration>) -> Figures {
        samples.sort();
        let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile).round() as usize];
        Figures {
            p50: at(0.50),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            self.p50.as_secs_f64() * 1e3,
            self.p95.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3
        )
    }
}

//! Several replicas on one PostgreSQL database are one Slipway: a push sent
//! to all of them starts one run, and the runs of a replica killed mid-way
//! are continued by the others, each exactly once. (PostgreSQL only: on the
//! SQLite pass these tests say so and pass.)

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, http_client, spawn_app_with, TestApp};
use crate::processes::{admin_token, start_server, Peer, LEASE_SECONDS, SLOW_ANSWER};
use crate::recovery::execution;
use crate::webhooks::{assert_one_run_from, deliver, seed, Seed};

fn on_postgres() -> bool {
    let postgres = std::env::var("SLIPWAY_TEST_BACKEND").as_deref() == Ok("postgres");
    if !postgres {
        eprintln!("several replicas need PostgreSQL: run with SLIPWAY_TEST_BACKEND=postgres");
    }
    postgres
}

/// Another replica (in this process) of `app`'s Slipway: the same database
/// and the same key for stored secrets, a data directory of its own.
async fn another_replica(app: &TestApp) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::write(data_dir.path().join("test-database-url"), &app.database_url).unwrap();
    std::fs::copy(
        app.data_dir.path().join(server::crypto::KEY_FILE),
        data_dir.path().join(server::crypto::KEY_FILE),
    )
    .unwrap();
    spawn_app_with(data_dir, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_push_sent_to_three_replicas_at_once_starts_one_run() {
    if !on_postgres() {
        return;
    }
    // Arrange: a registry webhook, and three replicas that take its pushes.
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed("registry", "demo/app").await;
    let b = another_replica(&app).await;
    let c = another_replica(&app).await;
    let hook_url = webhook["hook_url"].as_str().unwrap();
    let at = |replica: &TestApp| {
        let mut copy = webhook.clone();
        copy["hook_url"] = hook_url.replacen(&app.address, &replica.address, 1).into();
        copy
    };
    let hooks = [webhook.clone(), at(&b), at(&c)];
    let envelope = include_str!("../fixtures/registry-push-event.json");

    // Act: 20 copies of one push, spread over the three replicas, at once.
    let answers = futures::future::join_all((0..20).map(|n| {
        let replica = [&app, &b, &c][n % 3];
        deliver(replica, &hooks[n % 3], envelope.to_string())
    }))
    .await;

    // Assert: one run, whichever replica is asked.
    assert_one_run_from(&answers, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_a_killed_replica_are_continued_by_the_others_exactly_once() {
    if !on_postgres() {
        return;
    }
    // Arrange: three replicas; 60 runs of a pipeline whose task calls a peer
    // that answers after a second, 20 at a time, all queued on replica A
    // (whose workers it wakes first).
    const RUNS: usize = 60;
    let data_dir = tempfile::tempdir().unwrap();
    let token = admin_token(data_dir.path()).await;
    let peer = Peer::default();
    let peer_url = peer.start().await;
    let mut a = start_server(data_dir.path(), &["--replica-id", "replica-a"]).await;
    let b = start_server(data_dir.path(), &["--replica-id", "replica-b"]).await;
    let _c = start_server(data_dir.path(), &["--replica-id", "replica-c"]).await;
    let client = http_client();
    let post = |address: &str, path: &str, body: Value| {
        client
            .post(format!("{address}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(
        post(&a.address, "/api/v1/projects", json!({"name": "Demo"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let pipeline = json!({
        "project": "Demo", "name": "slow", "concurrency": 20,
        "inputs": [{"name": "RUN", "default": ""}],
        "stages": [{"name": "s", "tasks": [{"name": "call", "type": "rest", "url": format!("{peer_url}/slow/${{input.RUN}}")}]}]
    });
    assert_eq!(
        post(&a.address, "/api/v1/pipelines", pipeline)
            .await
            .unwrap()
            .status(),
        201
    );
    let mut ids = Vec::new();
    for run in 0..RUNS {
        let queued: Value = post(
            &a.address,
            "/api/v1/pipelines/slow/executions?project=Demo",
            json!({"inputs": {"RUN": run.to_string()}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        ids.push(queued["id"].as_i64().expect("a run id"));
    }

    // Act: kill -9 replica A once runs are under way and it is seen running
    // some of them. Which replica claims which run is a race: under load B
    // and C could hold every slot at the moment of an unconditioned kill,
    // leaving A nothing to hand over and the test nothing to check.
    eventually(
        "replica A to run some of the runs",
        Duration::from_secs(30),
        || async {
            let started = (0..RUNS)
                .filter(|run| peer.calls(&format!("slow/{run}")) > 0)
                .count();
            let running: Vec<Value> = client
                .get(format!(
                    "{}/api/v1/executions?status=RUNNING&limit=100",
                    b.address
                ))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let on_a = running
                .iter()
                .filter(|run| run["replica"] == "replica-a")
                .count();
            (started >= 5 && on_a > 0).then_some(())
        },
    )
    .await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = std::time::Instant::now();

    // Assert: every run completes, within the lease and a few seconds.
    let lease = Duration::from_secs(LEASE_SECONDS.parse().unwrap());
    let mut taken_over = 0;
    for id in &ids {
        let ended = eventually(
            &format!("run {id} to end"),
            lease + Duration::from_secs(30),
            || async {
                let execution = execution(&b.address, &token, *id).await;
                execution["finished_at"].is_i64().then_some(execution)
            },
        )
        .await;
        assert_eq!(ended["status"], "COMPLETED", "{ended}");
        let log = &ended["stages"][0]["tasks"][0]["log"];
        if log
            .to_string()
            .contains("taken over from replica replica-a")
        {
            taken_over += 1;
        }
    }
    let continued_within = killed.elapsed();
    assert!(
        taken_over > 0,
        "replica A was running none of the runs when it was killed"
    );
    assert!(
        continued_within < lease + Duration::from_secs(15),
        "{continued_within:?}"
    );
    // Exactly once: each run's call made at most twice (the one cut off by
    // the kill, then again), and never two calls of one run at once.
    let mut repeated = HashSet::new();
    for run in 0..RUNS {
        let calls = peer.call_times(&format!("slow/{run}"));
        assert!(
            (1..=2).contains(&calls.len()),
            "run {run}: {} calls",
            calls.len()
        );
        if let [first, second] = calls[..] {
            // The first call was cut off (never answered) or ended before the second came.
            if let Some(first_answered) = first.answered {
                assert!(second.came >= first_answered, "run {run} ran twice at once");
            }
            repeated.insert(run);
        }
    }
    assert!(
        repeated.len() <= taken_over,
        "{repeated:?} repeated, {taken_over} taken over"
    );
    assert!(SLOW_ANSWER < lease);
}

//! Failover time on PostgreSQL: two `slipway` processes on one database; a
//! run whose task polls a peer that never says ready is started, the replica
//! that holds it is killed with `kill -9`, and the time until the other one
//! has taken the run over (the restarted task's first log line) is measured.
//! The killed replica is started again for the next round.
//!
//! Needs a PostgreSQL cluster where this user may create databases
//! (`SLIPWAY_TEST_POSTGRES_URL`; `source scripts/setup.sh; source scripts/postgres.sh;
//! start_test_postgres` starts a throwaway one), then
//! `cargo bench -p server --bench failover` (KILLS=10, LEASE=5 seconds).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::clock::now_millis;
use support::{env_number, install_crypto_provider, percentile, ServerProcess};

/// A replica process and the name it was given (`--replica-id`).
struct Replica {
    name: String,
    process: ServerProcess,
}

async fn start_replica(
    name: &str,
    database_url: &str,
    data_dir: &str,
    lease: usize,
) -> anyhow::Result<Replica> {
    let lease = lease.to_string();
    let flags = [
        "--replica-id",
        name,
        "--run-lease-seconds",
        &lease,
        "--database-url",
        database_url,
    ];
    Ok(Replica {
        name: name.to_string(),
        process: ServerProcess::start(data_dir, &flags).await?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    install_crypto_provider();
    let kills = env_number("KILLS", 10);
    let lease = env_number("LEASE", 5);
    let database_url = server::test_support::fresh_postgres_database().await;
    let data_dir = tempfile::tempdir()?;
    let data_arg = data_dir.path().display().to_string();
    let store = server::store::open(&database_url).await?;
    let database = sqlx::PgPool::connect(&database_url).await?;
    let token = support::slipway_command(
        &[
            "token",
            "create",
            "--user",
            "bench",
            "--role",
            "admin",
            "--database-url",
            &database_url,
            "--data-dir",
            &data_arg,
        ],
        "",
    )?
    .lines()
    .last()
    .unwrap_or_default()
    .to_string();
    let peer = {
        let router = axum::Router::new().route(
            "/ready",
            axum::routing::get(|| async { axum::Json(json!({"ready": false})) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}/ready")
    };
    let mut replicas = [
        start_replica("replica-a", &database_url, &data_arg, lease).await?,
        start_replica("replica-b", &database_url, &data_arg, lease).await?,
    ];
    let client = reqwest::Client::new();
    let post = |base: &str, path: &str, body: Value| {
        support::send_post(&client, format!("{base}{path}"), &token, &body)
    };
    post(
        &replicas[0].process.base,
        "/api/v1/projects",
        json!({"name": "Bench"}),
    )
    .await?
    .error_for_status()?;
    post(
        &replicas[0].process.base,
        "/api/v1/pipelines",
        json!({"project": "Bench", "name": "wait", "concurrency": 10,
               "stages": [{"name": "s", "tasks": [{"name": "poll", "type": "poll", "url": peer,
                           "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 3600}]}]}),
    )
    .await?
    .error_for_status()?;

    println!("failover: {kills} kills, two replicas on PostgreSQL, --run-lease-seconds {lease}");
    let mut continued_after = Vec::with_capacity(kills);
    for round in 0..kills {
        let queued: Value = post(
            &replicas[0].process.base,
            "/api/v1/pipelines/wait/executions?project=Bench",
            json!({}),
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
        let id = queued["id"].as_i64().unwrap_or_default();
        // Wait until a replica runs the task, and find which one holds the run.
        let holder = loop {
            let owner: Option<String> = sqlx::query_scalar(
                "SELECT lease_owner FROM executions WHERE id = $1 AND status = 'RUNNING' \
                 AND EXISTS (SELECT 1 FROM task_runs WHERE execution_id = $1 AND status = 'RUNNING')",
            )
            .bind(id)
            .fetch_optional(&database)
            .await?
            .flatten();
            if let Some(owner) = owner {
                break owner;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let victim = replicas
            .iter()
            .position(|replica| holder.starts_with(&format!("{}#", replica.name)))
            .ok_or_else(|| anyhow::anyhow!("no replica holds {holder}"))?;
        // The lease was renewed a moment ago at the latest: the kill comes
        // at a random point of the renewal period, as a real one does.
        replicas[victim].process.kill()?;
        let killed_at = now_millis();
        let deadline = Instant::now() + Duration::from_secs(lease as u64 * 4 + 30);
        let continued_at = loop {
            let taken_over = store
                .task_logs(id)
                .await?
                .into_iter()
                .find(|line| line.line.starts_with("taken over from replica"));
            if let Some(line) = taken_over {
                break line.at;
            }
            anyhow::ensure!(Instant::now() < deadline, "run {id} was not taken over");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        continued_after.push(continued_at - killed_at);
        println!(
            "  round {round}: {} killed, run continued after {} ms",
            replicas[victim].name,
            continued_at - killed_at
        );
        let survivor = &replicas[1 - victim].process.base;
        post(
            survivor,
            &format!("/api/v1/executions/{id}/cancel"),
            json!({}),
        )
        .await?
        .error_for_status()?;
        let name = replicas[victim].name.clone();
        replicas[victim] = start_replica(&name, &database_url, &data_arg, lease).await?;
    }
    continued_after.sort_unstable();
    println!(
        "kill -9 → run continued on the other replica: p50 {} ms, max {} ms (lease {} s)",
        percentile(&continued_after, 0.5),
        continued_after[continued_after.len() - 1],
        lease
    );
    Ok(())
}

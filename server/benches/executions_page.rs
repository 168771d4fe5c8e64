//! The Executions list with a long history: 100,000 runs stored, on SQLite.
//!
//! `cargo bench -p server --bench executions_page` (RUNS=100000, REPEAT=50).
//!
//! Runs are seeded straight into the database in one transaction (6 pipelines
//! in 3 projects, COMPLETED/FAILED/CANCELED, a third started by Docker pushes,
//! each with its pipeline's spec as a real run keeps it). Then, signed in as an
//! admin, each case is requested REPEAT times one after another: the
//! server-rendered page `GET /executions`, the page's server function
//! `POST /api/executions/list`, and `GET /api/v1/executions`, without and with
//! filters and for an "older" page deep in the history (keyset `before`).
//! `WITHOUT_0005=1` drops the indexes of migration 0005 first (for comparison).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::clock::now_millis;
use sqlx::Connection;
use support::{millis, percentile, Bench};

/// One run per row of `n`, spread round-robin over the pipelines in `pipes`.
const SEED: &str = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1), \
     pipes(k, pipeline_id, project_id, spec) AS (SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id, project_id, spec FROM pipelines) \
     INSERT INTO executions (pipeline_id, project_id, run_number, status, inputs, trigger, spec, error, created_by, \
         created_at, started_at, finished_at) \
     SELECT pipes.pipeline_id, pipes.project_id, n.i / ?2 + 1, \
         CASE WHEN n.i % 10 < 7 THEN 'COMPLETED' WHEN n.i % 10 < 9 THEN 'FAILED' ELSE 'CANCELED' END, \
         json_object('DOCKER_IMAGE', 'svendowideit/testhook', 'DOCKER_TAG', 'v' || n.i), \
         CASE WHEN n.i % 3 = 0 \
             THEN json_object('kind', 'docker', 'user', 'bench', 'event_id', NULL, 'repository', 'svendowideit/testhook', 'tag', 'v' || n.i) \
             ELSE json_object('kind', 'manual', 'user', 'bench', 'event_id', NULL, 'repository', NULL, 'tag', NULL) END, \
         pipes.spec, \
         CASE WHEN n.i % 10 BETWEEN 7 AND 8 THEN 'deploy.web: the rollout did not finish in 600 s' END, \
         ?3, ?4 + n.i * 1000, ?4 + n.i * 1000 + 20, ?4 + n.i * 1000 + 1500 \
     FROM n JOIN pipes ON pipes.k = n.i % ?2";

struct Case {
    name: String,
    /// A page path, or a JSON filter for the server function, or an API path.
    request: Request,
}

enum Request {
    Page(String),
    Function(Value),
    Api(String),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = support::env_number("RUNS", 100_000);
    let repeat = support::env_number("REPEAT", 50);
    let bench = Bench::start().await?;
    let mut projects = Vec::new();
    let mut pipelines = Vec::new();
    for project in ["Shop", "Billing", "Search"] {
        let created = bench
            .post("/api/v1/projects", json!({"name": project}))
            .await?;
        projects.push(created["id"].as_i64().unwrap_or_default());
        for pipeline in ["deploy-dev", "deploy-prod"] {
            let created = bench.post("/api/v1/pipelines", json!({"project": project, "name": pipeline, "inject_docker_parameters": true,
                "stages": [{"name": "deploy", "tasks": [{"name": "web", "type": "condition", "expression": "'${input.DOCKER_TAG}' != ''"}]}]})).await?;
            pipelines.push(created["id"].as_i64().unwrap_or_default());
        }
    }

    // Seed through a connection of our own to the server's database file.
    let seeding = Instant::now();
    let admin = bench
        .store
        .user_by_name("bench")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the bench user exists"))?;
    let database = format!(
        "sqlite:{}",
        bench.data_dir.path().join("slipway.db").display()
    );
    let mut connection = sqlx::SqliteConnection::connect(&database).await?;
    let mut transaction = connection.begin().await?;
    sqlx::query(SEED)
        .bind(runs as i64)
        .bind(pipelines.len() as i64)
        .bind(admin.id)
        .bind(now_millis() - runs as i64 * 1000)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    if std::env::var("WITHOUT_0005").is_ok() {
        for index in ["executions_trigger_kind_idx", "executions_pipeline_idx"] {
            sqlx::query(&format!("DROP INDEX {index}"))
                .execute(&mut connection)
                .await?;
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executions")
        .fetch_one(&mut connection)
        .await?;
    connection.close().await?;
    let seed_time = seeding.elapsed();

    // Signed in as the admin, as the browser is.
    bench
        .store
        .set_password_hash(
            admin.id,
            &server::secrets::hash_password("bench-password-1")?,
        )
        .await?;
    let signed_in = bench
        .server_function("sign_in")
        .form(&[("username", "bench"), ("password", "bench-password-1")])
        .send()
        .await?;
    anyhow::ensure!(
        signed_in.status().is_success(),
        "sign-in: {}",
        signed_in.status()
    );
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or_default()
        .to_string();

    // "Older" pages: from the middle of the history and from near its start.
    let middle = stored / 2;
    let near_start = 1_000;
    let (project, pipeline) = (projects[1], pipelines[3]);
    let filters: Vec<(&str, String, Value)> = vec![
        ("no filter", String::new(), json!({})),
        (
            "project",
            format!("project={project}"),
            json!({"project": project}),
        ),
        (
            "pipeline",
            format!("pipeline={pipeline}"),
            json!({"pipeline": pipeline}),
        ),
        (
            "status FAILED",
            "status=FAILED".into(),
            json!({"status": "FAILED"}),
        ),
        (
            "trigger docker",
            "trigger=docker".into(),
            json!({"trigger": "docker"}),
        ),
        (
            "project + status CANCELED",
            format!("project={project}&status=CANCELED"),
            json!({"project": project, "status": "CANCELED"}),
        ),
        (
            "older page (middle)",
            format!("before={middle}"),
            json!({"before": middle}),
        ),
        (
            "older page (near start)",
            format!("before={near_start}"),
            json!({"before": near_start}),
        ),
        (
            "pipeline + older (middle)",
            format!("pipeline={pipeline}&before={middle}"),
            json!({"pipeline": pipeline, "before": middle}),
        ),
    ];
    let mut cases = Vec::new();
    for (name, query, filter) in &filters {
        // The page has no trigger select yet (the URL's `trigger` is not read).
        if !query.starts_with("trigger") {
            cases.push(Case {
                name: format!("GET /executions, {name}"),
                request: Request::Page(format!("/executions?{query}")),
            });
        }
        cases.push(Case {
            name: format!("server fn list, {name}"),
            request: Request::Function(json!({ "filter": filter })),
        });
        cases.push(Case {
            name: format!("GET /api/v1/executions, {name}"),
            request: Request::Api(format!("/api/v1/executions?{query}")),
        });
    }

    println!(
        "executions_page: {stored} runs stored (seeded in {:.1} s), {repeat} requests per case, SQLite",
        seed_time.as_secs_f64()
    );
    let mut worst_page_p50 = Duration::ZERO;
    for case in &cases {
        let mut times = Vec::with_capacity(repeat);
        let mut rows = 0;
        let mut bytes = 0;
        for _ in 0..repeat {
            let request = match &case.request {
                Request::Page(path) => bench.client.get(bench.url(path)).header("Cookie", &cookie),
                Request::Function(filter) => bench
                    .server_function("executions/list")
                    .header("Cookie", &cookie)
                    .json(filter),
                Request::Api(path) => bench.client.get(bench.url(path)).bearer_auth(&bench.token),
            };
            let sent = Instant::now();
            let answer = request.send().await?;
            let status = answer.status();
            let body = answer.text().await?;
            times.push(sent.elapsed());
            anyhow::ensure!(status.is_success(), "{}: {status} {body}", case.name);
            bytes = body.len();
            if !matches!(case.request, Request::Page(_)) {
                rows = serde_json::from_str::<Vec<Value>>(&body)?.len();
            }
        }
        times.sort_unstable();
        let p50 = percentile(&times, 0.5);
        if matches!(case.request, Request::Page(_)) {
            worst_page_p50 = worst_page_p50.max(p50);
        }
        let size = if rows > 0 {
            format!("{rows} runs")
        } else {
            format!("{} KiB", bytes / 1024)
        };
        println!(
            "  {:<58} p50 {:>6.2} ms   p95 {:>6.2} ms   ({size})",
            case.name,
            millis(p50),
            millis(percentile(&times, 0.95)),
        );
    }
    println!(
        "  slowest page p50: {:.2} ms (budget 50 ms)",
        millis(worst_page_p50)
    );
    Ok(())
}

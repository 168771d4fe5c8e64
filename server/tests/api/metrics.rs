//! `GET /metrics` on a running server: the series move as pushes arrive,
//! runs end and tasks call the cluster, and no label names a project, a
//! user, an image or a token.

use std::collections::HashMap;

use crate::helpers::TestApp;
use crate::webhooks::{push, run_result, seed};

/// Every sample of a scrape: `name{labels}` → value.
async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let answer = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = answer.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect();
    (text, samples)
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    let value = |samples: &HashMap<String, f64>| samples.get(series).copied().unwrap_or(0.0);
    value(after) - value(before)
}

#[tokio::test]
async fn a_scrape_shows_deliveries_runs_tasks_and_cluster_calls_moving() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let app = &seed.app;
    let hook_url = seed.webhook["hook_url"].as_str().unwrap().to_string();
    let (_, before) = scrape(app).await;

    let (status, answer) = push(&seed.hub, &hook_url, "latest", 1_700_000_000.0).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("TRIGGERED"))
    );
    let run = run_result(app, &answer["execution_id"]).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let refused = app
        .client
        .post(app.url("/pipelines/api/docker-hub-webhooks?secureToken=wrong"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let (text, after) = scrape(app).await;
    for (series, by) in [
        (
            r#"slipway_webhook_deliveries_total{source="docker-hub",outcome="triggered"}"#,
            1.0,
        ),
        (
            r#"slipway_webhook_deliveries_total{source="docker-hub",outcome="unauthorized"}"#,
            1.0,
        ),
        (
            r#"slipway_webhook_delivery_duration_seconds_count{source="docker-hub"}"#,
            2.0,
        ),
        (r#"slipway_runs_finished_total{status="completed"}"#, 1.0),
        (
            r#"slipway_task_duration_seconds_count{task_type="kubernetes",status="completed"}"#,
            1.0,
        ),
    ] {
        assert_eq!(moved(&before, &after, series), by, "{series} in:\n{text}");
    }
    // An APPLY reads, writes and watches the rollout: several requests.
    assert!(
        moved(
            &before,
            &after,
            r#"slipway_kubernetes_requests_total{outcome="2xx"}"#
        ) >= 2.0,
        "{text}"
    );
    // The run's page was polled under its route template, not its id.
    assert!(
        after
            .keys()
            .any(|series| series.starts_with(r#"slipway_http_requests_total{route="/api/v1/executions/{id}",method="GET",status_class="2xx"}"#)),
        "{text}"
    );
    for series in [
        r#"slipway_runs{status="queued"}"#,
        r#"slipway_runs{status="running"}"#,
        r#"slipway_notification_outbox{state="pending"}"#,
        "slipway_database_up",
        r#"slipway_database_size_bytes{backend="sqlite"}"#,
        "slipway_live_streams_open",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        let key = if series.contains("sqlite") && crate::helpers::on_postgres() {
            series.replace("sqlite", "postgresql")
        } else {
            series.to_string()
        };
        assert!(after.contains_key(&key), "missing {key} in:\n{text}");
    }
    assert_eq!(after["slipway_database_up"], 1.0);
    assert!(after["process_resident_memory_bytes"] > 1_000_000.0);
    assert!(
        after
            .keys()
            .any(|series| series.starts_with("slipway_database_connections{")),
        "{text}"
    );
    if !crate::helpers::on_postgres() {
        // SQLite's connections, which the store holds itself: one writer and
        // up to eight readers, at least one of them open since the start.
        let connections = |pool: &str, state: &str| {
            after[&format!(r#"slipway_database_connections{{pool="{pool}",state="{state}"}}"#)]
        };
        assert_eq!(connections("write", "max"), 1.0, "{text}");
        assert_eq!(connections("read", "max"), 8.0, "{text}");
        assert!(
            connections("read", "idle") + connections("read", "in_use") >= 1.0,
            "{text}"
        );
    }

    // Nothing people named, nor a secret, is ever a label value.
    let secure_token = hook_url.split("secureToken=").nth(1).unwrap_or_default();
    for name in [
        "Demo",
        "svendowideit",
        "testhook",
        "deploy-testhook",
        "demo_webhook",
        "admin",
        app.admin_token.as_str(),
        secure_token,
    ] {
        assert!(
            !name.is_empty() && !text.contains(name),
            "`{name}` in:\n{text}"
        );
    }
}

#[tokio::test]
async fn prometheus_gets_openmetrics_when_it_asks_and_no_sign_in_is_needed() {
    let app = crate::helpers::spawn_app().await;
    let answer = app
        .client
        .get(app.url("/metrics"))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = answer.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE slipway_database_up gauge"), "{text}");
    assert!(
        text.contains("# TYPE process_cpu_seconds counter"),
        "{text}"
    );
    // Unknown paths count under one label, whatever their path.
    let missing = app
        .client
        .get(app.url("/pkg/nothing-here-42.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let (text, samples) = scrape(&app).await;
    assert!(!text.contains("nothing-here-42"), "{text}");
    assert!(
        samples.keys().any(|series| series.starts_with(
            r#"slipway_http_requests_total{route="unmatched",method="GET",status_class="4xx"}"#
        )),
        "{text}"
    );
}

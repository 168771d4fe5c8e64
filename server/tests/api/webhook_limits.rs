//! What one webhook takes: at most 100 pushes in a delivery, at most its
//! `max_deliveries_per_minute`, and only from its allow-list — and a flood
//! of refused deliveries is one counted Activity row per window, not a row
//! per request.

use std::time::Duration;

use serde_json::{json, Value};
use server::service::refusals::RefusalTiming;

use crate::helpers::{eventually, TestApp};
use crate::webhooks::{seed, Seed};

/// How long a counted row may take to show its count (written at least
/// once a second).
const COUNT_WAIT: Duration = Duration::from_secs(10);

/// A CNCF distribution envelope reporting `pushes` tag pushes of `demo/app`,
/// each its own event and tag.
fn envelope(pushes: usize) -> String {
    let events: Vec<Value> = (0..pushes)
        .map(|index| {
            json!({
                "id": format!("event-{index}"),
                "timestamp": "2026-11-28T00:20:59Z",
                "action": "push",
                "target": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:ce8818d7fba34efd8ec25180c1a0c1b9f9bed890e6d24f7c13d71f009e3b8b0b",
                    "repository": "demo/app",
                    "tag": format!("v{index}"),
                },
                "request": {"host": "127.0.0.1:5000"},
            })
        })
        .collect();
    json!({ "events": events }).to_string()
}

/// A registry webhook of the seed's project on `demo/app` with the fields given.
async fn webhook(app: &TestApp, name: &str, fields: Value) -> Value {
    let mut body = json!({
        "project": "Demo", "name": name, "endpoint": "hub", "pipeline": "deploy-testhook",
        "api_token": app.admin_token, "image": "demo/app"
    });
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let created = app
        .post_json("/api/v1/webhooks/docker", &app.admin_token, &body)
        .await;
    assert_eq!(created.status(), 201, "{name}");
    created.json().await.unwrap()
}

/// POSTs a body to the webhook's hook URL (from `client`).
async fn post(client: &reqwest::Client, hook: &Value, body: String) -> reqwest::Response {
    client
        .post(hook["hook_url"].as_str().unwrap())
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn activity(app: &TestApp, hook: &Value) -> Vec<Value> {
    app.get(
        &format!("/api/v1/webhooks/docker/{}/activity?limit=500", hook["id"]),
        &app.admin_token,
    )
    .await
    .json()
    .await
    .unwrap()
}

/// Waits until the webhook's Activity satisfies `done`, and answers it.
async fn activity_when(
    app: &TestApp,
    hook: &Value,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    eventually(what, COUNT_WAIT, || async {
        let rows = activity(app, hook).await;
        done(&rows).then_some(rows)
    })
    .await
}

/// The sum of `deliveries` over rows whose reason contains `text`.
fn counted(rows: &[Value], text: &str) -> i64 {
    rows.iter()
        .filter(|row| row["reason"].as_str().unwrap().contains(text))
        .map(|row| row["deliveries"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn an_envelope_over_the_push_cap_is_refused_whole_and_one_at_the_cap_is_taken() {
    // Arrange: a webhook that ignores every tag, so pushes it takes start nothing.
    let Seed { app, .. } = seed("registry", "demo/app").await;
    let hook = webhook(&app, "capped", json!({"tag": "never-*"})).await;

    // Act: 101 tag pushes in one envelope.
    let refused = post(&app.client, &hook, envelope(101)).await;

    // Assert: 413 saying the limit; one REJECTED row for the delivery,
    // nothing of the pushes, no run.
    assert_eq!(refused.status(), 413);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(
        answer["message"],
        "the delivery reports 101 tag pushes; at most 100 are taken in one delivery: send them in smaller batches",
        "{answer}"
    );
    let rows = activity(&app, &hook).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["status"], &rows[0]["repository"], &rows[0]["tag"]),
        (&json!("REJECTED"), &json!(""), &json!(""))
    );
    assert_eq!(rows[0]["reason"], answer["message"]);
    assert!(app.executions().await.is_empty());

    // 100 are taken: one IGNORED row each.
    let taken = post(&app.client, &hook, envelope(100)).await;
    assert_eq!(taken.status(), 202);
    let rows = activity(&app, &hook).await;
    let ignored = rows.iter().filter(|row| row["status"] == "IGNORED").count();
    assert_eq!(ignored, 100);
}

#[tokio::test]
async fn a_webhook_over_its_limit_answers_429_and_counts_the_refusals_in_one_row() {
    // Arrange: two deliveries a minute.
    let Seed { app, .. } = seed("registry", "demo/app").await;
    let hook = webhook(
        &app,
        "limited",
        json!({"tag": "never-*", "max_deliveries_per_minute": 2}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(post(&app.client, &hook, envelope(1)).await.status(), 202);
    }

    // Act: 12 more at once.
    let refused =
        futures::future::join_all((0..12).map(|_| post(&app.client, &hook, envelope(1)))).await;

    // Assert: each is a 429 with the time to the next free delivery (30 s
    // at two a minute) and a one-line reason naming the limit.
    for response in refused {
        assert_eq!(response.status(), 429);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry_after), "{retry_after}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "rate_limited");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("over the webhook's limit of 2 deliveries a minute; retry in "),
            "{message}"
        );
    }
    // Two IGNORED rows and one counted row for the 12 refusals.
    let rows = activity_when(&app, &hook, "the count of 12 refusals", |rows| {
        counted(rows, "(429)") == 12
    })
    .await;
    assert_eq!(rows.len(), 3, "one row for all refusals: {rows:?}");
    let limited = &rows[0];
    assert_eq!(
        (&limited["status"], &limited["deliveries"]),
        (&json!("REJECTED"), &json!(12))
    );
    assert_eq!(
        limited["reason"],
        "over the webhook's limit of 2 deliveries a minute: 12 deliveries refused (429) in this minute, the latest from 127.0.0.1"
    );
    assert!(rows[1..].iter().all(|row| row["deliveries"] == 1));

    // A higher limit applies to the next delivery.
    let raised = app
        .patch_json(
            &format!("/api/v1/webhooks/docker/{}", hook["id"]),
            &app.admin_token,
            &json!({"max_deliveries_per_minute": 100}),
        )
        .await;
    assert_eq!(raised.status(), 200);
    assert_eq!(post(&app.client, &hook, envelope(1)).await.status(), 202);
}

#[tokio::test]
async fn senders_off_the_allow_list_are_counted_and_use_none_of_the_allowance() {
    // Arrange: only 127.0.0.1 may deliver, two a minute; another loopback
    // address (127.0.0.2) is off the list.
    let Seed { app, .. } = seed("registry", "demo/app").await;
    let hook = webhook(
        &app,
        "guarded",
        json!({"tag": "never-*", "source_cidrs": ["127.0.0.1/32"], "max_deliveries_per_minute": 2}),
    )
    .await;
    let outsider = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();

    // Act: 20 deliveries from the outsider.
    for _ in 0..20 {
        let refused = post(&outsider, &hook, envelope(1)).await;
        assert_eq!(refused.status(), 403);
        let answer: Value = refused.json().await.unwrap();
        assert_eq!(
            answer["message"],
            "the sender's address is not on the webhook's source allow-list"
        );
    }

    // Assert: one counted row naming the sender, and the allowed sender
    // still has its two deliveries.
    let rows = activity_when(&app, &hook, "the count of 20 refusals", |rows| {
        counted(rows, "(403)") == 20
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]["reason"],
        "the sender's address is not on the webhook's source allow-list: 20 deliveries refused (403) in this minute, the latest from 127.0.0.2"
    );
    for _ in 0..2 {
        assert_eq!(post(&app.client, &hook, envelope(1)).await.status(), 202);
    }
    assert_eq!(post(&app.client, &hook, envelope(1)).await.status(), 429);
}

#[tokio::test]
async fn each_window_of_refusals_is_one_row_and_every_refusal_is_counted() {
    // Arrange: windows of 300 ms (a minute in the server) written every 20 ms.
    let Seed { app, .. } = seed("registry", "demo/app").await;
    app.refusals.set_timing(RefusalTiming {
        window: Duration::from_millis(300),
        flush_every: Duration::from_millis(20),
    });
    let hook = webhook(
        &app,
        "flooded",
        json!({"tag": "never-*", "max_deliveries_per_minute": 1}),
    )
    .await;
    assert_eq!(post(&app.client, &hook, envelope(1)).await.status(), 202);

    // Act: refused deliveries until a second window opened.
    let mut sent = 0;
    eventually("a second window of refusals", COUNT_WAIT, || {
        sent += 1;
        let (app, hook) = (&app, &hook);
        async move {
            assert_eq!(post(&app.client, hook, envelope(1)).await.status(), 429);
            let rows = activity(app, hook).await;
            let windows = rows
                .iter()
                .filter(|row| row["status"] == "REJECTED")
                .count();
            (windows >= 2).then_some(())
        }
    })
    .await;

    // Assert: every refusal is in the count of one row; far fewer rows
    // than refusals.
    let all_counted = activity_when(&app, &hook, "every refusal counted", |rows| {
        counted(rows, "(429)") == sent as i64
    })
    .await;
    let windows = all_counted.len() - 1;
    assert!(
        windows < sent,
        "{sent} refusals in {windows} rows: {all_counted:?}"
    );
}

#[tokio::test]
async fn the_delivery_limit_round_trips_and_is_validated() {
    let Seed { app, .. } = seed("registry", "demo/app").await;
    let path = |hook: &Value| format!("/api/v1/webhooks/docker/{}", hook["id"]);

    // The default on create; a given value is kept.
    let plain = webhook(&app, "plain", json!({})).await;
    assert_eq!(plain["max_deliveries_per_minute"], 6000);
    let hook = webhook(&app, "tuned", json!({"max_deliveries_per_minute": 50})).await;
    assert_eq!(hook["max_deliveries_per_minute"], 50);
    let read: Value = app
        .get(&path(&hook), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["max_deliveries_per_minute"], 50);

    // Out of range: 422 naming the field and the range, nothing created.
    for wrong in [0, -5, 100_001] {
        let refused = app
            .post_json(
                "/api/v1/webhooks/docker",
                &app.admin_token,
                &json!({"project": "Demo", "name": "wrong", "endpoint": "hub", "pipeline": "deploy-testhook",
                        "api_token": app.admin_token, "max_deliveries_per_minute": wrong}),
            )
            .await;
        assert_eq!(refused.status(), 422, "{wrong}");
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["field"], "max_deliveries_per_minute", "{error}");
        assert_eq!(
            error["message"],
            format!("max_deliveries_per_minute: must be between 1 and 100000 deliveries a minute (the default is 6000); {wrong} is not"),
        );
    }
    let not_a_number = app
        .post_json(
            "/api/v1/webhooks/docker",
            &app.admin_token,
            &json!({"project": "Demo", "name": "wrong", "endpoint": "hub", "pipeline": "deploy-testhook",
                    "api_token": app.admin_token, "max_deliveries_per_minute": "lots"}),
        )
        .await;
    assert_eq!(not_a_number.status(), 400);
    let hooks: Vec<Value> = app
        .get("/api/v1/webhooks/docker", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hooks.len(), 3, "the seed's, plain and tuned only");

    // PUT: a new value is stored; left out, the current one stays.
    let put = |fields: Value| {
        let mut body = json!({"name": "tuned", "endpoint": "hub", "pipeline": "deploy-testhook", "image": "demo/app"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let (app, path) = (&app, path(&hook));
        async move { app.put_json(&path, &app.admin_token, &body).await }
    };
    let changed: Value = put(json!({"max_deliveries_per_minute": 75}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["max_deliveries_per_minute"], 75);
    let kept: Value = put(json!({})).await.json().await.unwrap();
    assert_eq!(kept["max_deliveries_per_minute"], 75);
    assert_eq!(
        put(json!({"max_deliveries_per_minute": 0})).await.status(),
        422
    );

    // PATCH: the limit alone, with the toggle, and refused as a whole.
    let patch = |body: Value| {
        let (app, path) = (&app, path(&hook));
        async move { app.patch_json(&path, &app.admin_token, &body).await }
    };
    let patched = patch(json!({"max_deliveries_per_minute": 7})).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (&patched["max_deliveries_per_minute"], &patched["enabled"]),
        (&json!(7), &json!(true))
    );
    let both: Value = patch(json!({"max_deliveries_per_minute": 9, "enabled": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&both["max_deliveries_per_minute"], &both["enabled"]),
        (&json!(9), &json!(false))
    );
    let refused = patch(json!({"max_deliveries_per_minute": 100_001, "enabled": true})).await;
    assert_eq!(refused.status(), 422);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["field"], "max_deliveries_per_minute", "{error}");
    let empty = patch(json!({})).await;
    assert_eq!(empty.status(), 400);
    let unchanged: Value = app
        .get(&path(&hook), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &unchanged["max_deliveries_per_minute"],
            &unchanged["enabled"]
        ),
        (&json!(9), &json!(false)),
        "a refused PATCH changes nothing"
    );

    // Only a developer of the project may change it.
    let viewer = app.member_token("Demo", "vera", "viewer").await;
    let forbidden = app
        .patch_json(
            &path(&hook),
            &viewer,
            &json!({"max_deliveries_per_minute": 1}),
        )
        .await;
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn refusals_by_the_allow_list_are_audited_once_per_sender_and_window() {
    // Arrange: windows of 200 ms; only 127.0.0.1 may deliver.
    let Seed { app, .. } = seed("registry", "demo/app").await;
    app.refusals.set_timing(RefusalTiming {
        window: Duration::from_millis(200),
        flush_every: Duration::from_millis(20),
    });
    let hook = webhook(
        &app,
        "audited",
        json!({"tag": "never-*", "source_cidrs": ["127.0.0.1/32"]}),
    )
    .await;
    let outsider = reqwest::Client::builder()
        .local_address(Some("127.0.0.3".parse().unwrap()))
        .build()
        .unwrap();

    // Act: 7 refused deliveries in one window.
    for _ in 0..7 {
        assert_eq!(post(&outsider, &hook, envelope(1)).await.status(), 403);
    }

    // Assert: when the window ends, one entry for the sender with its count.
    let entries = eventually(
        "the audit entry of the window",
        Duration::from_secs(5),
        || async {
            let entries: Vec<Value> = app
                .get(
                    "/api/v1/audit?action=delivery.refused_by_allow_list",
                    &app.admin_token,
                )
                .await
                .json()
                .await
                .unwrap();
            (!entries.is_empty()).then_some(entries)
        },
    )
    .await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        (&entry["actor"], &entry["client"], &entry["outcome"]),
        (
            &json!("registry sender"),
            &json!("127.0.0.3"),
            &json!("refused")
        )
    );
    assert_eq!(
        (&entry["target"], &entry["detail"]["count"]),
        (&json!("audited"), &json!(7))
    );
}

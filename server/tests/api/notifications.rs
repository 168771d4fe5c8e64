//! Pipeline notifications: webhooks (JSON and Slack-compatible) and email
//! delivered from the outbox with retries, never delaying a run, their
//! state on the run; and what is refused on save.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{finished, run_when, spawn_app, spawn_app_with, TestApp};
use crate::pipelines::{create_pipeline, run};

/// The first retry's delay in these tests (`--notification-retry-base-ms`).
const RETRY_BASE_MS: u64 = 100;

/// A webhook target on 127.0.0.1: `/flaky` answers 500 twice, then 200;
/// `/ok` answers 200; `/hang` never answers. Every body received is kept.
pub(crate) struct Target {
    pub url: String,
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
}

pub(crate) async fn webhook_target() -> Target {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    type Seen = Arc<Mutex<Vec<(String, Value)>>>;
    let bodies: Seen = Arc::default();
    let record = |path: &'static str| {
        move |State(seen): State<Seen>, axum::Json(body): axum::Json<Value>| async move {
            let mut seen = seen.lock().unwrap();
            seen.push((path.to_string(), body));
            let tries = seen
                .iter()
                .filter(|(seen_path, _)| seen_path == path)
                .count();
            if path == "/flaky" && tries <= 2 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
    };
    let router = axum::Router::new()
        .route("/flaky", post(record("/flaky")))
        .route("/ok", post(record("/ok")))
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                StatusCode::OK
            }),
        )
        .with_state(bodies.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Target {
        url: format!("http://{address}"),
        bodies,
    }
}

impl Target {
    pub fn received(&self, path: &str) -> Vec<Value> {
        let bodies = self.bodies.lock().unwrap();
        bodies
            .iter()
            .filter(|(seen, _)| seen == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

pub(crate) async fn spawn_notifying_app() -> TestApp {
    spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.notifications.notification_retry_base_ms = RETRY_BASE_MS;
    })
    .await
}

/// A pipeline of one passing condition task, with `notifications`.
async fn notifying_pipeline(app: &TestApp, name: &str, notifications: Value) -> Value {
    create_pipeline(
        app,
        json!({
            "project": "Demo", "name": name,
            "stages": [{"name": "check", "tasks": [{"name": "ok", "type": "condition", "expression": "true"}]}],
            "notifications": notifications,
        }),
    )
    .await
}

/// Waits until every notification of the run satisfies `done`.
async fn notifications_when(
    app: &TestApp,
    id: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let execution = run_when(app, id, what, |execution| {
        execution["notifications"]
            .as_array()
            .is_some_and(|all| !all.is_empty() && all.iter().all(&done))
    })
    .await;
    execution["notifications"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_webhook_that_failed_twice_gets_the_notification_on_the_third_attempt() {
    // Arrange
    let target = webhook_target().await;
    let app = spawn_notifying_app().await;
    app.create_project("Demo").await;
    let pipeline = notifying_pipeline(
        &app,
        "deploy",
        json!([
            {"on": ["completed", "failed"], "webhook": {"url": format!("{}/flaky?token=s3cret", target.url)}},
            {"on": ["started", "completed"], "webhook": {"url": format!("{}/ok", target.url), "format": "slack"}},
        ]),
    )
    .await;

    // Act
    let id = run(&app, &pipeline["id"], json!({})).await;
    assert_eq!(finished(&app, id).await["status"], "COMPLETED");
    let notifications =
        notifications_when(&app, id, "to have its notifications sent", |notification| {
            notification["state"] == "SENT"
        })
        .await;

    // Assert: on the run, in the order made, without the URL's query string.
    let shown: Vec<(&str, &str, &str, i64)> = notifications
        .iter()
        .map(|notification| {
            (
                notification["event"].as_str().unwrap(),
                notification["target"].as_str().unwrap(),
                notification["format"].as_str().unwrap(),
                notification["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    let flaky = format!("{}/flaky", target.url);
    let ok = format!("{}/ok", target.url);
    assert_eq!(
        shown,
        [
            ("started", ok.as_str(), "slack", 1),
            ("completed", flaky.as_str(), "json", 3),
            ("completed", ok.as_str(), "slack", 1),
        ]
    );
    assert!(notifications
        .iter()
        .all(|notification| notification["last_error"].is_null()
            && notification["sent_at"].as_i64().is_some()));
    assert!(!notifications
        .iter()
        .any(|n| n.to_string().contains("s3cret")));

    // The JSON body, the same each attempt.
    let bodies = target.received("/flaky");
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|body| body == &bodies[0]));
    let body = &bodies[0];
    assert_eq!(body["event"], "completed");
    assert_eq!(
        (
            &body["run"]["id"],
            &body["run"]["number"],
            &body["run"]["status"]
        ),
        (&json!(id), &json!(1), &json!("COMPLETED"))
    );
    assert!(body["run"]["error"].is_null());
    assert_eq!(
        body["run"]["url"],
        format!("{}/executions/{id}", app.address)
    );
    assert_eq!(
        (
            &body["pipeline"]["name"],
            &body["pipeline"]["project"],
            &body["pipeline"]["id"]
        ),
        (&json!("deploy"), &json!("Demo"), &pipeline["id"])
    );
    assert_eq!(body["trigger"]["kind"], "manual");
    assert_eq!(body["trigger"]["user"], "test-admin");
    assert!(body["digest"].is_null() && body["image"].is_null());
    assert!(body["at"].as_str().unwrap().ends_with('Z'), "{body}");

    // Slack-compatible: one text with the facts and the link.
    let slack = target.received("/ok");
    let texts: Vec<&str> = slack
        .iter()
        .map(|body| body["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{slack:?}");
    for event in ["started", "completed"] {
        let text = texts
            .iter()
            .find(|text| text.contains(&format!("deploy #1 {event}")))
            .unwrap_or_else(|| panic!("no {event} text in {texts:?}"));
        assert!(text.contains(&format!("{}/executions/{id}", app.address)));
    }
    assert!(
        slack
            .iter()
            .all(|body| body.as_object().unwrap().len() == 1),
        "only text"
    );
}

#[tokio::test]
async fn a_target_that_hangs_delays_neither_the_run_nor_other_targets() {
    // Arrange
    let target = webhook_target().await;
    let app = spawn_notifying_app().await;
    app.create_project("Demo").await;
    let pipeline = notifying_pipeline(
        &app,
        "deploy",
        json!([
            {"on": ["completed"], "webhook": {"url": format!("{}/hang?token=s3cret", target.url)}},
            {"on": ["started", "completed"], "webhook": {"url": format!("{}/ok", target.url)}},
        ]),
    )
    .await;

    // Act
    let started = Instant::now();
    let id = run(&app, &pipeline["id"], json!({})).await;
    let execution = finished(&app, id).await;

    // Assert: the run ends at once, the other target hears of it at once.
    assert_eq!(execution["status"], "COMPLETED");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the run took {:?}",
        started.elapsed()
    );
    run_when(
        &app,
        id,
        "to have notified the answering target",
        |execution| {
            let sent = execution["notifications"].as_array().map_or(0, |all| {
                all.iter()
                    .filter(|notification| notification["state"] == "SENT")
                    .count()
            });
            sent == 2
        },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the answering target waited {:?}",
        started.elapsed()
    );
    // The hanging one times out and is retried, its token never shown.
    let notifications = notifications_when(
        &app,
        id,
        "to have its notifications tried",
        |notification| notification["state"] == "SENT" || notification["last_error"].is_string(),
    )
    .await;
    let hung = notifications
        .iter()
        .find(|notification| notification["target"] == format!("{}/hang", target.url))
        .unwrap();
    let error = hung["last_error"].as_str().unwrap();
    assert!(error.contains("no answer within 10 s"), "{error}");
    assert!(
        ["PENDING", "FAILED"].contains(&hung["state"].as_str().unwrap()),
        "{hung}"
    );
    assert!(
        !notifications
            .iter()
            .any(|n| n.to_string().contains("s3cret")),
        "{notifications:?}"
    );
}

/// A mail server on 127.0.0.1 speaking just enough SMTP to take emails;
/// answers its address and the messages (headers and body) it took.
async fn smtp_sink() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (taken, messages) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let taken = taken.clone();
            tokio::spawn(async move {
                let (reader, mut writer) = stream.into_split();
                let mut lines = BufReader::new(reader).lines();
                writer.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(message) = data.as_mut() {
                        if line == "." {
                            taken.send(data.take().unwrap()).unwrap();
                            writer.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let command = line.to_ascii_uppercase();
                    let answer: &[u8] =
                        if command.starts_with("EHLO") || command.starts_with("HELO") {
                            b"250 sink\r\n"
                        } else if command.starts_with("DATA") {
                            data = Some(String::new());
                            b"354 end with .\r\n"
                        } else if command.starts_with("QUIT") {
                            writer.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                    writer.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (format!("smtp://{address}"), messages)
}

#[tokio::test]
async fn an_email_notification_reaches_the_mail_server() {
    // Arrange
    let (smtp_url, mut messages) = smtp_sink().await;
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.notifications.smtp_url = Some(smtp_url.as_str().into());
        args.notifications.smtp_from = Some("Slipway <slipway@example.com>".into());
    })
    .await;
    app.create_project("Demo").await;
    let pipeline = notifying_pipeline(
        &app,
        "mail",
        json!([{"on": ["completed"], "email": {"to": ["ops@example.com", "dev@example.com"]}}]),
    )
    .await;

    // Act
    let id = run(&app, &pipeline["id"], json!({})).await;
    let message = tokio::time::timeout(Duration::from_secs(20), messages.recv())
        .await
        .expect("an email within 20 s")
        .unwrap();
    let notifications = notifications_when(&app, id, "to have its email sent", |notification| {
        notification["state"] == "SENT"
    })
    .await;

    // Assert: quoted-printable soft line breaks undone, the text is whole.
    let message = message.replace("=\n", "");
    assert!(
        message.contains("Subject: [Slipway] mail #1 completed"),
        "{message}"
    );
    assert!(
        message.contains("From: Slipway <slipway@example.com>"),
        "{message}"
    );
    assert!(message.contains("ops@example.com") && message.contains("dev@example.com"));
    assert!(
        message.contains(&format!("{}/executions/{id}", app.address)),
        "{message}"
    );
    assert_eq!(
        (&notifications[0]["target"], &notifications[0]["format"]),
        (
            &json!("email to ops@example.com, dev@example.com"),
            &json!("email")
        )
    );
}

#[tokio::test]
async fn notifications_the_server_cannot_send_are_refused_on_save() {
    // Arrange: no --smtp-url.
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let cases = [
        (
            json!([{"on": ["failed"], "webhook": {"url": "http://hooks.example/ok"}},
                   {"on": ["failed"], "email": {"to": ["ops@example.com"]}}]),
            "notifications[1].email",
            "--smtp-url",
        ),
        (
            json!([{"on": ["failed"], "webhook": {"url": "ftp://hooks.example/x"}}]),
            "notifications[0].webhook.url",
            "http",
        ),
        (
            json!([{"on": [], "webhook": {"url": "http://hooks.example/ok"}}]),
            "notifications[0].on",
            "started",
        ),
    ];
    for (notifications, field, hint) in cases {
        // Act
        let response = app
            .post_json(
                "/api/v1/pipelines",
                &app.admin_token,
                &json!({
                    "project": "Demo", "name": "p",
                    "stages": [{"name": "check", "tasks": [{"name": "ok", "type": "condition", "expression": "true"}]}],
                    "notifications": notifications,
                }),
            )
            .await;

        // Assert
        assert_eq!(response.status(), 422, "{notifications}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["field"], field, "{answer}");
        assert!(answer.to_string().contains(hint), "{hint} in {answer}");
    }
    let listed: Vec<Value> = app
        .get("/api/v1/pipelines", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty(), "nothing was saved: {listed:?}");
}

#[tokio::test]
async fn notifications_written_in_yaml_round_trip() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let yaml = "project: Demo\nname: told\nstages:\n  - name: check\n    tasks:\n      - name: ok\n        type: condition\n        expression: 'true'\nnotifications:\n  - on: [started, failed]\n    webhook:\n      url: https://hooks.example/x?token=t\n      format: slack\n";

    // Act
    let created = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let as_yaml = app
        .client
        .get(app.url("/api/v1/pipelines/told?project=Demo"))
        .bearer_auth(&app.admin_token)
        .header("Accept", "application/yaml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let as_json: Value = app
        .get("/api/v1/pipelines/told?project=Demo", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();

    // Assert: the editors of the pipeline see the whole URL; the YAML reads back the same.
    let expected = json!([{"on": ["started", "failed"], "webhook": {"url": "https://hooks.example/x?token=t", "format": "slack"}}]);
    assert_eq!(as_json["notifications"], expected, "{as_json}");
    assert!(as_yaml.contains("notifications:"), "{as_yaml}");
    let read_back: Value = serde_yaml::from_str(&as_yaml).unwrap();
    assert_eq!(
        serde_json::to_value(&read_back["notifications"]).unwrap(),
        expected,
        "{as_yaml}"
    );
}

#[tokio::test]
async fn a_waiting_approval_notifies_with_who_decides_and_the_link() {
    // Arrange
    let target = webhook_target().await;
    let app = spawn_notifying_app().await;
    app.create_project("Demo").await;
    app.member_token("Demo", "alice", "viewer").await;
    let pipeline = create_pipeline(
        &app,
        json!({
            "project": "Demo", "name": "gated",
            "stages": [{"name": "gate", "tasks": [{
                "name": "approve", "type": "approval", "approvers": ["alice"], "summary": "Ship it?"
            }]}],
            "notifications": [
                {"on": ["waiting"], "webhook": {"url": format!("{}/ok", target.url)}},
                {"on": ["waiting"], "webhook": {"url": format!("{}/ok", target.url), "format": "slack"}}
            ],
        }),
    )
    .await;

    // Act
    let id = run(&app, &pipeline["id"], json!({})).await;
    notifications_when(&app, id, "to notify that it waits", |one| {
        one["state"] == "SENT"
    })
    .await;

    // Assert
    let bodies = target.received("/ok");
    let json_body = bodies
        .iter()
        .find(|body| body.get("event").is_some())
        .unwrap();
    assert_eq!(json_body["event"], "waiting");
    assert_eq!(
        json_body["approvals"],
        json!([{"task": "gate.approve", "summary": "Ship it?", "approvers": "alice"}])
    );
    assert!(json_body["run"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/executions/{id}")));
    let slack = bodies
        .iter()
        .find_map(|body| body["text"].as_str())
        .unwrap();
    assert!(
        slack.contains("gate.approve asks alice: Ship it?"),
        "{slack}"
    );
    assert!(slack.contains("approve or reject it at"), "{slack}");
}

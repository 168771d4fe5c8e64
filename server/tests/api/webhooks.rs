//! The manual's whole flow through the API: endpoint → pipeline with injected
//! Docker inputs and a Kubernetes task → webhook (with its Docker Hub twin) →
//! push → run → Activity; then the receivers' bad input.

use std::time::Duration;

use serde_json::{json, Value};
use slipway_standins::hub::{HubStandin, HubStandinHandle, Push, PushDelivery};
use slipway_standins::kube::{KubeStandin, KubeStandinHandle};

use crate::helpers::{eventually, spawn_app_with, TestApp};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: testhook\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: testhook}\n  template:\n    metadata:\n      labels: {app: testhook}\n    spec:\n      containers:\n        - name: app\n          image: ${input.DOCKER_IMAGE_REF}\n";

pub struct Seed {
    pub app: TestApp,
    pub hub: HubStandinHandle,
    pub cluster: KubeStandinHandle,
    pub webhook: Value,
}

/// Steps 1–4 of the manual: endpoints, pipeline, webhook.
pub async fn seed(registry_kind: &str, image: &str) -> Seed {
    seed_with(registry_kind, image, |_| {}).await
}

/// A Docker Hub webhook seed whose server may call back to `host` only.
async fn seed_with_callback_host(host: impl Into<String>) -> Seed {
    let host = host.into();
    seed_with("docker-hub", "svendowideit/testhook", move |args| {
        args.docker_hub_callback_hosts = vec![host];
    })
    .await
}

/// As [`seed`], with the server's arguments adjusted.
pub async fn seed_with(
    registry_kind: &str,
    image: &str,
    adjust: impl FnOnce(&mut server::config::ServeArgs),
) -> Seed {
    let hub = HubStandin::builder()
        .credentials("svendowideit", "hub-password")
        .start()
        .await
        .unwrap();
    let cluster = KubeStandin::builder()
        .token("cluster-token")
        .rollout_delay(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    // The image the seed's webhook matches exists, so a push delivered
    // directly (not through the stand-in's push) resolves to a digest.
    if let Some((namespace, repo)) = image.split_once('/') {
        hub.store_image(namespace, repo, "latest", &[]);
    }
    let hub_url = hub.url();
    let app = spawn_app_with(tempfile::tempdir().unwrap(), move |args| {
        args.docker_hub_api_url = hub_url.clone();
        args.docker_hub_registry_url = hub_url;
        adjust(args);
    })
    .await;
    app.create_project("Demo").await;
    let registry = match registry_kind {
        "docker-hub" => {
            json!({"project": "Demo", "name": "hub", "kind": "docker-registry", "server_type": "docker-hub",
                               "url": "https://index.docker.io/v1/", "username": "svendowideit", "password": "hub-password"})
        }
        _ => {
            json!({"project": "Demo", "name": "hub", "kind": "docker-registry", "server_type": "registry", "url": "http://127.0.0.1:5000"})
        }
    };
    assert_eq!(
        app.post_json("/api/v1/endpoints", &app.admin_token, &registry)
            .await
            .status(),
        201
    );
    let cluster_endpoint = json!({"project": "Demo", "name": "dev", "kind": "kubernetes", "url": cluster.url(), "token": "cluster-token", "namespace": "default"});
    assert_eq!(
        app.post_json("/api/v1/endpoints", &app.admin_token, &cluster_endpoint)
            .await
            .status(),
        201
    );
    let pipeline = json!({
        "project": "Demo", "name": "deploy-testhook", "inject_docker_parameters": true,
        "inputs": [{"name": "ENVIRONMENT", "default": "dev"}],
        "stages": [{"name": "deploy", "tasks": [{"name": "web", "type": "kubernetes", "endpoint": "dev", "action": "APPLY", "yaml": DEPLOYMENT, "wait_for_rollout": true, "rollout_timeout_seconds": 10}]}]
    });
    assert_eq!(
        app.post_json("/api/v1/pipelines", &app.admin_token, &pipeline)
            .await
            .status(),
        201
    );
    let created = app
        .post_json("/api/v1/webhooks/docker", &app.admin_token, &json!({
            "project": "Demo", "name": "demo_webhook", "endpoint": "hub", "pipeline": "deploy-testhook",
            "api_token": app.admin_token, "image": image, "tag": "", "inputs": {"ENVIRONMENT": "dev"}
        }))
        .await;
    assert_eq!(created.status(), 201);
    let webhook: Value = created.json().await.unwrap();
    Seed {
        app,
        hub,
        cluster,
        webhook,
    }
}

pub async fn run_result(app: &TestApp, id: &Value) -> Value {
    crate::helpers::finished(app, id).await
}

pub(crate) async fn push(
    hub: &HubStandinHandle,
    hook_url: &str,
    tag: &str,
    pushed_at: f64,
) -> (u16, Value) {
    answer_of(&push_delivery(hub, hook_url, tag, pushed_at).await)
}

/// Pushes a new image under `tag` and delivers Docker Hub's webhook for it.
pub(crate) async fn push_delivery(
    hub: &HubStandinHandle,
    hook_url: &str,
    tag: &str,
    pushed_at: f64,
) -> PushDelivery {
    let mut deliveries = hub
        .push(Push {
            hook_url: Some(hook_url.to_string()),
            tag: Some(tag.into()),
            pushed_at: Some(pushed_at),
            ..Push::default()
        })
        .await
        .expect("the Hub stand-in delivers");
    deliveries.remove(0)
}

/// What the receiver answered a delivery: its status and JSON body.
pub(crate) fn answer_of(delivery: &PushDelivery) -> (u16, Value) {
    (
        delivery.status,
        serde_json::from_str(&delivery.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_manual_flow_from_push_to_deployment() {
    // Arrange: the manual's steps 1–4.
    let Seed {
        app,
        hub,
        cluster,
        webhook,
    } = seed("docker-hub", "svendowideit/testhook").await;
    let hook_url = webhook["hook_url"]
        .as_str()
        .expect("the hook URL is shown once")
        .to_string();
    assert!(hook_url.contains("/pipelines/api/docker-hub-webhooks?secureToken="));
    assert_eq!(webhook["hub_sync"]["state"], "synced", "{webhook}");
    let twins = hub.webhook_pipelines("svendowideit", "testhook");
    assert_eq!(twins.len(), 1);
    assert_eq!(twins[0]["name"], "demo_webhook");
    assert_eq!(twins[0]["webhooks"][0]["hook_url"], hook_url.as_str());
    let id = webhook["id"].clone();
    let shown: Value = app
        .get(&format!("/api/v1/webhooks/docker/{id}"), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        shown.get("hook_url").is_none(),
        "the token is not shown again"
    );

    // Act: Docker Hub pushes.
    let delivery = push_delivery(&hub, &hook_url, "latest", 1_417_566_161.0).await;
    let (status, answer) = answer_of(&delivery);

    // Assert: accepted, run deployed the pushed tag, Activity links to it.
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "TRIGGERED");
    let execution = run_result(&app, &answer["execution_id"]).await;
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    assert_eq!(execution["inputs"]["DOCKER_IMAGE"], "svendowideit/testhook");
    assert_eq!(execution["inputs"]["DOCKER_OWNER_NAME"], "trustedbuilder");
    assert_eq!(execution["inputs"]["ENVIRONMENT"], "dev");
    assert_eq!(execution["trigger"]["kind"], "docker");
    // Docker Hub's payload names no digest: the registry was asked (a HEAD,
    // which Docker Hub does not count as a pull) and the run pinned to it.
    let digest = hub
        .tag_digest("svendowideit", "testhook", "latest")
        .expect("the push stored the image");
    assert_eq!(delivery.digest, digest);
    assert_eq!(execution["inputs"]["DOCKER_DIGEST"], digest.as_str());
    assert_eq!(
        execution["inputs"]["DOCKER_IMAGE_REF"],
        format!("docker.io/svendowideit/testhook@{digest}")
    );
    assert!(hub
        .calls()
        .iter()
        .any(|call| call.method == "HEAD"
            && call.path == "/v2/svendowideit/testhook/manifests/latest"));
    assert!(!hub
        .calls()
        .iter()
        .any(|call| call.method == "GET" && call.path.contains("/manifests/")));
    let deployment = cluster
        .object("apps", "v1", "deployments", Some("default"), "testhook")
        .expect("deployed");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("docker.io/svendowideit/testhook@{digest}").as_str()
    );
    let activity: Vec<Value> = app
        .get(
            &format!("/api/v1/webhooks/docker/{id}/activity"),
            &app.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(activity[0]["status"], "TRIGGERED");
    assert_eq!(activity[0]["execution_id"], answer["execution_id"]);
    assert_eq!(activity[0]["execution_status"], "COMPLETED");
    assert_eq!(activity[0]["repository"], "svendowideit/testhook");
    assert_eq!(activity[0]["digest"], digest.as_str());

    // The same push delivered again is a duplicate: no second run.
    let again = app
        .client
        .post(&hook_url)
        .json(&delivery.payload)
        .send()
        .await
        .unwrap();
    let (status, again) = (
        again.status().as_u16(),
        again.json::<Value>().await.unwrap(),
    );
    assert_eq!(status, 202);
    assert_eq!(again["status"], "DUPLICATE");
    assert!(again["execution_id"].is_null());

    // Disabled: the push is recorded as IGNORED and runs nothing.
    let toggled = app
        .client
        .patch(app.url(&format!("/api/v1/webhooks/docker/{id}")))
        .bearer_auth(&app.admin_token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    let (status, ignored) = push(&hub, &hook_url, "v2", 1_417_566_999.0).await;
    assert_eq!(status, 202);
    assert_eq!(ignored["status"], "IGNORED");
    let activity: Vec<Value> = app
        .get(
            &format!("/api/v1/webhooks/docker/{id}/activity"),
            &app.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(activity[0]["reason"], "disabled");
    let runs = app.executions().await;
    assert_eq!(runs.len(), 1);

    // Deleting it deletes the Docker Hub side too.
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/docker/{id}"), &app.admin_token)
            .await
            .status(),
        204
    );
    assert!(hub.webhook_pipelines("svendowideit", "testhook").is_empty());
}

#[tokio::test]
async fn a_refusing_hub_leaves_the_webhook_saved_but_not_synced() {
    let hub = HubStandin::builder()
        .credentials("svendowideit", "hub-password")
        .fail_with(503)
        .start()
        .await
        .unwrap();
    let hub_url = hub.url();
    let app = spawn_app_with(tempfile::tempdir().unwrap(), move |args| {
        args.docker_hub_api_url = hub_url
    })
    .await;
    app.create_project("Demo").await;
    app.post_json("/api/v1/endpoints", &app.admin_token, &json!({"project": "Demo", "name": "hub", "kind": "docker-registry", "server_type": "docker-hub", "url": "https://index.docker.io/v1/", "username": "svendowideit", "password": "hub-password"})).await;
    app.post_json("/api/v1/pipelines", &app.admin_token, &json!({"project": "Demo", "name": "p", "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "true"}]}]})).await;

    let created = app
        .post_json("/api/v1/webhooks/docker", &app.admin_token, &json!({"project": "Demo", "name": "w", "endpoint": "hub", "pipeline": "p", "api_token": app.admin_token, "image": "svendowideit/testhook"}))
        .await;

    assert_eq!(created.status(), 201);
    let webhook: Value = created.json().await.unwrap();
    assert_eq!(webhook["hub_sync"]["state"], "not_synced");
    assert!(
        webhook["hub_sync"]["message"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{webhook}"
    );
    assert!(webhook["hook_url"].is_string(), "the URL to paste by hand");
    // Retry once the Hub answers again.
    hub.stop_failing();
    let retried: Value = app
        .post_json(
            &format!("/api/v1/webhooks/docker/{}/sync", webhook["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried["hub_sync"]["state"], "synced", "{retried}");
}

#[tokio::test]
async fn receivers_refuse_bad_deliveries_with_the_right_status() {
    let Seed { app, webhook, .. } = seed("docker-hub", "svendowideit/testhook").await;
    let hook_url = webhook["hook_url"].as_str().unwrap().to_string();
    let id = webhook["id"].clone();
    let fixture = include_str!("../fixtures/docker-hub-push.json");
    let post = |url: String, content_type: &'static str, body: Vec<u8>| {
        app.client
            .post(url)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let base = format!("{}/pipelines/api/docker-hub-webhooks", app.address);

    // Unknown and missing tokens: the same 401, nothing recorded.
    let unknown = post(
        format!("{base}?secureToken=not-a-token"),
        "application/json",
        fixture.into(),
    )
    .await
    .unwrap();
    let missing = post(base.clone(), "application/json", fixture.into())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert_eq!(missing.status(), 401);
    assert_eq!(unknown.text().await.unwrap(), missing.text().await.unwrap());

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("application/json", b"{not json".to_vec(), 400),
        ("application/json", br#"{"push_data": {"pusher": "x"}, "repository": {"repo_name": "svendowideit/testhook"}}"#.to_vec(), 400),
        ("text/plain", fixture.as_bytes().to_vec(), 415),
    ];
    for (content_type, body, status) in cases {
        let response = post(hook_url.clone(), content_type, body).await.unwrap();
        assert_eq!(response.status(), status);
        let answer: Value = response.json().await.unwrap();
        assert!(
            !answer["message"].as_str().unwrap().contains('\n'),
            "one line: {answer}"
        );
    }
    let huge = post(
        hook_url.clone(),
        "application/json",
        vec![b' '; 2 * 1024 * 1024],
    )
    .await
    .unwrap();
    assert_eq!(huge.status(), 413);

    // A tag that does not match is IGNORED.
    let mut tagged: Value = serde_json::from_str(fixture).unwrap();
    tagged["push_data"]["tag"] = json!("v9");
    let put_tag = app
        .put_json(&format!("/api/v1/webhooks/docker/{id}"), &app.admin_token, &json!({"name": "demo_webhook", "endpoint": "hub", "pipeline": "deploy-testhook", "image": "svendowideit/testhook", "tag": "v1.*"}))
        .await;
    assert_eq!(put_tag.status(), 200);
    let ignored: Value = post(
        hook_url.clone(),
        "application/json",
        tagged.to_string().into_bytes(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(ignored["status"], "IGNORED");

    let activity: Vec<Value> = app
        .get(
            &format!("/api/v1/webhooks/docker/{id}/activity"),
            &app.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = activity
        .iter()
        .map(|event| event["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["IGNORED", "REJECTED", "REJECTED", "REJECTED"],
        "newest first: {activity:?}"
    );
    assert!(activity[0]["reason"].as_str().unwrap().contains("v9"));

    // The status filter: one status, none for empty, and a clear refusal
    // of a status that does not exist.
    let filtered = |status: &'static str| {
        let app = &app;
        let url = format!("/api/v1/webhooks/docker/{id}/activity?status={status}");
        async move { app.get(&url, &app.admin_token).await }
    };
    let count = |answer: reqwest::Response| async move {
        assert_eq!(answer.status(), 200);
        answer.json::<Vec<Value>>().await.unwrap().len()
    };
    assert_eq!(count(filtered("REJECTED").await).await, 3);
    assert_eq!(count(filtered("").await).await, 4);
    let unknown = filtered("LOST").await;
    assert_eq!(unknown.status(), 400);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"], "bad_request", "{error}");
    assert_eq!(
        error["message"],
        "unknown status 'LOST': use one of TRIGGERED, IGNORED, REJECTED, DUPLICATE",
        "{error}"
    );
    let runs = app.executions().await;
    assert!(runs.is_empty());
}

#[tokio::test]
async fn a_failed_run_can_be_re_run_from_its_activity_row() {
    let Seed {
        app,
        hub,
        cluster,
        webhook,
    } = seed("docker-hub", "svendowideit/*").await;
    let hook_url = webhook["hook_url"].as_str().unwrap().to_string();
    assert_eq!(
        webhook["hub_sync"]["state"], "not_synced",
        "a pattern cannot have a Hub twin"
    );
    drop(cluster); // the cluster is gone: the run fails.

    let (_, answer) = push(&hub, &hook_url, "latest", 1_417_566_161.0).await;
    let failed = run_result(&app, &answer["execution_id"]).await;
    assert_eq!(failed["status"], "FAILED");
    let event_id = answer["event_id"].clone();

    let rerun = app
        .post_json(
            &format!("/api/v1/activity/{event_id}/rerun"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    assert_eq!(rerun.status(), 201);
    let row: Value = rerun.json().await.unwrap();
    assert_eq!(row["status"], "TRIGGERED");
    assert_ne!(row["execution_id"], answer["execution_id"]);
    let second = run_result(&app, &row["execution_id"]).await;
    assert_eq!(second["inputs"], failed["inputs"]);
}

#[tokio::test]
async fn a_disabled_webhook_refuses_a_re_run() {
    // Arrange: a failed run, then its webhook disabled.
    let Seed {
        app,
        hub,
        cluster,
        webhook,
    } = seed("docker-hub", "svendowideit/*").await;
    let hook_url = webhook["hook_url"].as_str().unwrap().to_string();
    drop(cluster);
    let (_, answer) = push(&hub, &hook_url, "latest", 1_417_566_161.0).await;
    assert_eq!(
        run_result(&app, &answer["execution_id"]).await["status"],
        "FAILED"
    );
    let toggled = app
        .client
        .patch(app.url(&format!("/api/v1/webhooks/docker/{}", webhook["id"])))
        .bearer_auth(&app.admin_token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);

    // Act
    let rerun = app
        .post_json(
            &format!("/api/v1/activity/{}/rerun", answer["event_id"]),
            &app.admin_token,
            &json!({}),
        )
        .await;

    // Assert
    assert_eq!(rerun.status(), 409);
    let error: Value = rerun.json().await.unwrap();
    assert_eq!(
        error["message"], "the webhook is disabled; enable it to re-run",
        "{error}"
    );
    let runs = app.executions().await;
    assert_eq!(runs.len(), 1, "no second run: {runs:#?}");
}

/// A local peer that records the JSON bodies POSTed to it.
async fn callback_peer() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = received.clone();
    let router = axum::Router::new().route(
        "/u/svendowideit/testhook/hook/1/",
        post(move |axum::Json(body): axum::Json<Value>| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("127.0.0.1:{}", address.port()), received)
}

/// The fixture's push with its callback pointed at `host`.
fn push_with_callback(host: &str) -> String {
    let mut payload: Value =
        serde_json::from_str(include_str!("../fixtures/docker-hub-push.json")).unwrap();
    payload["callback_url"] = json!(format!("http://{host}/u/svendowideit/testhook/hook/1/"));
    payload.to_string()
}

/// Asserts that of the answers to copies of one push exactly one TRIGGERED
/// and every other one is a DUPLICATE, and that `app` lists one run; answers the runs.
pub(crate) async fn assert_one_run_from(answers: &[Value], app: &TestApp) -> Vec<Value> {
    let count = |status: &str| {
        answers
            .iter()
            .filter(|answer| answer["status"] == status)
            .count()
    };
    assert_eq!(
        (count("TRIGGERED"), count("DUPLICATE")),
        (1, answers.len() - 1),
        "{answers:?}"
    );
    let runs = app.executions().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs
}

pub(crate) async fn deliver(app: &TestApp, webhook: &Value, body: String) -> Value {
    app.client
        .post(webhook["hook_url"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_finished_run_reports_to_an_allowed_docker_hub_callback() {
    // Arrange
    let (peer, received) = callback_peer().await;
    let allowed = peer.clone();
    // The stand-ins stop when dropped: keep them for the whole test.
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed_with_callback_host(allowed).await;

    // Act
    let answer = deliver(&app, &webhook, push_with_callback(&peer)).await;
    let execution = run_result(&app, &answer["execution_id"]).await;

    // Assert
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    eventually("the callback to arrive", Duration::from_secs(10), || {
        std::future::ready((!received.lock().unwrap().is_empty()).then_some(()))
    })
    .await;
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["state"], "success");
    assert_eq!(bodies[0]["context"], "Slipway");
    let target = bodies[0]["target_url"].as_str().unwrap();
    assert!(
        target.ends_with(&format!("/executions/{}", answer["execution_id"])),
        "{target}"
    );
    // The callback URL is a credential of the push: no answer shows it.
    assert!(!execution.to_string().contains("/hook/1/"), "{execution}");
}

#[tokio::test]
async fn a_callback_to_a_host_off_the_allow_list_is_never_sent() {
    let (peer, received) = callback_peer().await;
    // Callbacks on, but for another port of the same address.
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed_with("docker-hub", "svendowideit/testhook", |args| {
        args.docker_hub_callback_hosts = vec!["127.0.0.1:1".into()];
    })
    .await;

    let answer = deliver(&app, &webhook, push_with_callback(&peer)).await;
    let execution = run_result(&app, &answer["execution_id"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(execution["status"], "COMPLETED");
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn executions_filter_by_trigger_kind() {
    let Seed {
        app,
        hub,
        cluster: _cluster,
        webhook,
    } = seed("docker-hub", "svendowideit/testhook").await;
    let hook_url = webhook["hook_url"].as_str().unwrap().to_string();
    let (_, pushed) = push(&hub, &hook_url, "latest", 1_417_566_161.0).await;
    let docker_run = pushed["execution_id"].clone();
    let manual = app
        .post_json(
            "/api/v1/pipelines/deploy-testhook/executions",
            &app.admin_token,
            &json!({"inputs": {"DOCKER_IMAGE": "svendowideit/testhook", "DOCKER_TAG": "by-hand"}}),
        )
        .await;
    assert_eq!(manual.status(), 201);
    let manual_run = manual.json::<Value>().await.unwrap()["id"].clone();
    run_result(&app, &docker_run).await;
    run_result(&app, &manual_run).await;

    let ids = |trigger: &'static str| {
        let app = &app;
        async move {
            let listed: Vec<Value> = app
                .get(
                    &format!("/api/v1/executions?trigger={trigger}"),
                    &app.admin_token,
                )
                .await
                .json()
                .await
                .unwrap();
            listed
                .iter()
                .map(|run| run["id"].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("docker").await, vec![docker_run]);
    assert_eq!(ids("manual").await, vec![manual_run]);

    let unknown = app
        .get("/api/v1/executions?trigger=cron", &app.admin_token)
        .await;
    assert_eq!(unknown.status(), 400);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"], "bad_request", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_re_deliveries_of_one_registry_event_start_one_run() {
    // Arrange: a registry webhook; the registry re-sends one envelope 40 times at once.
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed("registry", "demo/app").await;
    let envelope = include_str!("../fixtures/registry-push-event.json");

    // Act
    let answers =
        futures::future::join_all((0..40).map(|_| deliver(&app, &webhook, envelope.to_string())))
            .await;

    // Assert: one TRIGGERED answer, every other one a DUPLICATE, one run.
    let runs = assert_one_run_from(&answers, &app).await;
    let first = answers
        .iter()
        .find(|answer| answer["status"] == "TRIGGERED")
        .unwrap();
    assert_eq!(runs[0]["id"], first["execution_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_manual_queues_of_one_pipeline_get_distinct_run_numbers() {
    // Arrange
    let Seed {
        app,
        hub: _hub,
        cluster: _cluster,
        ..
    } = seed("registry", "demo/app").await;
    let pipeline: Value = app
        .get("/api/v1/pipelines/deploy-testhook", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/pipelines/{}/executions", pipeline["id"]);
    let body = json!({"inputs": {"DOCKER_IMAGE": "demo/app", "DOCKER_TAG": "v1"}});

    // Act: 20 queues at once.
    let responses =
        futures::future::join_all((0..20).map(|_| app.post_json(&path, &app.admin_token, &body)))
            .await;

    // Assert: all queued, numbered 1 to 20 without a repeat.
    let mut numbers = Vec::new();
    for response in responses {
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{answer}");
        numbers.push(answer["run_number"].as_i64().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<i64>>());
}

/// A peer that counts every request it receives, whatever its method and path.
async fn counting_peer() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    let router = axum::Router::new().fallback(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { "ok" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("127.0.0.1:{}", address.port()), count)
}

#[tokio::test]
async fn a_callback_answered_with_a_redirect_is_not_followed() {
    use std::sync::atomic::Ordering;
    // The allow-listed host redirects (307 keeps the POST) to a second listener.
    let (elsewhere, reached) = counting_peer().await;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let target = format!("http://{elsewhere}/stolen");
    let router = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let target = target.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, target)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirector = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let allowed = redirector.clone();
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed_with_callback_host(allowed).await;

    let answer = deliver(&app, &webhook, push_with_callback(&redirector)).await;
    let execution = run_result(&app, &answer["execution_id"]).await;
    eventually("the callback to be sent", Duration::from_secs(10), || {
        std::future::ready((asked.load(Ordering::SeqCst) > 0).then_some(()))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(execution["status"], "COMPLETED");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_semver_tag_range_triggers_versions_in_it_and_says_why_others_are_ignored() {
    // Arrange: the seed's Docker Hub webhook, its tag limited to ^1.4.
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed("docker-hub", "svendowideit/testhook").await;
    let path = format!("/api/v1/webhooks/docker/{}", webhook["id"]);
    let edit = |tag: &str, image: &str| json!({"name": webhook["name"], "endpoint": "hub", "pipeline": "deploy-testhook", "image": image, "tag": tag});
    let refused = app
        .put_json(
            &path,
            &app.admin_token,
            &edit("semver:>=banana", "svendowideit/testhook"),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["field"], "tag", "{answer}");
    let image_range = app
        .put_json(&path, &app.admin_token, &edit("", "semver:^1"))
        .await;
    assert_eq!(image_range.status(), 422);
    let saved = app
        .put_json(
            &path,
            &app.admin_token,
            &edit("semver:^1.4", "svendowideit/testhook"),
        )
        .await;
    assert_eq!(saved.status(), 200);

    // Act: pushes of four tags.
    let push = |tag: &str| {
        let mut payload: Value =
            serde_json::from_str(include_str!("../fixtures/docker-hub-push.json")).unwrap();
        payload["push_data"]["tag"] = json!(tag);
        payload["push_data"]["pushed_at"] = json!(1_700_000_000 + tag.len() as i64);
        payload.to_string()
    };
    let mut answers = Vec::new();
    for tag in ["v1.4.2", "1.5.0-rc.1", "2.0.0", "latest"] {
        answers.push(deliver(&app, &webhook, push(tag)).await);
    }

    // Assert
    let statuses: Vec<&str> = answers
        .iter()
        .map(|answer| answer["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses,
        ["TRIGGERED", "IGNORED", "IGNORED", "IGNORED"],
        "{answers:?}"
    );
    // Activity says why each push was ignored (newest first).
    let activity: Vec<Value> = app
        .get(&format!("{path}/activity"), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = activity[..3]
        .iter()
        .map(|row| row["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        [
            "tag 'latest' is not a version (x.y.z), so it is not in 'semver:^1.4'",
            "tag '2.0.0' is not in the range 'semver:^1.4'",
            "tag '1.5.0-rc.1' is not in the range 'semver:^1.4'",
        ],
        "{activity:?}"
    );
}

#[tokio::test]
async fn a_push_to_a_pipeline_that_does_not_take_the_docker_inputs_says_how_to_fix_it() {
    // Arrange: the seed's webhook moved to a pipeline without the Docker inputs.
    let Seed {
        app,
        webhook,
        hub: _hub,
        cluster: _cluster,
    } = seed("docker-hub", "svendowideit/testhook").await;
    let pipeline = json!({"project": "Demo", "name": "no-docker-inputs",
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "true"}]}]});
    assert_eq!(
        app.post_json("/api/v1/pipelines", &app.admin_token, &pipeline)
            .await
            .status(),
        201
    );
    let path = format!("/api/v1/webhooks/docker/{}", webhook["id"]);
    let moved = app
        .put_json(
            &path,
            &app.admin_token,
            &json!({"name": webhook["name"], "endpoint": "hub", "pipeline": "no-docker-inputs",
                    "image": "svendowideit/testhook", "tag": ""}),
        )
        .await;
    assert_eq!(moved.status(), 200);

    // Act
    let answer = deliver(
        &app,
        &webhook,
        include_str!("../fixtures/docker-hub-push.json").to_string(),
    )
    .await;

    // Assert: refused its run, and the reason says what to turn on.
    assert_eq!(answer["status"], "REJECTED", "{answer}");
    let activity = app.activity(1).await;
    let reason = activity[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("turn on “Inject Docker parameters” on its Input tab"),
        "{reason}"
    );
}

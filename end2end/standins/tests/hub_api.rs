//! The Docker Hub stand-in, spoken to over HTTP the way Slipway's client does.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use reqwest::Client;
use serde_json::{json, Value};
use slipway_standins::hub::{HubStandin, HubStandinHandle, Push};

const USER: &str = "svendowideit";
const PASSWORD: &str = "s3cret";

async fn start_hub() -> HubStandinHandle {
    HubStandin::builder()
        .credentials(USER, PASSWORD)
        .namespace("acme")
        .start()
        .await
        .expect("the stand-in starts")
}

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

async fn login(hub: &HubStandinHandle) -> String {
    let response = http()
        .post(format!("{}/v2/users/login", hub.url()))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("login JSON");
    body["token"].as_str().expect("a token").to_string()
}

/// Sends a request with `Authorization: JWT <token>` and returns status and JSON body (Null when empty).
async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http()
        .request(method, url)
        .header("Authorization", format!("JWT {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn pipelines_url(hub: &HubStandinHandle, repository: &str) -> String {
    format!(
        "{}/v2/repositories/{repository}/webhook_pipeline/",
        hub.url()
    )
}

fn demo_pipeline(hook_url: &str) -> Value {
    json!({"name": "demo_webhook", "expect_final_callback": false, "webhooks": [{"name": "demo_webhook", "hook_url": hook_url}]})
}

#[tokio::test]
async fn login_gives_a_jwt_for_the_right_password_only() {
    let hub = start_hub().await;

    let token = login(&hub).await;
    let refused = http()
        .post(format!("{}/v2/users/login", hub.url()))
        .json(&json!({"username": USER, "password": "wrong"}))
        .send()
        .await
        .expect("login request");

    assert_eq!(token.split('.').count(), 3);
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json::<Value>().await.expect("JSON"),
        json!({"detail": "Incorrect authentication credentials."})
    );
    let recorded_passwords: Vec<Value> = hub
        .calls()
        .iter()
        .filter_map(|call| call.body.as_ref().map(|body| body["password"].clone()))
        .collect();
    assert_eq!(
        recorded_passwords,
        [json!("<redacted>"), json!("<redacted>")]
    );
}

#[tokio::test]
async fn webhook_pipelines_can_be_created_listed_updated_and_deleted() {
    let hub = start_hub().await;
    let token = login(&hub).await;
    let url = pipelines_url(&hub, "svendowideit/testhook");

    let (created_status, created) = call(
        reqwest::Method::POST,
        url.clone(),
        &token,
        Some(demo_pipeline("http://127.0.0.1:9/hook")),
    )
    .await;
    let (duplicate_status, duplicate) = call(
        reqwest::Method::POST,
        url.clone(),
        &token,
        Some(demo_pipeline("http://127.0.0.1:9/hook")),
    )
    .await;
    let (list_status, list) = call(reqwest::Method::GET, url.clone(), &token, None).await;
    let item_url = format!("{url}demo_webhook/");
    let patch = json!({"webhooks": [{"name": "moved", "hook_url": "http://127.0.0.1:9/other"}]});
    let (patch_status, patched) = call(
        reqwest::Method::PATCH,
        item_url.clone(),
        &token,
        Some(patch),
    )
    .await;
    let (delete_status, _) = call(reqwest::Method::DELETE, item_url.clone(), &token, None).await;
    let (gone_status, gone) = call(reqwest::Method::GET, item_url, &token, None).await;

    assert_eq!(created_status, 201);
    assert_eq!(
        (created["name"].as_str(), created["slug"].as_str()),
        (Some("demo_webhook"), Some("demo_webhook"))
    );
    assert!(created["id"].is_u64() && created["created"].is_string());
    assert_eq!(
        created["webhooks"][0]["hook_url"],
        "http://127.0.0.1:9/hook"
    );
    assert_eq!(duplicate_status, 400);
    assert!(duplicate["name"].is_array());
    assert_eq!((list_status, list["count"].as_u64()), (200, Some(1)));
    assert_eq!(list["results"][0]["slug"], "demo_webhook");
    assert_eq!(patch_status, 200);
    assert_eq!(
        patched["webhooks"][0]["hook_url"],
        "http://127.0.0.1:9/other"
    );
    assert_eq!(patched["name"], "demo_webhook");
    assert_eq!(delete_status, 204);
    assert_eq!((gone_status, gone), (404, json!({"detail": "Not found."})));
    assert!(hub.webhook_pipelines(USER, "testhook").is_empty());
}

#[tokio::test]
async fn webhook_calls_need_a_token_and_an_own_namespace() {
    let hub = start_hub().await;
    let token = login(&hub).await;

    let anonymous = http()
        .get(pipelines_url(&hub, "svendowideit/testhook"))
        .send()
        .await
        .expect("request");
    let (bad_token, _) = call(
        reqwest::Method::GET,
        pipelines_url(&hub, "svendowideit/testhook"),
        "not-a-token",
        None,
    )
    .await;
    let (foreign, foreign_body) = call(
        reqwest::Method::GET,
        pipelines_url(&hub, "library/nginx"),
        &token,
        None,
    )
    .await;
    let (organisation, _) = call(
        reqwest::Method::GET,
        pipelines_url(&hub, "acme/app"),
        &token,
        None,
    )
    .await;
    let bearer = http()
        .get(pipelines_url(&hub, "svendowideit/testhook"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");

    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad_token, 401);
    assert_eq!(
        (foreign, foreign_body["detail"].as_str()),
        (
            403,
            Some("You do not have permission to perform this action.")
        )
    );
    assert_eq!(organisation, 200);
    assert_eq!(bearer.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_pipelines_get_field_errors() {
    let hub = start_hub().await;
    let token = login(&hub).await;

    let body = json!({"webhooks": [{"name": "x", "hook_url": "not a url"}]});
    let (status, errors) = call(
        reqwest::Method::POST,
        pipelines_url(&hub, "svendowideit/testhook"),
        &token,
        Some(body),
    )
    .await;

    assert_eq!(status, 400);
    assert_eq!(
        errors,
        json!({"name": ["This field is required."], "webhooks": [{"hook_url": ["Enter a valid URL."]}]})
    );
}

#[tokio::test]
async fn the_failure_switch_refuses_every_hub_call_until_cleared() {
    let hub = start_hub().await;
    let token = login(&hub).await;
    let switch = format!("{}/_standin/fail", hub.url());

    let switched_on = http()
        .post(&switch)
        .json(&json!({"status": 503}))
        .send()
        .await
        .expect("switch on");
    let (failed_status, failed_body) = call(
        reqwest::Method::GET,
        pipelines_url(&hub, "svendowideit/testhook"),
        &token,
        None,
    )
    .await;
    let failed_login = http()
        .post(format!("{}/v2/users/login", hub.url()))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let switched_off = http().delete(&switch).send().await.expect("switch off");
    let (healthy_status, _) = call(
        reqwest::Method::GET,
        pipelines_url(&hub, "svendowideit/testhook"),
        &token,
        None,
    )
    .await;

    assert_eq!(switched_on.status(), StatusCode::NO_CONTENT);
    assert_eq!(failed_status, 503);
    assert!(failed_body["detail"].is_string());
    assert_eq!(failed_login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(switched_off.status(), StatusCode::NO_CONTENT);
    assert_eq!(healthy_status, 200);
    assert!(
        hub.calls().iter().any(|call| call.status == 503),
        "failed calls are recorded too"
    );
}

#[tokio::test]
async fn the_builder_can_start_the_hub_failing() {
    let hub = HubStandin::builder()
        .credentials(USER, PASSWORD)
        .fail_with(500)
        .start()
        .await
        .expect("start");

    let response = http()
        .post(format!("{}/v2/users/login", hub.url()))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    hub.stop_failing();
    login(&hub).await;
}

/// What a tiny hook receiver got: each request's content type and JSON body.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// Starts a receiver on a free port that answers 202 with a fixed body.
async fn start_receiver() -> (String, Received) {
    async fn receive(
        State(received): State<Received>,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, &'static str) {
        let content_type = headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        received
            .lock()
            .expect("receiver lock")
            .push((content_type, json));
        (StatusCode::ACCEPTED, "{\"status\":\"TRIGGERED\"}")
    }
    let received: Received = Arc::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!(
        "http://{}/hook",
        listener.local_addr().expect("receiver address")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The shared fixture lives beside the repository (`../shared` from the clone).
fn shared_fixture() -> Option<Value> {
    let path = std::env::var("SLIPWAY_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        })
        .join("fixtures/docker-hub-push.json");
    let text = std::fs::read_to_string(&path).ok()?;
    Some(serde_json::from_str(&text).expect("the shared fixture is JSON"))
}

#[tokio::test]
async fn a_push_delivers_the_docker_hub_payload_and_relays_the_answer() {
    let hub = start_hub().await;
    let (hook_url, received) = start_receiver().await;
    let fixture = shared_fixture().unwrap_or_else(|| json!({"callback_url": "https://registry.hub.docker.com/u/svendowideit/testhook/hook/x/"}));
    let push = json!({
        "hook_url": hook_url,
        "tag": "latest",
        "namespace": "svendowideit",
        "repo": "testhook",
        "pushed_at": 1417566161.0,
        "callback_url": fixture["callback_url"],
    });

    let response = http()
        .post(format!("{}/_standin/push", hub.url()))
        .json(&push)
        .send()
        .await
        .expect("push");

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        response.text().await.expect("body"),
        "{\"status\":\"TRIGGERED\"}"
    );
    let received = received.lock().expect("receiver lock").clone();
    assert_eq!(received.len(), 1);
    let (content_type, payload) = &received[0];
    assert_eq!(content_type, "application/json");
    match shared_fixture() {
        Some(fixture) => assert_eq!(payload, &fixture, "the payload is the fixture itself"),
        None => eprintln!("shared/fixtures/docker-hub-push.json not found; compared fields only"),
    }
    assert_eq!(payload["push_data"]["tag"], "latest");
    assert_eq!(payload["repository"]["repo_name"], "svendowideit/testhook");
}

#[tokio::test]
async fn a_push_without_a_hook_url_reaches_every_registered_hook() {
    let hub = start_hub().await;
    let token = login(&hub).await;
    let (hook_url, received) = start_receiver().await;
    call(
        reqwest::Method::POST,
        pipelines_url(&hub, "acme/app"),
        &token,
        Some(demo_pipeline(&hook_url)),
    )
    .await;

    let deliveries = hub
        .push(Push {
            namespace: Some("acme".into()),
            repo: Some("app".into()),
            tag: Some("v2".into()),
            ..Push::default()
        })
        .await
        .expect("a hook is registered");
    let nowhere = hub
        .push(Push {
            repo: Some("unknown".into()),
            ..Push::default()
        })
        .await;

    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, 202);
    let received = received.lock().expect("receiver lock").clone();
    let payload = &received[0].1;
    assert_eq!(payload["push_data"]["tag"], "v2");
    assert_eq!(payload["repository"]["repo_name"], "acme/app");
    assert_eq!(payload["repository"]["namespace"], "acme");
    assert!(payload["push_data"]["pushed_at"]
        .as_f64()
        .is_some_and(|pushed_at| pushed_at > 1.7e9));
    let callback_url = payload["callback_url"].as_str().unwrap_or_default();
    assert!(
        callback_url.starts_with(&format!("{}/u/acme/app/hook/", hub.url())),
        "{callback_url}"
    );
    assert!(nowhere.is_err());
}

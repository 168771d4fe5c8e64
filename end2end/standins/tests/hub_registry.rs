//! The Docker Hub stand-in's registry side (Registry HTTP API v2 and
//! auth.docker.io's `/token`), spoken to the way a registry client does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, ETAG, WWW_AUTHENTICATE};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use slipway_standins::hub::{HubStandin, HubStandinHandle, Push};

const USER: &str = "svendowideit";
const PASSWORD: &str = "s3cret";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// What a client that takes every manifest kind sends.
const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

async fn start_hub() -> HubStandinHandle {
    HubStandin::builder()
        .credentials(USER, PASSWORD)
        .start()
        .await
        .expect("the stand-in starts")
}

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `GET /token` for `repository:<name>:<actions>`, with Basic auth or anonymous.
async fn token_response(
    hub: &HubStandinHandle,
    name: &str,
    actions: &str,
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    // `:`, `/` and `,` may stand unencoded in a query, as Docker's clients send them.
    let mut request = http().get(format!(
        "{}/token?service=registry.docker.io&scope=repository:{name}:{actions}",
        hub.url()
    ));
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.expect("token request")
}

async fn token(hub: &HubStandinHandle, name: &str, basic: Option<(&str, &str)>) -> String {
    let response = token_response(hub, name, "pull", basic).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token JSON");
    body["token"].as_str().expect("a token").to_string()
}

/// A manifest request; returns status, headers and body.
async fn manifest(
    hub: &HubStandinHandle,
    method: Method,
    name: &str,
    reference: &str,
    token: Option<&str>,
    accept: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = http().request(
        method,
        format!("{}/v2/{name}/manifests/{reference}", hub.url()),
    );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.expect("manifest request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_token_dance_gives_the_digest_of_the_stored_manifest() {
    let hub = start_hub().await;
    let digest = hub.repoint_tag(USER, "app", "v1");
    let name = format!("{USER}/app");

    let ping = http()
        .get(format!("{}/v2/", hub.url()))
        .send()
        .await
        .expect("ping");
    let ping_status = ping.status();
    let ping_challenge = header(ping.headers(), "www-authenticate").to_string();
    let (refused, refused_headers, refused_body) =
        manifest(&hub, Method::HEAD, &name, "v1", None, Some(ACCEPT_ALL)).await;
    let (refused_get, refused_get_headers, refused_get_body) =
        manifest(&hub, Method::GET, &name, "v1", None, Some(ACCEPT_ALL)).await;
    let token = token(&hub, &name, Some((USER, PASSWORD))).await;
    let authorized_ping = http()
        .get(format!("{}/v2/", hub.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("ping");
    let authorized_ping_status = authorized_ping.status();
    let authorized_ping_body: Value = authorized_ping.json().await.expect("JSON");
    let (head, head_headers, head_body) = manifest(
        &hub,
        Method::HEAD,
        &name,
        "v1",
        Some(&token),
        Some(ACCEPT_ALL),
    )
    .await;
    let (get, get_headers, get_body) = manifest(
        &hub,
        Method::GET,
        &name,
        "v1",
        Some(&token),
        Some(ACCEPT_ALL),
    )
    .await;
    let (by_digest, by_digest_headers, by_digest_body) =
        manifest(&hub, Method::GET, &name, &digest, Some(&token), None).await;

    assert_eq!(ping_status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ping_challenge,
        format!(
            r#"Bearer realm="{}/token",service="registry.docker.io""#,
            hub.url()
        )
    );
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&refused_headers, "www-authenticate"),
        format!(
            r#"Bearer realm="{}/token",service="registry.docker.io",scope="repository:{name}:pull""#,
            hub.url()
        )
    );
    assert!(refused_body.is_empty(), "HEAD answers carry no body");
    assert_eq!(refused_get, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&refused_get_headers, WWW_AUTHENTICATE.as_str()),
        header(&refused_headers, WWW_AUTHENTICATE.as_str())
    );
    assert_eq!(
        json_of(&refused_get_body),
        json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": [{"Type": "repository", "Class": "", "Name": name, "Action": "pull"}]}]})
    );
    assert_eq!(authorized_ping_status, StatusCode::OK);
    assert_eq!(authorized_ping_body, json!({}));

    assert_eq!(head, StatusCode::OK);
    assert!(head_body.is_empty());
    assert_eq!(header(&head_headers, "docker-content-digest"), digest);
    assert_eq!(
        header(&head_headers, CONTENT_TYPE.as_str()),
        DOCKER_MANIFEST
    );
    assert_eq!(
        header(&head_headers, ETAG.as_str()),
        format!("\"{digest}\"")
    );
    assert_eq!(get, StatusCode::OK);
    assert_eq!(sha256_digest(&get_body), digest);
    assert_eq!(header(&get_headers, "docker-content-digest"), digest);
    assert_eq!(
        header(&head_headers, CONTENT_LENGTH.as_str()),
        get_body.len().to_string(),
        "HEAD gives the length of the body GET sends"
    );
    let stored = json_of(&get_body);
    assert_eq!(stored["schemaVersion"], 2);
    assert_eq!(stored["mediaType"], DOCKER_MANIFEST);
    assert_eq!(stored["layers"].as_array().map(Vec::len), Some(1));
    assert!(stored["config"]["digest"]
        .as_str()
        .is_some_and(|config| config.starts_with("sha256:")));
    assert_eq!(by_digest, StatusCode::OK);
    assert_eq!(by_digest_body, get_body);
    assert_eq!(header(&by_digest_headers, "docker-content-digest"), digest);

    let calls = hub.calls();
    let manifest_calls: Vec<(&str, u16)> = calls
        .iter()
        .filter(|call| call.path.contains("/manifests/"))
        .map(|call| (call.method.as_str(), call.status))
        .collect();
    assert_eq!(
        manifest_calls,
        [
            ("HEAD", 401),
            ("GET", 401),
            ("HEAD", 200),
            ("GET", 200),
            ("GET", 200)
        ]
    );
    let token_call = calls
        .iter()
        .find(|call| call.path == "/token")
        .expect("the token call is recorded");
    assert!(token_call
        .query
        .as_deref()
        .is_some_and(|query| query.contains("scope=repository")));
    let recorded = serde_json::to_string(&calls).expect("calls serialize");
    assert!(!recorded.contains(&token), "no token in the record");
    assert!(!recorded.contains(PASSWORD), "no password in the record");
}

#[tokio::test]
async fn anonymous_tokens_pull_public_repositories_only() {
    let hub = start_hub().await;
    let public_digest = hub.repoint_tag("library", "nginx", "latest");
    hub.repoint_tag(USER, "secret", "latest");
    hub.mark_private(USER, "secret");
    let private_name = format!("{USER}/secret");

    let public_token = token(&hub, "library/nginx", None).await;
    let (public, public_headers, _) = manifest(
        &hub,
        Method::HEAD,
        "library/nginx",
        "latest",
        Some(&public_token),
        Some(ACCEPT_ALL),
    )
    .await;
    let anonymous_token = token(&hub, &private_name, None).await;
    let (anonymous, anonymous_headers, _) = manifest(
        &hub,
        Method::HEAD,
        &private_name,
        "latest",
        Some(&anonymous_token),
        Some(ACCEPT_ALL),
    )
    .await;
    let (other_repository, _, _) = manifest(
        &hub,
        Method::HEAD,
        &private_name,
        "latest",
        Some(&public_token),
        Some(ACCEPT_ALL),
    )
    .await;
    let user_token = token(&hub, &private_name, Some((USER, PASSWORD))).await;
    let (authenticated, _, _) = manifest(
        &hub,
        Method::HEAD,
        &private_name,
        "latest",
        Some(&user_token),
        Some(ACCEPT_ALL),
    )
    .await;
    let wrong = token_response(&hub, &private_name, "pull", Some((USER, "wrong"))).await;
    let wrong_status = wrong.status();
    let wrong_body: Value = wrong.json().await.expect("JSON");
    let unknown_token = manifest(
        &hub,
        Method::HEAD,
        "library/nginx",
        "latest",
        Some("not-a-token"),
        Some(ACCEPT_ALL),
    )
    .await
    .0;

    assert_eq!(public, StatusCode::OK);
    assert_eq!(
        header(&public_headers, "docker-content-digest"),
        public_digest
    );
    assert_eq!(anonymous, StatusCode::UNAUTHORIZED);
    assert!(
        header(&anonymous_headers, "www-authenticate").ends_with(r#",error="insufficient_scope""#),
        "{anonymous_headers:?}"
    );
    assert_eq!(
        other_repository,
        StatusCode::UNAUTHORIZED,
        "a token covers the repositories of its scope only"
    );
    assert_eq!(authenticated, StatusCode::OK);
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_body,
        json!({"details": "incorrect username or password"})
    );
    assert_eq!(unknown_token, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_answer_has_auth_docker_io_s_fields() {
    let hub = start_hub().await;

    let response = token_response(&hub, "library/nginx", "pull,push", None).await;
    let body: Value = response.json().await.expect("JSON");

    assert!(body["token"].is_string());
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    let issued_at = body["issued_at"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(issued_at).is_ok(),
        "{issued_at}"
    );
}

#[tokio::test]
async fn unknown_tags_and_repositories_are_manifest_unknown() {
    let hub = start_hub().await;
    hub.repoint_tag(USER, "app", "v1");
    let name = format!("{USER}/app");
    let token = token(&hub, &name, Some((USER, PASSWORD))).await;
    let other_token = token_for(&hub, "nobody/nothing").await;

    let (unknown_tag, _, unknown_tag_body) = manifest(
        &hub,
        Method::GET,
        &name,
        "v9",
        Some(&token),
        Some(ACCEPT_ALL),
    )
    .await;
    let missing_digest = format!("sha256:{}", "0".repeat(64));
    let (unknown_digest, _, unknown_digest_body) = manifest(
        &hub,
        Method::GET,
        &name,
        &missing_digest,
        Some(&token),
        None,
    )
    .await;
    let (unknown_head, unknown_head_headers, _) =
        manifest(&hub, Method::HEAD, &name, "v9", Some(&token), None).await;
    let (unknown_repository, _, unknown_repository_body) = manifest(
        &hub,
        Method::GET,
        "nobody/nothing",
        "latest",
        Some(&other_token),
        None,
    )
    .await;

    assert_eq!(unknown_tag, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&unknown_tag_body),
        json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "v9"}}]})
    );
    assert_eq!(unknown_digest, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&unknown_digest_body)["errors"][0]["code"],
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(unknown_head, StatusCode::NOT_FOUND);
    assert!(header(&unknown_head_headers, "docker-content-digest").is_empty());
    assert_eq!(unknown_repository, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&unknown_repository_body),
        json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "latest"}}]})
    );
}

async fn token_for(hub: &HubStandinHandle, name: &str) -> String {
    token(hub, name, Some((USER, PASSWORD))).await
}

/// What a tiny hook receiver got: each request's JSON body.
type Received = Arc<Mutex<Vec<Value>>>;

async fn start_receiver() -> (String, Received) {
    async fn receive(State(received): State<Received>, body: String) -> StatusCode {
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        received.lock().expect("receiver lock").push(json);
        StatusCode::OK
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

#[tokio::test]
async fn a_multi_arch_push_delivers_one_payload_per_platform_for_the_index() {
    let hub = start_hub().await;
    let (hook_url, received) = start_receiver().await;
    let name = format!("{USER}/multi");

    let deliveries = hub
        .push(Push {
            hook_url: Some(hook_url),
            repo: Some("multi".into()),
            tag: Some("v2".into()),
            pushed_at: Some(1_700_000_000.25),
            platforms: Some(vec!["linux/amd64".into(), "linux/arm64/v8".into()]),
            ..Push::default()
        })
        .await
        .expect("delivered");
    let token = token_for(&hub, &name).await;
    let (head, head_headers, _) = manifest(
        &hub,
        Method::HEAD,
        &name,
        "v2",
        Some(&token),
        Some(ACCEPT_ALL),
    )
    .await;
    let (_, _, index_body) = manifest(
        &hub,
        Method::GET,
        &name,
        "v2",
        Some(&token),
        Some(OCI_INDEX),
    )
    .await;

    let index_digest = hub.tag_digest(USER, "multi", "v2").expect("the tag exists");
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries
        .iter()
        .all(|delivery| delivery.digest == index_digest && delivery.status == 200));
    let payloads = received.lock().expect("receiver lock").clone();
    assert_eq!(payloads.len(), 2);
    assert!(payloads
        .iter()
        .all(|payload| payload["push_data"]["tag"] == "v2"
            && payload["repository"]["repo_name"] == name));
    let pushed_at: Vec<f64> = payloads
        .iter()
        .filter_map(|payload| payload["push_data"]["pushed_at"].as_f64())
        .collect();
    assert_eq!(pushed_at[0], 1_700_000_000.25);
    let apart = pushed_at[1] - pushed_at[0];
    assert!(apart > 0.0 && apart < 0.05, "{pushed_at:?}");

    assert_eq!(head, StatusCode::OK);
    assert_eq!(header(&head_headers, "docker-content-digest"), index_digest);
    assert_eq!(header(&head_headers, CONTENT_TYPE.as_str()), OCI_INDEX);
    assert_eq!(sha256_digest(&index_body), index_digest);
    let index = json_of(&index_body);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let platforms: Vec<Value> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|entry| entry["platform"].clone())
        .collect();
    assert_eq!(
        platforms,
        [
            json!({"architecture": "amd64", "os": "linux"}),
            json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        ]
    );
    for entry in index["manifests"].as_array().expect("manifests") {
        let entry_digest = entry["digest"].as_str().expect("a digest");
        let (status, headers, body) =
            manifest(&hub, Method::GET, &name, entry_digest, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, CONTENT_TYPE.as_str()), DOCKER_MANIFEST);
        assert_eq!(sha256_digest(&body), entry_digest);
        assert_eq!(entry["size"].as_u64(), Some(body.len() as u64));
    }
}

#[tokio::test]
async fn a_client_without_index_types_gets_the_amd64_manifest() {
    let hub = start_hub().await;
    let index_digest = hub.store_image(USER, "multi", "latest", &["linux/arm64", "linux/amd64"]);
    let name = format!("{USER}/multi");
    let token = token_for(&hub, &name).await;

    let (_, _, index_body) = manifest(
        &hub,
        Method::GET,
        &name,
        "latest",
        Some(&token),
        Some(&format!("{DOCKER_MANIFEST_LIST};q=0.9, {DOCKER_MANIFEST}")),
    )
    .await;
    let amd64_digest = json_of(&index_body)["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|entry| entry["platform"]["architecture"] == "amd64")
        .and_then(|entry| entry["digest"].as_str())
        .expect("an amd64 entry")
        .to_string();
    let (single_only, single_headers, _) = manifest(
        &hub,
        Method::HEAD,
        &name,
        "latest",
        Some(&token),
        Some(DOCKER_MANIFEST),
    )
    .await;
    let (no_accept, no_accept_headers, no_accept_body) =
        manifest(&hub, Method::GET, &name, "latest", Some(&token), None).await;
    let (by_digest, by_digest_headers, _) =
        manifest(&hub, Method::HEAD, &name, &index_digest, Some(&token), None).await;

    assert_eq!(sha256_digest(&index_body), index_digest);
    assert_eq!(single_only, StatusCode::OK);
    assert_eq!(
        header(&single_headers, "docker-content-digest"),
        amd64_digest
    );
    assert_eq!(
        header(&single_headers, CONTENT_TYPE.as_str()),
        DOCKER_MANIFEST
    );
    assert_eq!(no_accept, StatusCode::OK);
    assert_eq!(
        header(&no_accept_headers, "docker-content-digest"),
        amd64_digest
    );
    assert_eq!(sha256_digest(&no_accept_body), amd64_digest);
    assert_eq!(by_digest, StatusCode::OK);
    assert_eq!(
        header(&by_digest_headers, "docker-content-digest"),
        index_digest,
        "a digest reference is never rewritten"
    );
}

#[tokio::test]
async fn repointing_a_tag_changes_its_digest_without_a_webhook() {
    let hub = start_hub().await;
    let (hook_url, received) = start_receiver().await;
    let pushed = hub
        .push(Push {
            hook_url: Some(hook_url),
            repo: Some("app".into()),
            tag: Some("stable".into()),
            ..Push::default()
        })
        .await
        .expect("delivered");
    let name = format!("{USER}/app");
    let token = token_for(&hub, &name).await;
    let before = pushed[0].digest.clone();

    let after = hub.repoint_tag(USER, "app", "stable");
    let (_, headers, _) = manifest(
        &hub,
        Method::HEAD,
        &name,
        "stable",
        Some(&token),
        Some(ACCEPT_ALL),
    )
    .await;
    let (old, _, _) = manifest(&hub, Method::HEAD, &name, &before, Some(&token), None).await;

    assert_ne!(before, after);
    assert_eq!(hub.tag_digest(USER, "app", "stable"), Some(after.clone()));
    assert_eq!(header(&headers, "docker-content-digest"), after);
    assert_eq!(
        old,
        StatusCode::OK,
        "the old manifest stays reachable by digest"
    );
    assert_eq!(received.lock().expect("receiver lock").len(), 1);
    assert_eq!(hub.tag_digest(USER, "app", "unknown"), None);
}

#[tokio::test]
async fn the_registry_failure_switch_leaves_the_hub_api_alone() {
    let hub = start_hub().await;
    hub.repoint_tag(USER, "app", "v1");
    let name = format!("{USER}/app");
    let token = token_for(&hub, &name).await;

    hub.fail_registry_with(503);
    let (failed, _, failed_body) =
        manifest(&hub, Method::GET, &name, "v1", Some(&token), None).await;
    let failed_ping = http()
        .get(format!("{}/v2/", hub.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("ping")
        .status();
    let login_while_registry_fails = http()
        .post(format!("{}/v2/users/login", hub.url()))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .status();
    hub.stop_failing_registry();
    hub.fail_with(503);
    let (healthy, _, _) = manifest(&hub, Method::HEAD, &name, "v1", Some(&token), None).await;
    hub.stop_failing();
    let switch = format!("{}/_standin/registry/fail", hub.url());
    http()
        .post(&switch)
        .json(&json!({"status": 429}))
        .send()
        .await
        .expect("switch on");
    let (limited, _, limited_body) =
        manifest(&hub, Method::GET, &name, "v1", Some(&token), None).await;
    http().delete(&switch).send().await.expect("switch off");
    let (recovered, _, _) = manifest(&hub, Method::HEAD, &name, "v1", Some(&token), None).await;

    assert_eq!(failed, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&failed_body)["errors"][0]["code"], "UNAVAILABLE");
    assert_eq!(failed_ping, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(login_while_registry_fails, StatusCode::OK);
    assert_eq!(
        healthy,
        StatusCode::OK,
        "the Hub switch leaves the registry alone"
    );
    assert_eq!(limited, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        json_of(&limited_body)["errors"][0]["code"],
        "TOOMANYREQUESTS"
    );
    assert_eq!(recovered, StatusCode::OK);
}

#[tokio::test]
async fn a_hanging_registry_answers_nothing_until_released() {
    let hub = start_hub().await;
    let digest = hub.repoint_tag(USER, "app", "v1");
    let name = format!("{USER}/app");
    let token = token_for(&hub, &name).await;
    let url = format!("{}/v2/{name}/manifests/v1", hub.url());

    hub.hang_registry(true);
    let timed_out = http()
        .head(&url)
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    let waiting = tokio::spawn({
        let url = url.clone();
        let token = token.clone();
        async move { http().head(&url).bearer_auth(&token).send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let still_waiting = !waiting.is_finished();
    hub.hang_registry(false);
    let released = waiting.await.expect("joined").expect("answered");

    assert!(timed_out.is_err_and(|error| error.is_timeout()));
    assert!(still_waiting);

    assert_eq!(released.status(), StatusCode::OK);
    assert_eq!(header(released.headers(), "docker-content-digest"), digest);
    let manifest_statuses: Vec<(String, u16)> = hub
        .calls()
        .into_iter()
        .filter(|call| call.path.contains("/manifests/"))
        .map(|call| (call.method, call.status))
        .collect();
    assert_eq!(
        manifest_statuses,
        [("HEAD".to_string(), 0), ("HEAD".to_string(), 200)],
        "the call its client gave up on is recorded with status 0"
    );
}

#[tokio::test]
async fn a_hanging_call_does_not_keep_the_stand_in_from_stopping() {
    let hub = start_hub().await;
    hub.repoint_tag(USER, "app", "v1");
    let url = format!("{}/v2/{USER}/app/manifests/v1", hub.url());
    hub.hang_registry(true);
    let waiting = tokio::spawn(async move { http().head(&url).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    tokio::time::timeout(Duration::from_secs(5), hub.shutdown())
        .await
        .expect("shutdown does not wait for the hanging call");
    let answer = waiting.await.expect("joined");

    assert!(answer.is_err() || answer.is_ok_and(|response| response.status() == 503));
}

#[tokio::test]
async fn hub_api_routes_still_work_beside_the_registry() {
    let hub = start_hub().await;

    let login = http()
        .post(format!("{}/v2/users/login", hub.url()))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let jwt = login.json::<Value>().await.expect("JSON")["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let pipelines = http()
        .get(format!(
            "{}/v2/repositories/{USER}/app/webhook_pipeline/",
            hub.url()
        ))
        .header("Authorization", format!("JWT {jwt}"))
        .send()
        .await
        .expect("pipelines");
    let pipelines_status = pipelines.status();
    let pipelines_body: Value = pipelines.json().await.expect("JSON");
    let registry_with_hub_jwt = http()
        .get(format!("{}/v2/", hub.url()))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("ping")
        .status();
    hub.repoint_tag("repositories", "app", "v1");
    let token = token_for(&hub, "repositories/app").await;
    let (registry_name_like_hub_path, _, _) = manifest(
        &hub,
        Method::HEAD,
        "repositories/app",
        "v1",
        Some(&token),
        None,
    )
    .await;
    let blobs = http()
        .get(format!(
            "{}/v2/{USER}/app/blobs/sha256:{}",
            hub.url(),
            "0".repeat(64)
        ))
        .send()
        .await
        .expect("blob");
    let blobs_status = blobs.status();
    let blobs_body: Value = blobs.json().await.expect("JSON");

    assert_eq!(pipelines_status, StatusCode::OK);
    assert_eq!(pipelines_body["count"], 0);
    assert_eq!(
        registry_with_hub_jwt,
        StatusCode::UNAUTHORIZED,
        "a Hub JWT is not a registry token"
    );
    assert_eq!(registry_name_like_hub_path, StatusCode::OK);
    assert_eq!(blobs_status, StatusCode::NOT_FOUND);
    assert_eq!(blobs_body["errors"][0]["code"], "UNSUPPORTED");
}

#[tokio::test]
async fn the_control_api_pushes_platforms_and_reads_tags() {
    let hub = start_hub().await;
    let (hook_url, received) = start_receiver().await;
    let control = |path: &str| format!("{}/_standin/{path}", hub.url());

    let single = http()
        .post(control("push"))
        .json(&json!({"hook_url": hook_url, "repo": "app", "tag": "v1"}))
        .send()
        .await
        .expect("push");
    let single_digest = header(single.headers(), "docker-content-digest").to_string();
    let multi: Value = http()
        .post(control("push"))
        .json(&json!({"hook_url": hook_url, "repo": "app", "tag": "v2", "platforms": ["linux/amd64", "linux/arm64"]}))
        .send()
        .await
        .expect("push")
        .json()
        .await
        .expect("JSON");
    let tag: Value = http()
        .get(control(&format!("tags/{USER}/app/v2")))
        .send()
        .await
        .expect("tag")
        .json()
        .await
        .expect("JSON");
    let missing = http()
        .get(control(&format!("tags/{USER}/app/v9")))
        .send()
        .await
        .expect("tag")
        .status();
    let stored = http()
        .post(control(&format!("tags/{USER}/app/v1")))
        .json(&json!({"platforms": ["linux/amd64"]}))
        .send()
        .await
        .expect("store");
    let stored_status = stored.status();
    let stored_body: Value = stored.json().await.expect("JSON");
    let invalid = http()
        .post(control("push"))
        .json(&json!({"hook_url": hook_url, "platforms": ["amd64"]}))
        .send()
        .await
        .expect("push")
        .status();
    let nowhere = http()
        .post(control("push"))
        .json(&json!({"repo": "unhooked"}))
        .send()
        .await
        .expect("push");
    let nowhere_status = nowhere.status();
    let nowhere_body: Value = nowhere.json().await.expect("JSON");

    assert_eq!(single.status(), StatusCode::OK);
    assert!(hub.tag_digest(USER, "app", "v1").is_some());
    assert!(single_digest.starts_with("sha256:"), "{single_digest}");
    assert_eq!(multi["deliveries"].as_array().map(Vec::len), Some(2));
    assert_eq!(multi["digest"], tag["digest"]);
    assert_eq!(multi["deliveries"][1]["digest"], tag["digest"]);
    assert_eq!(missing, StatusCode::NOT_FOUND);
    assert_eq!(stored_status, StatusCode::CREATED);
    assert_eq!(
        Some(
            stored_body["digest"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        ),
        hub.tag_digest(USER, "app", "v1")
    );
    assert_ne!(stored_body["digest"], json!(single_digest));
    assert_eq!(invalid, StatusCode::BAD_REQUEST);
    assert_eq!(nowhere_status, StatusCode::NOT_FOUND);
    assert_eq!(
        nowhere_body["digest"].as_str(),
        hub.tag_digest(USER, "unhooked", "latest").as_deref(),
        "the image is stored even with nowhere to deliver"
    );
    assert_eq!(received.lock().expect("receiver lock").len(), 3);
}

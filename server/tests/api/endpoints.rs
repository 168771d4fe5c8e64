use serde_json::{json, Value};
use slipway_standins::hub::HubStandin;
use slipway_standins::kube::KubeStandin;

use std::sync::{Arc, Mutex};

use crate::helpers::{session_cookie, spawn_app, spawn_app_with, TestApp};

const HUB_PASSWORD: &str = "hub-secret-password-1";

async fn app_with_hub() -> (TestApp, slipway_standins::hub::HubStandinHandle) {
    let hub = HubStandin::builder()
        .credentials("svendowideit", HUB_PASSWORD)
        .start()
        .await
        .expect("the Hub stand-in starts");
    let hub_url = hub.url();
    let app = spawn_app_with(tempfile::tempdir().unwrap(), move |args| {
        args.docker_hub_api_url = hub_url;
    })
    .await;
    (app, hub)
}

fn hub_endpoint(project: &str, password: &str) -> Value {
    json!({
        "project": project, "name": "docker-hub", "kind": "docker-registry",
        "server_type": "docker-hub", "url": "https://index.docker.io/v1/",
        "username": "svendowideit", "password": password, "cloud_proxy": false
    })
}

/// Every byte the database keeps on disk, including the write-ahead log.
fn database_bytes(app: &TestApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(app.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("slipway.db")
        {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn a_docker_hub_endpoint_validates_and_never_shows_its_password() {
    // Arrange
    let (app, _hub) = app_with_hub().await;
    let project = app.create_project("Demo").await;

    // Act
    let created = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &hub_endpoint(&project, HUB_PASSWORD),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created_text = created.text().await.unwrap();
    let endpoint: Value = serde_json::from_str(&created_text).unwrap();
    let validation: Value = app
        .post_json(
            &format!("/api/v1/endpoints/{}/validate", endpoint["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(validation["ok"], true, "{validation}");
    assert_eq!(endpoint["stored_secrets"], json!(["password"]));
    let listed = app
        .get("/api/v1/endpoints", &app.admin_token)
        .await
        .text()
        .await
        .unwrap();
    let by_name = app
        .get(
            "/api/v1/endpoints/docker-hub?project=Demo",
            &app.admin_token,
        )
        .await
        .text()
        .await
        .unwrap();
    for answer in [&created_text, &listed, &by_name, &validation.to_string()] {
        assert!(
            !answer.contains(HUB_PASSWORD),
            "the password leaked: {answer}"
        );
    }
    assert!(
        !contains(&database_bytes(&app), HUB_PASSWORD),
        "the password is stored in clear"
    );
    let shown: Value = serde_json::from_str(&by_name).unwrap();
    assert_eq!(shown["last_validation"]["ok"], true);
}

#[tokio::test]
async fn a_wrong_docker_hub_password_fails_validation_clearly() {
    let (app, _hub) = app_with_hub().await;
    let project = app.create_project("Demo").await;
    let endpoint: Value = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &hub_endpoint(&project, "not-the-password"),
        )
        .await
        .json()
        .await
        .unwrap();

    let validation: Value = app
        .post_json(
            &format!("/api/v1/endpoints/{}/validate", endpoint["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(validation["ok"], false);
    let message = validation["message"].as_str().unwrap();
    assert!(message.contains("password"), "{message}");
    assert!(!message.contains("not-the-password"));
}

#[tokio::test]
async fn editing_keeps_a_secret_unless_a_new_one_is_given() {
    let (app, _hub) = app_with_hub().await;
    let project = app.create_project("Demo").await;
    let endpoint: Value = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &hub_endpoint(&project, HUB_PASSWORD),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/endpoints/{}", endpoint["id"]);
    let validate = format!("{path}/validate");

    // An edit without a password keeps the stored one: validation still passes.
    let mut edit = hub_endpoint(&project, "");
    edit["description"] = json!("renamed");
    assert_eq!(
        app.put_json(&path, &app.admin_token, &edit).await.status(),
        200
    );
    let kept: Value = app
        .post_json(&validate, &app.admin_token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["ok"], true, "{kept}");

    // A new (wrong) password replaces it.
    let replaced = app
        .put_json(
            &path,
            &app.admin_token,
            &hub_endpoint(&project, "wrong-now"),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    let failed: Value = app
        .post_json(&validate, &app.admin_token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["ok"], false);
}

#[tokio::test]
async fn a_kubernetes_endpoint_validates_against_the_cluster() {
    let cluster = KubeStandin::builder()
        .token("cluster-token-1")
        .start()
        .await
        .unwrap();
    let app = spawn_app().await;
    let project = app.create_project("Demo").await;
    let body = |token: &str, name: &str| {
        json!({
            "project": project, "name": name, "kind": "kubernetes", "url": cluster.url(),
            "auth": "token", "token": token, "namespace": "default"
        })
    };

    let good: Value = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &body("cluster-token-1", "dev"),
        )
        .await
        .json()
        .await
        .unwrap();
    let bad: Value = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &body("wrong-token", "dev-bad"),
        )
        .await
        .json()
        .await
        .unwrap();
    let good_check: Value = app
        .post_json(
            &format!("/api/v1/endpoints/{}/validate", good["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let bad_check: Value = app
        .post_json(
            &format!("/api/v1/endpoints/{}/validate", bad["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(good_check["ok"], true, "{good_check}");
    assert!(good_check["message"].as_str().unwrap().contains("v1.35"));
    assert_eq!(bad_check["ok"], false, "{bad_check}");
    assert!(!bad_check.to_string().contains("wrong-token"));
    let listed = app
        .get("/api/v1/endpoints", &app.admin_token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("cluster-token-1"));
}

#[tokio::test]
async fn validation_of_an_unreachable_host_answers_promptly() {
    let app = spawn_app().await;
    let project = app.create_project("Demo").await;
    let endpoint: Value = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &json!({
                "project": project, "name": "nowhere", "kind": "kubernetes",
                "url": "http://127.0.0.1:9", "token": "t"
            }),
        )
        .await
        .json()
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let validation: Value = app
        .post_json(
            &format!("/api/v1/endpoints/{}/validate", endpoint["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(validation["ok"], false);
    assert!(started.elapsed() < std::time::Duration::from_secs(12));
}

#[tokio::test]
async fn bad_input_names_the_field_and_saves_nothing() {
    let app = spawn_app().await;
    let project = app.create_project("Demo").await;
    let kube = |extra: Value| {
        let mut body = json!({"project": project, "name": "k", "kind": "kubernetes", "url": "https://10.0.0.1:6443", "token": "t"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"project": "Nope", "name": "x", "kind": "kubernetes", "url": "https://a", "token": "t"}),
            422,
            "project",
        ),
        (
            json!({"project": project, "name": "x", "kind": "ftp", "url": "https://a"}),
            400,
            "kind",
        ),
        (
            json!({"project": project, "name": "x", "url": "https://a"}),
            422,
            "kind",
        ),
        (kube(json!({"url": "not a url"})), 422, "url"),
        (hub_endpoint(&project, ""), 422, "password"),
        (
            kube(json!({"auth": "kubeconfig", "kubeconfig": "this: [is not a kubeconfig"})),
            422,
            "kubeconfig",
        ),
        (
            kube(json!({"ca_cert": "not a certificate"})),
            422,
            "ca_cert",
        ),
        (kube(json!({"token": ""})), 422, "token"),
        (kube(json!({"namespace": "Not_A_Label"})), 422, "namespace"),
    ];
    for (body, status, field) in cases {
        let response = app
            .post_json("/api/v1/endpoints", &app.admin_token, &body)
            .await;
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
        if status == 422 {
            assert_eq!(answer["field"], field);
        }
    }
    let listed: Vec<Value> = app
        .get("/api/v1/endpoints", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn endpoint_names_are_unique_per_project_and_block_project_deletion() {
    let app = spawn_app().await;
    let project = app.create_project("Demo").await;
    let body = json!({"project": project, "name": "registry", "kind": "docker-registry", "server_type": "registry", "url": "http://127.0.0.1:5000"});
    assert_eq!(
        app.post_json("/api/v1/endpoints", &app.admin_token, &body)
            .await
            .status(),
        201
    );

    let duplicate = app
        .post_json("/api/v1/endpoints", &app.admin_token, &body)
        .await;
    let project_delete = app.delete("/api/v1/projects/Demo", &app.admin_token).await;

    assert_eq!(duplicate.status(), 409);
    assert_eq!(project_delete.status(), 409);
    let reason: Value = project_delete.json().await.unwrap();
    assert!(
        reason["message"].as_str().unwrap().contains("1 endpoint"),
        "{reason}"
    );
    assert_eq!(
        app.delete("/api/v1/endpoints/registry?project=Demo", &app.admin_token)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.delete("/api/v1/projects/Demo", &app.admin_token)
            .await
            .status(),
        204
    );
}

/// A stand-in peer that answers every request 401 and keeps what it was
/// sent, so a test sees whether (and which) credentials reached it.
struct RecordingPeer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RecordingPeer {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buffer = vec![0; 8192];
                let read = stream.read(&mut buffer).await.unwrap_or_default();
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buffer[..read]).to_lowercase());
                let _ = stream
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        RecordingPeer { url, requests }
    }

    /// The Authorization headers received, one per request that had one.
    fn authorizations(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .flat_map(|request| request.lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|line| line.starts_with("authorization:"))
            .collect()
    }

    fn reached(&self) -> bool {
        !self.requests.lock().unwrap().is_empty()
    }
}

const REGISTRY_PASSWORD: &str = "registry-secret-7";

fn registry_endpoint(project: &str, url: &str, password: &str) -> Value {
    json!({
        "project": project, "name": "registry", "kind": "docker-registry",
        "server_type": "registry", "url": url,
        "username": "robot", "password": password
    })
}

#[tokio::test]
async fn a_stored_password_never_follows_the_url_to_another_host() {
    // Arrange: a registry endpoint whose password was entered for `home`.
    let home = RecordingPeer::start().await;
    let elsewhere = RecordingPeer::start().await;
    let app = spawn_app().await;
    let project = app.create_project("Demo").await;
    let developer = app.member_token(&project, "dev", "developer").await;
    let created: Value = app
        .post_json(
            "/api/v1/endpoints",
            &developer,
            &registry_endpoint(&project, &home.url, REGISTRY_PASSWORD),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/endpoints/{}", created["id"]);
    let home_port = home.url.rsplit(':').next().unwrap().to_string();

    // Act: move the address (host, port, scheme, server type) without the password.
    let moves = [
        registry_endpoint(&project, &elsewhere.url, ""),
        registry_endpoint(&project, &format!("http://localhost:{home_port}"), ""),
        registry_endpoint(&project, &format!("https://127.0.0.1:{home_port}"), ""),
        {
            let mut hub = registry_endpoint(&project, &home.url, "");
            hub["server_type"] = json!("docker-hub");
            hub
        },
    ];
    for body in moves {
        let refused = app.put_json(&path, &developer, &body).await;

        // Assert: 422 on the password, which says to enter it again.
        assert_eq!(refused.status(), 422, "{body}");
        let answer: Value = refused.json().await.unwrap();
        assert_eq!(answer["field"], "password", "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains("enter it again"), "{message}");
        assert!(!message.contains(REGISTRY_PASSWORD));
    }
    let kept: Value = app.get(&path, &developer).await.json().await.unwrap();
    assert_eq!(kept["url"], home.url.as_str(), "nothing was stored");
    let validation = app
        .post_json(&format!("{path}/validate"), &developer, &json!({}))
        .await;
    assert_eq!(validation.status(), 200);
    assert!(!elsewhere.reached(), "nothing was sent to the new host");

    // Only the description changes: the password is kept and still goes home.
    let mut described = registry_endpoint(&project, &home.url, "");
    described["description"] = json!("the team's registry");
    assert_eq!(
        app.put_json(&path, &developer, &described).await.status(),
        200
    );
    app.post_json(&format!("{path}/validate"), &developer, &json!({}))
        .await;
    let sent = home.authorizations();
    assert!(!sent.is_empty(), "the kept password is sent home");
    assert!(sent
        .iter()
        .all(|header| header.starts_with("authorization: basic")));
    assert!(!elsewhere.reached());

    // A new password for the new address is taken.
    let moved = app
        .put_json(
            &path,
            &developer,
            &registry_endpoint(&project, &elsewhere.url, "new-one"),
        )
        .await;
    assert_eq!(moved.status(), 200);
}

#[tokio::test]
async fn a_draft_reuses_stored_secrets_only_with_the_endpoints_own_rights_and_address() {
    // Arrange: a secret in project Secrets; the user only views it, but develops in Mine.
    let home = RecordingPeer::start().await;
    let attacker = RecordingPeer::start().await;
    let app = spawn_app().await;
    let secrets = app.create_project("Secrets").await;
    let mine = app.create_project("Mine").await;
    let stored: Value = app
        .post_json(
            "/api/v1/endpoints",
            &app.admin_token,
            &registry_endpoint(&secrets, &home.url, REGISTRY_PASSWORD),
        )
        .await
        .json()
        .await
        .unwrap();
    app.member_token(&secrets, "mallory", "viewer").await;
    app.member_token(&mine, "mallory", "developer").await;
    let mallory = session_cookie(&app, "mallory", "mallory-password-1").await;
    app.member_token(&secrets, "dana", "developer").await;
    app.member_token(&mine, "dana", "developer").await;
    let dana = session_cookie(&app, "dana", "dana-password-1").await;
    let draft = |cookie: &str, project: &str, url: &str| {
        app.server_function("endpoints/validate_draft")
            .header("Cookie", cookie.to_string())
            .json(&json!({
                "id": stored["id"],
                "input": registry_endpoint(project, url, ""),
            }))
            .send()
    };

    // Act + Assert: the viewer is refused, whichever project the draft names.
    for project in [&mine, &secrets] {
        let status = draft(&mallory, project, &attacker.url)
            .await
            .unwrap()
            .status();
        assert!(
            status == 403 || status == 404,
            "a viewer validating a draft in {project}: {status}"
        );
    }
    // A developer of both may not carry the secret to another project…
    let other_project = draft(&dana, &mine, &home.url).await.unwrap();
    assert_eq!(other_project.status(), 422);
    // …nor to another address without entering it again.
    let other_host = draft(&dana, &secrets, &attacker.url).await.unwrap();
    assert_eq!(other_host.status(), 422);
    let answer = other_host.text().await.unwrap();
    assert!(answer.contains("password"), "{answer}");
    assert!(
        !attacker.reached(),
        "no credentials reached the chosen host"
    );

    // The endpoint's own project and address: the stored secret is used.
    let own = draft(&dana, &secrets, &home.url).await.unwrap();
    assert_eq!(own.status(), 200);
    assert!(!home.authorizations().is_empty());
}

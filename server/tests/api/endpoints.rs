use serde_json::{json, Value};
use slipway_standins::hub::HubStandin;
use slipway_standins::kube::KubeStandin;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

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

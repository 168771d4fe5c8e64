//! Every registry's webhook through the one registry receiver: each product's
//! documented payload (`server/tests/fixtures/`) with the headers it sends,
//! the token where that product puts it, the run's DOCKER_* inputs, GitHub's
//! signature, non-push events and re-deliveries.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::TestApp;
use crate::webhooks::{run_result, seed, Seed};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The receiver's URL without the token, and the token.
fn receiver(seed: &Seed) -> (String, String) {
    let hook_url = seed.webhook["hook_url"].as_str().unwrap();
    let (url, token) = hook_url.split_once("?secureToken=").unwrap();
    (url.to_string(), token.to_string())
}

fn signature(token: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(app: &TestApp, request: reqwest::RequestBuilder, body: String) -> (u16, Value) {
    let _ = app;
    let answer = request
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A new webhook on the seed's registry endpoint and pipeline: its receiver and token.
async fn own_webhook(seed: &Seed, index: usize) -> (String, String) {
    let app = &seed.app;
    let created: Value = app
        .post_json(
            "/api/v1/webhooks/docker",
            &app.admin_token,
            &serde_json::json!({"project": "Demo", "name": format!("hook_{index}"), "endpoint": "hub",
                "pipeline": "deploy-testhook", "api_token": app.admin_token, "image": "", "tag": "",
                "inputs": {"ENVIRONMENT": "dev"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook_url = created["hook_url"].as_str().unwrap();
    let (url, token) = hook_url.split_once("?secureToken=").unwrap();
    (url.to_string(), token.to_string())
}

struct Case {
    fixture: &'static str,
    source: &'static str,
    registry: &'static str,
    image: &'static str,
    tag: &'static str,
    /// How the token travels: "query", "bearer" or "bare".
    token_in: &'static str,
}

const CASES: &[Case] = &[
    Case {
        fixture: "harbor-push.json",
        source: "harbor",
        registry: "harbor.example.com",
        image: "library/nginx",
        tag: "1.27",
        token_in: "bare",
    },
    Case {
        fixture: "harbor-cloudevents-push.json",
        source: "harbor",
        registry: "harbor.example.com",
        image: "library/nginx",
        tag: "1.27",
        token_in: "bearer",
    },
    Case {
        fixture: "quay-repo-push.json",
        source: "quay",
        registry: "quay.io",
        image: "acme/shop-api",
        tag: "1.2.0",
        token_in: "query",
    },
    Case {
        fixture: "acr-push.json",
        source: "acr",
        registry: "acmeregistry.azurecr.io",
        image: "shop/api",
        tag: "1.2.0",
        token_in: "query",
    },
    Case {
        fixture: "ecr-image-action-push.json",
        source: "ecr",
        registry: "123456789012.dkr.ecr.us-west-2.amazonaws.com",
        image: "shop/api",
        tag: "1.2.0",
        token_in: "bare",
    },
    Case {
        fixture: "gar-pubsub-insert.json",
        source: "gar",
        registry: "us-east1-docker.pkg.dev",
        image: "acme-prod/apps/shop-api",
        tag: "1.2.0",
        token_in: "query",
    },
    Case {
        fixture: "jfrog-docker-pushed.json",
        source: "jfrog",
        registry: "acme.jfrog.io",
        image: "docker-local/shop/api",
        tag: "1.2.0",
        token_in: "bearer",
    },
    Case {
        fixture: "gitlab-registry-push.json",
        source: "gitlab",
        registry: "registry.gitlab.example.com",
        image: "acme/shop/api",
        tag: "1.2.0",
        token_in: "bare",
    },
];

#[tokio::test]
async fn each_registrys_push_starts_the_pipeline_with_its_docker_inputs() {
    let seed = seed("registry", "").await;
    for (index, case) in CASES.iter().enumerate() {
        // A webhook per product: Harbor's two formats describe the same push.
        let (url, token) = own_webhook(&seed, index).await;
        let request = match case.token_in {
            "query" => seed.app.client.post(format!("{url}?secureToken={token}")),
            "bearer" => seed.app.client.post(&url).bearer_auth(&token),
            _ => seed.app.client.post(&url).header("Authorization", &token),
        };
        let (status, answer) = post(&seed.app, request, fixture(case.fixture)).await;
        assert_eq!(status, 202, "{}: {answer}", case.fixture);
        assert_eq!(answer["status"], "TRIGGERED", "{}: {answer}", case.fixture);
        let run = run_result(&seed.app, &answer["execution_id"]).await;
        let inputs = &run["inputs"];
        assert_eq!(inputs["DOCKER_REGISTRY"], case.registry, "{}", case.fixture);
        assert_eq!(inputs["DOCKER_IMAGE"], case.image, "{}", case.fixture);
        assert_eq!(inputs["DOCKER_TAG"], case.tag, "{}", case.fixture);
        let activity = seed.app.activity(5).await;
        // Quay reports each updated tag: the answer names the first one's row.
        let row = activity
            .iter()
            .find(|row| row["id"] == answer["event_id"])
            .expect("the answer names its Activity row");
        assert_eq!(row["source"], case.source, "{}", case.fixture);
        if case.source != "quay" {
            // Every format but Quay's names the digest; the run deploys it.
            let digest = inputs["DOCKER_DIGEST"].as_str().unwrap();
            assert!(digest.starts_with("sha256:"), "{}: {inputs}", case.fixture);
            assert_eq!(
                inputs["DOCKER_IMAGE_REF"],
                format!("{}/{}@{digest}", case.registry, case.image)
            );
            assert_eq!(row["digest"], digest);
        }
    }
    // The Activity filter by source.
    let harbor: Vec<Value> = seed
        .app
        .get("/api/v1/activity?source=harbor", &seed.app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(harbor.len(), 2);
    assert!(harbor.iter().all(|event| event["source"] == "harbor"));
    let unknown = seed
        .app
        .get("/api/v1/activity?source=floppy", &seed.app.admin_token)
        .await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn a_github_package_event_must_be_signed_with_the_secure_token() {
    let seed = seed("registry", "").await;
    let (url, token) = receiver(&seed);
    let hook = format!("{url}?secureToken={token}");
    let body = fixture("ghcr-package-published.json");
    let github = |signature: Option<String>, delivery: &str| {
        let mut request = seed
            .app
            .client
            .post(&hook)
            .header("X-GitHub-Event", "package")
            .header("X-GitHub-Delivery", delivery);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request
    };

    let (status, _) = post(&seed.app, github(None, "d-1"), body.clone()).await;
    assert_eq!(status, 401, "a GitHub delivery without a signature");
    let (status, _) = post(
        &seed.app,
        github(Some(signature("another-secret", &body)), "d-1"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 401, "signed with another secret");
    let tampered = body.replace("1.2.0", "6.6.6");
    let (status, _) = post(
        &seed.app,
        github(Some(signature(&token, &body)), "d-1"),
        tampered,
    )
    .await;
    assert_eq!(status, 401, "a body changed after signing");
    assert!(seed.app.executions().await.is_empty());

    let (status, answer) = post(
        &seed.app,
        github(Some(signature(&token, &body)), "d-1"),
        body.clone(),
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("TRIGGERED")),
        "{answer}"
    );
    let run = run_result(&seed.app, &answer["execution_id"]).await;
    assert_eq!(run["inputs"]["DOCKER_REGISTRY"], "ghcr.io");
    assert_eq!(run["inputs"]["DOCKER_IMAGE"], "acme/shop-api");
    assert_eq!(run["inputs"]["DOCKER_TAG"], "1.2.0");

    // GitHub's redelivery (the same X-GitHub-Delivery) starts nothing.
    let (_, again) = post(
        &seed.app,
        github(Some(signature(&token, &body)), "d-1"),
        body.clone(),
    )
    .await;
    assert_eq!(again["status"], "DUPLICATE", "{again}");

    // GitHub's ping when the webhook is added: accepted, recorded as IGNORED "ping".
    let ping = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_string();
    let request = seed
        .app
        .client
        .post(&hook)
        .header("X-GitHub-Event", "ping")
        .header("X-GitHub-Delivery", "d-ping")
        .header("X-Hub-Signature-256", signature(&token, &ping));
    let (status, pinged) = post(&seed.app, request, ping).await;
    assert_eq!(
        (status, pinged["status"].as_str()),
        (202, Some("IGNORED")),
        "{pinged}"
    );
    let row = seed.app.activity(1).await;
    assert_eq!(row[0]["reason"], "not a push: ping");
    assert_eq!(row[0]["source"], "ghcr");
    assert_eq!(seed.app.executions().await.len(), 1);
}

#[tokio::test]
async fn events_that_are_not_pushes_are_ignored_rows_saying_what_they_were() {
    let seed = seed("registry", "").await;
    let (url, token) = receiver(&seed);
    for (fixture_name, source) in [
        ("harbor-pull.json", "harbor"),
        ("acr-delete.json", "acr"),
        ("gar-pubsub-delete.json", "gar"),
    ] {
        let request = seed.app.client.post(&url).bearer_auth(&token);
        let (status, answer) = post(&seed.app, request, fixture(fixture_name)).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (202, Some("IGNORED")),
            "{fixture_name}: {answer}"
        );
        let row = seed.app.activity(1).await;
        assert_eq!(row[0]["id"], answer["event_id"]);
        assert_eq!(row[0]["source"], source);
        let reason = row[0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("not a push: "),
            "{fixture_name}: {reason}"
        );
    }
    assert!(seed.app.executions().await.is_empty());

    // Not any product's format: 400 naming what is known, recorded as REJECTED.
    let request = seed.app.client.post(&url).bearer_auth(&token);
    let (status, refused) = post(&seed.app, request, r#"{"hello":"world"}"#.into()).await;
    assert_eq!(status, 400);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("not a registry webhook Slipway knows"),
        "{refused}"
    );
    // A wrong token in the header is the same 401 as in the query.
    let request = seed.app.client.post(&url).bearer_auth("not-the-token");
    let (status, _) = post(&seed.app, request, fixture("acr-push.json")).await;
    assert_eq!(status, 401);
}

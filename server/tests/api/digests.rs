//! Deploying exactly what was pushed, through Docker Hub's format (which
//! names no digest) and the Hub stand-in's registry: the tag resolved when
//! the push is accepted, one run per pushed digest, newest wins, an
//! unresolvable tag failing the run, and the pattern tester.

use serde_json::{json, Value};
use slipway_standins::hub::{Push, PushDelivery};

use crate::webhooks::{answer_of, push_delivery, run_result, seed, Seed};

const PUSHED_AT: f64 = 1_900_000_000.0;

fn deployed_image(seed: &Seed) -> Value {
    seed.cluster
        .object("apps", "v1", "deployments", Some("default"), "testhook")
        .expect("deployed")["spec"]["template"]["spec"]["containers"][0]["image"]
        .clone()
}

fn reference(digest: &str) -> String {
    format!("docker.io/svendowideit/testhook@{digest}")
}

fn hook_url(seed: &Seed) -> String {
    seed.webhook["hook_url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_tag_moved_after_the_push_still_deploys_the_pushed_digest() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let pushed = push_delivery(&seed.hub, &hook_url(&seed), "v1", PUSHED_AT).await;
    let (status, answer) = answer_of(&pushed);
    assert_eq!(status, 202, "{answer}");

    // The tag is re-pointed before the run's task deploys.
    let moved = seed.hub.repoint_tag("svendowideit", "testhook", "v1");
    assert_ne!(moved, pushed.digest);

    let run = run_result(&seed.app, &answer["execution_id"]).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(deployed_image(&seed), reference(&pushed.digest).as_str());
}

#[tokio::test]
async fn the_webhooks_of_one_multi_arch_push_start_one_run() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let deliveries: Vec<PushDelivery> = seed
        .hub
        .push(Push {
            hook_url: Some(hook_url(&seed)),
            tag: Some("v2".into()),
            pushed_at: Some(PUSHED_AT),
            platforms: Some(
                [
                    "linux/amd64",
                    "linux/arm64",
                    "linux/arm/v7",
                    "linux/ppc64le",
                    "linux/s390x",
                ]
                .map(str::to_string)
                .to_vec(),
            ),
            ..Push::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 5);
    let answers: Vec<Value> = deliveries
        .iter()
        .map(|delivery| answer_of(delivery).1)
        .collect();
    let triggered: Vec<&Value> = answers
        .iter()
        .filter(|answer| answer["status"] == "TRIGGERED")
        .collect();
    assert_eq!(triggered.len(), 1, "{answers:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|answer| answer["status"] == "DUPLICATE")
            .count(),
        4
    );
    let run = run_result(&seed.app, &triggered[0]["execution_id"]).await;
    // The index digest, which every platform's node pulls through.
    let index = seed
        .hub
        .tag_digest("svendowideit", "testhook", "v2")
        .unwrap();
    assert_eq!(run["inputs"]["DOCKER_DIGEST"], index.as_str());
    assert_eq!(seed.app.executions().await.len(), 1);
}

/// A registry notification envelope for one manifest push.
fn envelope(id: &str, timestamp: &str, tag: &str, digest: &str) -> Value {
    json!({"events": [{
        "id": id, "timestamp": timestamp, "action": "push",
        "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest,
                   "repository": "svendowideit/testhook", "tag": tag},
        "request": {"host": "127.0.0.1:5000"}, "actor": {"name": "ci"}
    }]})
}

#[tokio::test]
async fn pushes_arriving_out_of_order_leave_the_newer_digest_deployed() {
    let seed = seed("registry", "svendowideit/testhook").await;
    let url = hook_url(&seed);
    let older = format!("sha256:{}", "a".repeat(64));
    let newer = format!("sha256:{}", "b".repeat(64));
    let post = |body: Value| {
        let client = seed.app.client.clone();
        let url = url.clone();
        async move {
            client
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // The newer push's notification arrives first; the older one's late.
    let first = post(envelope("e-2", "2030-03-01T10:01:00Z", "v3", &newer)).await;
    assert_eq!(first["status"], "TRIGGERED", "{first}");
    run_result(&seed.app, &first["execution_id"]).await;
    let late = post(envelope("e-1", "2030-03-01T10:00:00Z", "v3", &older)).await;

    assert_eq!(late["status"], "IGNORED", "{late}");
    assert_eq!(
        deployed_image(&seed),
        format!("127.0.0.1:5000/svendowideit/testhook@{newer}").as_str()
    );
    assert_eq!(seed.app.executions().await.len(), 1);
    let activity: Vec<Value> = seed
        .app
        .get(
            &format!("/api/v1/webhooks/docker/{}/activity", seed.webhook["id"]),
            &seed.app.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    let reason = activity[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "an older push: event {} of the same tag",
            first["event_id"]
        )),
        "{reason}"
    );
}

#[tokio::test]
async fn a_tag_the_registry_does_not_have_fails_the_run_and_a_re_run_asks_again() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let payload = json!({
        "push_data": {"pushed_at": PUSHED_AT, "pusher": "ci", "tag": "ghost"},
        "repository": {"repo_name": "svendowideit/testhook", "namespace": "svendowideit", "name": "testhook"}
    });
    let answer: Value = seed
        .app
        .client
        .post(hook_url(&seed))
        .json(&payload)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "TRIGGERED", "{answer}");
    let run = run_result(&seed.app, &answer["execution_id"]).await;
    assert_eq!(run["status"], "FAILED");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("svendowideit/testhook:ghost could not be resolved to a digest")
            && error.contains("404"),
        "{error}"
    );

    // The tag exists now: Re-run resolves it and deploys.
    let digest = seed
        .hub
        .store_image("svendowideit", "testhook", "ghost", &[]);
    let rerun = seed
        .app
        .post_json(
            &format!("/api/v1/activity/{}/rerun", answer["event_id"]),
            &seed.app.admin_token,
            &json!({}),
        )
        .await;
    assert_eq!(rerun.status(), 201);
    let rerun: Value = rerun.json().await.unwrap();
    let second = run_result(&seed.app, &rerun["execution_id"]).await;
    assert_eq!(second["status"], "COMPLETED", "{second}");
    assert_eq!(second["inputs"]["DOCKER_DIGEST"], digest.as_str());
    // The re-run's Activity row shows the digest its run was pinned to when it started.
    let activity = seed.app.activity(5).await;
    let row = activity
        .iter()
        .find(|row| row["id"] == rerun["id"])
        .expect("the re-run's row");
    assert_eq!(row["digest"], digest.as_str());
}

#[tokio::test]
async fn the_pattern_tester_says_whether_a_tag_matches_and_why() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let app = &seed.app;
    let trial = |body: Value| async move {
        let answer = app
            .post_json("/api/v1/webhooks/docker/try", &app.admin_token, &body)
            .await;
        (
            answer.status().as_u16(),
            answer.json::<Value>().await.unwrap(),
        )
    };

    let (status, inside) = trial(json!({"image": "acme/*", "tag": "semver:^1.4", "repository": "acme/shop-api", "candidate_tag": "v1.5.0"})).await;
    assert_eq!(status, 200);
    assert_eq!(inside["matches"], true);
    assert!(inside["reason"]
        .as_str()
        .unwrap()
        .contains("'v1.5.0' is in the range 'semver:^1.4'"));

    let (_, outside) = trial(json!({"image": "acme/*", "tag": "semver:^1.4", "repository": "acme/shop-api", "candidate_tag": "2.0.0"})).await;
    assert_eq!(outside["matches"], false);
    assert_eq!(
        outside["reason"],
        "tag '2.0.0' is not in the range 'semver:^1.4'"
    );

    let (_, other_image) =
        trial(json!({"image": "acme/*", "repository": "other/app", "candidate_tag": "v1"})).await;
    assert_eq!(
        other_image["reason"],
        "image 'other/app' does not match 'acme/*'"
    );

    let (status, empty) =
        trial(json!({"image": "", "repository": "acme/app", "candidate_tag": " "})).await;
    assert_eq!(status, 422, "{empty}");
    assert_eq!(empty["field"], "candidate_tag");

    let (status, bad_range) =
        trial(json!({"tag": "semver:>>1", "repository": "a/b", "candidate_tag": "1.0.0"})).await;
    assert_eq!(status, 422);
    assert_eq!(bad_range["field"], "tag");
}

#[tokio::test]
async fn newer_only_ignores_a_version_not_newer_than_the_last_one_deployed() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let id = seed.webhook["id"].clone();
    let updated = seed
        .app
        .put_json(
            &format!("/api/v1/webhooks/docker/{id}"),
            &seed.app.admin_token,
            &json!({"project": "Demo", "name": "demo_webhook", "endpoint": "hub", "pipeline": "deploy-testhook",
                    "image": "svendowideit/testhook", "tag": "", "inputs": {"ENVIRONMENT": "dev"}, "newer_only": true}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["newer_only"], true);
    let url = hook_url(&seed);

    let (_, first) = answer_of(&push_delivery(&seed.hub, &url, "1.4.0", PUSHED_AT).await);
    assert_eq!(first["status"], "TRIGGERED");
    run_result(&seed.app, &first["execution_id"]).await;
    // Pushed later, but a lower version: ignored, saying so.
    let (_, older) = answer_of(&push_delivery(&seed.hub, &url, "1.3.9", PUSHED_AT + 10.0).await);
    assert_eq!(older["status"], "IGNORED", "{older}");
    let (_, newer) = answer_of(&push_delivery(&seed.hub, &url, "1.5.0", PUSHED_AT + 20.0).await);
    assert_eq!(newer["status"], "TRIGGERED");

    let (_, tried) = {
        let answer = seed
            .app
            .post_json(
                "/api/v1/webhooks/docker/try",
                &seed.app.admin_token,
                &json!({"newer_only": true, "webhook": id.to_string(), "repository": "svendowideit/testhook", "candidate_tag": "1.4.5"}),
            )
            .await;
        (answer.status(), answer.json::<Value>().await.unwrap())
    };
    assert_eq!(tried["matches"], false);
    assert_eq!(
        tried["reason"],
        format!(
            "newer_only: version 1.4.5 is not newer than 1.5.0 (event {}, already TRIGGERED)",
            newer["event_id"]
        )
    );
}

#[tokio::test]
async fn a_newer_push_cancels_the_queued_run_of_an_older_one() {
    let seed = seed("registry", "svendowideit/testhook").await;
    let app = &seed.app;
    // A peer that answers slowly keeps the first run going while the next ones queue.
    let router = axum::Router::new().fallback(|| async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        "ok"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let pipeline = json!({"project": "Demo", "name": "one-at-a-time", "concurrency": 1, "inject_docker_parameters": true,
        "stages": [{"name": "s", "tasks": [{"name": "call", "type": "rest", "method": "GET", "url": slow}]}]});
    assert_eq!(
        app.post_json("/api/v1/pipelines", &app.admin_token, &pipeline)
            .await
            .status(),
        201
    );
    let webhook: Value = app
        .post_json("/api/v1/webhooks/docker", &app.admin_token, &json!({
            "project": "Demo", "name": "queued_hook", "endpoint": "hub", "pipeline": "one-at-a-time",
            "api_token": app.admin_token, "image": "", "tag": ""}))
        .await
        .json()
        .await
        .unwrap();
    let url = webhook["hook_url"].as_str().unwrap().to_string();
    let post = |body: Value| {
        let client = app.client.clone();
        let url = url.clone();
        async move {
            client
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let digest = |letter: &str| format!("sha256:{}", letter.repeat(64));

    let running = post(envelope("q-1", "2030-04-01T10:00:00Z", "v9", &digest("1"))).await;
    // Claimed (its task calling the slow peer) before the next pushes arrive.
    crate::helpers::run_when(app, &running["execution_id"], "to start", |run| {
        run["status"] == "RUNNING"
    })
    .await;
    let queued = post(envelope("q-2", "2030-04-01T10:01:00Z", "v9", &digest("2"))).await;
    let newest = post(envelope("q-3", "2030-04-01T10:02:00Z", "v9", &digest("3"))).await;
    for answer in [&running, &queued, &newest] {
        assert_eq!(answer["status"], "TRIGGERED", "{answer}");
    }

    let superseded = run_result(app, &queued["execution_id"]).await;
    assert_eq!(superseded["status"], "CANCELED", "{superseded}");
    assert_eq!(
        superseded["error"],
        format!(
            "superseded by event {}, a newer push of svendowideit/testhook:v9",
            newest["event_id"]
        )
    );
    // The run already going finishes; the newest push deploys.
    assert_eq!(
        run_result(app, &running["execution_id"]).await["status"],
        "COMPLETED"
    );
    let last = run_result(app, &newest["execution_id"]).await;
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["inputs"]["DOCKER_DIGEST"], digest("3").as_str());
}

#[tokio::test]
async fn deploying_a_completed_push_again_rolls_back_to_its_digest() {
    let seed = seed("docker-hub", "svendowideit/testhook").await;
    let url = hook_url(&seed);
    let good = push_delivery(&seed.hub, &url, "stable", PUSHED_AT).await;
    let (_, good_answer) = answer_of(&good);
    assert_eq!(
        run_result(&seed.app, &good_answer["execution_id"]).await["status"],
        "COMPLETED"
    );
    // A newer push of the tag deploys something else.
    let newer = push_delivery(&seed.hub, &url, "stable", PUSHED_AT + 60.0).await;
    run_result(&seed.app, &answer_of(&newer).1["execution_id"]).await;
    assert_eq!(deployed_image(&seed), reference(&newer.digest).as_str());

    let again = seed
        .app
        .post_json(
            &format!("/api/v1/activity/{}/rerun", good_answer["event_id"]),
            &seed.app.admin_token,
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    let run = run_result(&seed.app, &again["execution_id"]).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["inputs"]["DOCKER_DIGEST"], good.digest.as_str());
    assert_eq!(deployed_image(&seed), reference(&good.digest).as_str());
}

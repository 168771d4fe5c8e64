//! Group commit loses no answered delivery: a server killed with `kill -9`
//! in the middle of a burst of deliveries has, after it starts again, an
//! Activity row for every delivery it answered 2xx. (A delivery is answered
//! only once the batch holding it is committed; what the kill cuts off was
//! never answered, and a registry sends it again.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::http_client;
use crate::processes::{admin_token, start_server};

/// Concurrent senders: enough that batches hold many deliveries.
const SENDERS: usize = 32;

/// Deliveries answered before the kill: enough to be well into the burst.
const ANSWERED_BEFORE_KILL: usize = 400;

/// A CNCF registry notification of one push of `demo/app:t{index}`, with a
/// digest of its own (so no registry is asked and no push is a duplicate).
fn push_of(index: usize) -> String {
    let mut envelope: Value =
        serde_json::from_str(include_str!("../fixtures/registry-push-event.json")).unwrap();
    let event = &mut envelope["events"][0];
    event["id"] = format!("event-{index}").into();
    event["target"]["tag"] = format!("t{index}").into();
    event["target"]["digest"] = format!("sha256:{index:064x}").into();
    envelope.to_string()
}

async fn create(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Value {
    let answer = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "POST {path}");
    answer.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_delivery_answered_before_a_kill_9_is_recorded() {
    // Arrange: a registry webhook starting a one-Condition pipeline.
    let data_dir = tempfile::tempdir().unwrap();
    let token = admin_token(data_dir.path()).await;
    let mut server = start_server(data_dir.path(), &[]).await;
    let base = server.address.clone();
    let client = http_client();
    create(
        &client,
        &base,
        &token,
        "/api/v1/projects",
        json!({"name": "Demo"}),
    )
    .await;
    create(
        &client,
        &base,
        &token,
        "/api/v1/endpoints",
        json!({"project": "Demo", "name": "registry",
        "kind": "docker-registry", "server_type": "registry", "url": "http://127.0.0.1:5000"}),
    )
    .await;
    create(&client, &base, &token, "/api/v1/pipelines", json!({"project": "Demo", "name": "pass",
        "stages": [{"name": "s", "tasks": [{"name": "t", "type": "condition", "expression": "true"}]}]})).await;
    let webhook = create(
        &client,
        &base,
        &token,
        "/api/v1/webhooks/docker",
        json!({"project": "Demo",
        "name": "burst", "endpoint": "registry", "pipeline": "pass", "api_token": token,
        "image": "demo/app", "tag": ""}),
    )
    .await;
    let hook_url = webhook["hook_url"].as_str().unwrap().to_string();

    // Act: senders deliver pushes one after another each until the server is
    // killed, noting the Activity row of every 2xx answer.
    let answered: Arc<Mutex<Vec<i64>>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (client, hook_url) = (client.clone(), hook_url.clone());
            let (answered, killed) = (answered.clone(), killed.clone());
            tokio::spawn(async move {
                let mut index = sender;
                while !killed.load(Ordering::SeqCst) {
                    let sent = client
                        .post(&hook_url)
                        .header("Content-Type", "application/json")
                        .body(push_of(index))
                        .send()
                        .await;
                    index += SENDERS;
                    let Ok(answer) = sent else { continue };
                    if !answer.status().is_success() {
                        continue;
                    }
                    if let Ok(body) = answer.json::<Value>().await {
                        let event_id = body["event_id"]
                            .as_i64()
                            .expect("a 2xx names its Activity row");
                        answered.lock().unwrap().push(event_id);
                    }
                }
            })
        })
        .collect();
    while answered.lock().unwrap().len() < ANSWERED_BEFORE_KILL {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    killed.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    let answered: HashSet<i64> = answered.lock().unwrap().iter().copied().collect();

    // Assert: after a restart, every answered delivery is an Activity row.
    let restarted = start_server(data_dir.path(), &[]).await;
    let mut recorded = HashSet::new();
    let mut before = String::new();
    loop {
        // Pages of at most 500, older ones by `before`.
        let page: Vec<Value> = client
            .get(format!(
                "{}/api/v1/activity?limit=500&webhook={}{before}",
                restarted.address, webhook["id"]
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        recorded.extend(page.iter().filter_map(|row| row["id"].as_i64()));
        match page.last().and_then(|row| row["id"].as_i64()) {
            Some(oldest) if page.len() == 500 => before = format!("&before={oldest}"),
            _ => break,
        }
    }
    let missing: Vec<&i64> = answered.difference(&recorded).collect();
    assert!(answered.len() >= ANSWERED_BEFORE_KILL);
    assert!(
        missing.is_empty(),
        "{} of {} answered deliveries have no Activity row after the kill: {missing:?}",
        missing.len(),
        answered.len()
    );
}

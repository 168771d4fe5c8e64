//! A real registry: Debian's `docker-registry` (CNCF distribution) notifies
//! Slipway's registry receiver of a push made with `skopeo`; the run deploys
//! the pushed digest, and a delivery without one is resolved at the registry.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use slipway_standins::kube::KubeStandin;

use crate::helpers::{eventually, spawn_app};
use crate::webhooks::run_result;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Writes a blob into an OCI layout and answers its descriptor.
fn blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let digest = sha256(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
    json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// A one-layer image as an OCI layout, built by hand (no Docker daemon here).
fn oci_layout(dir: &Path, tag: &str) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello.txt"), "hello from slipway\n").unwrap();
    let tar = Command::new("tar")
        .arg("-cf")
        .arg("-")
        .arg("-C")
        .arg(&content)
        .arg("hello.txt")
        .output()
        .unwrap()
        .stdout;
    let mut gzip = Command::new("gzip")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(gzip.stdin.as_mut().unwrap(), &tar).unwrap();
    drop(gzip.stdin.take());
    let layer = gzip.wait_with_output().unwrap().stdout;
    let config = json!({"architecture": "amd64", "os": "linux", "config": {},
                        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]}});
    let config = blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let layer = blob(dir, "application/vnd.oci.image.layer.v1.tar+gzip", &layer);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]});
    let mut manifest = blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    manifest["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [manifest]}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[tokio::test]
async fn a_push_to_a_real_registry_deploys_the_pushed_digest() {
    // Arrange: Slipway with a cluster, a registry endpoint, a pipeline and a webhook.
    let cluster = KubeStandin::builder()
        .token("cluster-token")
        .start()
        .await
        .unwrap();
    let app = spawn_app().await;
    let registry_port = free_port();
    let registry_address = format!("127.0.0.1:{registry_port}");
    app.create_project("Demo").await;
    app.post_json("/api/v1/endpoints", &app.admin_token, &json!({"project": "Demo", "name": "local", "kind": "docker-registry", "server_type": "registry", "url": format!("http://{registry_address}")})).await;
    app.post_json("/api/v1/endpoints", &app.admin_token, &json!({"project": "Demo", "name": "dev", "kind": "kubernetes", "url": cluster.url(), "token": "cluster-token"})).await;
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  selector:\n    matchLabels: {app: demo}\n  template:\n    metadata:\n      labels: {app: demo}\n    spec:\n      containers:\n        - name: app\n          image: ${input.DOCKER_IMAGE_REF}\n";
    let pipeline = app.post_json("/api/v1/pipelines", &app.admin_token, &json!({"project": "Demo", "name": "deploy", "inject_docker_parameters": true,
        "stages": [{"name": "deploy", "tasks": [{"name": "app", "type": "kubernetes", "endpoint": "dev", "action": "APPLY", "yaml": yaml}]}]})).await;
    assert_eq!(pipeline.status(), 201);
    let webhook: Value = app
        .post_json("/api/v1/webhooks/docker", &app.admin_token, &json!({"project": "Demo", "name": "on-push", "endpoint": "local", "pipeline": "deploy", "api_token": app.admin_token, "image": "demo/app", "tag": "v*"}))
        .await
        .json()
        .await
        .unwrap();
    let hook_url = webhook["hook_url"].as_str().unwrap();
    assert!(hook_url.contains("/pipelines/api/registry-webhooks?secureToken="));

    // The registry, notifying the hook URL of manifest pushes.
    let work = tempfile::tempdir().unwrap();
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {registry_address}\nnotifications:\n  endpoints:\n    - name: slipway\n      url: {hook_url}\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n      ignoredmediatypes:\n        - application/octet-stream\n",
        work.path().join("storage").display()
    );
    std::fs::write(work.path().join("config.yml"), config).unwrap();
    let _registry = KillOnDrop(
        Command::new("docker-registry")
            .arg("serve")
            .arg(work.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry runs (scripts/test installs it)"),
    );
    let client = crate::helpers::http_client();
    let registry = format!("http://{registry_address}/v2/");
    eventually("the registry to start", Duration::from_secs(10), || async {
        client.get(&registry).send().await.ok().map(|_| ())
    })
    .await;

    // Act: push an image with skopeo.
    let layout = work.path().join("layout");
    oci_layout(&layout, "v1");
    let pushed = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{registry_address}/demo/app:v1"))
        .output()
        .expect("skopeo runs (scripts/test installs it)");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // Assert: the notification arrived, the run deployed that tag.
    let activity_path = format!("/api/v1/webhooks/docker/{}/activity", webhook["id"]);
    let event = eventually(
        "a notification to reach Slipway",
        Duration::from_secs(20),
        || async {
            let activity: Vec<Value> = app
                .get(&activity_path, &app.admin_token)
                .await
                .json()
                .await
                .unwrap();
            activity
                .into_iter()
                .find(|event| event["status"] == "TRIGGERED" && event["execution_id"].is_i64())
        },
    )
    .await;
    assert_eq!(event["repository"], "demo/app");
    assert_eq!(event["tag"], "v1");
    let execution = run_result(&app, &event["execution_id"]).await;
    assert_eq!(execution["status"], "COMPLETED", "{execution}");
    // The run is pinned to the digest the registry stored, as skopeo reads it.
    let inspected = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{registry_address}/demo/app:v1"))
        .output()
        .expect("skopeo inspects");
    let digest = String::from_utf8_lossy(&inspected.stdout)
        .trim()
        .to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(execution["inputs"]["DOCKER_DIGEST"], digest.as_str());
    assert_eq!(
        execution["inputs"]["DOCKER_IMAGE_REF"],
        format!("{registry_address}/demo/app@{digest}")
    );

    // A delivery without a digest (Docker Hub's format) is resolved at the
    // registry itself: a HEAD of the manifest gives the same digest.
    let docker_hub_receiver = hook_url.replace("registry-webhooks", "docker-hub-webhooks");
    let without_digest = json!({
        "push_data": {"pushed_at": 1_900_000_000, "pusher": "ci", "tag": "v1"},
        "repository": {"repo_name": "demo/app", "namespace": "demo", "name": "app"}
    });
    let answer: Value = client
        .post(&docker_hub_receiver)
        .json(&without_digest)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resolved = run_result(&app, &answer["execution_id"]).await;
    assert_eq!(
        resolved["inputs"]["DOCKER_DIGEST"],
        digest.as_str(),
        "{answer}"
    );
    assert_eq!(
        resolved["inputs"]["DOCKER_IMAGE_REF"],
        format!("{registry_address}/demo/app@{digest}")
    );
    let deployment = cluster
        .object("apps", "v1", "deployments", Some("default"), "app")
        .expect("deployed");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{registry_address}/demo/app@{digest}")
    );
}

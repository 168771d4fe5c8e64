//! The Dockerfile and `deploy/kubernetes/` stay true to the binary: every
//! manifest parses, every flag and `SLIPWAY_*` variable they use is one
//! `slipway serve --help` documents, the probes are the documented ones, and
//! Slipway's own Kubernetes task applies them (Slipway deploying Slipway).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate is in the workspace")
        .to_path_buf()
}

fn serve_help() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["serve", "--help"])
        .output()
        .expect("slipway runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// The manifests as one multi-document YAML, the Namespace first.
fn manifests_text() -> String {
    let directory = repository().join("deploy/kubernetes");
    let mut names: Vec<String> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort_by_key(|name| (name != "namespace.yaml", name.clone()));
    names
        .iter()
        .map(|name| std::fs::read_to_string(directory.join(name)).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Every document of every manifest, with the file it came from.
fn manifests() -> Vec<(String, Value)> {
    let directory = repository().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{name} does not parse: {error}"));
            documents.push((name.clone(), value));
        }
    }
    documents
}

/// The `--flag` names and `SLIPWAY_*` variables a text uses.
fn flags_and_variables(words: impl Iterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let mut flags = Vec::new();
    let mut variables = Vec::new();
    for word in words {
        if let Some(flag) = word.strip_prefix("--") {
            flags.push(format!("--{}", flag.split('=').next().unwrap_or_default()));
        }
        for piece in word.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if piece.starts_with("SLIPWAY_") {
                variables.push(piece.to_string());
            }
        }
    }
    (flags, variables)
}

#[test]
fn the_kubernetes_manifests_parse_and_use_only_documented_flags_and_variables() {
    let help = serve_help();
    let documents = manifests();
    let kinds: Vec<&str> = documents
        .iter()
        .filter_map(|(_, document)| document["kind"].as_str())
        .collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Ingress",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in deploy/kubernetes");
    }
    for (file, document) in &documents {
        assert!(document["apiVersion"].is_string(), "{file}: apiVersion");
        assert!(document["metadata"]["name"].is_string(), "{file}: name");
        if document["kind"] != "Namespace" {
            assert_eq!(document["metadata"]["namespace"], "slipway", "{file}");
        }
    }
    let (_, deployment) = documents
        .iter()
        .find(|(_, document)| document["kind"] == "Deployment")
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let env = container["env"].as_sequence().unwrap();
    let secret_of = |name: &str| {
        env.iter()
            .find(|variable| variable["name"] == name)
            .map(|variable| variable["valueFrom"]["secretKeyRef"]["name"].clone())
    };
    assert_eq!(secret_of("SLIPWAY_DATABASE_URL"), Some("slipway".into()));
    assert_eq!(secret_of("SLIPWAY_SECRET_KEY"), Some("slipway".into()));
    let words = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(env.iter().map(|variable| &variable["name"]))
        .filter_map(|word| word.as_str().map(str::to_string));
    let (flags, variables) = flags_and_variables(words);
    assert!(!flags.is_empty() && !variables.is_empty());
    for name in flags.iter().chain(&variables) {
        assert!(
            help.contains(name.as_str()),
            "{name} (deploy/kubernetes/deployment.yaml) is not in `slipway serve --help`"
        );
    }
}

#[test]
fn the_dockerfile_runs_as_a_user_with_a_health_check_and_documented_settings() {
    let help = serve_help();
    let dockerfile = std::fs::read_to_string(repository().join("Dockerfile")).unwrap();
    let instruction = |name: &str| {
        dockerfile
            .lines()
            .filter(|line| line.starts_with(name))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        instruction("FROM ").len(),
        2,
        "multi-stage: build, then run"
    );
    let user = instruction("USER ");
    assert!(
        user.len() == 1 && !user[0].contains("root") && !user[0].contains(" 0"),
        "{user:?}"
    );
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("/healthz"));
    assert!(dockerfile.contains("VOLUME [\"/var/lib/slipway\"]"));
    let (_, variables) = flags_and_variables(dockerfile.split_whitespace().map(str::to_string));
    assert!(variables.contains(&"SLIPWAY_DATA_DIR".to_string()));
    for name in &variables {
        assert!(
            help.contains(name.as_str()),
            "{name} (Dockerfile) is not in `slipway serve --help`"
        );
    }
}

#[tokio::test]
async fn slipway_deploys_its_own_manifests_with_its_kubernetes_task() {
    use serde_json::json;
    use slipway_standins::kube::KubeStandin;

    let cluster = KubeStandin::builder()
        .token("cluster-token")
        .rollout_delay(std::time::Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let app = crate::helpers::spawn_app().await;
    app.create_project("Platform").await;
    let endpoint = json!({"project": "Platform", "name": "cluster", "kind": "kubernetes",
        "url": cluster.url(), "token": "cluster-token", "namespace": "default"});
    let created = app
        .post_json("/api/v1/endpoints", &app.admin_token, &endpoint)
        .await;
    assert_eq!(created.status(), 201);
    let pipeline = json!({"project": "Platform", "name": "slipway", "stages": [{"name": "deploy",
        "tasks": [{"name": "apply", "type": "kubernetes", "endpoint": "cluster", "action": "APPLY",
                   "yaml": manifests_text(), "wait_for_rollout": true, "rollout_timeout_seconds": 20}]}]});
    let created = app
        .post_json("/api/v1/pipelines", &app.admin_token, &pipeline)
        .await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let pipeline: serde_json::Value = created.json().await.unwrap();

    let queued = app
        .post_json(
            &format!("/api/v1/pipelines/{}/executions", pipeline["id"]),
            &app.admin_token,
            &json!({}),
        )
        .await;
    assert_eq!(queued.status(), 201);
    let queued: serde_json::Value = queued.json().await.unwrap();
    let run = crate::helpers::finished(&app, &queued["id"]).await;

    assert_eq!(run["status"], "COMPLETED", "{run}");
    let namespace = Some("slipway");
    let deployment = cluster
        .object("apps", "v1", "deployments", namespace, "slipway")
        .expect("the Deployment is applied");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["status"]["availableReplicas"], 3, "{deployment}");
    for (group, plural, name) in [
        ("", "services", "slipway"),
        ("", "serviceaccounts", "slipway"),
        ("", "secrets", "slipway"),
        ("policy", "poddisruptionbudgets", "slipway"),
        ("networking.k8s.io", "ingresses", "slipway"),
        ("rbac.authorization.k8s.io", "roles", "slipway-deployer"),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            "slipway-deployer",
        ),
    ] {
        assert!(
            cluster
                .object(group, "v1", plural, namespace, name)
                .is_some(),
            "{plural}/{name} is applied"
        );
    }
    assert!(cluster
        .object("", "v1", "namespaces", None, "slipway")
        .is_some());
}

//! The Kubernetes task against the Kubernetes API stand-in (and, when
//! `KUBECONFIG` is set, the round trip against a real cluster).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::{Client, Config};
use serde_json::Value;
use slipway_standins::kube::{KubeStandin, KubeStandinHandle};
use tokio_util::sync::CancellationToken;

use super::rollback::choose_revision;
use super::rollout::{rollout_state, RolloutState};
use super::*;

const TOKEN: &str = "deploy-test-token";
const READONLY_TOKEN: &str = "deploy-readonly-token";

async fn start_standin(rollout_delay: Duration) -> KubeStandinHandle {
    KubeStandin::builder()
        .token(TOKEN)
        .readonly_token(READONLY_TOKEN)
        .rollout_delay(rollout_delay)
        .start()
        .await
        .expect("the stand-in starts")
}

fn client(standin: &KubeStandinHandle, token: &str) -> Client {
    // kube is built without a default crypto provider; tests share one process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::new(standin.url().parse().expect("the stand-in URL is a URI"));
    config.auth_info.token = Some(token.to_string().into());
    Client::try_from(config).expect("a client for the stand-in")
}

/// A Deployment of 2 replicas running `image`; `rollout_delay` sets the
/// stand-in's per-deployment delay annotation (milliseconds or `never`).
fn deployment_yaml(name: &str, image: &str, rollout_delay: Option<&str>) -> String {
    let annotations = rollout_delay
        .map(|delay| {
            format!("\n  annotations:\n    standin.slipway.dev/rollout-delay-ms: \"{delay}\"")
        })
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}{annotations}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: main
          image: {image}
"
    )
}

fn service_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: {name}
  ports:
    - port: 80
"
    )
}

fn task(action: KubernetesAction, yaml: impl Into<String>) -> KubernetesTask {
    KubernetesTask::new(action, yaml)
}

/// Runs `task` with the default namespace `default`, answering its result and log lines.
async fn run_logged(
    client: &Client,
    task: &KubernetesTask,
    cancel: CancellationToken,
) -> (Result<Value, DeployError>, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let log = move |line: String| sink.lock().expect("log lock").push(line);
    let result = run(client.clone(), "default", task, &log, cancel).await;
    let lines = lines.lock().expect("log lock").clone();
    (result, lines)
}

async fn run_ok(client: &Client, task: &KubernetesTask) -> Value {
    let (result, lines) = run_logged(client, task, CancellationToken::new()).await;
    match result {
        Ok(output) => output,
        Err(error) => panic!(
            "{} failed: {error}\nlog:\n{}",
            task.action,
            lines.join("\n")
        ),
    }
}

async fn run_err(client: &Client, task: &KubernetesTask) -> DeployError {
    let (result, _) = run_logged(client, task, CancellationToken::new()).await;
    match result {
        Ok(output) => panic!("{} should have failed, answered {output:#}", task.action),
        Err(error) => error,
    }
}

/// The output entry for the object of `kind`.
fn entry<'a>(output: &'a Value, kind: &str) -> &'a Value {
    output["objects"]
        .as_array()
        .and_then(|objects| objects.iter().find(|object| object["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} in {output:#}"))
}

fn stored_deployment(standin: &KubeStandinHandle, name: &str) -> Option<Value> {
    standin.object("apps", "v1", "deployments", Some("default"), name)
}

fn writes(standin: &KubeStandinHandle) -> usize {
    standin
        .requests()
        .iter()
        .filter(|request| request.method != "GET")
        .count()
}

#[tokio::test]
async fn create_then_get_a_deployment_and_a_service() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let yaml = format!(
        "{}---\n{}",
        deployment_yaml("web", "nginx:1.27", None),
        service_yaml("web")
    );

    let (created, log) = run_logged(
        &client,
        &task(KubernetesAction::Create, &yaml),
        CancellationToken::new(),
    )
    .await;
    let created = created.expect("CREATE succeeds");
    assert_eq!(created["action"], "CREATE");
    assert_eq!(created["image"], "nginx:1.27");
    let deployment = entry(&created, "Deployment");
    assert_eq!(deployment["result"], "created");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(deployment["namespace"], "default");
    assert_eq!(deployment["image"], "nginx:1.27");
    assert_eq!(deployment["replicas"], 2);
    assert_eq!(entry(&created, "Service")["result"], "created");
    assert!(
        log.iter()
            .any(|line| line.starts_with("CREATE apps/v1 Deployment default/web → created")),
        "log: {log:?}"
    );
    let stored = stored_deployment(&standin, "web").expect("the Deployment is stored");
    assert_eq!(stored["metadata"]["uid"], deployment["uid"]);
    assert!(standin
        .object("", "v1", "services", Some("default"), "web")
        .is_some());

    let found = run_ok(&client, &task(KubernetesAction::Get, &yaml)).await;
    assert_eq!(entry(&found, "Deployment")["result"], "found");
    assert_eq!(entry(&found, "Deployment")["uid"], deployment["uid"]);
    assert_eq!(
        entry(&found, "Service")["uid"],
        entry(&created, "Service")["uid"]
    );
    assert_eq!(found["image"], "nginx:1.27");
}

#[tokio::test]
async fn get_of_a_missing_object_fails_with_not_found() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let error = run_err(
        &client,
        &task(KubernetesAction::Get, service_yaml("nowhere")),
    )
    .await;
    assert_eq!(error.api_code(), Some(404), "{error}");
    assert!(
        error.to_string().contains("services/nowhere in default"),
        "{error}"
    );
}

#[tokio::test]
async fn apply_twice_changes_nothing_the_second_time() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let apply = task(
        KubernetesAction::Apply,
        deployment_yaml("web", "nginx:1.27", None),
    );

    let first = run_ok(&client, &apply).await;
    let second = run_ok(&client, &apply).await;
    let (first, second) = (entry(&first, "Deployment"), entry(&second, "Deployment"));
    assert_eq!(first["result"], "applied");
    assert_eq!(second["result"], "applied");
    assert!(first["uid"].is_string());
    assert_eq!(first["uid"], second["uid"]);
    assert_eq!(first["generation"], 1);
    assert_eq!(second["generation"], 1);
    let sent_apply = standin.requests().into_iter().any(|request| {
        request.method == "PATCH"
            && request.content_type.as_deref() == Some("application/apply-patch+yaml")
            && request.query.as_deref().is_some_and(|query| {
                query.contains("fieldManager=slipway") && query.contains("force=true")
            })
    });
    assert!(sent_apply, "a forced server-side apply as manager slipway");
}

#[tokio::test]
async fn apply_of_a_new_image_bumps_the_generation() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    run_ok(
        &client,
        &task(
            KubernetesAction::Apply,
            deployment_yaml("web", "nginx:1.27", None),
        ),
    )
    .await;

    let (output, log) = run_logged(
        &client,
        &task(
            KubernetesAction::Apply,
            deployment_yaml("web", "nginx:1.28", None),
        ),
        CancellationToken::new(),
    )
    .await;
    let output = output.expect("APPLY succeeds");
    assert_eq!(entry(&output, "Deployment")["generation"], 2);
    assert_eq!(entry(&output, "Deployment")["image"], "nginx:1.28");
    assert_eq!(output["image"], "nginx:1.28");
    assert!(
        log.contains(&"APPLY apps/v1 Deployment default/web → applied, generation 2".to_string()),
        "log: {log:?}"
    );
    let stored = stored_deployment(&standin, "web").expect("stored");
    assert_eq!(
        stored.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("nginx:1.28"))
    );
}

#[tokio::test]
async fn create_of_an_existing_object_fails_unless_conflicts_may_continue() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let mut create = task(
        KubernetesAction::Create,
        deployment_yaml("web", "nginx:1.27", None),
    );
    let created = run_ok(&client, &create).await;

    let error = run_err(&client, &create).await;
    match &error {
        DeployError::Api {
            object,
            code,
            reason,
            message,
        } => {
            assert_eq!(object, "deployments/web in default");
            assert_eq!(*code, Some(409));
            assert_eq!(reason, "AlreadyExists");
            assert_eq!(message, r#"deployments.apps "web" already exists"#);
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(error
        .to_string()
        .contains(r#"deployments.apps "web" already exists"#));

    create.continue_on_conflict = true;
    let again = run_ok(&client, &create).await;
    assert_eq!(entry(&again, "Deployment")["result"], "exists");
    assert_eq!(
        entry(&again, "Deployment")["uid"],
        entry(&created, "Deployment")["uid"]
    );
}

#[tokio::test]
async fn delete_then_delete_again_reports_absent() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let yaml = format!(
        "{}---\n{}",
        deployment_yaml("web", "nginx:1.27", None),
        service_yaml("web")
    );
    run_ok(&client, &task(KubernetesAction::Create, &yaml)).await;

    let deleted = run_ok(&client, &task(KubernetesAction::Delete, &yaml)).await;
    assert_eq!(entry(&deleted, "Deployment")["result"], "deleted");
    assert_eq!(entry(&deleted, "Service")["result"], "deleted");
    assert!(stored_deployment(&standin, "web").is_none());
    assert!(standin
        .object("", "v1", "services", Some("default"), "web")
        .is_none());

    let (again, log) = run_logged(
        &client,
        &task(KubernetesAction::Delete, &yaml),
        CancellationToken::new(),
    )
    .await;
    let again = again.expect("a second DELETE succeeds");
    assert_eq!(entry(&again, "Deployment")["result"], "absent");
    assert_eq!(entry(&again, "Service")["result"], "absent");
    assert!(
        log.iter().any(|line| line.ends_with("already absent")),
        "log: {log:?}"
    );
}

#[tokio::test]
async fn rollback_returns_to_the_previous_image() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    for image in ["nginx:1.26", "nginx:1.27"] {
        run_ok(
            &client,
            &task(KubernetesAction::Apply, deployment_yaml("web", image, None)),
        )
        .await;
    }

    let rollback = task(
        KubernetesAction::Rollback,
        deployment_yaml("web", "ignored", None),
    );
    let output = run_ok(&client, &rollback).await;
    assert_eq!(entry(&output, "Deployment")["result"], "rolled-back");
    assert_eq!(output["image"], "nginx:1.26");
    let stored = stored_deployment(&standin, "web").expect("stored");
    assert_eq!(
        stored.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("nginx:1.26"))
    );
    assert_eq!(
        stored.pointer("/spec/template/metadata/labels"),
        Some(&serde_json::json!({"app": "web"})),
        "no pod-template-hash label copied from the ReplicaSet"
    );

    // Revisions now: 2 (nginx:1.27) and 3 (nginx:1.26); revision 2 by number.
    let mut to_revision_two = rollback.clone();
    to_revision_two.to_revision = Some(2);
    let output = run_ok(&client, &to_revision_two).await;
    assert_eq!(output["image"], "nginx:1.27");

    to_revision_two.to_revision = Some(7);
    let error = run_err(&client, &to_revision_two).await;
    assert!(matches!(error, DeployError::Rollback { .. }), "{error:?}");
    assert!(
        error.to_string().contains("revision 7 not found"),
        "{error}"
    );
}

#[tokio::test]
async fn rollback_without_history_fails_clearly() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let yaml = deployment_yaml("fresh", "nginx:1.27", None);
    run_ok(&client, &task(KubernetesAction::Create, &yaml)).await;

    let error = run_err(&client, &task(KubernetesAction::Rollback, &yaml)).await;
    assert_eq!(
        error.to_string(),
        "cannot roll back deployments/fresh in default: \
         no earlier revision to roll back to (current revision is 1)"
    );

    let not_a_deployment = format!("{yaml}---\n{}", service_yaml("fresh"));
    let error = run_err(&client, &task(KubernetesAction::Rollback, not_a_deployment)).await;
    assert!(
        matches!(error, DeployError::InvalidDefinition { document: 2, .. }),
        "{error:?}"
    );
}

#[test]
fn choosing_the_revision_to_roll_back_to() {
    assert_eq!(choose_revision(&[1, 2, 3], Some(3), None), Ok(2));
    assert_eq!(choose_revision(&[3, 1, 5], Some(5), None), Ok(3));
    assert_eq!(choose_revision(&[1, 2], None, None), Ok(1));
    assert_eq!(choose_revision(&[1, 2, 3], Some(3), Some(1)), Ok(1));
    assert!(choose_revision(&[1], Some(1), None).is_err());
    assert!(choose_revision(&[1, 2], Some(2), Some(0)).is_err());
    assert!(choose_revision(&[], None, Some(1)).is_err());
}

#[tokio::test]
async fn wait_for_rollout_returns_once_the_replicas_are_available() {
    let standin = start_standin(Duration::from_millis(400)).await;
    let client = client(&standin, TOKEN);
    let mut apply = task(
        KubernetesAction::Apply,
        deployment_yaml("web", "nginx:1.27", None),
    );
    apply.wait_for_rollout = true;
    apply.rollout_timeout = Duration::from_secs(10);

    let started = Instant::now();
    let (output, log) = run_logged(&client, &apply, CancellationToken::new()).await;
    let output = output.expect("the rollout completes");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "it waited for the rollout"
    );
    let deployment = entry(&output, "Deployment");
    assert_eq!(deployment["replicas"], 2);
    assert_eq!(deployment["readyReplicas"], 2);
    assert!(
        log.iter()
            .any(|line| line.contains("rolled out (2 of 2 replicas available)")),
        "log: {log:?}"
    );
}

#[tokio::test]
async fn wait_for_a_rollout_that_never_completes_times_out() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let mut apply = task(
        KubernetesAction::Apply,
        deployment_yaml("stuck", "nginx:1.27", Some("never")),
    );
    apply.wait_for_rollout = true;
    apply.rollout_timeout = Duration::from_secs(1);

    let started = Instant::now();
    let error = run_err(&client, &apply).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500),
        "took {elapsed:?}"
    );
    assert_eq!(
        error,
        DeployError::RolloutTimeout {
            object: "deployments/stuck in default".into(),
            timeout: Duration::from_secs(1),
            waiting_for: "0 of 2 updated replicas are available".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "deployments/stuck in default did not finish its rollout within 1s: \
         0 of 2 updated replicas are available"
    );
}

#[tokio::test]
async fn wait_stops_when_the_progress_deadline_passes() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let yaml = deployment_yaml("late", "nginx:1.27", Some("never")).replace(
        "  replicas: 2\n",
        "  replicas: 2\n  progressDeadlineSeconds: 1\n",
    );
    let mut apply = task(KubernetesAction::Apply, yaml);
    apply.wait_for_rollout = true;
    apply.rollout_timeout = Duration::from_secs(10);

    let error = run_err(&client, &apply).await;
    assert!(
        matches!(&error, DeployError::RolloutFailed { object, .. } if object == "deployments/late in default"),
        "{error:?}"
    );
}

#[tokio::test]
async fn cancel_during_a_wait_returns_promptly() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let mut apply = task(
        KubernetesAction::Apply,
        deployment_yaml("stuck", "nginx:1.27", Some("never")),
    );
    apply.wait_for_rollout = true;
    apply.rollout_timeout = Duration::from_secs(30);

    let cancel = CancellationToken::new();
    let switch = cancel.clone();
    let cancel_after = Duration::from_millis(500);
    tokio::spawn(async move {
        tokio::time::sleep(cancel_after).await;
        switch.cancel();
    });
    let started = Instant::now();
    let (result, log) = run_logged(&client, &apply, cancel).await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(DeployError::Canceled));
    assert!(
        log.iter()
            .any(|line| line.contains("Waiting for the rollout")),
        "log: {log:?}"
    );
    assert!(
        elapsed >= cancel_after && elapsed < cancel_after + Duration::from_millis(200),
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn a_canceled_run_sends_no_write() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let apply = task(
        KubernetesAction::Apply,
        deployment_yaml("web", "nginx:1.27", None),
    );
    let (result, _) = run_logged(&client, &apply, cancel).await;
    assert_eq!(result, Err(DeployError::Canceled));
    assert_eq!(writes(&standin), 0);
}

#[tokio::test]
async fn invalid_yaml_names_the_line() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let yaml = format!("{}---\nkind: [unclosed\n", service_yaml("web"));
    let error = run_err(&client, &task(KubernetesAction::Apply, yaml)).await;
    let DeployError::InvalidDefinition { document, problem } = &error else {
        panic!("expected an invalid definition, got {error:?}");
    };
    assert_eq!(*document, 2);
    // The unclosed `[` of line 11 is found where the text ends (line 12):
    // the YAML guard reads the text before serde_yaml does.
    assert!(problem.contains("expected ',' or ']'"), "{problem}");
    assert!(problem.contains("line 12 column 1"), "{problem}");
    assert_eq!(
        writes(&standin),
        0,
        "nothing is written when any document is invalid"
    );
}

#[tokio::test]
async fn aliases_and_oversized_definitions_are_refused_before_any_request() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    // A small "billion laughs": each level names the one before ten times.
    let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..9 {
        let previous = format!("*l{}", level - 1);
        let items = [previous.as_str(); 10].join(", ");
        bomb.push_str(&format!("  l{level}: &l{level} [{items}]\n"));
    }
    let yaml = format!("{}---\n{bomb}", service_yaml("web"));
    let error = run_err(&client, &task(KubernetesAction::Apply, yaml)).await;
    let DeployError::InvalidDefinition { document, problem } = &error else {
        panic!("expected an invalid definition, got {error:?}");
    };
    assert_eq!(*document, 2);
    assert!(problem.contains("aliases"), "{problem}");

    let many =
        vec![service_yaml("web"); crate::yaml_guard::MAX_DEFINITION_DOCUMENTS + 1].join("---\n");
    let error = run_err(&client, &task(KubernetesAction::Apply, many)).await;
    assert!(
        matches!(&error, DeployError::DefinitionTooLarge { problem } if problem.contains("100 YAML document")),
        "{error:?}"
    );
    assert!(standin.requests().is_empty(), "not even discovery ran");
}

#[tokio::test]
async fn a_document_without_a_name_is_refused_before_any_write() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let nameless = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    app: web\n";
    let yaml = format!("{}---\n---\n{nameless}", service_yaml("web"));
    let error = run_err(&client, &task(KubernetesAction::Create, yaml)).await;
    assert_eq!(
        error,
        DeployError::InvalidDefinition {
            document: 3,
            problem: "missing metadata.name".into()
        }
    );
    assert_eq!(error.to_string(), "YAML document 3: missing metadata.name");
    assert!(standin.requests().is_empty(), "not even discovery ran");

    let error = run_err(&client, &task(KubernetesAction::Create, "---\n# nothing\n")).await;
    assert_eq!(error, DeployError::EmptyDefinition);
}

#[tokio::test]
async fn the_readonly_token_fails_with_the_forbidden_message() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, READONLY_TOKEN);
    let error = run_err(
        &client,
        &task(
            KubernetesAction::Apply,
            deployment_yaml("web", "nginx:1.27", None),
        ),
    )
    .await;
    assert_eq!(error.api_code(), Some(403), "{error:?}");
    assert_eq!(
        error.to_string(),
        "deployments/web in default: the Kubernetes API answered 403 Forbidden: \
         deployments.apps \"web\" is forbidden: User \"readonly\" cannot patch resource \
         \"deployments\" in API group \"apps\" in the namespace \"default\""
    );
    assert!(!error.to_string().contains(READONLY_TOKEN));
}

#[tokio::test]
async fn an_unknown_kind_is_named() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let yaml = format!(
        "{}---\napiVersion: example.com/v1\nkind: Frobnicator\nmetadata:\n  name: frob\n",
        service_yaml("web")
    );
    let error = run_err(&client, &task(KubernetesAction::Apply, yaml)).await;
    assert_eq!(
        error.to_string(),
        "YAML document 2: the cluster does not serve kind Frobnicator in example.com/v1"
    );
    assert_eq!(writes(&standin), 0);

    let unknown_core_kind = "apiVersion: v1\nkind: Frobnicator\nmetadata:\n  name: frob\n";
    let error = run_err(&client, &task(KubernetesAction::Get, unknown_core_kind)).await;
    assert!(
        matches!(error, DeployError::UnknownKind { document: 1, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_an_api_error_without_a_code() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    standin.shutdown().await;
    let error = run_err(&client, &task(KubernetesAction::Get, service_yaml("web"))).await;
    assert!(
        matches!(&error, DeployError::Api { code: None, reason, .. } if reason == "Unreachable"),
        "{error:?}"
    );
}

#[test]
fn actions_parse_and_serialize_in_capitals() {
    assert_eq!("APPLY".parse(), Ok(KubernetesAction::Apply));
    assert_eq!(" rollback ".parse(), Ok(KubernetesAction::Rollback));
    assert!("UPSERT".parse::<KubernetesAction>().is_err());
    assert_eq!(
        serde_json::to_value(KubernetesAction::Delete).ok(),
        Some(Value::from("DELETE"))
    );
    assert_eq!(
        serde_json::from_value::<KubernetesAction>(Value::from("GET")).ok(),
        Some(KubernetesAction::Get)
    );
    for action in KubernetesAction::ALL {
        assert_eq!(action.to_string().parse(), Ok(action));
    }
}

#[test]
fn rollout_state_follows_kubectl() {
    let deployment = |generation: i64, status: Value| -> kube::api::DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3},
            "status": status,
        }))
        .expect("a deployment")
    };
    let waiting = |text: &str| RolloutState::Waiting(text.to_string());
    assert_eq!(
        rollout_state(&deployment(2, serde_json::json!({"observedGeneration": 1}))),
        waiting("the controller has not yet observed the new spec")
    );
    let status = |replicas: i64, updated: i64, available: i64| {
        serde_json::json!({"observedGeneration": 2, "replicas": replicas,
            "updatedReplicas": updated, "availableReplicas": available})
    };
    assert_eq!(
        rollout_state(&deployment(2, status(3, 1, 3))),
        waiting("1 of 3 new replicas have been updated")
    );
    assert_eq!(
        rollout_state(&deployment(2, status(5, 3, 3))),
        waiting("2 old replicas are pending termination")
    );
    assert_eq!(
        rollout_state(&deployment(2, status(3, 3, 2))),
        waiting("2 of 3 updated replicas are available")
    );
    assert_eq!(
        rollout_state(&deployment(2, status(3, 3, 3))),
        RolloutState::Complete
    );
    let deadline = serde_json::json!({"observedGeneration": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
    assert!(matches!(
        rollout_state(&deployment(2, deadline)),
        RolloutState::Failed(_)
    ));
}

#[tokio::test]
async fn the_run_future_can_be_spawned() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    let apply = task(
        KubernetesAction::Apply,
        deployment_yaml("web", "nginx:1.27", None),
    );
    // tokio::spawn only compiles when run's future is Send.
    let spawned = tokio::spawn(async move {
        let log = |_: String| {};
        run(client, "default", &apply, &log, CancellationToken::new()).await
    });
    let output = spawned.await.expect("the spawned run completes");
    assert_eq!(
        output.map(|output| output["image"].clone()),
        Ok(Value::from("nginx:1.27"))
    );
}

/// The stand-in's real-cluster counterpart: the CREATE/APPLY/DELETE round trip
/// against the cluster of `KUBECONFIG`, in `SLIPWAY_TEST_NAMESPACE` (default
/// `default`), with a unique name, cleaned up afterwards.
mod real_cluster {
    use super::*;

    #[tokio::test]
    async fn create_apply_delete_round_trip() {
        if std::env::var_os("KUBECONFIG").is_none() {
            println!("skipped: KUBECONFIG not set");
            return;
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::try_default()
            .await
            .expect("a client from KUBECONFIG");
        let namespace =
            std::env::var("SLIPWAY_TEST_NAMESPACE").unwrap_or_else(|_| "default".to_string());
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis())
            .unwrap_or_default();
        let name = format!("slipway-deploy-test-{suffix}");
        let yaml = |image: &str| {
            format!(
                "{}---\n{}",
                deployment_yaml(&name, image, None),
                service_yaml(&name)
            )
        };
        let run_in = |task: KubernetesTask| {
            let client = client.clone();
            let namespace = namespace.clone();
            async move {
                let log = |line: String| println!("{line}");
                run(client, &namespace, &task, &log, CancellationToken::new()).await
            }
        };

        // Checks answer errors instead of panicking, so the cleanup below always runs.
        let check = |what: &str, actual: &Value, expected: &Value| {
            if actual == expected {
                Ok(())
            } else {
                Err(format!("{what}: expected {expected}, got {actual}"))
            }
        };
        let outcome = async {
            let failed = |error: DeployError| error.to_string();
            let created = run_in(task(KubernetesAction::Create, yaml("nginx:1.26")))
                .await
                .map_err(failed)?;
            let created = entry(&created, "Deployment").clone();
            check("CREATE result", &created["result"], &Value::from("created"))?;
            let applied = run_in(task(KubernetesAction::Apply, yaml("nginx:1.27")))
                .await
                .map_err(failed)?;
            check("APPLY image", &applied["image"], &Value::from("nginx:1.27"))?;
            check(
                "APPLY uid",
                &entry(&applied, "Deployment")["uid"],
                &created["uid"],
            )?;
            let deleted = run_in(task(KubernetesAction::Delete, yaml("nginx:1.27")))
                .await
                .map_err(failed)?;
            check(
                "DELETE result",
                &entry(&deleted, "Deployment")["result"],
                &Value::from("deleted"),
            )
        }
        .await;
        // Clean up whatever a failed step left behind, then report the failure.
        let _ = run_in(task(KubernetesAction::Delete, yaml("nginx:1.27"))).await;
        if let Err(error) = outcome {
            panic!("round trip against the real cluster failed: {error}");
        }
    }
}

fn pod_waiting(name: &str, reason: &str, message: &str) -> k8s_openapi::api::core::v1::Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "status": {"containerStatuses": [{
            "name": "main", "image": "nginx:broken", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}},
        }]},
    }))
    .expect("a pod")
}

#[test]
fn only_states_that_do_not_heal_count_as_stuck() {
    let pods = [
        pod_waiting("web-1", "ContainerCreating", ""),
        pod_waiting(
            "web-2",
            "ImagePullBackOff",
            "Back-off pulling image \"nginx:broken\"",
        ),
        pod_waiting("web-3", "CrashLoopBackOff", "back-off 10s"),
        pod_waiting("web-4", "PodInitializing", ""),
    ];
    let stuck = rollout::stuck_containers(&pods);
    let reasons: Vec<(&str, &str)> = stuck
        .iter()
        .map(|container| (container.pod.as_str(), container.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [("web-2", "ImagePullBackOff"), ("web-3", "CrashLoopBackOff")]
    );
    assert_eq!(stuck[0].container, "main");
    assert_eq!(stuck[0].message, "Back-off pulling image \"nginx:broken\"");
}

#[test]
fn a_container_fails_the_rollout_only_when_stuck_past_the_grace() {
    let grace = Duration::from_secs(10);
    let mut watch = rollout::StuckWatch::new(grace);
    let start = tokio::time::Instant::now();
    let stuck = |reason: &str| rollout::stuck_containers(&[pod_waiting("web-1", reason, "")]);

    assert_eq!(watch.observe(start, stuck("ErrImagePull")), None);
    // Moving between stuck reasons keeps the clock running.
    assert_eq!(
        watch.observe(start + Duration::from_secs(9), stuck("ImagePullBackOff")),
        None
    );
    let overdue = watch.observe(start + grace, stuck("ImagePullBackOff"));
    assert_eq!(
        overdue.map(|container| container.reason),
        Some("ImagePullBackOff".into())
    );

    // A container that recovered starts over when it is stuck again.
    let mut watch = rollout::StuckWatch::new(grace);
    watch.observe(start, stuck("ImagePullBackOff"));
    assert_eq!(
        watch.observe(start + Duration::from_secs(5), Vec::new()),
        None
    );
    assert_eq!(
        watch.observe(start + Duration::from_secs(11), stuck("ImagePullBackOff")),
        None
    );
}

/// APPLY of `image` over a running `nginx:1.26`, waiting, with a short stuck-pod grace.
fn failing_apply(image: &str, rollback_on_failure: bool) -> KubernetesTask {
    let mut apply = task(KubernetesAction::Apply, deployment_yaml("web", image, None));
    apply.wait_for_rollout = true;
    apply.rollout_timeout = Duration::from_secs(60);
    apply.stuck_pod_grace = Duration::from_millis(300);
    apply.rollback_on_failure = rollback_on_failure;
    apply
}

#[tokio::test]
async fn a_broken_image_fails_the_wait_early_naming_pod_and_reason() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    run_ok(
        &client,
        &task(
            KubernetesAction::Apply,
            deployment_yaml("web", "nginx:1.26", None),
        ),
    )
    .await;

    let started = Instant::now();
    let error = run_err(&client, &failing_apply("nginx:broken", false)).await;

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let message = error.to_string();
    assert!(
        matches!(error, DeployError::RolloutFailed { .. }),
        "{error:?}"
    );
    assert!(
        message.starts_with("deployments/web in default: the rollout failed: pod web-"),
        "{message}"
    );
    assert!(
        message.contains("container main is in ImagePullBackOff"),
        "{message}"
    );
    assert!(
        message.contains("Back-off pulling image \"nginx:broken\""),
        "{message}"
    );
    let stored = stored_deployment(&standin, "web").expect("stored");
    assert_eq!(
        stored.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("nginx:broken")),
        "without rollback_on_failure the broken spec stays"
    );
}

#[tokio::test]
async fn rollback_on_failure_puts_the_previous_revision_back() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    run_ok(
        &client,
        &task(
            KubernetesAction::Apply,
            deployment_yaml("web", "nginx:1.26", None),
        ),
    )
    .await;

    let (result, log) = run_logged(
        &client,
        &failing_apply("nginx:crashloop", true),
        CancellationToken::new(),
    )
    .await;

    let error = result.expect_err("the rollout fails");
    let message = error.to_string();
    assert!(message.contains("CrashLoopBackOff"), "{message}");
    assert!(
        message.ends_with("; rolled back Deployment/web to revision 1 (image nginx:1.26)"),
        "{message}"
    );
    assert_eq!(
        error.rolled_back_output(),
        Some(serde_json::json!({"rolled_back": [{
            "kind": "Deployment", "name": "web", "namespace": "default",
            "revision": 1, "image": "nginx:1.26",
        }]}))
    );
    let stored = stored_deployment(&standin, "web").expect("stored");
    assert_eq!(
        stored.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("nginx:1.26"))
    );
    assert!(
        log.iter().any(|line| line.contains("rolled out")),
        "the rollback was awaited: {log:?}"
    );
}

#[tokio::test]
async fn rollback_on_failure_says_when_there_is_nothing_to_go_back_to() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);

    let error = run_err(&client, &failing_apply("nginx:broken", true)).await;

    assert!(
        error.to_string().ends_with(
            "; the rollback failed too: deployments/web in default had no earlier revision (the task created it)"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn dry_run_diffs_against_the_live_object_and_changes_nothing() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, TOKEN);
    run_ok(
        &client,
        &task(
            KubernetesAction::Apply,
            deployment_yaml("web", "nginx:1.26", None),
        ),
    )
    .await;
    let before = stored_deployment(&standin, "web").expect("stored");
    standin.clear_requests();

    let mut dry = task(
        KubernetesAction::Apply,
        deployment_yaml("web", "nginx:1.27", None),
    );
    dry.dry_run = true;
    let output = run_ok(&client, &dry).await;

    assert_eq!(
        stored_deployment(&standin, "web"),
        Some(before),
        "nothing changed"
    );
    let diff = &output["diff"];
    assert_eq!(diff["changed"], true);
    assert_eq!(
        diff["summary"],
        "Deployment/web: image nginx:1.26 → nginx:1.27"
    );
    assert_eq!(diff["objects"][0]["change"], "update");
    assert_eq!(
        diff["objects"][0]["fields"],
        serde_json::json!([{
            "path": "spec.template.spec.containers[main].image",
            "before": "nginx:1.26", "after": "nginx:1.27",
        }])
    );
    assert!(standin
        .requests()
        .iter()
        .filter(|request| request.method != "GET")
        .all(|request| request
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("dryRun=All")));

    // The same definition again is no change; a new object is a create.
    let mut same = task(
        KubernetesAction::Apply,
        deployment_yaml("web", "nginx:1.26", None),
    );
    same.dry_run = true;
    assert_eq!(run_ok(&client, &same).await["diff"]["changed"], false);
    let mut create = task(KubernetesAction::Create, service_yaml("api"));
    create.dry_run = true;
    let output = run_ok(&client, &create).await;
    assert_eq!(output["diff"]["objects"][0]["change"], "create");
    assert!(standin
        .object("", "v1", "services", Some("default"), "api")
        .is_none());
}

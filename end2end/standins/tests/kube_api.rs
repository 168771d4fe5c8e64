//! The Kubernetes stand-in, driven by the real `kube` client the way Slipway uses it.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{GroupVersionKind, Status};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config, ResourceExt};
use serde_json::{json, Value};
use slipway_standins::kube::{
    KubeStandin, KubeStandinHandle, GIT_VERSION, REVISION_ANNOTATION, ROLLOUT_DELAY_ANNOTATION,
};

const READONLY_TOKEN: &str = "readonly-token";

async fn start_standin(rollout_delay: Duration) -> KubeStandinHandle {
    KubeStandin::builder()
        .token("test-token")
        .readonly_token(READONLY_TOKEN)
        .rollout_delay(rollout_delay)
        .start()
        .await
        .expect("the stand-in starts")
}

fn client(standin: &KubeStandinHandle, token: Option<&str>) -> Client {
    // kube and reqwest are built without a default crypto provider; tests share one process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::new(standin.url().parse().expect("the stand-in URL is a URI"));
    config.auth_info.token = token.map(|token| token.to_string().into());
    Client::try_from(config).expect("a client for the stand-in")
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .expect("a valid Deployment")
}

/// The `Status` a failed call returned; panics when the call succeeded.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

fn condition(deployment: &Deployment, condition_type: &str) -> Option<(String, String)> {
    let conditions = deployment.status.as_ref()?.conditions.as_ref()?;
    let found = conditions
        .iter()
        .find(|condition| condition.type_ == condition_type)?;
    Some((
        found.status.clone(),
        found.reason.clone().unwrap_or_default(),
    ))
}

/// Watches one deployment until `done` holds for it, failing after a few seconds.
async fn watch_until(
    api: &Api<Deployment>,
    name: &str,
    since: &str,
    done: impl Fn(&Deployment) -> bool,
) -> Deployment {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(10);
    let stream = api.watch(&params, since).await.expect("the watch starts");
    let mut stream = Box::pin(stream);
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = stream.try_next().await.expect("watch events decode") {
            if let WatchEvent::Added(deployment) | WatchEvent::Modified(deployment) = event {
                if done(&deployment) {
                    return deployment;
                }
            }
        }
        panic!("the watch ended before the condition held");
    });
    waited.await.expect("the condition held within 10 s")
}

#[tokio::test]
async fn version_names_the_standin() {
    let standin = start_standin(Duration::ZERO).await;
    let info = client(&standin, Some(standin.token()))
        .apiserver_version()
        .await
        .expect("version");
    assert_eq!(info.git_version, GIT_VERSION);
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "35"));
}

#[tokio::test]
async fn discovery_finds_core_and_named_groups_both_ways() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));

    let legacy = Discovery::new(client.clone())
        .run()
        .await
        .expect("legacy discovery");
    standin.clear_requests();
    let aggregated = Discovery::new(client)
        .run_aggregated()
        .await
        .expect("aggregated discovery");

    // Aggregated discovery answers everything from /apis and /api alone.
    let aggregated_paths: Vec<String> = standin
        .requests()
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(aggregated_paths, ["/apis", "/api"]);

    for discovery in [legacy, aggregated] {
        let deployment = GroupVersionKind::gvk("apps", "v1", "Deployment");
        let (resource, capabilities) = discovery
            .resolve_gvk(&deployment)
            .expect("deployments are discovered");
        assert_eq!(resource.plural, "deployments");
        assert_eq!(capabilities.scope, Scope::Namespaced);
        assert!(capabilities
            .subresources
            .iter()
            .any(|(sub, _)| sub.plural == "status"));
        let (_, namespaces) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
            .expect("namespaces");
        assert_eq!(namespaces.scope, Scope::Cluster);
        assert!(discovery
            .resolve_gvk(&GroupVersionKind::gvk("batch", "v1", "Job"))
            .is_some());
    }
}

#[tokio::test]
async fn created_deployments_get_server_metadata() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");

    let created = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let fetched = api.get("web").await.expect("get");

    assert!(fetched.uid().is_some_and(|uid| uid.len() == 36));
    assert_eq!(fetched.uid(), created.uid());
    assert_eq!(fetched.metadata.generation, Some(1));
    assert!(fetched.metadata.creation_timestamp.is_some());
    assert_eq!(
        fetched
            .annotations()
            .get(REVISION_ANNOTATION)
            .map(String::as_str),
        Some("1")
    );
    let stored = standin
        .object("apps", "v1", "deployments", Some("default"), "web")
        .expect("stored");
    assert_eq!(
        stored["metadata"]["resourceVersion"],
        json!(fetched.resource_version())
    );
}

#[tokio::test]
async fn creating_twice_is_already_exists() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("first create");

    let error = api_error(
        api.create(&PostParams::default(), &deployment("web", "nginx:1"))
            .await,
    );

    assert_eq!((error.code, error.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(error.message, "deployments.apps \"web\" already exists");
}

#[tokio::test]
async fn applying_the_same_configuration_twice_changes_nothing() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    let params = PatchParams::apply("slipway").force();

    let first = api
        .patch("web", &params, &Patch::Apply(deployment("web", "nginx:1")))
        .await
        .expect("first apply");
    let second = api
        .patch("web", &params, &Patch::Apply(deployment("web", "nginx:1")))
        .await
        .expect("second apply");

    assert_eq!(first.uid(), second.uid());
    assert_eq!(second.metadata.generation, Some(1));
    assert_eq!(first.resource_version(), second.resource_version());
    let managers: Vec<String> = second
        .managed_fields()
        .iter()
        .filter_map(|entry| entry.manager.clone())
        .collect();
    assert_eq!(managers, ["slipway"]);
}

#[tokio::test]
async fn a_new_image_is_a_new_generation_and_replica_set() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let params = PatchParams::apply("slipway");
    deployments
        .patch("web", &params, &Patch::Apply(deployment("web", "nginx:1")))
        .await
        .expect("apply v1");

    let updated = deployments
        .patch("web", &params, &Patch::Apply(deployment("web", "nginx:2")))
        .await
        .expect("apply v2");

    assert_eq!(updated.metadata.generation, Some(2));
    assert_eq!(
        updated
            .annotations()
            .get(REVISION_ANNOTATION)
            .map(String::as_str),
        Some("2")
    );
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client, "default");
    let owned = replica_sets
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list replica sets");
    let mut by_revision: Vec<(String, String, i32)> = owned
        .iter()
        .map(|replica_set| {
            let revision = replica_set
                .annotations()
                .get(REVISION_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            let image = replica_set
                .spec
                .as_ref()
                .and_then(|spec| spec.template.as_ref())
                .and_then(|template| template.spec.as_ref())
                .map(|pod| pod.containers[0].image.clone().unwrap_or_default())
                .unwrap_or_default();
            let replicas = replica_set
                .spec
                .as_ref()
                .and_then(|spec| spec.replicas)
                .unwrap_or_default();
            (revision, image, replicas)
        })
        .collect();
    by_revision.sort();
    assert_eq!(
        by_revision,
        [
            ("1".into(), "nginx:1".into(), 0),
            ("2".into(), "nginx:2".into(), 2)
        ]
    );
    for replica_set in &owned {
        let owner = &replica_set.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("Deployment", "web", Some(true))
        );
        assert_eq!(owner.uid, updated.uid().unwrap_or_default());
        assert!(replica_set.labels().contains_key("pod-template-hash"));
    }
}

#[tokio::test]
async fn a_rollout_becomes_available_after_the_delay() {
    let standin = start_standin(Duration::from_millis(300)).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");

    let created = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");

    assert_eq!(
        condition(&created, "Available"),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );
    let available = watch_until(
        &api,
        "web",
        &created.resource_version().unwrap_or_default(),
        |deployment| condition(deployment, "Available").is_some_and(|(status, _)| status == "True"),
    )
    .await;
    let status = available.status.clone().expect("status");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(2), Some(2), Some(2), Some(2))
    );
    assert_eq!(
        condition(&available, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
}

#[tokio::test]
async fn a_rollout_marked_never_misses_its_deadline() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    let mut stuck = deployment("stuck", "nginx:1");
    stuck.metadata.annotations =
        Some([(ROLLOUT_DELAY_ANNOTATION.to_string(), "never".to_string())].into());
    if let Some(spec) = stuck.spec.as_mut() {
        spec.progress_deadline_seconds = Some(1);
    }

    let created = api
        .create(&PostParams::default(), &stuck)
        .await
        .expect("create");

    let failed = watch_until(
        &api,
        "stuck",
        &created.resource_version().unwrap_or_default(),
        |deployment| {
            condition(deployment, "Progressing").is_some_and(|(status, _)| status == "False")
        },
    )
    .await;
    assert_eq!(
        condition(&failed, "Progressing"),
        Some(("False".into(), "ProgressDeadlineExceeded".into()))
    );
    assert_eq!(
        failed.status.and_then(|status| status.available_replicas),
        Some(0)
    );
}

#[tokio::test]
async fn merge_patches_change_labels_without_a_new_generation() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");

    let patch = json!({"metadata": {"labels": {"team": "delivery"}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("merge patch");

    assert_eq!(
        patched.labels().get("team").map(String::as_str),
        Some("delivery")
    );
    assert_eq!(patched.labels().get("app").map(String::as_str), Some("web"));
    assert_eq!(patched.metadata.generation, Some(1));
}

#[tokio::test]
async fn deleting_removes_the_deployment_and_its_replica_sets() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");

    let deleted = api
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");

    let status = deleted.right().expect("a Status for an immediate delete");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let error = api_error(api.get("web").await);
    assert_eq!((error.code, error.reason.as_str()), (404, "NotFound"));
    assert_eq!(error.message, "deployments.apps \"web\" not found");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client, "default");
    assert!(replica_sets
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .is_empty());
    assert_eq!(
        api_error(api.delete("web", &DeleteParams::default()).await).code,
        404
    );
}

#[tokio::test]
async fn invalid_deployments_are_422_with_field_causes() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    let mut broken = deployment("web", "");
    if let Some(spec) = broken.spec.as_mut() {
        spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into());
    }

    let error = api_error(api.create(&PostParams::default(), &broken).await);

    assert_eq!((error.code, error.reason.as_str()), (422, "Invalid"));
    assert!(
        error
            .message
            .starts_with("Deployment.apps \"web\" is invalid: ["),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("spec.template.spec.containers[0].image: Required value"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("`selector` does not match template `labels`"),
        "{}",
        error.message
    );
    let bad_name = api_error(
        api.create(&PostParams::default(), &deployment("Bad_Name", "nginx:1"))
            .await,
    );
    assert_eq!(bad_name.code, 422);
    assert!(
        bad_name
            .message
            .contains("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{}",
        bad_name.message
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let standin = start_standin(Duration::ZERO).await;

    for token in [None, Some("wrong-token")] {
        let api: Api<Deployment> = Api::namespaced(client(&standin, token), "default");
        let error = api_error(api.list(&ListParams::default()).await);
        assert_eq!(
            (error.code, error.reason.as_str(), error.message.as_str()),
            (401, "Unauthorized", "Unauthorized")
        );
    }
}

#[tokio::test]
async fn the_readonly_token_may_read_but_not_write() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(READONLY_TOKEN)), "default");

    assert!(api.list(&ListParams::default()).await.is_ok());
    let create = api_error(
        api.create(&PostParams::default(), &deployment("web", "nginx:1"))
            .await,
    );
    let apply = api_error(
        api.patch(
            "web",
            &PatchParams::apply("slipway"),
            &Patch::Apply(deployment("web", "nginx:1")),
        )
        .await,
    );

    assert_eq!((create.code, create.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        create.message,
        "deployments.apps is forbidden: User \"readonly\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"default\""
    );
    assert_eq!(
        apply.message,
        "deployments.apps \"web\" is forbidden: User \"readonly\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"default\""
    );
    assert!(standin
        .object("apps", "v1", "deployments", Some("default"), "web")
        .is_none());
}

#[tokio::test]
async fn another_manager_conflicts_unless_it_forces() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    api.patch(
        "web",
        &PatchParams::apply("slipway"),
        &Patch::Apply(deployment("web", "nginx:1")),
    )
    .await
    .expect("first apply");
    let scaled = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});

    let error = api_error(
        api.patch(
            "web",
            &PatchParams::apply("autoscaler"),
            &Patch::Apply(&scaled),
        )
        .await,
    );
    let forced = api
        .patch(
            "web",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(&scaled),
        )
        .await
        .expect("forced apply");

    assert_eq!((error.code, error.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        error.message,
        "Apply failed with 1 conflict: conflict with \"slipway\" using apps/v1: .spec.replicas"
    );
    assert_eq!(forced.spec.and_then(|spec| spec.replicas), Some(5));
}

#[tokio::test]
async fn a_stale_resource_version_is_a_conflict() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<ConfigMap> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    let config: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"a": "1"}}))
            .expect("configmap");
    let created = api
        .create(&PostParams::default(), &config)
        .await
        .expect("create");
    let mut first = created.clone();
    first.data = Some([("a".to_string(), "2".to_string())].into());
    api.replace("settings", &PostParams::default(), &first)
        .await
        .expect("replace with the current version");

    let error = api_error(
        api.replace("settings", &PostParams::default(), &created)
            .await,
    );

    assert_eq!((error.code, error.reason.as_str()), (409, "Conflict"));
    assert!(
        error.message.contains("the object has been modified"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn namespaced_creates_need_the_namespace_and_lists_filter_by_label() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));
    let configmap = |name: &str, tier: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"tier": tier}}}))
            .expect("configmap")
    };
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "dev");
    let error = api_error(
        missing
            .create(&PostParams::default(), &configmap("a", "front"))
            .await,
    );
    assert_eq!(
        (error.code, error.message.as_str()),
        (404, "namespaces \"dev\" not found")
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "dev"}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
    let api: Api<ConfigMap> = Api::namespaced(client, "dev");
    api.create(&PostParams::default(), &configmap("a", "front"))
        .await
        .expect("create a");
    api.create(&PostParams::default(), &configmap("b", "back"))
        .await
        .expect("create b");

    let front = api
        .list(&ListParams::default().labels("tier=front"))
        .await
        .expect("list");
    assert_eq!(
        front
            .items
            .iter()
            .map(|item| item.name_any())
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert!(front
        .metadata
        .resource_version
        .is_some_and(|version| !version.is_empty()));
    assert_eq!(
        api.list(&ListParams::default().labels("tier in (front,back)"))
            .await
            .expect("list")
            .items
            .len(),
        2
    );
}

#[tokio::test]
async fn the_status_subresource_changes_only_status() {
    let standin = start_standin(Duration::from_secs(3600)).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");

    let patch = json!({"spec": {"replicas": 9}, "status": {"readyReplicas": 1}});
    let patched = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch status");
    let main_patch = json!({"status": {"readyReplicas": 7}});
    let main = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&main_patch))
        .await
        .expect("patch main");

    assert_eq!(
        patched
            .status
            .as_ref()
            .and_then(|status| status.ready_replicas),
        Some(1)
    );
    assert_eq!(
        patched.spec.as_ref().and_then(|spec| spec.replicas),
        Some(2)
    );
    assert_eq!(
        main.status.and_then(|status| status.ready_replicas),
        Some(1)
    );
    assert_eq!(
        api.get_status("web")
            .await
            .expect("get status")
            .metadata
            .generation,
        Some(1)
    );
}

#[tokio::test]
async fn requests_are_recorded_for_assertions() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    api.patch(
        "web",
        &PatchParams::apply("slipway").force(),
        &Patch::Apply(deployment("web", "nginx:1")),
    )
    .await
    .expect("apply");

    let apply = standin
        .requests()
        .into_iter()
        .find(|request| request.method == "PATCH")
        .expect("the apply was recorded");

    assert_eq!(
        apply.path,
        "/apis/apps/v1/namespaces/default/deployments/web"
    );
    assert_eq!(
        apply.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert!(apply.query.as_deref().is_some_and(
        |query| query.contains("fieldManager=slipway") && query.contains("force=true")
    ));
    assert_eq!(apply.status, 201);
    assert_eq!(
        apply
            .body
            .as_ref()
            .map(|body| &body["spec"]["template"]["spec"]["containers"][0]["image"]),
        Some(&json!("nginx:1"))
    );
    assert!(apply.time_unix_micros > 1_700_000_000_000_000);

    let over_http: Value = reqwest::get(format!("{}/_standin/requests", standin.url()))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        over_http.as_array().map(Vec::len),
        Some(standin.requests().len())
    );
    let objects: Value = reqwest::get(format!(
        "{}/_standin/objects?kind=Deployment",
        standin.url()
    ))
    .await
    .expect("GET")
    .json()
    .await
    .expect("JSON");
    let kinds: Vec<&Value> = objects
        .as_array()
        .into_iter()
        .flatten()
        .map(|object| &object["kind"])
        .collect();
    assert_eq!(
        kinds,
        [&json!("Deployment")],
        "only the filtered kind, once"
    );
}

#[tokio::test]
async fn apply_without_a_field_manager_is_rejected() {
    let standin = start_standin(Duration::ZERO).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = serde_json::to_vec(&deployment("web", "nginx:1")).expect("JSON");

    let response = reqwest::Client::new()
        .patch(format!(
            "{}/apis/apps/v1/namespaces/default/deployments/web",
            standin.url()
        ))
        .bearer_auth(standin.token())
        .header("Content-Type", "application/apply-patch+yaml")
        .body(body)
        .send()
        .await
        .expect("PATCH");

    assert_eq!(response.status().as_u16(), 422);
    let status: Value = response.json().await.expect("a Status");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["message"], "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
}

#[tokio::test]
async fn watches_report_changes_in_order() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<ConfigMap> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    let list = api.list(&ListParams::default()).await.expect("list");
    let since = list.metadata.resource_version.unwrap_or_default();
    let events = api
        .watch(&WatchParams::default().timeout(5), &since)
        .await
        .expect("watch");
    let config: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings"}})).expect("configmap");

    api.create(&PostParams::default(), &config)
        .await
        .expect("create");
    api.delete("settings", &DeleteParams::default())
        .await
        .expect("delete");

    let kinds: Vec<&str> = Box::pin(events)
        .take(2)
        .map(|event| match event.expect("event") {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Deleted(_) => "DELETED",
            _ => "OTHER",
        })
        .collect()
        .await;
    assert_eq!(kinds, ["ADDED", "DELETED"]);
}

#[tokio::test]
async fn tls_is_trusted_through_the_generated_ca_only() {
    let standin = KubeStandin::builder()
        .token("test-token")
        .tls(true)
        .start()
        .await
        .expect("the stand-in starts");
    assert!(standin.url().starts_with("https://127.0.0.1:"));
    assert!(standin
        .ca_pem()
        .is_some_and(|pem| pem.starts_with("-----BEGIN CERTIFICATE-----")));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config_with = |root_cert: Option<Vec<Vec<u8>>>, accept_invalid_certs: bool| {
        let mut config = Config::new(standin.url().parse().expect("URI"));
        config.auth_info.token = Some(standin.token().to_string().into());
        config.root_cert = root_cert;
        config.accept_invalid_certs = accept_invalid_certs;
        Client::try_from(config).expect("client")
    };
    let ca = standin.ca_der().map(|der| vec![der.to_vec()]);

    let trusted = config_with(ca, false).apiserver_version().await;
    let untrusted = config_with(None, false).apiserver_version().await;
    let insecure = Api::<Namespace>::all(config_with(None, true))
        .get("default")
        .await;

    assert_eq!(
        trusted.expect("a CA-verified connection").git_version,
        GIT_VERSION
    );
    assert!(untrusted.is_err(), "an unknown CA must be refused");
    assert_eq!(
        insecure.expect("skip-verify connects").name_any(),
        "default"
    );
}

/// The pods of a deployment, as a client finds them: by the deployment's selector.
async fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("pods list")
        .items
}

fn waiting_reasons(pods: &[Pod]) -> Vec<(String, String)> {
    pods.iter()
        .flat_map(|pod| {
            pod.status
                .iter()
                .flat_map(|status| status.container_statuses.iter().flatten())
        })
        .filter_map(|status| status.state.as_ref()?.waiting.as_ref())
        .map(|waiting| {
            (
                waiting.reason.clone().unwrap_or_default(),
                waiting.message.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn deployments_get_running_pods_of_their_current_replica_set() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");

    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");

    let pods = pods_of(&client, "web").await;
    assert_eq!(pods.len(), 2, "one pod per replica");
    for pod in &pods {
        let status = pod.status.as_ref().expect("a pod status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let container = &status.container_statuses.as_ref().expect("statuses")[0];
        assert!(
            container.ready
                && container
                    .state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some())
        );
        let owner = &pod.owner_references()[0];
        assert_eq!(owner.kind, "ReplicaSet");
        assert!(pod.name_any().starts_with(&owner.name));
    }
}

#[tokio::test]
async fn a_broken_image_stays_in_image_pull_back_off_until_its_deadline_then_rolls_back() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");

    // Arrange: the new template's image cannot be pulled; a short deadline.
    let patch = json!({"spec": {"progressDeadlineSeconds": 1, "template": {"spec": {
        "containers": [{"name": "app", "image": "nginx:broken"}]}}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");

    // The pods of the new ReplicaSet wait, as a kubelet reports it; the old ones keep serving.
    let pods = pods_of(&client, "web").await;
    assert_eq!(pods.len(), 4, "two old pods and two new ones");
    let reasons = waiting_reasons(&pods);
    assert_eq!(
        reasons.len(),
        2,
        "the new ReplicaSet's pods wait: {reasons:?}"
    );
    for (reason, message) in &reasons {
        assert_eq!(reason, "ImagePullBackOff");
        assert!(
            message.contains("Back-off pulling image \"nginx:broken\""),
            "{message}"
        );
    }
    let status = patched.status.clone().expect("a status");
    assert_eq!(status.unavailable_replicas, Some(2));
    let failed = watch_until(
        &api,
        "web",
        &patched.resource_version().unwrap_or_default(),
        |deployment| {
            condition(deployment, "Progressing").is_some_and(|(status, _)| status == "False")
        },
    )
    .await;
    assert_eq!(
        condition(&failed, "Progressing"),
        Some(("False".into(), "ProgressDeadlineExceeded".into()))
    );

    // Putting the old template back (a rollback) brings running pods back.
    let back = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "nginx:1"}]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&back))
        .await
        .expect("patch back");
    let pods = pods_of(&client, "web").await;
    assert_eq!(pods.len(), 2, "the broken pods are gone");
    assert!(waiting_reasons(&pods).is_empty());
}

#[tokio::test]
async fn a_crashloop_tag_keeps_containers_in_crash_loop_back_off() {
    let standin = start_standin(Duration::ZERO).await;
    let client = client(&standin, Some(standin.token()));
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");

    let created = api
        .create(
            &PostParams::default(),
            &deployment("crash", "app:crashloop"),
        )
        .await
        .expect("create");

    let reasons = waiting_reasons(&pods_of(&client, "crash").await);
    assert!(!reasons.is_empty());
    assert!(reasons
        .iter()
        .all(|(reason, message)| reason == "CrashLoopBackOff"
            && message.contains("restarting failed container=app")));
    assert_eq!(
        created.status.and_then(|status| status.available_replicas),
        Some(0)
    );
}

#[tokio::test]
async fn dry_run_writes_answer_the_would_be_object_and_store_nothing() {
    let standin = start_standin(Duration::ZERO).await;
    let api: Api<Deployment> = Api::namespaced(client(&standin, Some(standin.token())), "default");
    let dry_create = PostParams {
        dry_run: true,
        ..PostParams::default()
    };

    let would_be = api
        .create(&dry_create, &deployment("web", "nginx:1"))
        .await
        .expect("dry-run create");
    assert_eq!(would_be.name_any(), "web");
    assert!(api.get_opt("web").await.expect("get").is_none());

    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let mut changed = deployment("web", "nginx:2");
    changed.metadata.managed_fields = None;
    let would_be = api
        .patch(
            "web",
            &PatchParams::apply("slipway").force().dry_run(),
            &Patch::Apply(&changed),
        )
        .await
        .expect("dry-run apply");
    let image = |deployment: &Deployment| {
        deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.template.spec.as_ref())
            .and_then(|pod| pod.containers[0].image.clone())
    };
    assert_eq!(image(&would_be).as_deref(), Some("nginx:2"));
    let live = api.get("web").await.expect("get");
    assert_eq!(image(&live).as_deref(), Some("nginx:1"));
}

//! Fixtures the contract functions build on.

use app::endpoint::EndpointKind;
use app::webhook::{DeliverySource, EventStatus};
use server::store::*;

/// The dedupe window of the receivers: a day.
pub const WINDOW: i64 = 24 * 60 * 60 * 1000;
pub const MANUAL: &str = r#"{"kind":"manual"}"#;
pub const DOCKER: &str = r#"{"kind":"docker"}"#;

pub async fn user(store: &SharedStore, username: &str) -> UserRecord {
    store
        .ensure_user(username, false, 1)
        .await
        .expect("the user is stored")
}

pub async fn project(store: &SharedStore, name: &str) -> ProjectRecord {
    store
        .create_project(name, "", 1)
        .await
        .expect("the project is stored")
}

pub fn endpoint_write(project_id: i64, name: &str) -> EndpointWrite<'_> {
    EndpointWrite {
        project_id,
        name,
        description: "",
        kind: EndpointKind::Kubernetes,
        url: "https://cluster.example",
        settings: "{}",
        sealed_secrets: None,
        now: 1,
    }
}

pub async fn endpoint(store: &SharedStore, project_id: i64, name: &str) -> EndpointRecord {
    store
        .create_endpoint(endpoint_write(project_id, name))
        .await
        .expect("the endpoint is stored")
}

pub fn pipeline_write<'a>(
    project_id: i64,
    name: &'a str,
    endpoint_ids: &'a [i64],
) -> PipelineWrite<'a> {
    PipelineWrite {
        project_id,
        name,
        description: "",
        enabled: true,
        concurrency: 1,
        spec: "{}",
        endpoint_ids,
        now: 1,
    }
}

pub async fn pipeline(
    store: &SharedStore,
    project_id: i64,
    name: &str,
    endpoint_ids: &[i64],
) -> PipelineRecord {
    store
        .create_pipeline(pipeline_write(project_id, name, endpoint_ids))
        .await
        .expect("the pipeline is stored")
}

/// A run of the pipeline as queued by hand (or by `trigger`).
pub fn run(pipeline: &PipelineRecord, trigger: &'static str, now: i64) -> NewExecution<'static> {
    NewExecution {
        pipeline_id: pipeline.id,
        project_id: pipeline.project_id,
        inputs: "{}",
        trigger,
        spec: "{}",
        created_by: None,
        now,
    }
}

/// The run's one task: `t` of stage `s`, a condition without inputs.
pub fn task_start(execution_id: i64, now: i64) -> TaskStart<'static> {
    TaskStart {
        execution_id,
        stage_index: 0,
        stage_name: "s",
        task_index: 0,
        task_name: "t",
        task_type: "condition",
        inputs: None,
        now,
    }
}

pub async fn token(store: &SharedStore, user_id: i64, hash: &str) -> i64 {
    store
        .create_api_token(NewTokenRecord {
            user_id,
            name: hash,
            prefix: "slw_",
            token_hash: hash,
            created_at: 1,
            expires_at: None,
        })
        .await
        .expect("the token is stored")
        .id
}

pub fn webhook_write(
    project_id: i64,
    name: &str,
    endpoint_id: i64,
    pipeline_id: i64,
    api_token_id: i64,
) -> WebhookWrite<'_> {
    WebhookWrite {
        project_id,
        name,
        description: "",
        endpoint_id,
        pipeline_id,
        api_token_id,
        image_pattern: "demo/app",
        tag_pattern: "",
        inputs: "{}",
        enabled: true,
        newer_only: false,
        source_cidrs: "[]",
        max_deliveries_per_minute: 6_000,
        now: 1,
    }
}

/// Stores the webhook under a secure token of that hash.
pub async fn webhook(
    store: &SharedStore,
    write: WebhookWrite<'_>,
    token_hash: &str,
) -> WebhookRecord {
    store
        .create_webhook(write, token_hash, "sealed")
        .await
        .expect("the webhook is stored")
}

/// A project "Demo" with an endpoint, a pipeline using it, and a webhook
/// running that pipeline with a token of `user`.
pub struct Seed {
    pub user: UserRecord,
    pub project: ProjectRecord,
    pub endpoint: EndpointRecord,
    pub pipeline: PipelineRecord,
    pub token_id: i64,
    pub webhook: WebhookRecord,
}

pub async fn seed(store: &SharedStore) -> Seed {
    let user = user(store, "alice").await;
    let project = project(store, "Demo").await;
    let endpoint = endpoint(store, project.id, "hub").await;
    let pipeline = pipeline(store, project.id, "deploy", &[endpoint.id]).await;
    let token_id = token(store, user.id, "seed-token").await;
    let write = webhook_write(project.id, "on-push", endpoint.id, pipeline.id, token_id);
    let webhook = webhook(store, write, "seed-hook").await;
    Seed {
        user,
        project,
        endpoint,
        pipeline,
        token_id,
        webhook,
    }
}

/// A push that passed the webhook's filters, as the receivers record it.
pub fn push(webhook_id: i64, received_at: i64, dedupe_key: &str) -> NewEvent {
    NewEvent {
        webhook_id,
        received_at,
        source: DeliverySource::Registry,
        repository: "demo/app".into(),
        tag: "v1".into(),
        owner: String::new(),
        status: EventStatus::Triggered,
        reason: String::new(),
        dedupe_key: Some(dedupe_key.into()),
        inputs: Some(r#"{"DOCKER_TAG":"v1"}"#.into()),
        pushed_at: None,
        digest: None,
    }
}

/// Dedupe alone: no newer-only policy (and pushes without a time are not ordered).
pub fn dedupe_only(window_start: i64) -> PushOrder {
    PushOrder {
        window_start,
        duplicate_reason: Box::new(duplicate_reason),
        newer_than: None,
        stale_reason: Box::new(stale_reason),
    }
}

pub fn stale_reason(head: &PushHead, scope: HeadScope) -> String {
    format!("lost to event {} ({scope:?})", head.event_id)
}

pub fn duplicate_reason(first: i64) -> String {
    format!("the same push already started a run (event {first})")
}

pub fn assert_constraint<T: std::fmt::Debug>(result: StoreResult<T>, name: &str) {
    match result {
        Err(StoreError::Constraint(refused)) => assert_eq!(refused, name),
        other => panic!("expected constraint {name} to refuse the write, got {other:?}"),
    }
}

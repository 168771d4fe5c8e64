//! The HTTP side of the Docker Hub stand-in: login, webhook pipelines, the
//! failure switch, recording, and the `/_standin/` control API. The registry
//! routes live in `registry.rs` and are merged in here.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};

use super::pipelines::{self, PipelineInput, Webhook, WebhookPipeline};
use super::push::{Push, PushDelivery};
use super::registry::{self, Registry};
use super::RecordedCall;
use crate::recording::{body_for_record, unix_micros_now, RecordLog};
use crate::server::StopSignal;

const BODY_LIMIT: usize = 1024 * 1024;

/// An error answer in Docker Hub's (Django REST framework's) JSON shape.
pub(crate) struct HubError {
    status: StatusCode,
    body: Value,
}

impl HubError {
    fn detail(status: StatusCode, detail: &str) -> Self {
        Self {
            status,
            body: json!({"detail": detail}),
        }
    }

    fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }

    fn bad_request(body: Value) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A forced failure: every Hub web API call (login, webhook pipelines) gets
/// this answer until cleared. The registry has its own switch.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub body: Value,
}

impl Failure {
    pub fn new(status: StatusCode, body: Option<Value>) -> Self {
        let body = body.unwrap_or_else(|| {
            json!({"detail": format!("{} (forced by the hub stand-in's failure switch)", status.canonical_reason().unwrap_or("failure"))})
        });
        Self { status, body }
    }
}

#[derive(Default)]
struct HubData {
    tokens: HashSet<String>,
    /// Pipelines per `namespace/repo`, in creation order.
    repositories: BTreeMap<String, Vec<WebhookPipeline>>,
    last_id: u64,
    failure: Option<Failure>,
}

pub(crate) struct HubState {
    pub username: String,
    password: String,
    /// Namespaces the user may manage: their own name plus configured organisations.
    namespaces: Vec<String>,
    pub url: String,
    data: Mutex<HubData>,
    pub calls: RecordLog<RecordedCall>,
    pub http: reqwest::Client,
    pub registry: Registry,
}

/// Why a push was not (fully) done.
pub(crate) struct PushFailure {
    pub status: StatusCode,
    pub message: String,
    /// Set when the image was stored before the failure (nowhere to deliver).
    pub digest: Option<String>,
}

impl HubState {
    pub fn new(
        username: String,
        password: String,
        namespaces: Vec<String>,
        url: String,
        failure: Option<Failure>,
        stop: StopSignal,
    ) -> Self {
        let data = HubData {
            failure,
            ..HubData::default()
        };
        Self {
            username,
            password,
            namespaces,
            url,
            data: Mutex::new(data),
            calls: RecordLog::new(),
            http: super::push::http_client(),
            registry: Registry::new(stop),
        }
    }

    /// Whether `user`/`password` are the stand-in's one account.
    pub fn credentials_match(&self, user: &str, password: &str) -> bool {
        user == self.username && password == self.password
    }

    fn data(&self) -> MutexGuard<'_, HubData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_failure(&self, failure: Option<Failure>) {
        self.data().failure = failure;
    }

    pub fn pipelines_of(&self, namespace: &str, repo: &str) -> Vec<WebhookPipeline> {
        self.data()
            .repositories
            .get(&repository_key(namespace, repo))
            .cloned()
            .unwrap_or_default()
    }

    pub fn all_pipelines(&self) -> BTreeMap<String, Vec<WebhookPipeline>> {
        self.data().repositories.clone()
    }

    /// Stores a new image under the push's tag, then delivers the push (one
    /// payload per platform) to its hook URL, or to every hook of the
    /// repository. Returns the tag's new digest and the deliveries.
    pub async fn push(&self, push: &Push) -> Result<(String, Vec<PushDelivery>), PushFailure> {
        let platforms =
            registry::parse_platforms(push.platform_list()).map_err(|message| PushFailure {
                status: StatusCode::BAD_REQUEST,
                message,
                digest: None,
            })?;
        let payloads = push.resolve_each_platform(&self.username, &self.url);
        let first = &payloads[0];
        let digest = self.registry.store_image(
            &repository_key(&first.namespace, &first.repo),
            &first.tag,
            &platforms,
        );
        let hook_urls: Vec<String> = match &push.hook_url {
            Some(hook_url) => vec![hook_url.clone()],
            None => self
                .pipelines_of(&first.namespace, &first.repo)
                .iter()
                .flat_map(|pipeline| {
                    pipeline
                        .webhooks
                        .iter()
                        .map(|webhook| webhook.hook_url.clone())
                })
                .collect(),
        };
        if hook_urls.is_empty() {
            return Err(PushFailure {
                status: StatusCode::NOT_FOUND,
                message: format!(
                    "no webhook is registered for {}/{} (the image was stored: tag {} is {digest})",
                    first.namespace, first.repo, first.tag
                ),
                digest: Some(digest),
            });
        }
        let mut deliveries = Vec::new();
        for payload in &payloads {
            for hook_url in &hook_urls {
                deliveries.push(payload.deliver(&self.http, hook_url, &digest).await);
            }
        }
        Ok((digest, deliveries))
    }
}

pub(crate) fn repository_key(namespace: &str, repo: &str) -> String {
    format!("{namespace}/{repo}")
}

/// `2024-05-01T12:00:00.123456Z`, Docker Hub's timestamp style.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn router(state: Arc<HubState>) -> Router {
    let pipeline_collection = get(list_pipelines).post(create_pipeline);
    let pipeline_item = get(get_pipeline)
        .put(replace_pipeline)
        .patch(update_pipeline)
        .delete(delete_pipeline);
    let hub_api = Router::new()
        .route("/v2/users/login", post(login))
        .route("/v2/users/login/", post(login))
        .route(
            "/v2/repositories/{namespace}/{repo}/webhook_pipeline",
            pipeline_collection.clone(),
        )
        .route(
            "/v2/repositories/{namespace}/{repo}/webhook_pipeline/",
            pipeline_collection,
        )
        .route(
            "/v2/repositories/{namespace}/{repo}/webhook_pipeline/{slug}",
            pipeline_item.clone(),
        )
        .route(
            "/v2/repositories/{namespace}/{repo}/webhook_pipeline/{slug}/",
            pipeline_item,
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            fail_when_switched,
        ));
    // The Hub routes are more specific than the registry's `/v2/{*rest}`, so
    // they win for their paths.
    Router::new()
        .merge(hub_api)
        .merge(registry::routes())
        .route("/u/{namespace}/{repo}/hook/{id}/", post(callback))
        .route("/_standin/calls", get(list_calls).delete(clear_calls))
        .route("/_standin/fail", post(start_failing).delete(stop_failing))
        .route(
            "/_standin/registry/fail",
            post(start_failing_registry).delete(stop_failing_registry),
        )
        .route(
            "/_standin/registry/hang",
            post(start_hanging_registry).delete(stop_hanging_registry),
        )
        .route(
            "/_standin/tags/{namespace}/{repo}/{tag}",
            get(tag_digest).post(store_tag),
        )
        .route("/_standin/private/{namespace}/{repo}", post(mark_private))
        .route("/_standin/push", post(push))
        .route("/_standin/pipelines", get(dump_pipelines))
        .fallback(|| async { HubError::not_found() })
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// A call being answered; recorded when dropped, so a call whose client hung
/// up first (a hanging registry) is recorded too, with status 0.
struct PendingCall {
    state: Arc<HubState>,
    call: Option<RecordedCall>,
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            self.state.calls.push(call);
        }
    }
}

/// Records every call except the `/_standin/` control API, with the answer's
/// status. Passwords in login bodies are replaced, and headers (so tokens) are
/// not recorded, so records are safe to print.
async fn record(State(state): State<Arc<HubState>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/_standin/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return HubError::detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
            .into_response();
    };
    let mut recorded_body = body_for_record(&bytes);
    if let Some(password) = recorded_body
        .as_mut()
        .and_then(|body| body.get_mut("password"))
    {
        *password = json!("<redacted>");
    }
    let call = RecordedCall {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        body: recorded_body,
        time_unix_micros: unix_micros_now(),
        status: 0,
    };
    let mut pending = PendingCall {
        state,
        call: Some(call),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some(call) = pending.call.as_mut() {
        call.status = response.status().as_u16();
    }
    drop(pending);
    response
}

async fn fail_when_switched(
    State(state): State<Arc<HubState>>,
    request: Request,
    next: Next,
) -> Response {
    let failure = state.data().failure.clone();
    match failure {
        Some(failure) => (failure.status, Json(failure.body)).into_response(),
        None => next.run(request).await,
    }
}

fn parse_json(body: &Bytes) -> Result<Value, HubError> {
    serde_json::from_slice(body).map_err(|error| {
        HubError::bad_request(json!({"detail": format!("JSON parse error - {error}")}))
    })
}

async fn login(State(state): State<Arc<HubState>>, body: Bytes) -> Result<Json<Value>, HubError> {
    let credentials = parse_json(&body)?;
    let field = |name: &str| {
        credentials
            .get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    };
    let mut missing = serde_json::Map::new();
    for name in ["username", "password"] {
        if field(name).is_none() {
            missing.insert(name.to_string(), json!(["This field is required."]));
        }
    }
    if !missing.is_empty() {
        return Err(HubError::bad_request(Value::Object(missing)));
    }
    if field("username") != Some(state.username.as_str())
        || field("password") != Some(state.password.as_str())
    {
        return Err(HubError::detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials.",
        ));
    }
    let token = new_token(&state.username);
    state.data().tokens.insert(token.clone());
    Ok(Json(json!({"token": token})))
}

/// A JWT-shaped token (header.payload.signature). Only this stand-in checks it,
/// by remembering the tokens it handed out.
fn new_token(username: &str) -> String {
    let issued_at = chrono::Utc::now().timestamp();
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let claims = json!({
        "username": username,
        "sub": uuid::Uuid::new_v4().to_string(),
        "iat": issued_at,
        "exp": issued_at + 30 * 24 * 3600,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
    });
    let mut signature = [0u8; 32];
    rand::rng().fill(&mut signature);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Checks the `JWT <token>` (or `Bearer <token>`) header and that the user may
/// manage `namespace`.
fn authorize(state: &HubState, headers: &HeaderMap, namespace: &str) -> Result<(), HubError> {
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return Err(HubError::detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        ));
    };
    let token = authorization
        .strip_prefix("JWT ")
        .or_else(|| authorization.strip_prefix("Bearer "))
        .map(str::trim);
    let known = token.is_some_and(|token| state.data().tokens.contains(token));
    if !known {
        return Err(HubError::detail(
            StatusCode::UNAUTHORIZED,
            "Invalid JWT token.",
        ));
    }
    if !state.namespaces.iter().any(|allowed| allowed == namespace) {
        return Err(HubError::detail(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.",
        ));
    }
    Ok(())
}

async fn list_pipelines(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, HubError> {
    authorize(&state, &headers, &namespace)?;
    let results = state.pipelines_of(&namespace, &repo);
    Ok(Json(
        json!({"count": results.len(), "next": null, "previous": null, "results": results}),
    ))
}

async fn create_pipeline(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookPipeline>), HubError> {
    authorize(&state, &headers, &namespace)?;
    let input =
        pipelines::parse_input(&parse_json(&body)?, false).map_err(HubError::bad_request)?;
    let name = input.name.clone().unwrap_or_default();
    let slug = pipelines::slugify(&name);
    let mut data = state.data();
    let data = &mut *data;
    let existing = data
        .repositories
        .entry(repository_key(&namespace, &repo))
        .or_default();
    if existing
        .iter()
        .any(|pipeline| pipeline.name == name || pipeline.slug == slug)
    {
        return Err(HubError::bad_request(
            json!({"name": ["A webhook pipeline with this name already exists."]}),
        ));
    }
    let created = now();
    data.last_id += 1;
    let mut pipeline = WebhookPipeline {
        id: data.last_id,
        name,
        slug,
        expect_final_callback: false,
        active: true,
        webhooks: Vec::new(),
        creator: state.username.clone(),
        created: created.clone(),
        last_updater: state.username.clone(),
        last_updated: created,
    };
    apply_input(&mut pipeline, input, &state.username, &mut data.last_id);
    existing.push(pipeline.clone());
    Ok((StatusCode::CREATED, Json(pipeline)))
}

async fn get_pipeline(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo, slug)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<WebhookPipeline>, HubError> {
    authorize(&state, &headers, &namespace)?;
    state
        .pipelines_of(&namespace, &repo)
        .into_iter()
        .find(|pipeline| pipeline.slug == slug)
        .map(Json)
        .ok_or_else(HubError::not_found)
}

async fn replace_pipeline(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo, slug)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookPipeline>, HubError> {
    change_pipeline(&state, &headers, (&namespace, &repo, &slug), &body, false)
}

async fn update_pipeline(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo, slug)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookPipeline>, HubError> {
    change_pipeline(&state, &headers, (&namespace, &repo, &slug), &body, true)
}

/// PUT (`partial == false`, all fields required) or PATCH. The slug never changes.
fn change_pipeline(
    state: &HubState,
    headers: &HeaderMap,
    (namespace, repo, slug): (&str, &str, &str),
    body: &Bytes,
    partial: bool,
) -> Result<Json<WebhookPipeline>, HubError> {
    authorize(state, headers, namespace)?;
    let mut data = state.data();
    let data = &mut *data;
    let pipelines = data
        .repositories
        .get_mut(&repository_key(namespace, repo))
        .ok_or_else(HubError::not_found)?;
    let index = pipelines
        .iter()
        .position(|pipeline| pipeline.slug == slug)
        .ok_or_else(HubError::not_found)?;
    let input =
        pipelines::parse_input(&parse_json(body)?, partial).map_err(HubError::bad_request)?;
    if let Some(name) = &input.name {
        let taken = pipelines
            .iter()
            .enumerate()
            .any(|(other, pipeline)| other != index && &pipeline.name == name);
        if taken {
            return Err(HubError::bad_request(
                json!({"name": ["A webhook pipeline with this name already exists."]}),
            ));
        }
    }
    let pipeline = &mut pipelines[index];
    apply_input(pipeline, input, &state.username, &mut data.last_id);
    Ok(Json(pipeline.clone()))
}

/// Copies the given fields of a checked body into a pipeline.
fn apply_input(
    pipeline: &mut WebhookPipeline,
    input: PipelineInput,
    user: &str,
    last_id: &mut u64,
) {
    let updated = now();
    if let Some(name) = input.name {
        pipeline.name = name;
    }
    if let Some(expect_final_callback) = input.expect_final_callback {
        pipeline.expect_final_callback = expect_final_callback;
    }
    if let Some(webhooks) = input.webhooks {
        pipeline.webhooks = webhooks
            .into_iter()
            .map(|webhook| {
                *last_id += 1;
                Webhook {
                    id: *last_id,
                    name: webhook.name,
                    hook_url: webhook.hook_url,
                    active: true,
                    creator: user.to_string(),
                    created: updated.clone(),
                    last_updater: user.to_string(),
                    last_updated: updated.clone(),
                }
            })
            .collect();
    }
    pipeline.last_updater = user.to_string();
    pipeline.last_updated = updated;
}

async fn delete_pipeline(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo, slug)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, HubError> {
    authorize(&state, &headers, &namespace)?;
    let mut data = state.data();
    let pipelines = data
        .repositories
        .get_mut(&repository_key(&namespace, &repo))
        .ok_or_else(HubError::not_found)?;
    let index = pipelines
        .iter()
        .position(|pipeline| pipeline.slug == slug)
        .ok_or_else(HubError::not_found)?;
    pipelines.remove(index);
    Ok(StatusCode::NO_CONTENT)
}

/// Where default `callback_url`s point: accepts and records Slipway's callback.
async fn callback() -> Json<Value> {
    Json(json!({}))
}

async fn list_calls(State(state): State<Arc<HubState>>) -> Json<Vec<RecordedCall>> {
    Json(state.calls.snapshot())
}

async fn clear_calls(State(state): State<Arc<HubState>>) -> StatusCode {
    state.calls.clear();
    StatusCode::NO_CONTENT
}

/// A control call's optional JSON body (`{}` when empty).
fn control_body(body: &Bytes) -> Result<Value, HubError> {
    if body.is_empty() {
        Ok(json!({}))
    } else {
        parse_json(body)
    }
}

/// The `status` of a failure switch request: an HTTP error status, default 503.
fn error_status(request: &Value) -> Result<StatusCode, HubError> {
    let code = request.get("status").and_then(Value::as_u64).unwrap_or(503);
    u16::try_from(code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .filter(|status| status.is_client_error() || status.is_server_error())
        .ok_or_else(|| {
            HubError::bad_request(json!({"status": ["Must be an HTTP error status (400-599)."]}))
        })
}

/// `POST /_standin/fail {"status": 503, "body"?: {...}}`
async fn start_failing(
    State(state): State<Arc<HubState>>,
    body: Bytes,
) -> Result<StatusCode, HubError> {
    let request = control_body(&body)?;
    let status = error_status(&request)?;
    state.set_failure(Some(Failure::new(status, request.get("body").cloned())));
    Ok(StatusCode::NO_CONTENT)
}

async fn stop_failing(State(state): State<Arc<HubState>>) -> StatusCode {
    state.set_failure(None);
    StatusCode::NO_CONTENT
}

/// `POST /_standin/registry/fail {"status": 503}`: registry calls only.
async fn start_failing_registry(
    State(state): State<Arc<HubState>>,
    body: Bytes,
) -> Result<StatusCode, HubError> {
    let status = error_status(&control_body(&body)?)?;
    state.registry.set_failure(Some(status));
    Ok(StatusCode::NO_CONTENT)
}

async fn stop_failing_registry(State(state): State<Arc<HubState>>) -> StatusCode {
    state.registry.set_failure(None);
    StatusCode::NO_CONTENT
}

async fn start_hanging_registry(State(state): State<Arc<HubState>>) -> StatusCode {
    state.registry.set_hanging(true);
    StatusCode::NO_CONTENT
}

async fn stop_hanging_registry(State(state): State<Arc<HubState>>) -> StatusCode {
    state.registry.set_hanging(false);
    StatusCode::NO_CONTENT
}

/// `GET /_standin/tags/{namespace}/{repo}/{tag}` → `{"digest"}`, 404 when absent.
async fn tag_digest(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo, tag)): Path<(String, String, String)>,
) -> Result<Json<Value>, HubError> {
    state
        .registry
        .tag_digest(&repository_key(&namespace, &repo), &tag)
        .map(|digest| Json(json!({"digest": digest})))
        .ok_or_else(HubError::not_found)
}

/// `POST /_standin/tags/{namespace}/{repo}/{tag} {"platforms"?: [...]}`: stores a
/// new image under the tag without delivering anything → 201 `{"digest"}`.
async fn store_tag(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo, tag)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), HubError> {
    let request = control_body(&body)?;
    let platforms: Vec<String> = match request.get("platforms") {
        None | Some(Value::Null) => Vec::new(),
        Some(platforms) => serde_json::from_value(platforms.clone()).map_err(|_| {
            HubError::bad_request(json!({"platforms": ["Expected a list of strings."]}))
        })?,
    };
    let platforms = registry::parse_platforms(&platforms)
        .map_err(|problem| HubError::bad_request(json!({"platforms": [problem]})))?;
    let digest = state
        .registry
        .store_image(&repository_key(&namespace, &repo), &tag, &platforms);
    Ok((StatusCode::CREATED, Json(json!({"digest": digest}))))
}

/// `POST /_standin/private/{namespace}/{repo}`: anonymous tokens no longer pull it.
async fn mark_private(
    State(state): State<Arc<HubState>>,
    Path((namespace, repo)): Path<(String, String)>,
) -> StatusCode {
    state
        .registry
        .mark_private(&repository_key(&namespace, &repo));
    StatusCode::NO_CONTENT
}

/// `POST /_standin/push`: one delivery to an explicit `hook_url` answers with
/// that target's status and body (the new digest in `Docker-Content-Digest`);
/// otherwise `{"digest", "deliveries": [...]}`.
async fn push(State(state): State<Arc<HubState>>, body: Bytes) -> Response {
    let request: Push = if body.is_empty() {
        Push::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(error) => {
                return HubError::bad_request(
                    json!({"detail": format!("JSON parse error - {error}")}),
                )
                .into_response()
            }
        }
    };
    let (digest, deliveries) = match state.push(&request).await {
        Ok(pushed) => pushed,
        Err(failure) => {
            let mut body = json!({"detail": failure.message});
            if let Some(digest) = failure.digest {
                body["digest"] = json!(digest);
            }
            return (failure.status, Json(body)).into_response();
        }
    };
    let digest_header = [("docker-content-digest", digest.clone())];
    match (request.hook_url.is_some(), deliveries.as_slice()) {
        (true, [delivery]) if delivery.status != 0 => {
            let status = StatusCode::from_u16(delivery.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = delivery
                .content_type
                .clone()
                .unwrap_or_else(|| "text/plain".to_string());
            (
                status,
                digest_header,
                [(header::CONTENT_TYPE, content_type)],
                delivery.body.clone(),
            )
                .into_response()
        }
        (true, [delivery]) => (
            digest_header,
            HubError::detail(StatusCode::BAD_GATEWAY, &delivery.body),
        )
            .into_response(),
        _ => Json(json!({"digest": digest, "deliveries": deliveries})).into_response(),
    }
}

async fn dump_pipelines(
    State(state): State<Arc<HubState>>,
) -> Json<BTreeMap<String, Vec<WebhookPipeline>>> {
    Json(state.all_pipelines())
}

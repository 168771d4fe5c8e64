//! Routing, authentication, recording, and the translation between HTTP
//! requests and the operations in `operations.rs`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::deployments::{self, RolloutTimer};
use super::operations::{self, PatchBody, Selectors, Target, WriteOptions, Writer};
use super::resources::{self, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{json_response, ApiError};
use super::store::Cluster;
use super::watch::{self, WatchRequest};
use super::RecordedRequest;
use crate::recording::{body_for_record, unix_micros_now, RecordLog};
use crate::server::StopSignal;

/// Largest request body accepted, like the real server's 3 MiB limit.
const BODY_LIMIT: usize = 3 * 1024 * 1024;
/// How long a watch lasts when the client sets no `timeoutSeconds`.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

pub(crate) const GIT_VERSION: &str = "v1.35.0-slipway-standin";

/// Who may do what.
pub(crate) struct AccessRules {
    pub tokens: Vec<String>,
    pub readonly_tokens: Vec<String>,
}

/// The user a bearer token maps to; read-only users may not write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity {
    pub user: &'static str,
    pub read_only: bool,
}

pub(crate) const ADMIN: Identity = Identity {
    user: "admin",
    read_only: false,
};
pub(crate) const READ_ONLY: Identity = Identity {
    user: "readonly",
    read_only: true,
};

pub(crate) struct KubeState {
    cluster: Mutex<Cluster>,
    pub access: AccessRules,
    pub rollout_delay: Duration,
    pub requests: RecordLog<RecordedRequest>,
    pub stop: StopSignal,
}

impl KubeState {
    pub fn new(
        cluster: Cluster,
        access: AccessRules,
        rollout_delay: Duration,
        stop: StopSignal,
    ) -> Self {
        Self {
            cluster: Mutex::new(cluster),
            access,
            rollout_delay,
            requests: RecordLog::new(),
            stop,
        }
    }

    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        // A panicking request must not take the whole stand-in down with it.
        self.cluster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn identify(&self, headers: &HeaderMap) -> Option<Identity> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .trim();
        if self.access.tokens.iter().any(|known| known == token) {
            Some(ADMIN)
        } else if self
            .access
            .readonly_tokens
            .iter()
            .any(|known| known == token)
        {
            Some(READ_ONLY)
        } else {
            None
        }
    }
}

pub(crate) fn router(state: Arc<KubeState>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/api", any(api_request))
        .route("/api/{*path}", any(api_request))
        .route("/apis", any(api_request))
        .route("/apis/{*path}", any(api_request))
        .route(
            "/_standin/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/_standin/objects", get(dump_objects))
        .fallback(|| async { ApiError::unknown_path() })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Paths anyone may read, as with anonymous access on a real cluster, plus the
/// stand-in's own control API.
fn is_public(path: &str) -> bool {
    matches!(path, "/version" | "/healthz" | "/livez" | "/readyz") || path.starts_with("/_standin/")
}

async fn authenticate(
    State(state): State<Arc<KubeState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    match state.identify(request.headers()) {
        Some(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        None => ApiError::unauthorized().into_response(),
    }
}

/// Records every API request (not the `/_standin/` control calls) with its answer's status.
async fn record(State(state): State<Arc<KubeState>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/_standin/") {
        return next.run(request).await;
    }
    let received_at = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let too_large = StatusCode::PAYLOAD_TOO_LARGE;
            return (too_large, "request body too large").into_response();
        }
    };
    let mut entry = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        body: body_for_record(&bytes),
        time_unix_micros: unix_micros_now(),
        received_at,
        status: 0,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    entry.status = response.status().as_u16();
    state.requests.push(entry);
    response
}

async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": "35",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-12-17T00:00:00Z",
        "goVersion": "go1.25.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

async fn ok() -> &'static str {
    "ok"
}

async fn list_requests(State(state): State<Arc<KubeState>>) -> Json<Vec<RecordedRequest>> {
    Json(state.requests.snapshot())
}

async fn clear_requests(State(state): State<Arc<KubeState>>) -> StatusCode {
    state.requests.clear();
    StatusCode::NO_CONTENT
}

/// Filters for `GET /_standin/objects`, e.g. `?kind=Deployment&namespace=default`.
#[derive(Debug, Default, Deserialize)]
struct ObjectFilter {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

async fn dump_objects(
    State(state): State<Arc<KubeState>>,
    Query(filter): Query<ObjectFilter>,
) -> Json<Vec<Value>> {
    let field_matches = |object: &Value, pointer: &str, wanted: &Option<String>| {
        wanted
            .as_deref()
            .is_none_or(|wanted| object.pointer(pointer).and_then(Value::as_str) == Some(wanted))
    };
    let objects = state
        .cluster()
        .all_objects()
        .filter(|object| {
            field_matches(object, "/kind", &filter.kind)
                && field_matches(object, "/metadata/namespace", &filter.namespace)
                && field_matches(object, "/metadata/name", &filter.name)
        })
        .cloned()
        .collect();
    Json(objects)
}

/// What an `/api...` or `/apis...` path names.
enum ApiPath {
    CoreVersions,
    GroupList,
    Group(String),
    ResourceList { group: String, version: String },
    Resource(ResourcePath),
}

struct ResourcePath {
    resource: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_api_path(path: &str) -> Result<ApiPath, ApiError> {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api"] => return Ok(ApiPath::CoreVersions),
        ["apis"] => return Ok(ApiPath::GroupList),
        ["apis", group] => return Ok(ApiPath::Group(group.to_string())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::unknown_path()),
    };
    if rest.is_empty() {
        return Ok(ApiPath::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    // `namespaces/{ns}/{plural}/...` is a namespaced path, except for the
    // namespace's own subresources (`namespaces/{ns}/status`), as in the real server.
    let (namespace, rest) = match rest {
        ["namespaces", namespace, plural, ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(namespace.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, subresource] => (*plural, Some(*name), Some(*subresource)),
        _ => return Err(ApiError::unknown_path()),
    };
    let resource = resources::find(group, version, plural).ok_or_else(ApiError::unknown_path)?;
    let scope_fits = if resource.namespaced {
        namespace.is_some() || name.is_none()
    } else {
        namespace.is_none()
    };
    let subresource_served = match subresource {
        None => true,
        Some("status") => resource.has_status,
        Some(_) => false,
    };
    if !scope_fits || !subresource_served {
        return Err(ApiError::unknown_path());
    }
    Ok(ApiPath::Resource(ResourcePath {
        resource,
        namespace,
        name: name.map(str::to_string),
        status: subresource.is_some(),
    }))
}

/// Query parameters of resource requests; unknown ones are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    label_selector: Option<String>,
    field_selector: Option<String>,
    watch: Option<String>,
    resource_version: Option<String>,
    timeout_seconds: Option<u64>,
    send_initial_events: Option<String>,
    field_manager: Option<String>,
    force: Option<String>,
    dry_run: Option<String>,
    propagation_policy: Option<String>,
}

fn is_true(flag: &Option<String>) -> bool {
    matches!(flag.as_deref(), Some("true" | "1"))
}

async fn api_request(
    State(state): State<Arc<KubeState>>,
    Extension(identity): Extension<Identity>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match parse_api_path(uri.path()) {
        Ok(ApiPath::Resource(path)) => {
            resource_request(&state, identity, &method, &uri, &headers, body, path)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
        Ok(_) if method != Method::GET => ApiError::method_not_allowed().into_response(),
        Ok(discovery) => discovery_response(discovery, &headers),
        Err(error) => error.into_response(),
    }
}

fn discovery_response(path: ApiPath, headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let aggregated = resources::wants_aggregated_discovery(accept);
    let document = match path {
        ApiPath::CoreVersions | ApiPath::GroupList if aggregated => {
            let document = resources::aggregated_discovery(matches!(path, ApiPath::CoreVersions));
            let content_type = resources::AGGREGATED_DISCOVERY_CONTENT_TYPE;
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, content_type)],
                document.to_string(),
            )
                .into_response();
        }
        ApiPath::CoreVersions => {
            let host = headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("127.0.0.1");
            Some(resources::core_api_versions(host))
        }
        ApiPath::GroupList => Some(resources::api_group_list()),
        ApiPath::Group(group) => resources::api_group_document(&group),
        ApiPath::ResourceList { group, version } => resources::api_resource_list(&group, &version),
        ApiPath::Resource(_) => None,
    };
    match document {
        Some(document) => json_response(StatusCode::OK, &document),
        None => ApiError::unknown_path().into_response(),
    }
}

/// The RBAC verb of a request, for read-only denials and their messages.
fn verb(method: &Method, has_name: bool, watching: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET", _) if watching => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

async fn resource_request(
    state: &Arc<KubeState>,
    identity: Identity,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    path: ResourcePath,
) -> Result<Response, ApiError> {
    let params = Query::<Params>::try_from_uri(uri)
        .map(|Query(params)| params)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let watching = is_true(&params.watch);
    let verb = verb(method, path.name.is_some(), watching);
    if identity.read_only && !matches!(verb, "get" | "list" | "watch") {
        return Err(ApiError::forbidden(
            identity.user,
            verb,
            path.resource,
            path.status.then_some("status"),
            path.namespace.as_deref(),
            if verb == "create" {
                ""
            } else {
                path.name.as_deref().unwrap_or("")
            },
        ));
    }
    let target = Target {
        resource: path.resource,
        namespace: path.namespace.as_deref(),
        status: path.status,
    };
    let name = path.name.as_deref();

    match (method.as_str(), name) {
        ("GET", None) if watching => Ok(start_watch(state, &path, &params)?),
        ("GET", None) => {
            let selectors = selectors(&params)?;
            Ok(json_response(
                StatusCode::OK,
                &operations::list(&state.cluster(), target, &selectors),
            ))
        }
        ("GET", Some(name)) => Ok(json_response(
            StatusCode::OK,
            &operations::get(&state.cluster(), target, name)?,
        )),
        ("POST", None) if path.resource.namespaced && path.namespace.is_none() => {
            Err(ApiError::method_not_allowed())
        }
        ("POST", None) => {
            let object = decode_object(headers, &body)?;
            write(state, target, &params, headers, |writer| {
                writer.create(object)
            })
        }
        ("PUT", Some(name)) => {
            let object = decode_object(headers, &body)?;
            write(state, target, &params, headers, |writer| {
                writer.replace(name, object)
            })
        }
        ("PATCH", Some(name)) => {
            let patch = decode_patch(headers, &body)?;
            if is_true(&params.force) && !matches!(patch, PatchBody::Apply(_)) {
                return Err(ApiError::unprocessable(
                    "force: Forbidden: may not be specified for non-apply patch",
                ));
            }
            write(state, target, &params, headers, |writer| {
                writer.patch(name, patch)
            })
        }
        ("DELETE", Some(name)) if !path.status => {
            let orphan = propagation_policy(&params, &body).as_deref() == Some("Orphan");
            let options = write_options(state, &params, headers, &body);
            let mut cluster = state.cluster();
            let mut writer = Writer {
                cluster: &mut cluster,
                target,
                options: &options,
                now: now(),
            };
            Ok(json_response(StatusCode::OK, &writer.delete(name, orphan)?))
        }
        ("DELETE", None) => {
            let selectors = selectors(&params)?;
            let options = write_options(state, &params, headers, &body);
            let mut cluster = state.cluster();
            let mut writer = Writer {
                cluster: &mut cluster,
                target,
                options: &options,
                now: now(),
            };
            Ok(json_response(
                StatusCode::OK,
                &writer.delete_collection(&selectors)?,
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Runs one create/update/patch with the store locked, then schedules the
/// controller's timers once the lock is released.
fn write(
    state: &Arc<KubeState>,
    target: Target<'_>,
    params: &Params,
    headers: &HeaderMap,
    operation: impl FnOnce(&mut Writer<'_>) -> Result<operations::Written, ApiError>,
) -> Result<Response, ApiError> {
    let options = write_options(state, params, headers, &Bytes::new());
    let written = {
        let mut cluster = state.cluster();
        let mut writer = Writer {
            cluster: &mut cluster,
            target,
            options: &options,
            now: now(),
        };
        operation(&mut writer)?
    };
    schedule(state, written.timers);
    let code = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(code, &written.object))
}

fn write_options(
    state: &KubeState,
    params: &Params,
    headers: &HeaderMap,
    delete_body: &Bytes,
) -> WriteOptions {
    let dry_run_in_body = serde_json::from_slice::<Value>(delete_body)
        .ok()
        .and_then(|body| body.get("dryRun").cloned())
        .is_some_and(|dry_run| dry_run.as_array().is_some_and(|values| !values.is_empty()));
    WriteOptions {
        field_manager: params
            .field_manager
            .clone()
            .unwrap_or_else(|| default_field_manager(headers)),
        dry_run: params.dry_run.as_deref() == Some("All") || dry_run_in_body,
        force: is_true(&params.force),
        rollout_delay: state.rollout_delay,
    }
}

/// Without `fieldManager`, Kubernetes names the manager after the User-Agent's
/// program name. Server-side apply still insists on an explicit one.
fn default_field_manager(headers: &HeaderMap) -> String {
    let is_apply = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.starts_with("application/apply-patch"));
    if is_apply {
        return String::new();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .and_then(|agent| agent.split('/').next())
        .filter(|program| !program.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

fn propagation_policy(params: &Params, body: &Bytes) -> Option<String> {
    params.propagation_policy.clone().or_else(|| {
        serde_json::from_slice::<Value>(body)
            .ok()?
            .get("propagationPolicy")?
            .as_str()
            .map(str::to_string)
    })
}

fn schedule(state: &Arc<KubeState>, timers: Vec<RolloutTimer>) {
    for timer in timers {
        let state = Arc::clone(state);
        let mut stop = state.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timer.after) => deployments::fire(&mut state.cluster(), &timer, &now()),
                _ = stop.stopped() => {}
            }
        });
    }
}

fn start_watch(
    state: &Arc<KubeState>,
    path: &ResourcePath,
    params: &Params,
) -> Result<Response, ApiError> {
    let request = WatchRequest {
        resource: path.resource,
        namespace: path.namespace.clone(),
        selectors: selectors(params)?,
        resource_version: params.resource_version.clone(),
        send_initial_events: is_true(&params.send_initial_events),
        timeout: params
            .timeout_seconds
            .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs),
    };
    let start = watch::begin(&state.cluster(), &request)?;
    Ok(watch::respond(start, request, state.stop.clone()))
}

fn selectors(params: &Params) -> Result<Selectors, ApiError> {
    let labels = LabelSelector::parse(params.label_selector.as_deref().unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(params.field_selector.as_deref().unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    Ok(Selectors { labels, fields })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A POST or PUT body: JSON, or YAML when the client says so.
fn decode_object(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    match content_type(headers).as_str() {
        "" | "application/json" | "*/*" => decode_json(body),
        "application/yaml" => decode_yaml(body),
        other => Err(ApiError::unsupported_media_type(
            other,
            &["application/json", "application/yaml"],
        )),
    }
}

fn decode_patch(headers: &HeaderMap, body: &Bytes) -> Result<PatchBody, ApiError> {
    const PATCH_TYPES: [&str; 4] = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    match content_type(headers).as_str() {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            Ok(PatchBody::Merge(decode_json(body)?))
        }
        "application/json-patch+json" => {
            serde_json::from_slice(body)
                .map(PatchBody::Json)
                .map_err(|error| {
                    ApiError::bad_request(format!("json patch could not be decoded: {error}"))
                })
        }
        // Apply bodies are YAML; JSON (what kube-rs sends) is a subset of it.
        "application/apply-patch+yaml" => Ok(PatchBody::Apply(decode_yaml(body)?)),
        other => Err(ApiError::unsupported_media_type(other, &PATCH_TYPES)),
    }
}

fn decode_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {error}"
        ))
    })
}

fn decode_yaml(body: &Bytes) -> Result<Value, ApiError> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    serde_yaml::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("error decoding YAML: {error}")))
}

/// RFC 3339 with seconds, the precision of Kubernetes timestamps.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

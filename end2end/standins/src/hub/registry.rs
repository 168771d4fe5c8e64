//! The Registry HTTP API v2 side of the Docker Hub stand-in, on the same
//! listener as the Hub web API: what `registry-1.docker.io` and
//! `auth.docker.io` answer to a client that resolves a tag to a digest.
//!
//! Images are manifests only (no blobs): a single-platform image is a Docker
//! image manifest v2 whose config and layer digests are random, so every stored
//! image has a new digest; a multi-arch image is an OCI image index whose
//! entries are such manifests, each with its platform.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::api::HubState;
use crate::server::StopSignal;

pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `service` Docker Hub's registry names in its challenge.
const SERVICE: &str = "registry.docker.io";
const API_VERSION_HEADER: &str = "docker-distribution-api-version";
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// `os/architecture[/variant]`, as in `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Platform {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

impl Platform {
    fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        match parts.as_slice() {
            [os, architecture, rest @ ..]
                if !os.is_empty()
                    && !architecture.is_empty()
                    && rest.len() <= 1
                    && rest.iter().all(|variant| !variant.is_empty()) =>
            {
                Ok(Self {
                    architecture: architecture.to_string(),
                    os: os.to_string(),
                    variant: rest.first().map(|variant| variant.to_string()),
                })
            }
            _ => Err(format!(
                "invalid platform {text:?}: expected os/architecture[/variant], e.g. linux/amd64"
            )),
        }
    }
}

/// Parses `["linux/amd64", "linux/arm64"]`; the first invalid entry is the error.
pub(crate) fn parse_platforms<S: AsRef<str>>(platforms: &[S]) -> Result<Vec<Platform>, String> {
    platforms
        .iter()
        .map(|platform| Platform::parse(platform.as_ref()))
        .collect()
}

/// A manifest as stored: the exact bytes served, their media type and digest.
#[derive(Debug, Clone)]
pub(crate) struct StoredManifest {
    pub bytes: Bytes,
    pub media_type: &'static str,
    pub digest: String,
}

impl StoredManifest {
    fn new(value: &impl Serialize, media_type: &'static str) -> Self {
        // Three-space indentation, as distribution marshals its manifests.
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        value
            .serialize(&mut serializer)
            .expect("a manifest serializes to JSON");
        let digest = sha256_digest(&bytes);
        Self {
            bytes: Bytes::from(bytes),
            media_type,
            digest,
        }
    }

    fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }

    /// The digest of the `linux/amd64` entry of an index, what distribution
    /// picks for a client that cannot take an index.
    fn amd64_entry(&self) -> Option<String> {
        let index: Value = serde_json::from_slice(&self.bytes).ok()?;
        index["manifests"]
            .as_array()?
            .iter()
            .find(|entry| {
                entry["platform"]["os"] == "linux" && entry["platform"]["architecture"] == "amd64"
            })
            .and_then(|entry| entry["digest"].as_str())
            .map(str::to_string)
    }
}

/// `sha256:` + the lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn random_digest() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    sha256_digest(&bytes)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    size: usize,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    schema_version: u8,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageIndex {
    schema_version: u8,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

/// A new single-platform image: random config and layer digests and sizes.
fn new_image_manifest() -> StoredManifest {
    let mut rng = rand::rng();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: DOCKER_MANIFEST,
        config: Descriptor {
            media_type: DOCKER_CONFIG,
            size: rng.random_range(1_000..8_000),
            digest: random_digest(),
            platform: None,
        },
        layers: vec![Descriptor {
            media_type: DOCKER_LAYER,
            size: rng.random_range(1_000_000..60_000_000),
            digest: random_digest(),
            platform: None,
        }],
    };
    StoredManifest::new(&manifest, DOCKER_MANIFEST)
}

#[derive(Default)]
struct Repository {
    /// Tag → digest of the manifest it points at.
    tags: BTreeMap<String, String>,
    /// Every manifest ever stored here, by digest (re-pointed tags leave theirs).
    manifests: HashMap<String, StoredManifest>,
    private: bool,
}

/// What a registry token allows: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl Access {
    /// `repository:library/nginx:pull,push`; other resource types are ignored.
    fn parse(scope: &str) -> Option<Self> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind != "repository" || name.is_empty() {
            return None;
        }
        let actions = actions
            .split(',')
            .map(str::trim)
            .filter(|action| !action.is_empty())
            .map(str::to_string)
            .collect();
        Some(Self {
            kind: kind.to_string(),
            name: name.to_string(),
            actions,
        })
    }
}

struct IssuedToken {
    access: Vec<Access>,
    expires: Instant,
}

impl IssuedToken {
    fn may_pull(&self, name: &str) -> bool {
        self.access.iter().any(|access| {
            access.name == name
                && access
                    .actions
                    .iter()
                    .any(|action| action == "pull" || action == "*")
        })
    }
}

#[derive(Default)]
struct RegistryData {
    /// Keyed by `namespace/repo`.
    repositories: BTreeMap<String, Repository>,
    tokens: HashMap<String, IssuedToken>,
    failure: Option<StatusCode>,
}

/// The registry's state: images, tokens, its failure switch and hang switch.
pub(crate) struct Registry {
    data: Mutex<RegistryData>,
    hanging: watch::Sender<bool>,
    stop: StopSignal,
}

impl Registry {
    pub fn new(stop: StopSignal) -> Self {
        Self {
            data: Mutex::new(RegistryData::default()),
            hanging: watch::Sender::new(false),
            stop,
        }
    }

    fn data(&self) -> MutexGuard<'_, RegistryData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a new image and points `tag` at it; returns the tag's digest.
    /// No platforms: a single-platform manifest; any: an OCI index of them.
    pub fn store_image(&self, name: &str, tag: &str, platforms: &[Platform]) -> String {
        let mut stored = Vec::new();
        let top = if platforms.is_empty() {
            new_image_manifest()
        } else {
            let mut entries = Vec::new();
            for platform in platforms {
                let manifest = new_image_manifest();
                entries.push(Descriptor {
                    media_type: manifest.media_type,
                    size: manifest.bytes.len(),
                    digest: manifest.digest.clone(),
                    platform: Some(platform.clone()),
                });
                stored.push(manifest);
            }
            let index = ImageIndex {
                schema_version: 2,
                media_type: OCI_INDEX,
                manifests: entries,
            };
            StoredManifest::new(&index, OCI_INDEX)
        };
        let digest = top.digest.clone();
        stored.push(top);
        let mut data = self.data();
        let repository = data.repositories.entry(name.to_string()).or_default();
        for manifest in stored {
            repository
                .manifests
                .insert(manifest.digest.clone(), manifest);
        }
        repository.tags.insert(tag.to_string(), digest.clone());
        digest
    }

    pub fn tag_digest(&self, name: &str, tag: &str) -> Option<String> {
        self.data()
            .repositories
            .get(name)
            .and_then(|repository| repository.tags.get(tag).cloned())
    }

    pub fn mark_private(&self, name: &str) {
        self.data()
            .repositories
            .entry(name.to_string())
            .or_default()
            .private = true;
    }

    fn is_private(&self, name: &str) -> bool {
        self.data()
            .repositories
            .get(name)
            .is_some_and(|repository| repository.private)
    }

    pub fn set_failure(&self, failure: Option<StatusCode>) {
        self.data().failure = failure;
    }

    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.send_replace(hanging);
    }

    fn failure(&self) -> Option<StatusCode> {
        self.data().failure
    }

    /// Waits while the hang switch is on. `false` when the server is stopping
    /// (the request must then end, or a graceful shutdown would wait forever).
    async fn wait_while_hanging(&self) -> bool {
        let mut hanging = self.hanging.subscribe();
        if !*hanging.borrow_and_update() {
            return true;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            released = hanging.wait_for(|hanging| !*hanging) => released.is_ok(),
            _ = stop.stopped() => false,
        }
    }

    fn issue_token(&self, access: Vec<Access>) -> String {
        let issued_at = chrono::Utc::now().timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT"});
        let claims = json!({
            "iss": "auth.docker.io",
            "aud": SERVICE,
            "sub": uuid::Uuid::new_v4().to_string(),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + TOKEN_LIFETIME.as_secs() as i64,
            "jti": uuid::Uuid::new_v4().simple().to_string(),
            "access": access,
        });
        let mut signature = [0u8; 64];
        rand::rng().fill(&mut signature);
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        );
        let mut data = self.data();
        let now = Instant::now();
        data.tokens.retain(|_, issued| issued.expires > now);
        data.tokens.insert(
            token.clone(),
            IssuedToken {
                access,
                expires: now + TOKEN_LIFETIME,
            },
        );
        token
    }

    /// `None`: no `Bearer` token, or one this registry did not issue, or expired.
    /// `Some(allowed)`: a valid token; `allowed` says whether it may pull `name`.
    fn check_token(&self, headers: &HeaderMap, name: Option<&str>) -> Option<bool> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)?;
        let data = self.data();
        let issued = data
            .tokens
            .get(token)
            .filter(|issued| issued.expires > Instant::now())?;
        Some(name.is_none_or(|name| issued.may_pull(name)))
    }

    /// The manifest `reference` (tag or digest) names in `name`, negotiated
    /// against what the client accepts.
    fn find_manifest(
        &self,
        name: &str,
        reference: &str,
        accepts_index: bool,
    ) -> Option<StoredManifest> {
        let data = self.data();
        let repository = data.repositories.get(name)?;
        let by_tag = !reference.starts_with("sha256:");
        let digest = if by_tag {
            repository.tags.get(reference)?
        } else {
            reference
        };
        let manifest = repository.manifests.get(digest)?;
        // As distribution does: only a tag is rewritten (a digest must give
        // back exactly what it names).
        if by_tag && manifest.is_index() && !accepts_index {
            let entry = manifest.amd64_entry()?;
            return repository.manifests.get(&entry).cloned();
        }
        Some(manifest.clone())
    }
}

pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/v2", get(api_root))
        .route("/v2/", get(api_root))
        .route("/v2/{*rest}", any(registry_path))
        .route("/token", get(token))
}

/// An answer in distribution's `{"errors":[{code, message, detail}]}` shape.
fn registry_error(status: StatusCode, code: &str, message: &str, detail: Value) -> Response {
    let body = json!({"errors": [{"code": code, "message": message, "detail": detail}]});
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::HeaderName::from_static(API_VERSION_HEADER),
                "registry/2.0",
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

fn forced_failure(status: StatusCode) -> Response {
    let (code, message) = match status.as_u16() {
        401 => ("UNAUTHORIZED", "authentication required"),
        403 => ("DENIED", "requested access to the resource is denied"),
        429 => (
            "TOOMANYREQUESTS",
            "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
        ),
        503 => ("UNAVAILABLE", "service unavailable"),
        _ => ("UNKNOWN", "unknown error"),
    };
    registry_error(
        status,
        code,
        message,
        json!("forced by the hub stand-in's registry failure switch"),
    )
}

/// 401 with the Bearer challenge pointing at this stand-in's `/token`.
fn unauthorized(state: &HubState, name: Option<&str>, insufficient_scope: bool) -> Response {
    let mut challenge = format!(r#"Bearer realm="{}/token",service="{SERVICE}""#, state.url);
    let detail = match name {
        Some(name) => {
            challenge.push_str(&format!(r#",scope="repository:{name}:pull""#));
            json!([{"Type": "repository", "Class": "", "Name": name, "Action": "pull"}])
        }
        None => Value::Null,
    };
    if insufficient_scope {
        challenge.push_str(r#",error="insufficient_scope""#);
    }
    let mut response = registry_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "authentication required",
        detail,
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET /v2/`: the version check; 200 `{}` with any valid token.
async fn api_root(State(state): State<Arc<HubState>>, headers: HeaderMap) -> Response {
    let registry = &state.registry;
    if let Some(status) = registry.failure() {
        return forced_failure(status);
    }
    if registry.check_token(&headers, None).is_none() {
        return unauthorized(&state, None, false);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::HeaderName::from_static(API_VERSION_HEADER),
                "registry/2.0",
            ),
        ],
        "{}",
    )
        .into_response()
}

/// Whether the `Accept` headers list an index or manifest list type.
fn accepts_index(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|item| item.split(';').next().unwrap_or_default().trim())
        .any(|media_type| media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST)
}

/// Everything under `/v2/` that is not a Hub route; only
/// `<name>/manifests/<reference>` is served.
async fn registry_path(
    State(state): State<Arc<HubState>>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    let parsed = rest.rsplit_once("/manifests/").filter(|(name, reference)| {
        !name.is_empty() && !reference.is_empty() && !reference.contains('/')
    });
    let Some((name, reference)) = parsed else {
        return registry_error(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "The operation is unsupported.",
            json!("the hub stand-in serves manifests only (no blobs, catalog or tag lists)"),
        );
    };
    if method != Method::GET && method != Method::HEAD {
        return registry_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
            json!("the hub stand-in serves GET and HEAD of manifests only"),
        );
    }
    let registry = &state.registry;
    if !registry.wait_while_hanging().await {
        return forced_failure(StatusCode::SERVICE_UNAVAILABLE);
    }
    if let Some(status) = registry.failure() {
        return forced_failure(status);
    }
    match registry.check_token(&headers, Some(name)) {
        None => return unauthorized(&state, Some(name), false),
        Some(false) => return unauthorized(&state, Some(name), true),
        Some(true) => {}
    }
    let Some(manifest) = registry.find_manifest(name, reference, accepts_index(&headers)) else {
        let detail = if reference.starts_with("sha256:") {
            json!({"Revision": reference})
        } else {
            json!({"Tag": reference})
        };
        return registry_error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            detail,
        );
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(manifest.bytes.clone())
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, manifest.media_type)
        .header(header::CONTENT_LENGTH, manifest.bytes.len())
        .header("docker-content-digest", &manifest.digest)
        .header(header::ETAG, format!("\"{}\"", manifest.digest))
        .header(API_VERSION_HEADER, "registry/2.0")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `user:password` from `Authorization: Basic …`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `GET /token?service=…&scope=repository:<name>:pull[,push]` as auth.docker.io:
/// Basic auth with the stand-in's credentials gets what it asks for, no
/// `Authorization` gets pull on repositories that are not private, anything
/// else is 401.
async fn token(
    State(state): State<Arc<HubState>>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let authenticated = if headers.contains_key(header::AUTHORIZATION) {
        let right = basic_credentials(&headers)
            .is_some_and(|(user, password)| state.credentials_match(&user, &password));
        if !right {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"details": "incorrect username or password"})),
            )
                .into_response();
        }
        true
    } else {
        false
    };
    let registry = &state.registry;
    let access: Vec<Access> = query
        .iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, scopes)| scopes.split(' '))
        .filter_map(Access::parse)
        .filter_map(|mut access| {
            if !authenticated {
                if registry.is_private(&access.name) {
                    return None;
                }
                access.actions.retain(|action| action == "pull");
            }
            (!access.actions.is_empty()).then_some(access)
        })
        .collect();
    let token = registry.issue_token(access);
    let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    axum::Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "issued_at": issued_at,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_os_architecture_and_an_optional_variant() {
        let parsed = parse_platforms(&["linux/amd64", "linux/arm64/v8"]).expect("valid");

        assert_eq!(parsed[0].os, "linux");
        assert_eq!(parsed[0].architecture, "amd64");
        assert_eq!(parsed[1].variant.as_deref(), Some("v8"));
        for invalid in ["linux", "linux/", "/amd64", "linux/arm/v7/x", ""] {
            assert!(parse_platforms(&[invalid]).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn scopes_name_a_repository_and_its_actions() {
        assert_eq!(
            Access::parse("repository:library/nginx:pull,push"),
            Some(Access {
                kind: "repository".into(),
                name: "library/nginx".into(),
                actions: vec!["pull".into(), "push".into()],
            })
        );
        assert_eq!(Access::parse("registry:catalog:*"), None);
        assert_eq!(Access::parse("repository::pull"), None);
    }

    #[test]
    fn a_digest_is_the_sha256_of_the_bytes() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

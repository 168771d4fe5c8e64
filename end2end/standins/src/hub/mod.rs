//! A Docker Hub stand-in: the Hub web API (login, webhook pipelines), the
//! Registry HTTP API v2 for manifests with auth.docker.io's token endpoint, and
//! simulated pushes. Everything is served on one listener, so `url()` is both
//! the Hub API base URL and the registry base URL.
//!
//! # What it does
//! - `POST /v2/users/login` with `{"username","password"}` → `{"token"}` (a
//!   JWT-shaped token) or 401 `{"detail":"Incorrect authentication credentials."}`.
//! - With `Authorization: JWT <token>` (or `Bearer <token>`), on repositories in
//!   the user's own namespace or a configured organisation (else 403):
//!   `GET/POST /v2/repositories/{namespace}/{repo}/webhook_pipeline/` and
//!   `GET/PUT/PATCH/DELETE .../webhook_pipeline/{slug}/`, with Django REST
//!   framework error bodies (400 field errors, 404 `{"detail":"Not found."}`).
//! - A failure switch (`POST /_standin/fail {"status":503}`, `DELETE /_standin/fail`,
//!   or the builder) making every Hub web API call (login, webhook pipelines)
//!   fail, for "not synced" paths. It leaves the registry alone.
//! - Images: per `namespace/repo`, tags pointing at stored manifests (exact
//!   bytes, media type, `sha256:` digest). A single-platform image is a Docker
//!   image manifest v2 with random config and layer digests (so every stored
//!   image has a new digest); a multi-arch image is an OCI image index whose
//!   entries are such manifests with their `platform`, each stored by digest.
//!   Re-pointed tags leave the old manifests reachable by digest.
//! - Registry API: `GET /v2/` (401 with a Bearer challenge, 200 `{}` with a
//!   token), `GET`/`HEAD /v2/<name>/manifests/<tag or digest>` with
//!   `Docker-Content-Digest`, `Content-Type`, `Content-Length`, `Etag`, and
//!   distribution's content negotiation (a client that accepts no index type
//!   gets the `linux/amd64` manifest of an index fetched by tag). Errors are in
//!   distribution's `{"errors":[{code,message,detail}]}` shape: 401
//!   `UNAUTHORIZED` with `WWW-Authenticate: Bearer realm="<url>/token",
//!   service="registry.docker.io",scope="repository:<name>:pull"` (plus
//!   `error="insufficient_scope"` for a valid token without the scope), 404
//!   `MANIFEST_UNKNOWN`.
//! - Tokens as auth.docker.io: `GET /token?service=…&scope=repository:<name>:pull[,push]`;
//!   Basic auth with the stand-in's credentials gets the requested scope, no
//!   `Authorization` gets an anonymous token that pulls repositories not marked
//!   private, wrong credentials get 401 `{"details":"incorrect username or password"}`.
//!   Tokens are random (JWT-shaped), remembered with their scopes, valid 300 s.
//! - A registry failure switch (`fail_registry_with`, `POST /_standin/registry/fail`)
//!   for `/v2/` and manifest calls, and a hang switch (`hang_registry`,
//!   `POST /_standin/registry/hang`) that keeps manifest calls unanswered until
//!   it is turned off or the stand-in stops, for client timeouts.
//! - `POST /_standin/push`: stores a new image under the tag (re-pointing it),
//!   then POSTs Docker Hub's push payload (the documented fixture with tag,
//!   repository, pusher, `pushed_at` and `callback_url` replaced) to a hook URL
//!   or to every hook registered for the repository; a multi-arch push
//!   (`platforms`) delivers one payload per platform, as Docker Hub does.
//! - Recording of every call (`GET /_standin/calls`), registry and token calls
//!   included (`HEAD` and `GET` told apart); passwords redacted, headers (so
//!   tokens and Basic credentials) never recorded.
//!
//! # What it does not do
//! - Hub tokens never expire and are only valid on this instance; there is no
//!   2FA, no personal access tokens, no rate limiting. Registry tokens and Hub
//!   tokens are separate: a Hub JWT does not open the registry.
//! - Repositories exist once something is stored in them (or they are marked
//!   private); webhook pipelines can be made for any repository name in an
//!   allowed namespace. There is no Hub repository or tag API.
//! - The registry serves manifests only: no blobs, no catalog, no tag list, no
//!   push API (images arrive through `push`, `store_image`, `repoint_tag`), no
//!   `If-None-Match`, no OAuth2 `POST /token`. An authenticated token gets every
//!   scope it asks for, push included, in any namespace. Names are used as
//!   given: `nginx` is not rewritten to `library/nginx`.
//! - Error wording for duplicates and validation follows DRF conventions; Docker
//!   Hub does not document its exact texts.
//! - Deliveries have no retries and no TLS trust roots (plain HTTP hooks only).

mod api;
mod pipelines;
mod push;
mod registry;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::server::{RunningServer, StopSwitch};
use api::{repository_key, Failure, HubState};
pub use push::{Push, PushDelivery};

/// One call to the stand-in's Docker Hub API (or to a callback URL).
#[derive(Debug, Clone, Serialize)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The JSON body; a login's password is replaced by `<redacted>`.
    pub body: Option<Value>,
    pub time_unix_micros: i64,
    /// The answer's status; 0 when the client hung up before the answer.
    pub status: u16,
}

/// Entry point: `HubStandin::builder().credentials("u", "p").start().await`.
pub struct HubStandin;

impl HubStandin {
    pub fn builder() -> HubStandinBuilder {
        HubStandinBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            username: "slipway".to_string(),
            password: "slipway-password".to_string(),
            namespaces: Vec::new(),
            failure: None,
        }
    }
}

pub struct HubStandinBuilder {
    listen: SocketAddr,
    username: String,
    password: String,
    namespaces: Vec<String>,
    failure: Option<StatusCode>,
}

impl HubStandinBuilder {
    /// Address to bind; default `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The one account that can log in (default `slipway` / `slipway-password`).
    /// The user name is also the namespace the user may manage.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// Another namespace (an organisation) the user may manage webhooks in.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespaces.push(namespace.into());
        self
    }

    /// Start with the failure switch on: every Hub web API call answers `status`.
    pub fn fail_with(mut self, status: u16) -> Self {
        self.failure = StatusCode::from_u16(status).ok();
        self
    }

    pub async fn start(self) -> std::io::Result<HubStandinHandle> {
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let mut namespaces = vec![self.username.clone()];
        namespaces.extend(self.namespaces);
        let failure = self.failure.map(|status| Failure::new(status, None));
        let (stop_switch, stop_signal) = StopSwitch::new();
        let state = Arc::new(HubState::new(
            self.username,
            self.password,
            namespaces,
            url,
            failure,
            stop_signal,
        ));
        let server = RunningServer::start(listener, api::router(Arc::clone(&state)), stop_switch)?;
        Ok(HubStandinHandle { server, state })
    }
}

/// A running stand-in. Dropping it shuts the server down.
pub struct HubStandinHandle {
    server: RunningServer,
    state: Arc<HubState>,
}

impl HubStandinHandle {
    /// `http://127.0.0.1:PORT`, the Docker Hub API base URL for Slipway, and
    /// also the registry's base URL (`/v2/`) and token realm (`/token`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn username(&self) -> &str {
        &self.state.username
    }

    /// Every call so far, oldest first (control calls to `/_standin/` excluded).
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state.calls.snapshot()
    }

    pub fn clear_calls(&self) {
        self.state.calls.clear();
    }

    /// Make every Hub web API call (login, webhook pipelines) answer `status`
    /// with a `{"detail": ...}` body. The registry is not affected.
    pub fn fail_with(&self, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        self.state.set_failure(Some(Failure::new(status, None)));
    }

    pub fn stop_failing(&self) {
        self.state.set_failure(None);
    }

    /// The webhook pipelines of one repository, as the API serves them.
    pub fn webhook_pipelines(&self, namespace: &str, repo: &str) -> Vec<Value> {
        self.state
            .pipelines_of(namespace, repo)
            .iter()
            .filter_map(|pipeline| serde_json::to_value(pipeline).ok())
            .collect()
    }

    /// Every webhook pipeline, keyed by `namespace/repo`.
    pub fn all_webhook_pipelines(&self) -> BTreeMap<String, Vec<Value>> {
        self.state
            .all_pipelines()
            .into_iter()
            .map(|(repository, pipelines)| {
                let pipelines = pipelines
                    .iter()
                    .filter_map(|pipeline| serde_json::to_value(pipeline).ok())
                    .collect();
                (repository, pipelines)
            })
            .collect()
    }

    /// Simulates a push: stores a new image under the tag (an OCI index when
    /// `push.platforms` is set), then POSTs the payload (one per platform) to
    /// `push.hook_url`, or to every hook registered for the repository. `Err`
    /// when a platform is invalid or there is nowhere to deliver (the image is
    /// stored all the same in the latter case).
    pub async fn push(&self, push: Push) -> Result<Vec<PushDelivery>, String> {
        self.state
            .push(&push)
            .await
            .map(|(_, deliveries)| deliveries)
            .map_err(|failure| failure.message)
    }

    /// The digest `namespace/repo:tag` points at, if the tag exists.
    pub fn tag_digest(&self, namespace: &str, repo: &str, tag: &str) -> Option<String> {
        self.state
            .registry
            .tag_digest(&repository_key(namespace, repo), tag)
    }

    /// Stores a new single-platform image under the tag without delivering a
    /// webhook (a push Slipway does not hear about); returns its digest.
    pub fn repoint_tag(&self, namespace: &str, repo: &str, tag: &str) -> String {
        self.store_image(namespace, repo, tag, &[])
    }

    /// Stores a new image under the tag without delivering a webhook: a
    /// single-platform manifest for no platforms, else an OCI index with one
    /// manifest per platform (`"linux/amd64"`, `"linux/arm/v7"`). Returns the
    /// digest the tag now points at.
    ///
    /// # Panics
    /// When a platform is not `os/architecture[/variant]`.
    pub fn store_image(
        &self,
        namespace: &str,
        repo: &str,
        tag: &str,
        platforms: &[&str],
    ) -> String {
        let platforms =
            registry::parse_platforms(platforms).unwrap_or_else(|problem| panic!("{problem}"));
        self.state
            .registry
            .store_image(&repository_key(namespace, repo), tag, &platforms)
    }

    /// Anonymous registry tokens no longer pull `namespace/repo`.
    pub fn mark_private(&self, namespace: &str, repo: &str) {
        self.state
            .registry
            .mark_private(&repository_key(namespace, repo));
    }

    /// Make the registry's `/v2/` and manifest calls answer `status` with a
    /// distribution-shaped error (`UNAVAILABLE` for 503, `TOOMANYREQUESTS` for
    /// 429, ...). The Hub web API and `/token` keep working.
    pub fn fail_registry_with(&self, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        self.state.registry.set_failure(Some(status));
    }

    pub fn stop_failing_registry(&self) {
        self.state.registry.set_failure(None);
    }

    /// `true`: manifest calls get no answer until this is set back to `false`
    /// (they then answer normally) or the stand-in stops (503).
    pub fn hang_registry(&self, hang: bool) {
        self.state.registry.set_hanging(hang);
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

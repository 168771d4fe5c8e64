//! A Docker Hub API stand-in: login and webhook pipelines, plus simulated pushes.
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
//!   or the builder) making every `/v2/` call fail, for "not synced" paths.
//! - `POST /_standin/push`: POSTs Docker Hub's push payload (the documented
//!   fixture with tag, repository, pusher, `pushed_at` and `callback_url`
//!   replaced) to a hook URL or to every hook registered for the repository.
//! - Recording of every call (`GET /_standin/calls`), passwords redacted.
//!
//! # What it does not do
//! - Tokens never expire and are only valid on this instance; there is no 2FA,
//!   no personal access tokens, no rate limiting.
//! - Repositories are not stored: any repository name in an allowed namespace
//!   exists. There is no repository, tag or image API.
//! - Error wording for duplicates and validation follows DRF conventions; Docker
//!   Hub does not document its exact texts.
//! - Deliveries have no retries and no TLS trust roots (plain HTTP hooks only).

mod api;
mod pipelines;
mod push;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::server::{RunningServer, StopSwitch};
use api::{Failure, HubState};
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

    /// Start with the failure switch on: every `/v2/` call answers `status`.
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
        let state = Arc::new(HubState::new(
            self.username,
            self.password,
            namespaces,
            url,
            failure,
        ));
        let (stop_switch, _) = StopSwitch::new();
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
    /// `http://127.0.0.1:PORT`, the Docker Hub API base URL for Slipway.
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

    /// Make every `/v2/` call answer `status` with a `{"detail": ...}` body.
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

    /// Simulates a push: POSTs the payload to `push.hook_url`, or to every hook
    /// registered for the repository. `Err` when there is nowhere to deliver.
    pub async fn push(&self, push: Push) -> Result<Vec<PushDelivery>, String> {
        self.state.push(&push).await
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

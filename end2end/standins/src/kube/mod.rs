//! A Kubernetes API server stand-in for tests, spoken to with the real `kube` client.
//!
//! # What it does
//! - Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//!   `/apis/{group}/{version}`, and aggregated discovery (`apidiscovery.k8s.io/v2`)
//!   when the `Accept` header asks for it, so both `Discovery::run` and
//!   `Discovery::run_aggregated` work.
//! - Storage for namespaces, configmaps, secrets, services, pods, serviceaccounts
//!   (core/v1), deployments, replicasets, statefulsets, daemonsets (apps/v1), jobs
//!   and cronjobs (batch/v1), poddisruptionbudgets (policy/v1), ingresses
//!   (networking.k8s.io/v1), roles and rolebindings (rbac.authorization.k8s.io/v1): create, get, list (label selectors including set-based
//!   ones; `metadata.name`/`metadata.namespace` field selectors), replace with
//!   resourceVersion conflicts, delete (with owner-reference cascade and namespace
//!   contents), delete collection, JSON merge patch, JSON patch, server-side apply,
//!   the `status` subresource, `dryRun=All`, and watch streams (`?watch=true`,
//!   `resourceVersion`, `sendInitialEvents`, `timeoutSeconds`).
//! - Metadata like the real server: `uid`, a global `resourceVersion` counter,
//!   `generation` bumped on spec changes, `creationTimestamp`, `generateName`,
//!   `managedFields` (FieldsV1); namespaced creates need an existing namespace
//!   (`default`, `kube-system`, `kube-public`, `kube-node-lease` exist at start).
//! - Errors as `Status` objects with the real reasons, codes and message wording
//!   (NotFound, AlreadyExists, Conflict, Invalid, BadRequest, Forbidden, Unauthorized).
//! - Bearer-token authentication; read-only tokens get RBAC-style 403s on writes.
//! - A Deployment controller: one ReplicaSet per pod template (owner reference,
//!   `pod-template-hash`, `deployment.kubernetes.io/revision`), older ones scaled
//!   to 0, and a rollout that becomes Available after a delay (builder default,
//!   or per deployment via the `standin.slipway.dev/rollout-delay-ms` annotation;
//!   `never` keeps it progressing until `progressDeadlineSeconds` marks it failed).
//! - Recording of every request, readable from the handle or `GET /_standin/requests`.
//!
//! # What it does not do
//! - No admission control, no webhooks, no RBAC beyond "full" and "read-only" tokens,
//!   no client certificates. TLS is optional (`.tls(true)`): a CA made at start,
//!   a certificate for 127.0.0.1/localhost, no certificate rotation.
//! - No scheduling and no pods: workloads never run. Only Deployments have a
//!   controller; StatefulSets, DaemonSets, Jobs and CronJobs are stored as sent.
//!   No default ServiceAccount per namespace, no Endpoints for Services.
//! - Server-side apply is simplified: lists are atomic (the real server merges
//!   `containers` by name), conflicts are detected per leaf field with differing
//!   values, and `managedFields` sent by clients are ignored.
//! - Strategic merge patch is treated as JSON merge patch: lists are replaced, not merged.
//! - Few defaults (Deployment replicas/strategy/limits, pod-spec basics, Service
//!   type/clusterIP, Namespace phase) and validation only of names, type
//!   metadata, workload selectors and containers (name, image).
//! - `apiVersion`/`kind` not matching the URL gets 422 Invalid here; the real
//!   server answers 400 BadRequest for a wrong apiVersion.
//! - `limit`/`continue` are ignored (one page), deletes are immediate (no
//!   finalizers, graceful deletion or preconditions), no watch bookmarks except
//!   the one `sendInitialEvents` requires, no protobuf, no CRDs, one version per group.

mod deployments;
mod fields;
mod http;
mod operations;
mod pods;
mod resources;
mod selectors;
mod status;
mod store;
mod validation;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::server::{RunningServer, StopSwitch};
use crate::tls::ServerTls;
use http::{AccessRules, KubeState};
use store::{Cluster, ObjectKey, StoredObject};

/// Annotation on a Deployment overriding the rollout delay: milliseconds, or `never`.
pub const ROLLOUT_DELAY_ANNOTATION: &str = deployments::ROLLOUT_DELAY_ANNOTATION;
/// The annotation the controller sets on Deployments and their ReplicaSets.
pub const REVISION_ANNOTATION: &str = deployments::REVISION_ANNOTATION;
/// `gitVersion` answered by `GET /version`.
pub const GIT_VERSION: &str = http::GIT_VERSION;

/// Namespaces every real cluster starts with.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// One API request as the stand-in saw it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The body decoded as JSON (or YAML), a string when neither, absent when empty.
    pub body: Option<Value>,
    /// When the request arrived, in microseconds since the Unix epoch.
    pub time_unix_micros: i64,
    /// When the request arrived (its headers were read), on this process's monotonic
    /// clock: for latency measurements in the same process (benches). Not serialized.
    #[serde(skip)]
    pub received_at: std::time::Instant,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// Entry point: `KubeStandin::builder()...start().await`.
pub struct KubeStandin;

impl KubeStandin {
    pub fn builder() -> KubeStandinBuilder {
        KubeStandinBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: Vec::new(),
            readonly_tokens: Vec::new(),
            rollout_delay: Duration::from_millis(200),
            namespaces: Vec::new(),
            tls: false,
        }
    }
}

pub struct KubeStandinBuilder {
    listen: SocketAddr,
    tokens: Vec<String>,
    readonly_tokens: Vec<String>,
    rollout_delay: Duration,
    namespaces: Vec<String>,
    tls: bool,
}

impl KubeStandinBuilder {
    /// Address to bind; default `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// A bearer token with full access. May be given several times; without any,
    /// a random one is made (see [`KubeStandinHandle::token`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// A bearer token of user `readonly`, who may get, list and watch but not write.
    pub fn readonly_token(mut self, token: impl Into<String>) -> Self {
        self.readonly_tokens.push(token.into());
        self
    }

    /// How long a Deployment rollout takes to become available (default 200 ms;
    /// zero completes it within the write that started it).
    pub fn rollout_delay(mut self, delay: Duration) -> Self {
        self.rollout_delay = delay;
        self
    }

    /// An extra namespace that exists from the start.
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        self.namespaces.push(name.into());
        self
    }

    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost`, issued by
    /// a CA made at start (see [`KubeStandinHandle::ca_pem`]). Default: plain HTTP.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls = enabled;
        self
    }

    pub async fn start(mut self) -> std::io::Result<KubeStandinHandle> {
        if self.tokens.is_empty() {
            self.tokens
                .push(format!("standin-{}", uuid::Uuid::new_v4().simple()));
        }
        let mut cluster = Cluster::new();
        let now = http::now();
        for name in INITIAL_NAMESPACES
            .iter()
            .copied()
            .chain(self.namespaces.iter().map(String::as_str))
        {
            let namespace = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now,
                    "labels": {"kubernetes.io/metadata.name": name},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            let key = ObjectKey::new(resources::namespaces(), None, name);
            cluster.put(
                key,
                StoredObject {
                    object: namespace,
                    managed_fields: Default::default(),
                },
            );
        }
        let (stop_switch, stop_signal) = StopSwitch::new();
        let access = AccessRules {
            tokens: self.tokens.clone(),
            readonly_tokens: self.readonly_tokens.clone(),
        };
        let state = Arc::new(KubeState::new(
            cluster,
            access,
            self.rollout_delay,
            stop_signal,
        ));
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let router = http::router(Arc::clone(&state));
        let (server, tls) = if self.tls {
            let tls = crate::tls::generate()?;
            let acceptor = tls.acceptor.clone();
            (
                RunningServer::start_tls(listener, router, stop_switch, acceptor)?,
                Some(tls),
            )
        } else {
            (RunningServer::start(listener, router, stop_switch)?, None)
        };
        Ok(KubeStandinHandle {
            server,
            state,
            token: self.tokens[0].clone(),
            readonly_token: self.readonly_tokens.first().cloned(),
            tls,
        })
    }
}

/// A running stand-in. Dropping it shuts the server down.
pub struct KubeStandinHandle {
    server: RunningServer,
    state: Arc<KubeState>,
    token: String,
    readonly_token: Option<String>,
    tls: Option<ServerTls>,
}

impl KubeStandinHandle {
    /// `http://127.0.0.1:PORT` (`https://` with TLS), the cluster URL for a kube `Config`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The first full-access token.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn readonly_token(&self) -> Option<&str> {
        self.readonly_token.as_deref()
    }

    /// With TLS: the CA certificate (PEM) clients must trust, e.g. a kubeconfig's
    /// `certificate-authority-data` (base64 of this) or Slipway's endpoint `ca_cert`.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_str())
    }

    /// With TLS: the CA certificate in DER, as kube's `Config::root_cert` takes it.
    pub fn ca_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|tls| tls.ca_der.as_slice())
    }

    /// Every API request so far, oldest first (control calls to `/_standin/` excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.snapshot()
    }

    pub fn clear_requests(&self) {
        self.state.requests.clear();
    }

    /// A stored object, e.g. `object("apps", "v1", "deployments", Some("default"), "web")`;
    /// `namespace` is `None` for cluster-scoped resources. `None` when absent or
    /// when the resource is not served.
    pub fn object(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let resource = resources::find(group, version, plural)?;
        let key = ObjectKey::new(resource, namespace, name);
        self.state
            .cluster()
            .get(&key)
            .map(|stored| stored.object.clone())
    }

    /// Every stored object, ordered by resource, namespace and name.
    pub fn objects(&self) -> Vec<Value> {
        self.state.cluster().all_objects().cloned().collect()
    }

    /// Stops the server and waits for open connections (watches end at once).
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

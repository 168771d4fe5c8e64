//! `GET /readyz`: whether this replica should get traffic and work. 200 while
//! the database answers and the replica takes work; 503 while it drains
//! (SIGTERM) or when the database does not answer, so a load balancer or a
//! Kubernetes readiness probe sends requests to the other replicas.
//! (`/healthz` stays 200 while the process lives: restarting a replica does
//! not fix its database.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::store::SharedStore;

/// How long the database may take to answer the probe's query before the
/// replica counts as not ready (probes time out after a second by default).
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Clone)]
pub struct Readiness {
    store: SharedStore,
    draining: Arc<AtomicBool>,
}

impl Readiness {
    pub fn new(store: SharedStore) -> Self {
        Readiness {
            store,
            draining: Arc::default(),
        }
    }

    /// From now on `/readyz` answers 503: the replica is shutting down.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = &state.readiness;
    if readiness.is_draining() {
        return not_ready("draining: this replica is shutting down");
    }
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, readiness.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database did not answer");
            not_ready("the database does not answer")
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            not_ready("the database does not answer in time")
        }
    }
}

fn not_ready(reason: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "not ready", "reason": reason })),
    )
}

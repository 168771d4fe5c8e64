//! The registry-facing routes: Docker Hub pushes, and every other registry's
//! notifications on one receiver that detects the product (CNCF distribution,
//! Harbor, GitHub, Quay, ACR, ECR, Artifact Registry, GitLab, JFrog). Plain
//! axum routes (not server functions): the callers are registries,
//! authenticated by the webhook's secure token — in `?secureToken=`, or in
//! `Authorization` as `Bearer T` or `T` — and, from GitHub, by the body's
//! HMAC signature under it.

use std::net::SocketAddr;

use app::error::AppError;
use app::webhook::DeliverySource;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::service::delivery::{Delivery, DeliveryRefusal, GitHubHeaders};
use crate::service::refusals::CountedRefusal;

/// Push payloads are a few KiB; anything near this is not a push.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docker-hub-webhooks", post(docker_hub))
        .route("/registry-webhooks", post(registry))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

#[derive(Deserialize)]
struct HookQuery {
    #[serde(rename = "secureToken")]
    secure_token: Option<String>,
}

async fn docker_hub(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HookQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    deliver(
        &state,
        DeliverySource::DockerHub,
        peer,
        query,
        &headers,
        &body,
    )
    .await
}

async fn registry(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HookQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    deliver(
        &state,
        DeliverySource::Registry,
        peer,
        query,
        &headers,
        &body,
    )
    .await
}

async fn deliver(
    state: &AppState,
    source: DeliverySource,
    peer: SocketAddr,
    query: HookQuery,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let delivery = Delivery {
        secure_token: query
            .secure_token
            .as_deref()
            .or_else(|| text(header::AUTHORIZATION.as_str()).map(token_of_authorization)),
        source,
        peer: Some(peer.ip()),
        body,
        content_type: text(header::CONTENT_TYPE.as_str()),
        github: GitHubHeaders {
            event: text("x-github-event"),
            delivery: text("x-github-delivery"),
            signature: text("x-hub-signature-256"),
        },
    };
    match state.backend.receive(delivery).await {
        Ok(answer) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
        // One answer for a missing and an unknown token: nothing is revealed.
        Err(DeliveryRefusal::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "unauthorized", "message": "missing or unknown secureToken"})),
        )
            .into_response(),
        Err(DeliveryRefusal::Rejected { status, reason }) => rejected(status, reason),
        Err(DeliveryRefusal::Counted(refusal @ CountedRefusal::OffAllowList)) => {
            rejected(refusal.status(), refusal.message())
        }
        // The sender may come back once the webhook has room again.
        Err(DeliveryRefusal::Counted(refusal @ CountedRefusal::OverLimit { retry_after, .. })) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.seconds.to_string())],
            Json(json!({"error": "rate_limited", "message": refusal.message()})),
        )
            .into_response(),
        Err(DeliveryRefusal::Internal) => ApiError(AppError::Internal).into_response(),
    }
}

/// The secure token in an `Authorization` header: `Bearer T`, or the bare
/// `T` (Harbor's "Auth Header", an ECR API destination's API key, GitLab's
/// notification header) — whatever registries let a person paste there.
fn token_of_authorization(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    }
}

/// A refusal with its status and one-line reason.
fn rejected(status: u16, reason: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({"error": "rejected", "message": reason})),
    )
        .into_response()
}

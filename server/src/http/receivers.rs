//! The registry-facing routes: Docker Hub pushes, and every other registry's
//! notifications on one receiver that detects the product (CNCF distribution,
//! Harbor, GitHub, Quay, ACR, ECR, Artifact Registry, GitLab, JFrog). Plain
//! axum routes (not server functions): the callers are registries,
//! authenticated by the webhook's secure token — in `?secureToken=`, or in
//! `Authorization` as `Bearer T` or `T` — and, from GitHub, by the body's
//! HMAC signature under it.

use std::net::SocketAddr;

use app::error::AppError;
use app::webhook::{DeliveryAnswer, DeliverySource};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::AppState;
use crate::service::delivery::{Delivery, DeliveryRefusal, GitHubHeaders};
use crate::service::refusals::CountedRefusal;

/// Push payloads are a few KiB; anything near this is not a push.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Why the receivers refuse a delivery, described once for both in the
/// document. It only describes: `deliver` builds the answers, so it is never
/// constructed.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum RefusedDelivery {
    #[response(
        status = 400,
        description = "Malformed JSON or a missing field: a one-line reason"
    )]
    Malformed(ErrorBody),
    #[response(
        status = 401,
        description = "A missing or unknown secure token (one body for both)"
    )]
    UnknownToken(ErrorBody),
    #[response(
        status = 403,
        description = "The sender is not on the webhook's source allow-list"
    )]
    SenderNotAllowed(ErrorBody),
    #[response(
        status = 413,
        description = "Over 1 MiB, or more than 100 tag pushes in one delivery"
    )]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON")]
    NotJson(ErrorBody),
    #[response(
        status = 429,
        description = "Over the webhook's `max_deliveries_per_minute`",
        headers(("Retry-After" = u64, description = "Seconds until the webhook takes a delivery again"))
    )]
    TooFrequent(ErrorBody),
}

/// The receivers and their descriptions, from one list (see [`super::openapi`]).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(docker_hub))
        .routes(routes!(registry))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HookQuery {
    /// The webhook's secure token (or send it in `Authorization`).
    #[serde(rename = "secureToken")]
    secure_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/docker-hub-webhooks",
    tag = "receivers",
    summary = "Docker Hub's push notification",
    params(HookQuery),
    security(("webhook_token_query" = []), ("webhook_token_header" = [])),
    request_body(
        content = serde_json::Value,
        description = "Docker Hub's push payload: `push_data.tag` and `repository.repo_name` (or `repository.namespace` and `repository.name`) are required",
        example = json!({"push_data": {"tag": "1.1.0", "pusher": "ci", "pushed_at": 1764547200}, "repository": {"repo_name": "shop/web", "namespace": "shop", "name": "web", "owner": "shop"}})
    ),
    responses(
        (status = 202, description = "Taken, before any run starts: an Activity row", body = DeliveryAnswer),
        RefusedDelivery,
    )
)]
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

#[utoipa::path(
    post,
    path = "/registry-webhooks",
    tag = "receivers",
    summary = "Any other registry's push notification, its format detected from the headers and body",
    params(
        HookQuery,
        ("X-GitHub-Event" = Option<String>, Header, description = "GitHub's event name"),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "GitHub's delivery id"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "GitHub's HMAC-SHA256 of the body under the secure token"),
    ),
    security(("webhook_token_query" = []), ("webhook_token_header" = [])),
    request_body(
        content = serde_json::Value,
        description = "The registry's own notification (CNCF distribution, Harbor, GitHub, Quay, ACR, ECR, Artifact Registry, GitLab, JFrog)",
        example = json!({"events": [{"id": "3ffc5ce2-1c3e-4a06-ae26-abd3d8951a1c", "timestamp": "2026-11-28T00:20:59Z", "action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:ce8818d7fba34efd8ec25180c1a0c1b9f9bed890e6d24f7c13d71f009e3b8b0b", "repository": "shop/web", "url": "https://registry.example.test/v2/shop/web/manifests/sha256:ce8818d7fba34efd8ec25180c1a0c1b9f9bed890e6d24f7c13d71f009e3b8b0b", "tag": "1.1.0"}, "request": {"host": "registry.example.test", "method": "PUT"}, "actor": {}}]})
    ),
    responses(
        (status = 202, description = "Taken, before any run starts: an Activity row", body = DeliveryAnswer),
        RefusedDelivery,
    )
)]
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
            Json(ErrorBody::new(
                ErrorCode::Unauthorized,
                "missing or unknown secureToken",
            )),
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
            Json(ErrorBody::new(ErrorCode::RateLimited, refusal.message())),
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
    (status, Json(ErrorBody::new(ErrorCode::Rejected, reason))).into_response()
}

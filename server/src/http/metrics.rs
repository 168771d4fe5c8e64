//! `GET /metrics`, and the two layers that count every HTTP answer by the
//! route template it matched.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::PROMETHEUS_CONTENT_TYPE;
use crate::metrics::{DatabaseState, MatchedRoute, ScrapeState, OPENMETRICS_CONTENT_TYPE};

/// The exposition. Prometheus asks for OpenMetrics in `Accept`; everyone
/// else (curl, older scrapers) gets the classic text format.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let backend = &state.backend;
    let store = &backend.store;
    let (work, size) = tokio::join!(store.work_in_progress(), store.database_size_bytes());
    let database = match (work, size) {
        (Ok(work), Ok(size_bytes)) => Some(DatabaseState {
            backend: store.backend_name(),
            work,
            size_bytes,
        }),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "reading /metrics' numbers from the database failed");
            None
        }
    };
    let scrape = ScrapeState {
        database,
        pools: store.pool_use(),
        live_streams: backend.live.open_streams(),
        live_events_dropped_for_replicas: backend.live.events_dropped_for_replicas(),
    };
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        PROMETHEUS_CONTENT_TYPE
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        backend.metrics.render(scrape, openmetrics),
    )
        .into_response()
}

/// Inside the router (a route layer): the template of the matched route
/// goes on the answer, for [`count_requests`].
pub async fn note_matched_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(MatchedRoute(route));
    }
    response
}

/// Around everything: counts and times each answer under its route
/// template, or `unmatched` (static files, unknown paths). Streamed pages
/// are timed to their first byte.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map_or("unmatched", |route| route.0.as_str());
    state.backend.metrics.http_answered(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

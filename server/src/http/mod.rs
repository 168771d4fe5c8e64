//! The one axum router: the Leptos app (pages and server functions), the JSON
//! API (described by `GET /api/v1/openapi.json`), the health checks and the metrics.

mod api_v1;
pub mod error;
mod live;
mod metrics;
pub mod openapi;
mod readiness;
mod receivers;
mod request_log;
pub mod security;

pub use readiness::Readiness;

use std::sync::{Arc, OnceLock};

use app::backend::{AuthApi, SharedBackend};
use app::model::PageRequestUser;
use axum::extract::{FromRef, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};

use crate::service::Slipway;
use security::SecurityConfig;

/// What every route reads. Each middleware and handler clones it for every
/// request, so it is one shared pointer: one reference count to touch, not
/// one per part.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub leptos_options: LeptosOptions,
    pub backend: Arc<Slipway>,
    pub security: Arc<SecurityConfig>,
    pub readiness: Readiness,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The pages' routes, listed once per process. Listing them renders the app
/// with resource loading suppressed by a process-wide flag: a resource first
/// polled meanwhile by a page render (another server built in the same
/// process, as the tests do) would wait forever.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

pub fn router(state: AppState) -> Router {
    let shared: SharedBackend = state.backend.clone();
    // Every render and server function gets the backend, and the CSP nonce
    // `security_headers` put on the request (it replaces the one Leptos
    // made up, so the hydration script carries the nonce of the header), and
    // the user `require_session_for_pages` found.
    let provide_request_context = move || {
        provide_context(shared.clone());
        if let Some(parts) = use_context::<Parts>() {
            if let Some(nonce) = parts.extensions.get::<leptos::nonce::Nonce>() {
                provide_context(nonce.clone());
            }
            if let Some(user) = parts.extensions.get::<PageRequestUser>() {
                provide_context(user.clone());
            }
        }
    };
    let routes = page_routes();
    let options = state.leptos_options.clone();

    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readiness::readyz))
        .route("/metrics", get(metrics::metrics))
        .route(app::live::LIVE_PATH, get(live::live))
        // `/api/v1` and `/pipelines/api`, built with their OpenAPI description.
        .merge(openapi::routes().split_for_parts().0)
        .leptos_routes_with_context(&state, routes, provide_request_context.clone(), move || {
            app::shell(options.clone())
        })
        .route_layer(middleware::from_fn(metrics::note_matched_route))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(provide_request_context, app::shell))
        .with_state(state.clone());
    // Around the routing, not on each route: `Router::layer` boxes every
    // route's service once per layer, and each layer then clones the boxes
    // below it on every request (BENCHMARKS.md, "Round five"). Outermost first.
    let front_door = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .map_response(IntoResponse::into_response)
        .layer(request_log::layer())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::client_address,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::browser_writes_from_public_origin,
        ))
        .layer(middleware::from_fn_with_state(
            state,
            require_session_for_pages,
        ))
        .service(routes);
    Router::new().fallback_service(front_door)
}

/// Migrations ran before the listener opened, so reaching this handler means ready.
async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "ok" })),
    )
}

fn session_cookie(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    state.backend.session_cookie().token_from(headers)
}

/// Page requests without a valid session go to the sign-in page before any
/// HTML is rendered. Assets, server functions and machine routes pass.
async fn require_session_for_pages(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_page = request.method() == Method::GET
        && path != "/login"
        && !path.starts_with("/pkg/")
        && !path.starts_with("/api/")
        && !path.starts_with("/pipelines/api/")
        && path != "/healthz"
        && path != "/readyz"
        && path != "/metrics"
        && path != "/favicon.ico";
    if !is_page {
        return next.run(request).await;
    }
    let signed_in = match session_cookie(&state, request.headers()) {
        Some(token) => match state.backend.actor_for_session(&token).await {
            Ok(Some(actor)) => Some(actor.user),
            _ => None,
        },
        None => None,
    };
    match signed_in {
        Some(user) => {
            // The page renders for this user without asking again (see `Layout`).
            request.extensions_mut().insert(PageRequestUser(user));
            next.run(request).await
        }
        None => Redirect::to("/login").into_response(),
    }
}

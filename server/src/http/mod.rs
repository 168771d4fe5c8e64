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

use std::convert::Infallible;
use std::future::Future;
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
use tower_http::services::ServeDir;

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

/// The site's built files (`/pkg/…`, the icon) as they are on disk, brotli
/// or gzip when the browser takes it and the build wrote one, `304` when the
/// browser's copy is current; any other path is `not_found`.
///
/// Not `leptos_axum`'s `file_and_error_handler`: it answers a file under a
/// reactive owner made with `Owner::new()`, whose parent is whatever owner
/// the worker thread last left current — another request's render — and
/// copies that owner's `ResponseOptions` onto the file's answer. A page
/// answered 403 or 404 then made the files its neighbours fetched 403 or 404
/// as well (their bodies intact), and those pages never hydrated.
fn site_files<NotFound>(site_root: &str, not_found: NotFound) -> ServeDir<NotFound> {
    ServeDir::new(site_root)
        .precompressed_br()
        .precompressed_gzip()
        .call_fallback_on_method_not_allowed(true)
        .fallback(not_found)
}

/// The app's page for a path nothing else answers: its "not found" page,
/// with the status the page set, else 404.
fn not_found_page(
    request_context: impl Fn() + Clone + Send + Sync + 'static,
    options: LeptosOptions,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(move |request: Request| {
        let options = options.clone();
        // Made per request (a closure, nothing rendered yet): the handler
        // leptos_axum returns is not `Sync`, which a router's fallback must be.
        let page = leptos_axum::render_app_to_stream_in_order_with_context(
            request_context.clone(),
            move || app::shell(options.clone()),
        )(request);
        async move {
            let mut answer = page.await;
            if answer.status() == StatusCode::OK {
                *answer.status_mut() = StatusCode::NOT_FOUND;
            }
            Ok(answer)
        }
    })
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
    let files = site_files(
        &state.leptos_options.site_root,
        not_found_page(provide_request_context.clone(), options.clone()),
    );

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
        .fallback_service(files)
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

//! The one axum router: the Leptos app (pages and server functions), the JSON
//! API, and the health check.

mod api_v1;
pub mod error;
mod live;
mod receivers;
mod request_log;

use std::sync::Arc;

use app::backend::{session_token_from, AuthApi, SharedBackend};
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::service::Slipway;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Arc<Slipway>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let shared: SharedBackend = state.backend.clone();
    let provide_backend = move || provide_context(shared.clone());
    let routes = generate_route_list(app::App);
    let options = state.leptos_options.clone();

    Router::new()
        .route("/healthz", get(healthz))
        .route(app::live::LIVE_PATH, get(live::live))
        .nest("/api/v1", api_v1::router())
        .nest("/pipelines/api", receivers::router())
        .leptos_routes_with_context(&state, routes, provide_backend.clone(), move || {
            app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(provide_backend, app::shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_session_for_pages,
        ))
        .layer(middleware::from_fn(same_origin_for_browser_posts))
        .layer(request_log::layer())
        .with_state(state)
}

/// Migrations ran before the listener opened, so reaching this handler means ready.
async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "ok" })),
    )
}

fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    session_token_from(headers)
}

/// Page requests without a valid session go to the sign-in page before any
/// HTML is rendered. Assets, server functions and machine routes pass.
async fn require_session_for_pages(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_page = request.method() == Method::GET
        && path != "/login"
        && !path.starts_with("/pkg/")
        && !path.starts_with("/api/")
        && !path.starts_with("/pipelines/api/")
        && path != "/healthz"
        && path != "/favicon.ico";
    if !is_page {
        return next.run(request).await;
    }
    let signed_in = match session_cookie(request.headers()) {
        Some(token) => matches!(state.backend.actor_for_session(&token).await, Ok(Some(_))),
        None => false,
    };
    if signed_in {
        next.run(request).await
    } else {
        Redirect::to("/login").into_response()
    }
}

/// Server functions are authorised by the session cookie; a browser sends
/// `Origin` on cross-site POSTs, so refuse those unless it names this host.
/// (SameSite=Lax already keeps the cookie off them; this is the second lock.)
async fn same_origin_for_browser_posts(request: Request, next: Next) -> Response {
    let is_server_function = request.method() == Method::POST
        && request.uri().path().starts_with("/api/")
        && !request.uri().path().starts_with("/api/v1/");
    if is_server_function {
        let origin_host = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
            .map(|origin| origin.split("://").nth(1).unwrap_or(origin).to_string());
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok());
        if let (Some(origin_host), Some(host)) = (origin_host, host) {
            if origin_host != host {
                return Response::builder()
                    .status(StatusCode::FORBIDDEN)
                    .body(Body::from("cross-origin request refused"))
                    .unwrap_or_default();
            }
        }
    }
    next.run(request).await
}

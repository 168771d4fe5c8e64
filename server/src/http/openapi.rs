//! `GET /api/v1/openapi.json`: the JSON API and the registry receivers
//! described from the code, as OpenAPI 3.1.
//!
//! Why this way:
//! - `utoipa` derives the schemas from the very types the handlers read and
//!   answer (in the `app` crate, behind its `ssr` feature, so the browser's
//!   wasm build does not carry it), honouring their serde attributes; a
//!   hand-written document would drift from them silently.
//! - `utoipa-axum`'s `OpenApiRouter` and `routes!` build the `/api/v1` and
//!   `/pipelines/api` routers and the document from one list of annotated
//!   handlers: a handler cannot be routed without being described, and its
//!   method and path in the document are the ones it is routed at.
//! - No Swagger UI: it would mean serving third-party assets; the document
//!   is plain JSON any viewer or generator reads.
//! - The document is built once per process and served without a token: it
//!   holds no secret, and scripts and generators fetch it before they have one.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::error::{ErrorBody, ErrorCode};
use super::{api_v1, receivers, AppState};

/// The security schemes (the attributes spell them as literals; the API
/// test checks every one they name is defined). `bearer`: what every
/// `/api/v1` operation needs unless it says otherwise.
pub const BEARER: &str = "bearer";
/// The receivers' per-webhook secure token, in the query or in `Authorization`.
pub const WEBHOOK_TOKEN_QUERY: &str = "webhook_token_query";
pub const WEBHOOK_TOKEN_HEADER: &str = "webhook_token_header";

#[derive(OpenApi)]
#[openapi(
    components(schemas(ErrorBody, ErrorCode)),
    modifiers(&Described),
    security(("bearer" = [])),
    tags(
        (name = "account", description = "The token's own user"),
        (name = "projects", description = "Projects and their members"),
        (name = "users", description = "Users (global admins)"),
        (name = "endpoints", description = "Docker registries and Kubernetes clusters"),
        (name = "pipelines", description = "Pipelines and starting runs"),
        (name = "executions", description = "Runs and approvals"),
        (name = "webhooks", description = "Docker webhooks (triggers) and their Activity"),
        (name = "tokens", description = "API tokens"),
        (name = "audit", description = "The audit trail"),
        (name = "operations", description = "How the server stands"),
        (name = "receivers", description = "What registries call: push notifications"),
        (name = "document", description = "This document"),
    )
)]
struct ApiDoc;

/// The parts of the document that are not a route: who it describes and how
/// callers authenticate.
struct Described;

impl Modify for Described {
    fn modify(&self, document: &mut Document) {
        document.info.title = "Slipway".to_string();
        document.info.version = env!("CARGO_PKG_VERSION").to_string();
        document.info.description = Some(
            "Slipway's JSON API (`/api/v1`, an API token as `Authorization: Bearer <token>`) \
             and the registry receivers (`/pipelines/api`, a webhook's secure token). Errors \
             answer an `ErrorBody`."
                .to_string(),
        );
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (the API tokens page, or `slipway token create`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            WEBHOOK_TOKEN_QUERY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "secureToken",
                "The webhook's secure token, from its hook URL.",
            ))),
        );
        components.add_security_scheme(
            WEBHOOK_TOKEN_HEADER,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The webhook's secure token as `Bearer T` or a bare `T`.",
            ))),
        );
    }
}

/// The API's routes and the registry receivers, each with its description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_v1::router())
        .nest("/pipelines/api", receivers::router())
}

/// The document, built once per process.
pub fn document() -> &'static Document {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
        let (_, mut document) = routes().split_for_parts();
        answer_unauthorized_where_a_token_is_needed(&mut document);
        document
    });
    &DOCUMENT
}

/// Every operation under the document's default security (the bearer token)
/// can be answered 401; said once here rather than on each handler.
fn answer_unauthorized_where_a_token_is_needed(document: &mut Document) {
    let unauthorized = ResponseBuilder::new()
        .description("No valid API token (the same body whatever the reason).")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                .build(),
        )
        .build();
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.security.is_none() {
                operation
                    .responses
                    .responses
                    .entry("401".to_string())
                    .or_insert_with(|| unauthorized.clone().into());
            }
        }
    }
}

/// The document as JSON, serialized once.
fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string(document()).expect("an OpenAPI document serializes")
    });
    &JSON
}

/// This document. No token needed: it holds no secret.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "document",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_slipway_and_its_version() {
        let document = document();
        assert_eq!(document.info.title, "Slipway");
        assert_eq!(document.info.version, env!("CARGO_PKG_VERSION"));
        assert!(document_json().starts_with('{'));
    }

    #[test]
    fn token_operations_answer_401_and_the_document_itself_needs_none() {
        let paths = &document().paths.paths;
        let me = paths["/api/v1/me"].get.as_ref().expect("GET /api/v1/me");
        assert!(me.responses.responses.contains_key("401"));
        let itself = paths["/api/v1/openapi.json"]
            .get
            .as_ref()
            .expect("GET /api/v1/openapi.json");
        assert!(!itself.responses.responses.contains_key("401"));
        let hub = paths["/pipelines/api/docker-hub-webhooks"]
            .post
            .as_ref()
            .expect("the Docker Hub receiver");
        assert!(
            hub.security.is_some(),
            "the receivers say their own token, not the API's"
        );
    }
}

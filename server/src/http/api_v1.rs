//! `/api/v1`: the JSON API for scripts and CI, mirroring what the UI can do.
//! Every route needs `Authorization: Bearer <api token>`, except the OpenAPI
//! document that describes them (`GET /api/v1/openapi.json`, see
//! [`super::openapi`]), which is built from the `#[utoipa::path]` of each handler.

use app::backend::*;
use std::collections::BTreeMap;

use app::approval::{Decision, DecisionRequest, WaitingApproval};
use app::audit::{AuditEntry, AuditFilter};
use app::endpoint::{Endpoint, EndpointInput, Validation};
use app::error::AppError;
use app::execution::{Execution, ExecutionFilter, ExecutionSummary, Pipeline};
use app::model::{ApiTokenInfo, NewApiToken, PasswordChange, Project, ProjectInput};
use app::model::{Member, NewUser, ProjectRole, TokenRequest, User};
use app::pipeline::PipelineSpec;
use app::webhook::{
    ActivityFilter, DockerEvent, DockerWebhook, DockerWebhookInput, HubSyncState, TagTrial,
    TagTrialAnswer,
};
use axum::extract::{Extension, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{
    ApiError, ErrorBody, ErrorCode, Forbidden, InvalidInput, NotFound, UnreadableBody,
};
use super::AppState;

/// A JSON body whose rejections answer in the API's error format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// The caller, resolved from the bearer token.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        let mut actor = state
            .backend
            .actor_for_api_token(token)
            .await?
            .ok_or(AppError::Unauthorized)?;
        actor.client = parts
            .extensions
            .get::<ClientAddress>()
            .map(|client| client.0);
        Ok(ApiActor(actor))
    }
}

/// The API token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The routes and their descriptions, from one list: `routes!` routes each
/// handler at the method and path of its `#[utoipa::path]` and adds that
/// operation to the document (handlers sharing a path share one `routes!`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(super::openapi::openapi_json))
        .routes(routes!(me))
        .routes(routes!(sign_out_everywhere))
        .routes(routes!(change_password))
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(list_members))
        .routes(routes!(set_member, remove_member))
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(validate_endpoint))
        .routes(routes!(list_pipelines, create_pipeline))
        .routes(routes!(get_pipeline, update_pipeline, delete_pipeline))
        .routes(routes!(run_pipeline))
        .routes(routes!(list_executions))
        .routes(routes!(get_execution))
        .routes(routes!(cancel_execution))
        .routes(routes!(approve_execution))
        .routes(routes!(reject_execution))
        .routes(routes!(waiting_approvals))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(try_tag))
        .routes(routes!(
            get_webhook,
            update_webhook,
            patch_webhook,
            delete_webhook
        ))
        .routes(routes!(webhook_activity))
        .routes(routes!(regenerate_token))
        .routes(routes!(retry_sync))
        .routes(routes!(list_activity))
        .routes(routes!(rerun_event))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_audit))
        .routes(routes!(server_status))
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "account",
    summary = "The token's user",
    responses(
        (status = 200, body = User),
    )
)]
async fn me(ApiActor(actor): ApiActor) -> Json<User> {
    Json(actor.user)
}

#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    summary = "Projects you can see, with `my_role`",
    responses(
        (status = 200, body = Vec<Project>),
    )
)]
async fn list_projects(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(state.backend.list_projects(&actor).await?))
}

#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    summary = "Create a project (global admins)",
    request_body(content = ProjectInput, example = json!({"name": "shop", "description": "The web shop"})),
    responses(
        (status = 201, body = Project),
        UnreadableBody,
        Forbidden,
        (status = 409, description = "A project of that name exists", body = ErrorBody),
        InvalidInput,
    )
)]
async fn create_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<ProjectInput>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project = state.backend.create_project(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

#[utoipa::path(
    get,
    path = "/projects/{reference}",
    tag = "projects",
    summary = "A project",
    params(("reference" = String, Path, description = "The project's id or name")),
    responses(
        (status = 200, body = Project),
        NotFound,
    )
)]
async fn get_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(state.backend.get_project(&actor, &reference).await?))
}

#[utoipa::path(
    put,
    path = "/projects/{reference}",
    tag = "projects",
    summary = "Change a project (project administrators)",
    params(("reference" = String, Path, description = "The project's id or name")),
    request_body(content = ProjectInput, example = json!({"name": "shop", "description": "The web shop and its API"})),
    responses(
        (status = 200, body = Project),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "Another project has that name", body = ErrorBody),
        InvalidInput,
    )
)]
async fn update_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    ApiJson(input): ApiJson<ProjectInput>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(
        state
            .backend
            .update_project(&actor, &reference, input)
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/projects/{reference}",
    tag = "projects",
    summary = "Delete a project",
    params(("reference" = String, Path, description = "The project's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
        (status = 409, description = "It still holds endpoints, pipelines or webhooks", body = ErrorBody),
    )
)]
async fn delete_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.backend.delete_project(&actor, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    summary = "Your tokens (never the secret)",
    responses(
        (status = 200, body = Vec<ApiTokenInfo>),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<ApiTokenInfo>>, ApiError> {
    Ok(Json(state.backend.list_api_tokens(&actor).await?))
}

#[utoipa::path(
    post,
    path = "/tokens",
    tag = "tokens",
    summary = "Create a token: the only time it is shown",
    request_body(content = TokenRequest, description = "Without `expires_in_days` the token never expires", example = json!({"name": "ci-deploys", "expires_in_days": 90})),
    responses(
        (status = 201, body = NewApiToken),
        UnreadableBody,
        (status = 422, description = "An invalid input (`expires_in_days` outside 1–3650); `field` names the input", body = ErrorBody),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewApiToken>), ApiError> {
    let created = state.backend.create_api_token(&actor, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Ends every browser session of the token's user (their API tokens stay).
#[utoipa::path(
    delete,
    path = "/me/sessions",
    tag = "account",
    summary = "Sign the user out in every browser",
    responses(
        (status = 204, description = "Every browser session of the user ended; API tokens stay"),
    )
)]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<StatusCode, ApiError> {
    state.backend.sign_out_everywhere(&actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the token's user's password; all their browser sessions end.
#[utoipa::path(
    put,
    path = "/me/password",
    tag = "account",
    summary = "Change the user's password",
    request_body(content = PasswordChange, example = json!({"current_password": "example-old-password", "new_password": "example-new-password"})),
    responses(
        (status = 204, description = "Changed; every browser session of the user ended (API tokens stay)"),
        UnreadableBody,
        (status = 422, description = "`current_password` wrong, or `new_password` under 8 characters; `field` names the input", body = ErrorBody),
        (status = 429, description = "Too many attempts, as for sign-in", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until another attempt is taken"))),
        (status = 503, description = "Too many password checks at once, as for sign-in", body = ErrorBody),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    client: Option<Extension<ClientAddress>>,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let client = client.map(|Extension(ClientAddress(address))| address);
    state
        .backend
        .change_password(&actor, change, client, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "tokens",
    summary = "Revoke a token: it stops working at once",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        NotFound,
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.backend.revoke_api_token(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
struct MemberRole {
    /// `viewer`, `executor`, `developer` or `administrator`.
    #[schema(value_type = ProjectRole)]
    role: String,
}

#[utoipa::path(
    get,
    path = "/projects/{reference}/members",
    tag = "projects",
    summary = "Members and their roles",
    params(("reference" = String, Path, description = "The project's id or name")),
    responses(
        (status = 200, body = Vec<Member>),
        NotFound,
    )
)]
async fn list_members(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(state.backend.list_members(&actor, &reference).await?))
}

#[utoipa::path(
    put,
    path = "/projects/{reference}/members/{username}",
    tag = "projects",
    summary = "Add or change a member (project administrators)",
    params(("reference" = String, Path, description = "The project's id or name"), ("username" = String, Path, description = "A user name")),
    request_body(content = MemberRole, example = json!({"role": "developer"})),
    responses(
        (status = 200, body = Member),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 422, description = "`role` is not a role; `field` names the input", body = ErrorBody),
    )
)]
async fn set_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((reference, username)): Path<(String, String)>,
    ApiJson(body): ApiJson<MemberRole>,
) -> Result<Json<Member>, ApiError> {
    let role = ProjectRole::parse(&body.role).ok_or_else(|| {
        AppError::invalid(
            "role",
            "must be viewer, executor, developer or administrator",
        )
    })?;
    Ok(Json(
        state
            .backend
            .set_member(&actor, &reference, &username, role)
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/projects/{reference}/members/{username}",
    tag = "projects",
    summary = "Remove a member",
    params(("reference" = String, Path, description = "The project's id or name"), ("username" = String, Path, description = "A user name")),
    responses(
        (status = 204, description = "Removed"),
        Forbidden,
        NotFound,
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((reference, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .backend
        .remove_member(&actor, &reference, &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    summary = "Every user (global admins)",
    responses(
        (status = 200, body = Vec<User>),
        Forbidden,
    )
)]
async fn list_users(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.backend.list_users(&actor).await?))
}

#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    summary = "Create a user (global admins)",
    request_body(content = NewUser, example = json!({"username": "alice", "password": "example-password", "is_admin": false})),
    responses(
        (status = 201, body = User),
        UnreadableBody,
        Forbidden,
        (status = 409, description = "A user of that name exists", body = ErrorBody),
        InvalidInput,
    )
)]
async fn create_user(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.backend.create_user(&actor, input).await?),
    ))
}

/// `?project=` narrows a name to one project (names are unique per project only).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InProject {
    /// A project id or name.
    project: Option<String>,
}

#[utoipa::path(
    get,
    path = "/endpoints",
    tag = "endpoints",
    summary = "Endpoints of your projects (secrets only as `stored_secrets`)",
    params(InProject),
    responses(
        (status = 200, body = Vec<Endpoint>),
    )
)]
async fn list_endpoints(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<InProject>,
) -> Result<Json<Vec<Endpoint>>, ApiError> {
    let mut endpoints = state.backend.list_endpoints(&actor).await?;
    if let Some(project) = filter.project {
        endpoints.retain(|endpoint| {
            endpoint.project == project || endpoint.project_id.to_string() == project
        });
    }
    Ok(Json(endpoints))
}

#[utoipa::path(
    post,
    path = "/endpoints",
    tag = "endpoints",
    summary = "Create an endpoint",
    request_body(content = EndpointInput, description = "A Docker registry (`server_type`, `username`, `password`, `cloud_proxy`) or a Kubernetes cluster (`auth`, `token`, `client_cert`, `client_key`, `kubeconfig`, `kubeconfig_context`, `ca_cert`, `insecure_skip_tls_verify`, `namespace`)", example = json!({"project": "shop", "name": "cluster", "description": "The production cluster", "kind": "kubernetes", "url": "https://kubernetes.example.test:6443", "auth": "token", "token": "example-cluster-token", "insecure_skip_tls_verify": true, "namespace": "shop"})),
    responses(
        (status = 201, body = Endpoint),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "An endpoint of that name exists in the project", body = ErrorBody),
        InvalidInput,
    )
)]
async fn create_endpoint(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<EndpointInput>,
) -> Result<(StatusCode, Json<Endpoint>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.backend.create_endpoint(&actor, input).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/endpoints/{reference}",
    tag = "endpoints",
    summary = "An endpoint",
    params(("reference" = String, Path, description = "The endpoint's id or name"), InProject),
    responses(
        (status = 200, body = Endpoint),
        NotFound,
    )
)]
async fn get_endpoint(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Json<Endpoint>, ApiError> {
    Ok(Json(
        state
            .backend
            .get_endpoint(&actor, &reference, scope.project.as_deref())
            .await?,
    ))
}

#[utoipa::path(
    put,
    path = "/endpoints/{reference}",
    tag = "endpoints",
    summary = "Change an endpoint (a secret left out keeps the stored one)",
    params(("reference" = String, Path, description = "The endpoint's id or name"), InProject),
    request_body(content = EndpointInput, example = json!({"project": "shop", "name": "cluster", "description": "The production cluster, namespace shop-live", "kind": "kubernetes", "url": "https://kubernetes.example.test:6443", "auth": "token", "insecure_skip_tls_verify": true, "namespace": "shop-live"})),
    responses(
        (status = 200, body = Endpoint),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "Another endpoint of the project has that name", body = ErrorBody),
        InvalidInput,
    )
)]
async fn update_endpoint(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
    ApiJson(input): ApiJson<EndpointInput>,
) -> Result<Json<Endpoint>, ApiError> {
    let updated = state
        .backend
        .update_endpoint(&actor, &reference, scope.project.as_deref(), input)
        .await?;
    Ok(Json(updated))
}

#[utoipa::path(
    delete,
    path = "/endpoints/{reference}",
    tag = "endpoints",
    summary = "Delete an endpoint",
    params(("reference" = String, Path, description = "The endpoint's id or name"), InProject),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
        (status = 409, description = "Something uses it", body = ErrorBody),
    )
)]
async fn delete_endpoint(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<StatusCode, ApiError> {
    state
        .backend
        .delete_endpoint(&actor, &reference, scope.project.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/endpoints/{reference}/validate",
    tag = "endpoints",
    summary = "Check the endpoint for real (bounded to 10 s)",
    params(("reference" = String, Path, description = "The endpoint's id or name"), InProject),
    responses(
        (status = 200, body = Validation),
        Forbidden,
        NotFound,
    )
)]
async fn validate_endpoint(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Json<Validation>, ApiError> {
    Ok(Json(
        state
            .backend
            .validate_endpoint(&actor, &reference, scope.project.as_deref())
            .await?,
    ))
}

/// A pipeline body in JSON or YAML, chosen by its content type. Handlers
/// take it last, after [`ApiActor`]: axum runs the parts extractors first, so
/// a caller without a valid token is answered 401 before the body is read or
/// parsed. The project role needs the project the body names, so it is
/// checked after parsing; [`crate::yaml_guard`] bounds what parsing costs.
struct PipelineBody(PipelineSpec);

impl<S: Send + Sync> FromRequest<S> for PipelineBody {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        use crate::pipeline_text::{parse_pipeline, ParseError};
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let body = String::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError(AppError::bad_request(rejection.body_text())).into_response()
            })?;
        match parse_pipeline(&body, content_type.as_deref()) {
            Ok(spec) => Ok(PipelineBody(spec)),
            Err(error @ ParseError::UnsupportedContentType(_)) => {
                let body = ErrorBody::new(ErrorCode::UnsupportedMediaType, error.to_string());
                Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(body)).into_response())
            }
            Err(error) => Err(ApiError(AppError::bad_request(error.to_string())).into_response()),
        }
    }
}

/// Answers with YAML when the client asks for it (`Accept: application/yaml`).
fn pipeline_answer(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    pipeline: Pipeline,
) -> Response {
    let wants_yaml = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("yaml"));
    if wants_yaml {
        let yaml = state.backend.pipeline_to_yaml(&pipeline.spec);
        (status, [(header::CONTENT_TYPE, "application/yaml")], yaml).into_response()
    } else {
        (status, Json(pipeline)).into_response()
    }
}

#[utoipa::path(
    get,
    path = "/pipelines",
    tag = "pipelines",
    summary = "Pipelines of your projects",
    params(InProject),
    responses(
        (status = 200, body = Vec<Pipeline>),
    )
)]
async fn list_pipelines(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<InProject>,
) -> Result<Json<Vec<Pipeline>>, ApiError> {
    let mut pipelines = state.backend.list_pipelines(&actor).await?;
    if let Some(project) = filter.project {
        pipelines.retain(|pipeline| {
            pipeline.spec.project == project || pipeline.project_id.to_string() == project
        });
    }
    Ok(Json(pipelines))
}

#[utoipa::path(
    post,
    path = "/pipelines",
    tag = "pipelines",
    summary = "Create a pipeline",
    request_body(content((PipelineSpec = "application/json", example = json!({"project": "shop", "name": "deploy", "description": "Deploy the web shop", "inputs": [{"name": "IMAGE", "default": "shop/web:1.0.0", "required": true}], "stages": [{"name": "approve", "tasks": [{"name": "production", "type": "approval", "approvers": ["alice"], "summary": "Deploy ${input.IMAGE}?"}]}, {"name": "deploy", "tasks": [{"name": "web", "type": "kubernetes", "endpoint": "cluster", "action": "APPLY", "yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-release\ndata:\n  image: ${input.IMAGE}\n"}]}]})), (String = "application/yaml")), description = "The pipeline as JSON, or as YAML with `Content-Type: application/yaml`"),
    responses(
        (status = 201, description = "The pipeline; YAML with `Accept: application/yaml`", content((Pipeline = "application/json"), (String = "application/yaml"))),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "A pipeline of that name exists in the project", body = ErrorBody),
        (status = 422, description = "An invalid definition; `field` names the place (`stages[0].tasks[1].endpoint`)", body = ErrorBody),
        (status = 415, description = "Neither JSON nor YAML", body = ErrorBody),
    )
)]
async fn create_pipeline(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    PipelineBody(spec): PipelineBody,
) -> Result<Response, ApiError> {
    let pipeline = state.backend.create_pipeline(&actor, spec).await?;
    Ok(pipeline_answer(
        &state,
        &headers,
        StatusCode::CREATED,
        pipeline,
    ))
}

#[utoipa::path(
    get,
    path = "/pipelines/{reference}",
    tag = "pipelines",
    summary = "A pipeline",
    params(("reference" = String, Path, description = "The pipeline's id or name"), InProject),
    responses(
        (status = 200, description = "The pipeline; YAML with `Accept: application/yaml`", content((Pipeline = "application/json"), (String = "application/yaml"))),
        NotFound,
    )
)]
async fn get_pipeline(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Response, ApiError> {
    let pipeline = state
        .backend
        .get_pipeline(&actor, &reference, scope.project.as_deref())
        .await?;
    Ok(pipeline_answer(&state, &headers, StatusCode::OK, pipeline))
}

#[utoipa::path(
    put,
    path = "/pipelines/{reference}",
    tag = "pipelines",
    summary = "Change a pipeline",
    params(("reference" = String, Path, description = "The pipeline's id or name"), InProject),
    request_body(content((PipelineSpec = "application/json", example = json!({"project": "shop", "name": "deploy", "description": "Deploy the web shop", "inputs": [{"name": "IMAGE", "default": "shop/web:1.0.0", "required": true}], "stages": [{"name": "approve", "tasks": [{"name": "production", "type": "approval", "approvers": ["alice"], "summary": "Deploy ${input.IMAGE}?"}]}, {"name": "deploy", "tasks": [{"name": "web", "type": "kubernetes", "endpoint": "cluster", "action": "APPLY", "yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-release\ndata:\n  image: ${input.IMAGE}\n"}]}]})), (String = "application/yaml")), description = "The pipeline as JSON, or as YAML with `Content-Type: application/yaml`"),
    responses(
        (status = 200, description = "The pipeline; YAML with `Accept: application/yaml`", content((Pipeline = "application/json"), (String = "application/yaml"))),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "Another pipeline of the project has that name", body = ErrorBody),
        (status = 422, description = "An invalid definition; `field` names the place", body = ErrorBody),
        (status = 415, description = "Neither JSON nor YAML", body = ErrorBody),
    )
)]
async fn update_pipeline(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
    PipelineBody(spec): PipelineBody,
) -> Result<Response, ApiError> {
    let pipeline = state
        .backend
        .update_pipeline(&actor, &reference, scope.project.as_deref(), spec)
        .await?;
    Ok(pipeline_answer(&state, &headers, StatusCode::OK, pipeline))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PipelineDeletion {
    /// A project id or name.
    project: Option<String>,
    /// Finished runs (and their history) are deleted only when this is true.
    #[serde(default)]
    delete_runs: bool,
}

#[utoipa::path(
    delete,
    path = "/pipelines/{reference}",
    tag = "pipelines",
    summary = "Delete a pipeline",
    params(("reference" = String, Path, description = "The pipeline's id or name"), PipelineDeletion),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
        (status = 409, description = "Webhooks start it, runs of it are unfinished, or it has finished runs and `delete_runs` is not true", body = ErrorBody),
    )
)]
async fn delete_pipeline(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(deletion): Query<PipelineDeletion>,
) -> Result<StatusCode, ApiError> {
    state
        .backend
        .delete_pipeline(
            &actor,
            &reference,
            deletion.project.as_deref(),
            deletion.delete_runs,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, ToSchema)]
struct RunRequest {
    /// Values of the pipeline's inputs by name; left out, an input takes its default.
    #[serde(default)]
    inputs: BTreeMap<String, String>,
}

#[utoipa::path(
    post,
    path = "/pipelines/{reference}/executions",
    tag = "pipelines",
    summary = "Start a run (executors)",
    params(("reference" = String, Path, description = "The pipeline's id or name"), InProject),
    request_body(content = Option<RunRequest>, description = "Optional: without a body the run takes the inputs' defaults", example = json!({"inputs": {"IMAGE": "shop/web:1.1.0"}})),
    responses(
        (status = 201, description = "Queued", body = ExecutionSummary),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 422, description = "A required input is missing, or an input is unknown; `field` names the input", body = ErrorBody),
    )
)]
async fn run_pipeline(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ExecutionSummary>), ApiError> {
    // The body is optional: no body runs with the defaults.
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            AppError::bad_request(format!("the body must be {{\"inputs\": {{…}}}}: {error}"))
        })?
    };
    let inputs = request.inputs;
    let queued = state
        .backend
        .run_pipeline(&actor, &reference, scope.project.as_deref(), inputs)
        .await?;
    Ok((StatusCode::CREATED, Json(queued)))
}

#[utoipa::path(
    get,
    path = "/executions",
    tag = "executions",
    summary = "Runs, newest first",
    params(ExecutionFilter),
    responses(
        (status = 200, body = Vec<ExecutionSummary>),
        UnreadableBody,
    )
)]
async fn list_executions(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<ExecutionFilter>,
) -> Result<Json<Vec<ExecutionSummary>>, ApiError> {
    Ok(Json(state.backend.list_executions(&actor, filter).await?))
}

#[utoipa::path(
    get,
    path = "/executions/{id}",
    tag = "executions",
    summary = "A run with its stages, tasks, logs and notifications",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, body = Execution),
        NotFound,
    )
)]
async fn get_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<Execution>, ApiError> {
    Ok(Json(state.backend.get_execution(&actor, id).await?))
}

#[utoipa::path(
    post,
    path = "/executions/{id}/cancel",
    tag = "executions",
    summary = "Cancel a run",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, body = ExecutionSummary),
        Forbidden,
        NotFound,
        (status = 409, description = "The run already finished", body = ErrorBody),
    )
)]
async fn cancel_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<ExecutionSummary>, ApiError> {
    Ok(Json(state.backend.cancel_execution(&actor, id).await?))
}

#[utoipa::path(
    post,
    path = "/executions/{id}/approve",
    tag = "executions",
    summary = "Approve a waiting approval task",
    params(("id" = i64, Path, description = "The run's id")),
    request_body(content = DecisionRequest, description = "`task` may be left out while one approval waits", example = json!({"task": "approve.production", "comment": "Checked the preview"})),
    responses(
        (status = 200, description = "The run, its approval task ended", body = Execution),
        UnreadableBody,
        (status = 403, description = "The task does not name the caller (or the caller started the run), and nothing changed", body = ErrorBody),
        NotFound,
        (status = 409, description = "The task is not waiting (decided, expired, canceled)", body = ErrorBody),
        (status = 422, description = "`task` is not an approval or not started, or `comment` is over 2,000 characters; `field` names the input", body = ErrorBody),
    )
)]
async fn approve_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<Execution>, ApiError> {
    decide(&state, &actor, id, Decision::Approved, request).await
}

#[utoipa::path(
    post,
    path = "/executions/{id}/reject",
    tag = "executions",
    summary = "Reject a waiting approval task",
    params(("id" = i64, Path, description = "The run's id")),
    request_body(content = DecisionRequest, description = "`task` may be left out while one approval waits", example = json!({"task": "approve.production", "comment": "Not during the sale"})),
    responses(
        (status = 200, description = "The run, its approval task ended", body = Execution),
        UnreadableBody,
        (status = 403, description = "The task does not name the caller (or the caller started the run), and nothing changed", body = ErrorBody),
        NotFound,
        (status = 409, description = "The task is not waiting (decided, expired, canceled)", body = ErrorBody),
        (status = 422, description = "`task` is not an approval or not started, or `comment` is over 2,000 characters; `field` names the input", body = ErrorBody),
    )
)]
async fn reject_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<Execution>, ApiError> {
    decide(&state, &actor, id, Decision::Rejected, request).await
}

/// What `/approve` and `/reject` share: only the decision differs.
async fn decide(
    state: &AppState,
    actor: &Actor,
    id: i64,
    decision: Decision,
    request: DecisionRequest,
) -> Result<Json<Execution>, ApiError> {
    let decided = state
        .backend
        .decide_approval(actor, id, decision, request)
        .await?;
    Ok(Json(decided))
}

#[utoipa::path(
    get,
    path = "/approvals",
    tag = "executions",
    summary = "Approvals waiting that you may decide, soonest to expire first (at most 200)",
    responses(
        (status = 200, body = Vec<WaitingApproval>),
    )
)]
async fn waiting_approvals(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<WaitingApproval>>, ApiError> {
    Ok(Json(state.backend.waiting_approvals(&actor).await?))
}

#[utoipa::path(
    get,
    path = "/webhooks/docker",
    tag = "webhooks",
    summary = "Webhook cards of your projects",
    params(InProject),
    responses(
        (status = 200, body = Vec<DockerWebhook>),
    )
)]
async fn list_webhooks(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<InProject>,
) -> Result<Json<Vec<DockerWebhook>>, ApiError> {
    let mut webhooks = state.backend.list_webhooks(&actor).await?;
    if let Some(project) = filter.project {
        webhooks.retain(|webhook| {
            webhook.project == project || webhook.project_id.to_string() == project
        });
    }
    Ok(Json(webhooks))
}

#[utoipa::path(
    post,
    path = "/webhooks/docker",
    tag = "webhooks",
    summary = "Create a webhook",
    request_body(content = DockerWebhookInput, description = "`api_token`: the token runs are attributed to (the token itself, or the id of one of yours)", example = json!({"project": "shop", "name": "web-pushes", "description": "Pushes of shop/web", "endpoint": "registry", "pipeline": "deploy", "api_token": "1", "image": "shop/web", "tag": "semver:^1.0", "inputs": {}, "enabled": true, "newer_only": false, "source_cidrs": [], "max_deliveries_per_minute": 600})),
    responses(
        (status = 201, description = "Created, with `hook_url` (its secure token, shown this once) and `hub_sync`", body = DockerWebhook),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "A webhook of that name exists in the project", body = ErrorBody),
        (status = 422, description = "An invalid input (`max_deliveries_per_minute` outside 1–100000, a pattern that does not parse); `field` names the input", body = ErrorBody),
    )
)]
async fn create_webhook(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<DockerWebhookInput>,
) -> Result<(StatusCode, Json<DockerWebhook>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.backend.create_webhook(&actor, input).await?),
    ))
}

#[utoipa::path(
    post,
    path = "/webhooks/docker/try",
    tag = "webhooks",
    summary = "Would a push of `repository:candidate_tag` start a run under these patterns, and why (not)",
    request_body(content = TagTrial, example = json!({"image": "shop/web", "tag": "semver:^1.0", "newer_only": false, "repository": "shop/web", "candidate_tag": "1.1.0"})),
    responses(
        (status = 200, body = TagTrialAnswer),
        UnreadableBody,
        NotFound,
        (status = 422, description = "`candidate_tag` is empty, or `image`/`tag` does not parse; `field` names the input", body = ErrorBody),
    )
)]
async fn try_tag(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(trial): ApiJson<TagTrial>,
) -> Result<Json<TagTrialAnswer>, ApiError> {
    Ok(Json(state.backend.try_tag(&actor, trial).await?))
}

#[utoipa::path(
    get,
    path = "/webhooks/docker/{reference}",
    tag = "webhooks",
    summary = "A webhook card",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject),
    responses(
        (status = 200, body = DockerWebhook),
        NotFound,
    )
)]
async fn get_webhook(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Json<DockerWebhook>, ApiError> {
    Ok(Json(
        state
            .backend
            .get_webhook(&actor, &reference, scope.project.as_deref())
            .await?,
    ))
}

#[utoipa::path(
    put,
    path = "/webhooks/docker/{reference}",
    tag = "webhooks",
    summary = "Change a webhook (and its Docker Hub twin)",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject),
    request_body(content = DockerWebhookInput, description = "As for create; `api_token` and `max_deliveries_per_minute` may be left out (the current ones stay)", example = json!({"project": "shop", "name": "web-pushes", "description": "Pushes of shop/web, newer versions only", "endpoint": "registry", "pipeline": "deploy", "image": "shop/web", "tag": "semver:^1.0", "inputs": {}, "enabled": true, "newer_only": true, "source_cidrs": []})),
    responses(
        (status = 200, body = DockerWebhook),
        UnreadableBody,
        Forbidden,
        NotFound,
        (status = 409, description = "Another webhook of the project has that name", body = ErrorBody),
        InvalidInput,
    )
)]
async fn update_webhook(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
    ApiJson(input): ApiJson<DockerWebhookInput>,
) -> Result<Json<DockerWebhook>, ApiError> {
    let updated = state
        .backend
        .update_webhook(&actor, &reference, scope.project.as_deref(), input)
        .await?;
    Ok(Json(updated))
}

/// `PATCH {"enabled": false}` (the card's toggle) and/or
/// `{"max_deliveries_per_minute": N}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookPatch {
    enabled: Option<bool>,
    max_deliveries_per_minute: Option<i64>,
}

#[utoipa::path(
    patch,
    path = "/webhooks/docker/{reference}",
    tag = "webhooks",
    summary = "Turn a webhook on or off, or set its delivery limit",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject),
    request_body(content = WebhookPatch, example = json!({"enabled": true, "max_deliveries_per_minute": 1200})),
    responses(
        (status = 200, body = DockerWebhook),
        (status = 400, description = "Neither field, or an unreadable body", body = ErrorBody),
        Forbidden,
        NotFound,
        (status = 422, description = "`max_deliveries_per_minute` outside 1–100000 (and nothing changed); `field` names the input", body = ErrorBody),
    )
)]
async fn patch_webhook(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<Json<DockerWebhook>, ApiError> {
    let project = scope.project.as_deref();
    let mut changed = None;
    // The limit first: it is the one that can be refused (422), and then
    // nothing has changed.
    if let Some(per_minute) = patch.max_deliveries_per_minute {
        changed = Some(
            state
                .backend
                .set_webhook_delivery_limit(&actor, &reference, project, per_minute)
                .await?,
        );
    }
    if let Some(enabled) = patch.enabled {
        changed = Some(
            state
                .backend
                .set_webhook_enabled(&actor, &reference, project, enabled)
                .await?,
        );
    }
    let updated = changed.ok_or_else(|| {
        AppError::bad_request(
            "nothing to change: send \"enabled\" and/or \"max_deliveries_per_minute\"",
        )
    })?;
    Ok(Json(updated))
}

/// A webhook deleted here whose Docker Hub side could not be deleted: the
/// person removes it there by hand.
#[derive(Serialize, ToSchema)]
struct HubSideLeft {
    /// Always `not_synced`.
    hub_sync: HubSyncState,
    /// Why the Hub side is left.
    message: String,
}

#[utoipa::path(
    delete,
    path = "/webhooks/docker/{reference}",
    tag = "webhooks",
    summary = "Delete a webhook",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject),
    responses(
        (status = 204, description = "Deleted, its Docker Hub twin too"),
        (status = 200, description = "Deleted here; its Docker Hub side could not be deleted", body = HubSideLeft),
        Forbidden,
        NotFound,
    )
)]
async fn delete_webhook(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Response, ApiError> {
    let hub_problem = state
        .backend
        .delete_webhook(&actor, &reference, scope.project.as_deref())
        .await?;
    Ok(match hub_problem {
        None => StatusCode::NO_CONTENT.into_response(),
        // Deleted here; the person has to remove the Docker Hub side by hand.
        Some(reason) => (
            StatusCode::OK,
            Json(HubSideLeft {
                hub_sync: HubSyncState::NotSynced,
                message: reason,
            }),
        )
            .into_response(),
    })
}

#[utoipa::path(
    post,
    path = "/webhooks/docker/{reference}/regenerate-token",
    tag = "webhooks",
    summary = "A new secure token (`hook_url`); the old one stops working",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject),
    responses(
        (status = 200, body = DockerWebhook),
        Forbidden,
        NotFound,
    )
)]
async fn regenerate_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Json<DockerWebhook>, ApiError> {
    Ok(Json(
        state
            .backend
            .regenerate_webhook_token(&actor, &reference, scope.project.as_deref())
            .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/webhooks/docker/{reference}/sync",
    tag = "webhooks",
    summary = "Retry the Docker Hub twin",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject),
    responses(
        (status = 200, body = DockerWebhook),
        Forbidden,
        NotFound,
    )
)]
async fn retry_sync(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
) -> Result<Json<DockerWebhook>, ApiError> {
    Ok(Json(
        state
            .backend
            .retry_webhook_sync(&actor, &reference, scope.project.as_deref())
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/webhooks/docker/{reference}/activity",
    tag = "webhooks",
    summary = "The webhook's Activity rows, newest first",
    params(("reference" = String, Path, description = "The webhook's id or name"), InProject, ActivityFilter),
    responses(
        (status = 200, body = Vec<DockerEvent>),
        UnreadableBody,
        NotFound,
    )
)]
async fn webhook_activity(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
    Query(scope): Query<InProject>,
    Query(mut filter): Query<ActivityFilter>,
) -> Result<Json<Vec<DockerEvent>>, ApiError> {
    let webhook = state
        .backend
        .get_webhook(&actor, &reference, scope.project.as_deref())
        .await?;
    filter.webhook = Some(webhook.id);
    Ok(Json(state.backend.list_activity(&actor, filter).await?))
}

#[utoipa::path(
    get,
    path = "/activity",
    tag = "webhooks",
    summary = "Activity rows, newest first, with the linked run's status",
    params(ActivityFilter),
    responses(
        (status = 200, body = Vec<DockerEvent>),
        UnreadableBody,
    )
)]
async fn list_activity(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<ActivityFilter>,
) -> Result<Json<Vec<DockerEvent>>, ApiError> {
    Ok(Json(state.backend.list_activity(&actor, filter).await?))
}

#[utoipa::path(
    post,
    path = "/activity/{id}/rerun",
    tag = "webhooks",
    summary = "A new TRIGGERED row and run from a stored event, with its inputs",
    params(("id" = i64, Path, description = "The Activity row's id")),
    responses(
        (status = 201, body = DockerEvent),
        Forbidden,
        NotFound,
        (status = 409, description = "Its run has not ended", body = ErrorBody),
    )
)]
async fn rerun_event(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<DockerEvent>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.backend.rerun_event(&actor, id).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    summary = "The audit trail, newest first",
    params(AuditFilter),
    responses(
        (status = 200, body = Vec<AuditEntry>),
        UnreadableBody,
        Forbidden,
    )
)]
async fn list_audit(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(state.backend.list_audit(&actor, filter).await?))
}

#[utoipa::path(
    get,
    path = "/status",
    tag = "operations",
    summary = "How the server stands: replicas, queue, outbox, database, pruning (global admins)",
    responses(
        (status = 200, body = app::status::ServerStatus),
        Forbidden,
    )
)]
/// How the server stands (global admins): the status page's numbers.
async fn server_status(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<app::status::ServerStatus>, ApiError> {
    Ok(Json(state.backend.server_status(&actor).await?))
}

//! `/api/v1`: the JSON API for scripts and CI, mirroring what the UI can do.
//! Every route needs `Authorization: Bearer <api token>`.

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
use app::webhook::{ActivityFilter, DockerEvent, DockerWebhook, DockerWebhookInput, HubSyncState};
use axum::extract::{Extension, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/sessions", delete(sign_out_everywhere))
        .route("/me/password", axum::routing::put(change_password))
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{reference}",
            get(get_project).put(update_project).delete(delete_project),
        )
        .route("/projects/{reference}/members", get(list_members))
        .route(
            "/projects/{reference}/members/{username}",
            axum::routing::put(set_member).delete(remove_member),
        )
        .route("/users", get(list_users).post(create_user))
        .route("/endpoints", get(list_endpoints).post(create_endpoint))
        .route(
            "/endpoints/{reference}",
            get(get_endpoint)
                .put(update_endpoint)
                .delete(delete_endpoint),
        )
        .route(
            "/endpoints/{reference}/validate",
            axum::routing::post(validate_endpoint),
        )
        .route("/pipelines", get(list_pipelines).post(create_pipeline))
        .route(
            "/pipelines/{reference}",
            get(get_pipeline)
                .put(update_pipeline)
                .delete(delete_pipeline),
        )
        .route(
            "/pipelines/{reference}/executions",
            axum::routing::post(run_pipeline),
        )
        .route("/executions", get(list_executions))
        .route("/executions/{id}", get(get_execution))
        .route(
            "/executions/{id}/cancel",
            axum::routing::post(cancel_execution),
        )
        .route(
            "/executions/{id}/approve",
            axum::routing::post(approve_execution),
        )
        .route(
            "/executions/{id}/reject",
            axum::routing::post(reject_execution),
        )
        .route("/approvals", get(waiting_approvals))
        .route("/webhooks/docker", get(list_webhooks).post(create_webhook))
        .route("/webhooks/docker/try", axum::routing::post(try_tag))
        .route(
            "/webhooks/docker/{reference}",
            get(get_webhook)
                .put(update_webhook)
                .patch(patch_webhook)
                .delete(delete_webhook),
        )
        .route(
            "/webhooks/docker/{reference}/activity",
            get(webhook_activity),
        )
        .route(
            "/webhooks/docker/{reference}/regenerate-token",
            axum::routing::post(regenerate_token),
        )
        .route(
            "/webhooks/docker/{reference}/sync",
            axum::routing::post(retry_sync),
        )
        .route("/activity", get(list_activity))
        .route("/activity/{id}/rerun", axum::routing::post(rerun_event))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/audit", get(list_audit))
        .route("/status", get(server_status))
}

async fn me(ApiActor(actor): ApiActor) -> Json<app::model::User> {
    Json(actor.user)
}

async fn list_projects(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(state.backend.list_projects(&actor).await?))
}

async fn create_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<ProjectInput>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project = state.backend.create_project(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

async fn get_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(state.backend.get_project(&actor, &reference).await?))
}

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

async fn delete_project(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.backend.delete_project(&actor, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tokens(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<ApiTokenInfo>>, ApiError> {
    Ok(Json(state.backend.list_api_tokens(&actor).await?))
}

async fn create_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewApiToken>), ApiError> {
    let created = state.backend.create_api_token(&actor, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Ends every browser session of the token's user (their API tokens stay).
async fn sign_out_everywhere(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<StatusCode, ApiError> {
    state.backend.sign_out_everywhere(&actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the token's user's password; all their browser sessions end.
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

async fn revoke_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.backend.revoke_api_token(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct MemberRole {
    role: String,
}

async fn list_members(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(reference): Path<String>,
) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(state.backend.list_members(&actor, &reference).await?))
}

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

async fn list_users(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.backend.list_users(&actor).await?))
}

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
#[derive(Deserialize)]
struct InProject {
    project: Option<String>,
}

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
                let body = serde_json::json!({ "error": "unsupported_media_type", "message": error.to_string() });
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

#[derive(Deserialize)]
struct PipelineDeletion {
    project: Option<String>,
    /// Finished runs (and their history) are deleted only when this is true.
    #[serde(default)]
    delete_runs: bool,
}

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

#[derive(Deserialize, Default)]
struct RunRequest {
    #[serde(default)]
    inputs: BTreeMap<String, String>,
}

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

async fn list_executions(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<ExecutionFilter>,
) -> Result<Json<Vec<ExecutionSummary>>, ApiError> {
    Ok(Json(state.backend.list_executions(&actor, filter).await?))
}

async fn get_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<Execution>, ApiError> {
    Ok(Json(state.backend.get_execution(&actor, id).await?))
}

async fn cancel_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<ExecutionSummary>, ApiError> {
    Ok(Json(state.backend.cancel_execution(&actor, id).await?))
}

async fn approve_execution(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<Execution>, ApiError> {
    decide(&state, &actor, id, Decision::Approved, request).await
}

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

async fn waiting_approvals(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<WaitingApproval>>, ApiError> {
    Ok(Json(state.backend.waiting_approvals(&actor).await?))
}

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

async fn try_tag(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(trial): ApiJson<app::webhook::TagTrial>,
) -> Result<Json<app::webhook::TagTrialAnswer>, ApiError> {
    Ok(Json(state.backend.try_tag(&actor, trial).await?))
}

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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookPatch {
    enabled: Option<bool>,
    max_deliveries_per_minute: Option<i64>,
}

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
            Json(serde_json::json!({"hub_sync": HubSyncState::NotSynced, "message": reason})),
        )
            .into_response(),
    })
}

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

async fn list_activity(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<ActivityFilter>,
) -> Result<Json<Vec<DockerEvent>>, ApiError> {
    Ok(Json(state.backend.list_activity(&actor, filter).await?))
}

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

async fn list_audit(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(state.backend.list_audit(&actor, filter).await?))
}

/// How the server stands (global admins): the status page's numbers.
async fn server_status(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<app::status::ServerStatus>, ApiError> {
    Ok(Json(state.backend.server_status(&actor).await?))
}

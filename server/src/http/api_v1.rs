//! `/api/v1`: the JSON API for scripts and CI, mirroring what the UI can do.
//! Every route needs `Authorization: Bearer <api token>`.

use app::backend::{Actor, Backend};
use app::endpoint::{Endpoint, EndpointInput, Validation};
use app::error::AppError;
use app::model::{ApiTokenInfo, NewApiToken, Project, ProjectInput};
use app::model::{Member, NewUser, ProjectRole, User};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
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
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        let actor = state
            .backend
            .actor_for_api_token(token)
            .await?
            .ok_or(AppError::Unauthorized)?;
        Ok(ApiActor(actor))
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
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
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
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

#[derive(Deserialize)]
struct TokenRequest {
    name: String,
}

async fn create_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewApiToken>), ApiError> {
    let created = state
        .backend
        .create_api_token(&actor, &request.name)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
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

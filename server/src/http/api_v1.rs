//! `/api/v1`: the JSON API for scripts and CI, mirroring what the UI can do.
//! Every route needs `Authorization: Bearer <api token>`.

use app::backend::{Actor, Backend};
use app::error::AppError;
use app::model::{ApiTokenInfo, NewApiToken, Project, ProjectInput};
use axum::extract::{FromRequest, FromRequestParts, Path, State};
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

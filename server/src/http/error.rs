//! How errors leave plain axum routes: one status per [`AppError`] variant,
//! a JSON body `{"error","message","field"?}`, and no detail for 5xx answers
//! (the cause was logged where it happened).

use app::error::AppError;
use axum::extract::rejection::JsonRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

#[derive(Debug)]
pub struct ApiError(pub AppError);

/// Every error answer of the JSON API and of the registry receivers. The
/// answers are built from this type, so its schema in the OpenAPI document
/// is the shape they really have.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid", "message": "name: is required", "field": "name"}))]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// One line for people; it may change, the code does not.
    pub message: String,
    /// The input that was refused, for `invalid` (422) answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Error answers many `/api/v1` operations give, each described once here and
/// named in the operations' `responses(…)`. They only describe: the answers are
/// built by [`ApiError`] from an [`AppError`], so none of these is constructed.
#[derive(IntoResponses)]
#[response(status = 400, description = "The body cannot be read")]
#[allow(dead_code)]
pub struct UnreadableBody(ErrorBody);

#[derive(IntoResponses)]
#[response(status = 403, description = "The caller's role does not allow it")]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

#[derive(IntoResponses)]
#[response(status = 404, description = "Missing, or not visible to the caller")]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "An invalid input; `field` names the input"
)]
#[allow(dead_code)]
pub struct InvalidInput(ErrorBody);

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error,
            message: message.into(),
            field: None,
        }
    }
}

/// The stable codes of [`ErrorBody::error`], for scripts to branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no valid API token (or webhook secure token).
    Unauthorized,
    /// 403: the caller's role does not allow it.
    Forbidden,
    /// 404: missing, or not visible to the caller.
    NotFound,
    /// 409: the current state does not allow it (a duplicate name, a run that ended).
    Conflict,
    /// 422: one input is invalid; `field` names it.
    Invalid,
    /// 400: the request cannot be read.
    BadRequest,
    /// 429: too many attempts; `Retry-After` says when to try again.
    TooManyRequests,
    /// 503: the server cannot do it now.
    Unavailable,
    /// 500: details are in the server log only.
    Internal,
    /// 415: a pipeline body that is neither JSON nor YAML.
    UnsupportedMediaType,
    /// A registry delivery refused (400, 403, 413, 415).
    Rejected,
    /// 429: a webhook over its `max_deliveries_per_minute`.
    RateLimited,
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError(error)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError(error.into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                return ApiError(AppError::bad_request(
                    "send the body as JSON with Content-Type: application/json",
                ))
            }
            other => other.body_text(),
        };
        ApiError(AppError::bad_request(message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = match &self.0 {
            AppError::Unauthorized | AppError::BadCredentials => ErrorCode::Unauthorized,
            AppError::Forbidden { .. } => ErrorCode::Forbidden,
            AppError::NotFound { .. } => ErrorCode::NotFound,
            AppError::Conflict { .. } => ErrorCode::Conflict,
            AppError::Invalid { .. } => ErrorCode::Invalid,
            AppError::BadRequest { .. } => ErrorCode::BadRequest,
            AppError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            AppError::Unavailable { .. } => ErrorCode::Unavailable,
            AppError::Internal => ErrorCode::Internal,
        };
        let mut body = ErrorBody::new(code, self.0.to_string());
        if let AppError::Invalid { field, .. } = &self.0 {
            body.field = Some(field.clone());
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.0.retry_after_seconds() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

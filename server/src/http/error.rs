//! How errors leave plain axum routes: one status per [`AppError`] variant,
//! a JSON body `{"error","message","field"?}`, and no detail for 5xx answers
//! (the cause was logged where it happened).

use app::error::AppError;
use axum::extract::rejection::JsonRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError(pub AppError);

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
            AppError::Unauthorized | AppError::BadCredentials => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::NotFound { .. } => "not_found",
            AppError::Conflict { .. } => "conflict",
            AppError::Invalid { .. } => "invalid",
            AppError::BadRequest { .. } => "bad_request",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Internal => "internal",
        };
        let mut body = json!({ "error": code, "message": self.0.to_string() });
        if let AppError::Invalid { field, .. } = &self.0 {
            body["field"] = json!(field);
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

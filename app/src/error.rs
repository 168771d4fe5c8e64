//! The one error type of the application boundary, shared by server functions
//! (serialized to the browser) and the JSON API (mapped to status codes).
//! Messages are written for the person who has to fix the input; internal
//! failures carry no detail at all (the server logs them).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AppError {
    /// 401: no valid session or token.
    #[error("sign in first: no valid session or API token was presented")]
    Unauthorized,
    /// 401 on a failed sign-in; the same text whichever of user or password was wrong.
    #[error("unknown user name or wrong password")]
    BadCredentials,
    /// 403: signed in, but the role does not allow this.
    #[error("{message}")]
    Forbidden { message: String },
    /// 404: the object does not exist (or is not visible to the caller).
    #[error("{message}")]
    NotFound { message: String },
    /// 409: the change conflicts with what is stored (duplicate name, object still in use).
    #[error("{message}")]
    Conflict { message: String },
    /// 422: a field is invalid; `field` names it so forms show the error beside it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 400: the request itself could not be read.
    #[error("{message}")]
    BadRequest { message: String },
    /// 429: the caller holds too much of a limited resource at once, or
    /// asked too often; `retry_after_seconds`, when known, is the answer's
    /// `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_seconds: Option<u64>,
    },
    /// 503: the server is at a named capacity limit; try again later
    /// (`retry_after_seconds`, when known, is the answer's `Retry-After`).
    #[error("{message}")]
    Unavailable {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_seconds: Option<u64>,
    },
    /// 500: something failed inside; details are in the server log only.
    #[error("internal error: the server log has the details")]
    Internal,
}

impl AppError {
    pub fn invalid(field: &str, message: &str) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound {
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden {
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
        }
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: Option<u64>) -> Self {
        AppError::TooManyRequests {
            message: message.into(),
            retry_after_seconds,
        }
    }

    pub fn unavailable(message: impl Into<String>, retry_after_seconds: Option<u64>) -> Self {
        AppError::Unavailable {
            message: message.into(),
            retry_after_seconds,
        }
    }

    /// The seconds after which asking again may succeed (the `Retry-After`
    /// header of the answer), for the errors that know them.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests {
                retry_after_seconds,
                ..
            }
            | AppError::Unavailable {
                retry_after_seconds,
                ..
            } => *retry_after_seconds,
            _ => None,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::BadCredentials => 401,
            AppError::Forbidden { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Conflict { .. } => 409,
            AppError::Invalid { .. } => 422,
            AppError::BadRequest { .. } => 400,
            AppError::TooManyRequests { .. } => 429,
            AppError::Unavailable { .. } => 503,
            AppError::Internal => 500,
        }
    }

    /// The message to show beside a form field, when this error is about that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The browser could not reach the server or read its answer.
            ServerFnErrorErr::Request(message) | ServerFnErrorErr::Response(message) => {
                AppError::BadRequest {
                    message: format!("the server could not be reached: {message}"),
                }
            }
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                AppError::BadRequest { message }
            }
            _ => AppError::Internal,
        }
    }
}

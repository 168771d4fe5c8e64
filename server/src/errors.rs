//! Helpers for failures that are the server's own fault, whatever layer they
//! happen in: the caller sees the one internal error, the log gets the cause.

use app::error::AppError;

/// What a run's log or an Activity row says where an internal failure stopped
/// something: the cause went to the server log, not to the people reading these.
pub const INTERNAL_FAILURE: &str = "internal error (the server log has the details)";

/// Logs the cause of an internal failure and hides it from the caller.
pub fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(%error, "internal error");
    AppError::Internal
}

/// Why something done for a webhook or a pipeline (finding its endpoint,
/// starting its run) did not happen: a reason meant for the person who set
/// it up, or an internal failure whose cause is logged where it happened and
/// goes no further.
#[derive(Debug)]
pub enum Refusal {
    /// Shown as it is: beside a form field, as an Activity reason, as the
    /// Docker Hub sync message (the pipeline is disabled, the token revoked…).
    Reason(String),
    /// Answered as [`AppError::Internal`] (500), with no detail.
    Internal,
}

impl Refusal {
    /// The error to answer: `user` makes one of the reason, else the internal error.
    pub fn into_app_error(self, user: impl FnOnce(String) -> AppError) -> AppError {
        match self {
            Refusal::Reason(reason) => user(reason),
            Refusal::Internal => AppError::Internal,
        }
    }

    /// The reason to show, or the internal error to answer instead.
    pub fn reason(self) -> Result<String, AppError> {
        match self {
            Refusal::Reason(reason) => Ok(reason),
            Refusal::Internal => Err(AppError::Internal),
        }
    }
}

impl From<AppError> for Refusal {
    /// An [`AppError`] other than the internal one is a message for the
    /// user (its text, as answered); the internal one was logged already.
    fn from(error: AppError) -> Self {
        match error {
            AppError::Internal => Refusal::Internal,
            other => Refusal::Reason(other.to_string()),
        }
    }
}

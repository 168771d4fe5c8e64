//! Helpers for failures that are the server's own fault, whatever layer they
//! happen in: the caller sees the one internal error, the log gets the cause.

use app::error::AppError;

/// Logs the cause of an internal failure and hides it from the caller.
pub fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(%error, "internal error");
    AppError::Internal
}

//! The port between the Leptos server functions and the server crate.
//!
//! `app` cannot depend on `server` (the server embeds the app), so the server
//! provides an implementation of [`Backend`] through Leptos context. The JSON
//! API calls the same implementation, which keeps validation and role checks
//! in one place for both doors.

use std::sync::Arc;

use crate::error::AppError;
use crate::model::*;

/// Who is asking: resolved from a session cookie or an API token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user: User,
}

pub type SharedBackend = Arc<dyn Backend>;

/// Name of the HTTP-only cookie that carries the session token.
pub const SESSION_COOKIE: &str = "slipway_session";

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Checks a user name and password and opens a session; returns the session token.
    async fn sign_in(&self, username: &str, password: &str) -> Result<String, AppError>;
    async fn sign_out(&self, session_token: &str) -> Result<(), AppError>;
    async fn actor_for_session(&self, session_token: &str) -> Result<Option<Actor>, AppError>;
    async fn actor_for_api_token(&self, api_token: &str) -> Result<Option<Actor>, AppError>;

    async fn list_projects(&self, actor: &Actor) -> Result<Vec<Project>, AppError>;
    async fn get_project(&self, actor: &Actor, reference: &str) -> Result<Project, AppError>;
    async fn create_project(&self, actor: &Actor, input: ProjectInput)
        -> Result<Project, AppError>;
    async fn update_project(
        &self,
        actor: &Actor,
        reference: &str,
        input: ProjectInput,
    ) -> Result<Project, AppError>;
    async fn delete_project(&self, actor: &Actor, reference: &str) -> Result<(), AppError>;

    async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenInfo>, AppError>;
    async fn create_api_token(&self, actor: &Actor, name: &str) -> Result<NewApiToken, AppError>;
    async fn revoke_api_token(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
}

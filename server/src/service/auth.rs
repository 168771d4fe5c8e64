//! Signing in and out, and resolving a session or an API token to its user.

use app::audit::AuditAction;
use app::backend::*;
use app::error::AppError;

use super::audit::AuditEvent;
use super::{actor_from, Slipway};
use crate::clock::now_millis;
use crate::errors::internal;
use crate::secrets;

const SESSION_LIFETIME_MILLIS: i64 = 14 * 24 * 60 * 60 * 1000;
const SESSION_TOKEN_PREFIX: &str = "sls_";

#[async_trait::async_trait]
impl AuthApi for Slipway {
    #[tracing::instrument(skip(self, password))]
    async fn sign_in(&self, username: &str, password: &str) -> Result<String, AppError> {
        let user = self.store.user_by_name(username).await?;
        let stored_hash = user.as_ref().and_then(|user| user.password_hash.clone());
        let password = password.to_string();
        // argon2 is deliberately slow: keep it off the async workers.
        let verified = tokio::task::spawn_blocking(move || {
            let hash = stored_hash
                .as_deref()
                .unwrap_or(secrets::decoy_password_hash());
            secrets::verify_password(&password, hash) && stored_hash.is_some()
        })
        .await
        .map_err(internal)?;
        let user = match user {
            Some(user) if verified => user,
            _ => {
                let tried = AuditEvent::sign_in(
                    AuditAction::SessionSignInFailed,
                    username,
                    user.map(|user| user.id),
                    None,
                );
                self.audit(tried).await;
                return Err(AppError::BadCredentials);
            }
        };
        let token = secrets::random_token(SESSION_TOKEN_PREFIX);
        let now = now_millis();
        self.store
            .create_session(
                &secrets::token_hash(&token),
                user.id,
                now,
                now + SESSION_LIFETIME_MILLIS,
            )
            .await?;
        tracing::info!(user = %user.username, "signed in");
        self.audit(AuditEvent::sign_in(
            AuditAction::SessionSignIn,
            &user.username,
            Some(user.id),
            None,
        ))
        .await;
        Ok(token)
    }

    async fn sign_out(&self, session_token: &str) -> Result<(), AppError> {
        self.store
            .delete_session(&secrets::token_hash(session_token))
            .await?;
        Ok(())
    }

    async fn actor_for_session(&self, session_token: &str) -> Result<Option<Actor>, AppError> {
        let user = self
            .store
            .user_for_session(&secrets::token_hash(session_token), now_millis())
            .await?;
        Ok(user.map(actor_from))
    }

    async fn actor_for_api_token(&self, api_token: &str) -> Result<Option<Actor>, AppError> {
        let user = self
            .store
            .user_for_api_token(&secrets::token_hash(api_token), now_millis())
            .await?;
        Ok(user.map(actor_from))
    }
}

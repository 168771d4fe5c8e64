//! Users (managed by global admins) and each user's API tokens.

use app::audit::{AuditAction, AuditTargetKind};
use app::backend::*;
use app::error::AppError;
use app::model::*;

use super::audit::{AuditActor, AuditEvent};
use super::{actor_from, Slipway};
use crate::clock::now_millis;
use crate::errors::internal;
use crate::secrets;
use crate::store::{NewTokenRecord, SharedStore, UserRecord};

pub const API_TOKEN_PREFIX: &str = "slw_";

fn user_view(record: UserRecord) -> User {
    actor_from(record).user
}

const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// An API token created or revoked, known by its label and its prefix (the
/// part every list shows; the rest of the token is the secret).
pub fn token_event<'a>(
    actor: AuditActor<'a>,
    action: AuditAction,
    token: &'a ApiTokenInfo,
) -> AuditEvent<'a> {
    AuditEvent::new(actor, action)
        .target(AuditTargetKind::ApiToken, token.id, &token.name)
        .detail("prefix", token.prefix.as_str())
}

/// Creates an API token for a user; the answer is the only place the secret appears.
pub async fn issue_api_token(
    store: &SharedStore,
    user_id: i64,
    request: &TokenRequest,
) -> Result<NewApiToken, AppError> {
    validate_name("name", &request.name)?;
    let created_at = now_millis();
    let expires_at = match request.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_TOKEN_LIFETIME_DAYS) => Some(created_at + i64::from(days) * MILLIS_PER_DAY),
        Some(_) => {
            return Err(AppError::invalid(
                "expires_in_days",
                &format!(
                    "must be between 1 and {MAX_TOKEN_LIFETIME_DAYS} days; leave it out for a token that never expires"
                ),
            ))
        }
    };
    let token = secrets::random_token(API_TOKEN_PREFIX);
    let info = store
        .create_api_token(NewTokenRecord {
            user_id,
            name: &request.name,
            prefix: &token[..API_TOKEN_PREFIX.len() + 6],
            token_hash: &secrets::token_hash(&token),
            created_at,
            expires_at,
        })
        .await?;
    Ok(NewApiToken { info, token })
}

#[async_trait::async_trait]
impl UsersApi for Slipway {
    async fn list_users(&self, actor: &Actor) -> Result<Vec<User>, AppError> {
        Self::require_admin(actor, "listing users")?;
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .map(user_view)
            .collect())
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username, new_user = %input.username))]
    async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<User, AppError> {
        Self::require_admin(actor, "creating users")?;
        validate_name("username", &input.username)?;
        validate_new_password("password", &input.password)?;
        if self.store.user_by_name(&input.username).await?.is_some() {
            return Err(AppError::conflict(format!(
                "a user named '{}' already exists",
                input.username
            )));
        }
        let password = input.password.clone();
        let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let user = self
            .store
            .ensure_user(&input.username, input.is_admin, now_millis())
            .await?;
        self.store.set_password_hash(user.id, &hash).await?;
        self.audit(
            AuditEvent::by(actor, AuditAction::UserCreated)
                .target(AuditTargetKind::User, user.id, &user.username)
                .detail("is_admin", user.is_admin),
        )
        .await;
        Ok(user_view(user))
    }

    async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenInfo>, AppError> {
        Ok(self.store.list_api_tokens(actor.user.id).await?)
    }

    async fn create_api_token(
        &self,
        actor: &Actor,
        request: TokenRequest,
    ) -> Result<NewApiToken, AppError> {
        let created = issue_api_token(&self.store, actor.user.id, &request).await?;
        self.audit(token_event(
            AuditActor::User(actor),
            AuditAction::TokenCreated,
            &created.info,
        ))
        .await;
        Ok(created)
    }

    async fn revoke_api_token(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let not_found =
            || AppError::not_found(format!("you have no active API token with id {id}"));
        // Its name and prefix, for the audit trail.
        let token = self
            .store
            .list_api_tokens(actor.user.id)
            .await?
            .into_iter()
            .find(|token| token.id == id)
            .ok_or_else(not_found)?;
        if !self
            .store
            .revoke_api_token(actor.user.id, id, now_millis())
            .await?
        {
            return Err(not_found());
        }
        self.audit(token_event(
            AuditActor::User(actor),
            AuditAction::TokenRevoked,
            &token,
        ))
        .await;
        Ok(())
    }
}

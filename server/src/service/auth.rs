//! Signing in and out, changing one's password, and resolving a session or an
//! API token to its user.

use std::net::IpAddr;

use app::audit::AuditAction;
use app::backend::*;
use app::error::AppError;
use app::model::{
    validate_new_password, Millis, PasswordChange, SESSION_IDLE_HOURS, SESSION_LIFETIME_HOURS,
};

use super::audit::AuditEvent;
use super::{actor_from, Slipway};
use crate::clock::now_millis;
use crate::errors::internal;
use crate::secrets;
use crate::store::UserRecord;

const HOUR_MILLIS: Millis = 60 * 60 * 1000;
/// A session ends this long after sign-in, however much it is used.
pub const SESSION_LIFETIME_MILLIS: Millis = SESSION_LIFETIME_HOURS * HOUR_MILLIS;
/// A session ends after this long without a request (its use is recorded
/// to the minute: `store::SESSION_USE_RECORDED_EVERY`).
pub const SESSION_IDLE_TIMEOUT_MILLIS: Millis = SESSION_IDLE_HOURS * HOUR_MILLIS;
const SESSION_TOKEN_PREFIX: &str = "sls_";

#[async_trait::async_trait]
impl AuthApi for Slipway {
    #[tracing::instrument(skip(self, password))]
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<String, AppError> {
        // Refused (429, 503) before any database read or hash.
        let (attempt, hashing) = self.admit_password_check(username, client).await?;
        let user = self.store.user_by_name(username).await?;
        let stored_hash = user.as_ref().and_then(|user| user.password_hash.clone());
        let password = password.to_string();
        // argon2 is deliberately slow: keep it off the async workers.
        let verified = hashing
            .run(move || {
                let hash = stored_hash
                    .as_deref()
                    .unwrap_or(secrets::decoy_password_hash());
                secrets::verify_password(&password, hash) && stored_hash.is_some()
            })
            .await?;
        let user = match user {
            Some(user) if verified => user,
            _ => {
                let tried = AuditEvent::sign_in(
                    AuditAction::SessionSignInFailed,
                    username,
                    user.map(|user| user.id),
                    client,
                );
                self.audit(tried).await;
                return Err(AppError::BadCredentials);
            }
        };
        self.sign_in_guard.succeeded(attempt);
        let token = self.open_session(&user).await?;
        tracing::info!(user = %user.username, "signed in");
        self.audit(AuditEvent::sign_in(
            AuditAction::SessionSignIn,
            &user.username,
            Some(user.id),
            client,
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

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn sign_out_everywhere(&self, actor: &Actor) -> Result<u64, AppError> {
        let ended = self.store.delete_user_sessions(actor.user.id, None).await?;
        tracing::info!(sessions = ended, "signed out everywhere");
        Ok(ended)
    }

    #[tracing::instrument(skip_all, fields(user = %actor.user.username))]
    async fn change_password(
        &self,
        actor: &Actor,
        change: PasswordChange,
        client: Option<IpAddr>,
        keep_session: Option<&str>,
    ) -> Result<(), AppError> {
        validate_new_password("new_password", &change.new_password)?;
        // Checking the current password is a password check like a sign-in:
        // the same budgets and hashing slots, so a stolen session cannot
        // guess it at leisure.
        let (attempt, hashing) = self
            .admit_password_check(&actor.user.username, client)
            .await?;
        let stored_hash = self
            .store
            .user_by_name(&actor.user.username)
            .await?
            .and_then(|user| user.password_hash);
        let PasswordChange {
            current_password,
            new_password,
        } = change;
        let new_hash = hashing
            .run(move || {
                let hash = stored_hash
                    .as_deref()
                    .unwrap_or(secrets::decoy_password_hash());
                let verified =
                    secrets::verify_password(&current_password, hash) && stored_hash.is_some();
                verified.then(|| secrets::hash_password(&new_password))
            })
            .await?;
        let Some(new_hash) = new_hash else {
            return Err(AppError::invalid(
                "current_password",
                "is not your current password",
            ));
        };
        self.sign_in_guard.succeeded(attempt);
        self.store
            .set_password_hash(actor.user.id, &new_hash.map_err(internal)?)
            .await?;
        let kept = keep_session.map(secrets::token_hash);
        let ended = self
            .store
            .delete_user_sessions(actor.user.id, kept.as_deref())
            .await?;
        tracing::info!(other_sessions_ended = ended, "password changed");
        Ok(())
    }

    async fn actor_for_session(&self, session_token: &str) -> Result<Option<Actor>, AppError> {
        let now = now_millis();
        let user = self
            .store
            .user_for_session(
                &secrets::token_hash(session_token),
                now,
                now - SESSION_IDLE_TIMEOUT_MILLIS,
            )
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

    fn session_cookie(&self) -> SessionCookie {
        SessionCookie {
            secure: self.public_url_is_https(),
        }
    }
}

impl Slipway {
    /// A new session for the user; the user's stale sessions are cleared
    /// out on the way, so their rows do not pile up.
    async fn open_session(&self, user: &UserRecord) -> Result<String, AppError> {
        let token = secrets::random_token(SESSION_TOKEN_PREFIX);
        let now = now_millis();
        self.store
            .delete_stale_sessions(user.id, now, now - SESSION_IDLE_TIMEOUT_MILLIS)
            .await?;
        self.store
            .create_session(
                &secrets::token_hash(&token),
                user.id,
                now,
                now + SESSION_LIFETIME_MILLIS,
            )
            .await?;
        Ok(token)
    }

    /// Who a session belongs to while it is open, without counting this as
    /// a use: the re-checks of an open live stream must not keep a session
    /// alive that nobody uses.
    pub async fn actor_for_session_unused(
        &self,
        session_token: &str,
    ) -> Result<Option<Actor>, AppError> {
        let now = now_millis();
        let user = self
            .store
            .session_user(
                &secrets::token_hash(session_token),
                now,
                now - SESSION_IDLE_TIMEOUT_MILLIS,
            )
            .await?;
        Ok(user.map(actor_from))
    }

    /// Whether browsers reach this server over https (`--public-url`).
    pub fn public_url_is_https(&self) -> bool {
        self.public_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }
}

impl Slipway {
    /// Lets a password check go ahead, or refuses it (see [`SignInGuard::admit`]).
    /// A name or address newly over its failure budget is one audit entry
    /// (`session.sign_in_throttled`) per budget window, not one per refused
    /// attempt: a flood must not turn into a flood of writes.
    ///
    /// [`SignInGuard::admit`]: super::SignInGuard::admit
    async fn admit_password_check(
        &self,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<
        (
            super::sign_in_guard::Attempt,
            super::sign_in_guard::HashingSlot,
        ),
        AppError,
    > {
        let refused = match self.sign_in_guard.admit(username, client).await {
            Ok(admitted) => return Ok(admitted),
            Err(refused) => refused,
        };
        if refused.status_code() == 429
            && self.sign_in_guard.first_refusal_in_window(username, client)
        {
            self.audit(AuditEvent::sign_in(
                AuditAction::SessionSignInThrottled,
                username,
                None,
                client,
            ))
            .await;
        }
        Err(refused)
    }
}

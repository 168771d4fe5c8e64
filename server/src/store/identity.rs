//! Records of users, sessions and API tokens, and the [`IdentityStore`] part of the store.

use app::model::{ApiTokenInfo, Millis};

use super::StoreResult;

/// A token's last use is written at most this often (milliseconds): busy
/// scripts do not turn every request into a write.
pub const TOKEN_USE_RECORDED_EVERY: Millis = 60_000;

/// A session's last use is written at most this often (milliseconds): the
/// idle timeout counts from it, and pages do not write on every request.
pub const SESSION_USE_RECORDED_EVERY: Millis = 60_000;

#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
}

app::redacted_debug!(UserRecord { id, username, is_admin } secret { password_hash });

/// A new API token as it is stored: only the hash of the secret.
pub struct NewTokenRecord<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub created_at: Millis,
    /// `None`: the token never expires.
    pub expires_at: Option<Millis>,
}

#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Creates the user, or returns the existing one of that name unchanged.
    async fn ensure_user(
        &self,
        username: &str,
        is_admin: bool,
        now: Millis,
    ) -> StoreResult<UserRecord>;
    async fn set_user_admin(&self, user_id: i64, is_admin: bool) -> StoreResult<()>;
    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> StoreResult<()>;
    /// Sets the password only if the user has none; answers whether it did
    /// (of replicas creating the first administrator at once, one wins).
    async fn set_password_hash_if_unset(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> StoreResult<bool>;
    async fn count_users_with_password(&self) -> StoreResult<i64>;
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;

    /// A new session, used at `now`, valid until `expires_at` at most.
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()>;
    /// The user of a session that has not expired at `now` and was last
    /// used after `used_after`. Only a found session's use is recorded, at
    /// most once per [`SESSION_USE_RECORDED_EVERY`]: an unknown cookie costs no write.
    async fn user_for_session(
        &self,
        token_hash: &str,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<Option<UserRecord>>;
    /// As [`IdentityStore::user_for_session`], without recording a use: for
    /// re-checks the server makes by itself (an open live stream), which must
    /// not keep an unattended session from idling out.
    async fn session_user(
        &self,
        token_hash: &str,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<Option<UserRecord>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes every session of the user but the one whose hash is `keep`;
    /// answers how many were deleted.
    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&str>) -> StoreResult<u64>;
    /// Deletes the user's sessions that expired by `now` or were last used
    /// at `used_after` or before: they open nothing any more.
    async fn delete_stale_sessions(
        &self,
        user_id: i64,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<u64>;

    async fn create_api_token(&self, token: NewTokenRecord<'_>) -> StoreResult<ApiTokenInfo>;
    /// The owner of an active token. Only a found token's use is recorded,
    /// at most once per [`TOKEN_USE_RECORDED_EVERY`]: an unknown token costs no write.
    async fn user_for_api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>>;
    /// (token id, user id) of a token neither revoked nor expired at `now`.
    async fn active_api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<(i64, i64)>>;
    /// Whether the token exists, is not revoked and has not expired at `now`.
    async fn api_token_by_id(&self, token_id: i64, now: Millis) -> StoreResult<bool>;
    async fn user_is_admin(&self, user_id: i64) -> StoreResult<bool>;
    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>>;
    /// Revokes one of the user's tokens; false when the user has no such active token.
    async fn revoke_api_token(&self, user_id: i64, token_id: i64, now: Millis)
        -> StoreResult<bool>;
}

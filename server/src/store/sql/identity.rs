//! [`IdentityStore`] in the SQL both backends speak: users, sessions, API tokens.

use app::model::{ApiTokenInfo, Millis};

use super::rows::{SessionUserRow, TokenRow, UserRow};
use super::{map_constraint, missing, Backend};
use crate::store::{
    IdentityStore, NewTokenRecord, StoreResult, UserRecord, SESSION_USE_RECORDED_EVERY,
    TOKEN_USE_RECORDED_EVERY,
};

const USER_COLUMNS: &str = "users.id, users.username, users.password_hash, users.is_admin";
/// A token is usable while neither revoked nor expired; `$2` is the time now.
const TOKEN_IS_ACTIVE: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";
const TOKEN_COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at, expires_at";

#[async_trait::async_trait]
impl IdentityStore for Backend {
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.record_by::<UserRow>(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
            username,
        )
        .await
    }

    async fn ensure_user(
        &self,
        username: &str,
        is_admin: bool,
        now: Millis,
    ) -> StoreResult<UserRecord> {
        sqlx::query(
            "INSERT INTO users (username, is_admin, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(is_admin)
        .bind(now)
        .execute(&mut *self.write_connection().await?)
        .await?;
        self.user_by_name(username).await?.ok_or_else(missing)
    }

    async fn set_user_admin(&self, user_id: i64, is_admin: bool) -> StoreResult<()> {
        sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
            .bind(is_admin)
            .bind(user_id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn set_password_hash_if_unset(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> StoreResult<bool> {
        let set = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash IS NULL",
        )
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(set.rows_affected() == 1)
    }

    async fn count_users_with_password(&self) -> StoreResult<i64> {
        let count =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL")
                .fetch_one(&mut *self.reader().await?)
                .await?;
        Ok(count)
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY users.username"
        ))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $3)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        Ok(())
    }

    async fn user_for_session(
        &self,
        token_hash: &str,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        // A read first: an unknown or idle session costs no write.
        let Some(SessionUserRow { user, last_seen_at }) =
            self.live_session(token_hash, now, used_after).await?
        else {
            return Ok(None);
        };
        if last_seen_at < now - SESSION_USE_RECORDED_EVERY {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 \
                 WHERE token_hash = $2 AND last_seen_at < $3",
            )
            .bind(now)
            .bind(token_hash)
            .bind(now - SESSION_USE_RECORDED_EVERY)
            .execute(&mut *self.write_connection().await?)
            .await?;
        }
        Ok(Some(user))
    }

    async fn session_user(
        &self,
        token_hash: &str,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        let row = self.live_session(token_hash, now, used_after).await?;
        Ok(row.map(|row| row.user))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&str>) -> StoreResult<u64> {
        // `token_hash <> NULL` is never true: with nothing to keep, match every row.
        let done = sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR token_hash <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(done.rows_affected())
    }

    async fn delete_stale_sessions(
        &self,
        user_id: i64,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen_at <= $3)",
        )
        .bind(user_id)
        .bind(now)
        .bind(used_after)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(&self, token: NewTokenRecord<'_>) -> StoreResult<ApiTokenInfo> {
        let row: TokenRow = sqlx::query_as(&format!(
            "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.prefix)
        .bind(token.token_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .fetch_one(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        Ok(row.0)
    }

    async fn user_for_api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        // A read first: an unknown token (a guess, a scan) costs no write.
        let Some((token_id, user_id)) = self.active_api_token(token_hash, now).await? else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(token_id)
        .bind(now - TOKEN_USE_RECORDED_EVERY)
        .execute(&mut *self.write_connection().await?)
        .await?;
        self.record_by::<UserRow>(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            user_id,
        )
        .await
    }

    async fn active_api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<(i64, i64)>> {
        let ids = sqlx::query_as(&format!(
            "SELECT id, user_id FROM api_tokens WHERE token_hash = $1 AND {TOKEN_IS_ACTIVE}"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(ids)
    }

    async fn api_token_by_id(&self, token_id: i64, now: Millis) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM api_tokens WHERE id = $1 AND {TOKEN_IS_ACTIVE}"
        ))
        .bind(token_id)
        .bind(now)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(found.is_some())
    }

    async fn user_is_admin(&self, user_id: i64) -> StoreResult<bool> {
        let admin: Option<bool> = sqlx::query_scalar("SELECT is_admin FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        Ok(admin.unwrap_or(false))
    }

    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>> {
        self.records_by::<TokenRow>(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
            ),
            user_id,
        )
        .await
    }

    async fn revoke_api_token(
        &self,
        user_id: i64,
        token_id: i64,
        now: Millis,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_id)
        .bind(user_id)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Backend {
    /// The user of a session neither expired at `now` nor idle since
    /// `used_after`, and when the session was last used.
    async fn live_session(
        &self,
        token_hash: &str,
        now: Millis,
        used_after: Millis,
    ) -> StoreResult<Option<SessionUserRow>> {
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS}, sessions.last_seen_at FROM sessions \
             JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires_at > $2 \
             AND sessions.last_seen_at > $3"
        ))
        .bind(token_hash)
        .bind(now)
        .bind(used_after)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row)
    }
}

//! The embedded SQLite store: one file, WAL journal, foreign keys on.

use std::str::FromStr;
use std::time::Duration;

use app::model::{ApiTokenInfo, Millis, ProjectRole};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    EndpointRecord, EndpointWrite, MemberRecord, NewTokenRecord, ProjectRecord, Store, StoreError,
    StoreResult, UserRecord,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }
}

/// Turns a constraint failure into [`StoreError::Constraint`] with the
/// constraint's name as the PostgreSQL store reports it, so callers match one name.
pub(super) fn map_constraint(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        let message = db.message();
        if let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") {
            // SQLite names the columns ("endpoints.project_id, endpoints.name"),
            // not the constraint: rebuild the `<table>_<columns>_key` name.
            let mut table = "";
            let names: Vec<&str> = columns
                .split(", ")
                .filter_map(|column| column.split_once('.'))
                .map(|(owner, column)| {
                    table = owner;
                    column
                })
                .collect();
            return StoreError::Constraint(format!("{table}_{}_key", names.join("_")));
        }
    }
    StoreError::Database(error)
}

const USER_COLUMNS: &str = "users.id, users.username, users.password_hash, users.is_admin";
const PROJECT_COLUMNS: &str =
    "projects.id, projects.name, projects.description, projects.created_at, projects.updated_at";
const TOKEN_COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at";

fn user_from(row: &sqlx::sqlite::SqliteRow) -> UserRecord {
    UserRecord {
        id: row.get("id"),
        username: row.get("username"),
        password_hash: row.get("password_hash"),
        is_admin: row.get("is_admin"),
    }
}

fn project_from(row: &sqlx::sqlite::SqliteRow) -> ProjectRecord {
    ProjectRecord {
        id: row.get("id"),
        name: row.get("name"),
        description: row.get("description"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn token_from(row: &sqlx::sqlite::SqliteRow) -> ApiTokenInfo {
    ApiTokenInfo {
        id: row.get("id"),
        name: row.get("name"),
        prefix: row.get("prefix"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        revoked_at: row.get("revoked_at"),
    }
}

const ENDPOINT_COLUMNS: &str = "endpoints.id, endpoints.project_id, projects.name AS project_name, \
     endpoints.name, endpoints.description, endpoints.kind, endpoints.url, endpoints.settings, \
     endpoints.sealed_secrets, endpoints.last_validation, endpoints.created_at, endpoints.updated_at";
const ENDPOINT_FROM: &str = "endpoints JOIN projects ON projects.id = endpoints.project_id";

fn endpoint_from(row: &sqlx::sqlite::SqliteRow) -> EndpointRecord {
    EndpointRecord {
        id: row.get("id"),
        project_id: row.get("project_id"),
        project_name: row.get("project_name"),
        name: row.get("name"),
        description: row.get("description"),
        kind: row.get("kind"),
        url: row.get("url"),
        settings: row.get("settings"),
        sealed_secrets: row.get("sealed_secrets"),
        last_validation: row.get("last_validation"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// "2 endpoints, 1 pipeline" from counts, leaving out the zeros.
fn counted(counts: &[(i64, &str)]) -> Vec<String> {
    counts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, noun)| format!("{count} {noun}{}", if *count == 1 { "" } else { "s" }))
        .collect()
}

fn role_from(text: Option<String>) -> Option<ProjectRole> {
    text.as_deref().and_then(ProjectRole::parse)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from))
    }

    async fn ensure_user(
        &self,
        username: &str,
        is_admin: bool,
        now: Millis,
    ) -> StoreResult<UserRecord> {
        sqlx::query(
            "INSERT INTO users (username, is_admin, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(is_admin)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.user_by_name(username)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn set_user_admin(&self, user_id: i64, is_admin: bool) -> StoreResult<()> {
        sqlx::query("UPDATE users SET is_admin = ? WHERE id = ?")
            .bind(is_admin)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn count_users_with_password(&self) -> StoreResult<i64> {
        let count =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(count)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_for_session(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = ? AND sessions.expires_at > ?"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_api_token(&self, token: NewTokenRecord<'_>) -> StoreResult<ApiTokenInfo> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.prefix)
        .bind(token.token_hash)
        .bind(token.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(map_constraint)?;
        Ok(token_from(&row))
    }

    async fn user_for_api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? AND revoked_at IS NULL \
             RETURNING user_id"
        ))
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: i64 = row.get("user_id");
        let user = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(user.as_ref().map(user_from))
    }

    async fn active_api_token(&self, token_hash: &str) -> StoreResult<Option<(i64, i64)>> {
        let row = sqlx::query(
            "SELECT id, user_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.get("id"), row.get("user_id"))))
    }

    async fn api_token_by_id(&self, token_id: i64) -> StoreResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM api_tokens WHERE id = ? AND revoked_at IS NULL")
                .bind(token_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn user_is_admin(&self, user_id: i64) -> StoreResult<bool> {
        let admin: Option<bool> = sqlx::query_scalar("SELECT is_admin FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(admin.unwrap_or(false))
    }

    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token_from).collect())
    }

    async fn revoke_api_token(
        &self,
        user_id: i64,
        token_id: i64,
        now: Millis,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_projects(
        &self,
        user_id: i64,
        all: bool,
    ) -> StoreResult<Vec<(ProjectRecord, Option<ProjectRole>)>> {
        // One query with the user's role: their projects, or every project (for admins).
        let rows = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS}, memberships.role FROM projects \
             LEFT JOIN memberships ON memberships.project_id = projects.id AND memberships.user_id = ? \
             WHERE ? OR memberships.user_id IS NOT NULL ORDER BY projects.name"
        ))
        .bind(user_id)
        .bind(all)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| (project_from(row), role_from(row.get("role"))))
            .collect())
    }

    async fn project_by_id(&self, id: i64) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_from))
    }

    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(project_from))
    }

    async fn create_project(
        &self,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord> {
        let row = sqlx::query(&format!(
            "INSERT INTO projects (name, description, created_at, updated_at) VALUES (?, ?, ?, ?) \
             RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_constraint)?;
        Ok(project_from(&row))
    }

    async fn update_project(
        &self,
        id: i64,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord> {
        let row = sqlx::query(&format!(
            "UPDATE projects SET name = ?, description = ?, updated_at = ? WHERE id = ? \
             RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(map_constraint)?;
        Ok(project_from(&row))
    }

    async fn delete_project(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM projects WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn project_contents(&self, id: i64) -> StoreResult<Vec<String>> {
        let webhooks: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM docker_webhooks WHERE project_id = ?")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        let pipelines: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pipelines WHERE project_id = ?")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        let endpoints: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM endpoints WHERE project_id = ?")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(counted(&[
            (endpoints, "endpoint"),
            (pipelines, "pipeline"),
            (webhooks, "webhook"),
        ]))
    }

    async fn list_endpoints(&self, member: Option<i64>) -> StoreResult<Vec<EndpointRecord>> {
        let rows = match member {
            Some(user_id) => {
                sqlx::query(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} \
                     JOIN memberships ON memberships.project_id = endpoints.project_id AND memberships.user_id = ? \
                     ORDER BY projects.name, endpoints.name"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} ORDER BY projects.name, endpoints.name"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows.iter().map(endpoint_from).collect())
    }

    async fn endpoint_by_id(&self, id: i64) -> StoreResult<Option<EndpointRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} WHERE endpoints.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(endpoint_from))
    }

    async fn endpoints_by_name(&self, name: &str) -> StoreResult<Vec<EndpointRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} WHERE endpoints.name = ?"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(endpoint_from).collect())
    }

    async fn create_endpoint(&self, endpoint: EndpointWrite<'_>) -> StoreResult<EndpointRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO endpoints (project_id, name, description, kind, url, settings, sealed_secrets, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(endpoint.project_id)
        .bind(endpoint.name)
        .bind(endpoint.description)
        .bind(endpoint.kind)
        .bind(endpoint.url)
        .bind(endpoint.settings)
        .bind(endpoint.sealed_secrets)
        .bind(endpoint.now)
        .bind(endpoint.now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_constraint)?;
        self.endpoint_by_id(id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn update_endpoint(
        &self,
        id: i64,
        endpoint: EndpointWrite<'_>,
    ) -> StoreResult<EndpointRecord> {
        // A changed endpoint has not been validated in its new form.
        sqlx::query(
            "UPDATE endpoints SET project_id = ?, name = ?, description = ?, kind = ?, url = ?, settings = ?, \
             sealed_secrets = ?, last_validation = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(endpoint.project_id)
        .bind(endpoint.name)
        .bind(endpoint.description)
        .bind(endpoint.kind)
        .bind(endpoint.url)
        .bind(endpoint.settings)
        .bind(endpoint.sealed_secrets)
        .bind(endpoint.now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(map_constraint)?;
        self.endpoint_by_id(id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn delete_endpoint(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM endpoints WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_endpoint_validation(&self, id: i64, validation_json: &str) -> StoreResult<()> {
        sqlx::query("UPDATE endpoints SET last_validation = ? WHERE id = ?")
            .bind(validation_json)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn endpoint_users(&self, id: i64) -> StoreResult<Vec<String>> {
        let pipelines: Vec<String> = sqlx::query_scalar(
            "SELECT pipelines.name FROM pipeline_endpoints JOIN pipelines ON pipelines.id = pipeline_endpoints.pipeline_id \
             WHERE pipeline_endpoints.endpoint_id = ? ORDER BY pipelines.name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let webhooks: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM docker_webhooks WHERE endpoint_id = ? ORDER BY name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(pipelines
            .into_iter()
            .map(|name| format!("pipeline '{name}'"))
            .chain(webhooks.into_iter().map(|name| format!("webhook '{name}'")))
            .collect())
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY users.username"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from).collect())
    }

    async fn list_members(&self, project_id: i64) -> StoreResult<Vec<MemberRecord>> {
        let rows = sqlx::query(
            "SELECT users.id, users.username, memberships.role FROM memberships \
             JOIN users ON users.id = memberships.user_id WHERE memberships.project_id = ? ORDER BY users.username",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(MemberRecord {
                    user_id: row.get("id"),
                    username: row.get("username"),
                    role: role_from(row.get("role"))?,
                })
            })
            .collect())
    }

    async fn remove_membership(&self, project_id: i64, user_id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memberships WHERE project_id = ? AND user_id = ?")
            .bind(project_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn membership(&self, project_id: i64, user_id: i64) -> StoreResult<Option<ProjectRole>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE project_id = ? AND user_id = ?")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(role_from(role))
    }

    async fn set_membership(
        &self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (project_id, user_id, role) VALUES (?, ?, ?) \
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

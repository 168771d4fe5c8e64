//! [`ProjectStore`] in the SQL both backends speak: projects and their members.

use app::model::{Millis, ProjectRole};

use super::rows::{ContentsRow, MemberRow, ProjectRoleRow, ProjectRow};
use super::{map_constraint, Backend};
use crate::store::states::{from_stored, StoredText};
use crate::store::{MemberRecord, ProjectContents, ProjectRecord, ProjectStore, StoreResult};

const PROJECT_COLUMNS: &str =
    "projects.id, projects.name, projects.description, projects.created_at, projects.updated_at";

#[async_trait::async_trait]
impl ProjectStore for Backend {
    async fn list_projects(
        &self,
        user_id: i64,
        all: bool,
    ) -> StoreResult<Vec<(ProjectRecord, Option<ProjectRole>)>> {
        // One query with the user's role: their projects, or every project (for admins).
        let rows: Vec<ProjectRoleRow> = sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS}, memberships.role FROM projects \
             LEFT JOIN memberships ON memberships.project_id = projects.id AND memberships.user_id = $1 \
             WHERE $2 OR memberships.user_id IS NOT NULL ORDER BY projects.name"
        ))
        .bind(user_id)
        .bind(all)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows.into_iter().map(|row| (row.0, row.1)).collect())
    }

    async fn project_by_id(&self, id: i64) -> StoreResult<Option<ProjectRecord>> {
        self.record_by::<ProjectRow>(
            &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"),
            id,
        )
        .await
    }

    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>> {
        self.record_by::<ProjectRow>(
            &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1"),
            name,
        )
        .await
    }

    async fn create_project(
        &self,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord> {
        let row: ProjectRow = sqlx::query_as(&format!(
            "INSERT INTO projects (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(name)
        .bind(description)
        .bind(now)
        .fetch_one(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        Ok(row.0)
    }

    async fn update_project(
        &self,
        id: i64,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord> {
        let row: ProjectRow = sqlx::query_as(&format!(
            "UPDATE projects SET name = $1, description = $2, updated_at = $3 WHERE id = $4 \
             RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(id)
        .fetch_one(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        Ok(row.0)
    }

    async fn delete_project(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn project_contents(&self, id: i64) -> StoreResult<ProjectContents> {
        let row: ContentsRow = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM endpoints WHERE project_id = $1) AS endpoints, \
                    (SELECT COUNT(*) FROM pipelines WHERE project_id = $1) AS pipelines, \
                    (SELECT COUNT(*) FROM docker_webhooks WHERE project_id = $1) AS webhooks",
        )
        .bind(id)
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(row.0)
    }

    async fn list_members(&self, project_id: i64) -> StoreResult<Vec<MemberRecord>> {
        self.records_by::<MemberRow>(
            "SELECT users.id, users.username, memberships.role FROM memberships \
             JOIN users ON users.id = memberships.user_id WHERE memberships.project_id = $1 \
             ORDER BY users.username",
            project_id,
        )
        .await
    }

    async fn remove_membership(&self, project_id: i64, user_id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memberships WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn membership(&self, project_id: i64, user_id: i64) -> StoreResult<Option<ProjectRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(role
            .as_deref()
            .map(|text| from_stored("role", text))
            .transpose()?)
    }

    async fn set_membership(
        &self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (project_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.text())
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(())
    }
}

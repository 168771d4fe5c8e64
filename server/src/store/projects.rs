//! Records of projects and their members, and the [`ProjectStore`] part of the store.

use app::model::{Millis, ProjectRole};

use super::StoreResult;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: i64,
    pub username: String,
    pub role: ProjectRole,
}

/// What still lives in a project: it can be deleted only when all are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProjectContents {
    pub endpoints: i64,
    pub pipelines: i64,
    pub webhooks: i64,
}

impl ProjectContents {
    pub fn is_empty(&self) -> bool {
        *self == ProjectContents::default()
    }
}

#[async_trait::async_trait]
pub trait ProjectStore: Send + Sync {
    /// The user's projects with their role there; with `all`, every project
    /// (role where the user has one).
    async fn list_projects(
        &self,
        user_id: i64,
        all: bool,
    ) -> StoreResult<Vec<(ProjectRecord, Option<ProjectRole>)>>;
    async fn project_by_id(&self, id: i64) -> StoreResult<Option<ProjectRecord>>;
    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>>;
    async fn create_project(
        &self,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord>;
    async fn update_project(
        &self,
        id: i64,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord>;
    async fn delete_project(&self, id: i64) -> StoreResult<()>;
    /// How many endpoints, pipelines and webhooks still live in the project.
    async fn project_contents(&self, id: i64) -> StoreResult<ProjectContents>;

    async fn list_members(&self, project_id: i64) -> StoreResult<Vec<MemberRecord>>;
    async fn remove_membership(&self, project_id: i64, user_id: i64) -> StoreResult<bool>;
    async fn membership(&self, project_id: i64, user_id: i64) -> StoreResult<Option<ProjectRole>>;
    async fn set_membership(
        &self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
    ) -> StoreResult<()>;
}

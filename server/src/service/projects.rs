//! Projects and their members.

use app::audit::{AuditAction, AuditTargetKind};
use app::backend::*;
use app::error::AppError;
use app::model::*;

use super::audit::AuditEvent;
use super::Slipway;
use crate::clock::now_millis;
use crate::store::{
    constraint, MemberRecord, ProjectContents, ProjectRecord, ResultExt, StoreError, UserRecord,
};

fn project_name_taken(_: StoreError) -> AppError {
    AppError::conflict("a project with this name already exists; choose another name")
}

/// "2 endpoints, 1 pipeline": what still lives in a project, leaving out the zeros.
fn contents_phrase(contents: &ProjectContents) -> String {
    [
        (contents.endpoints, "endpoint"),
        (contents.pipelines, "pipeline"),
        (contents.webhooks, "webhook"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, noun)| format!("{count} {noun}{}", if *count == 1 { "" } else { "s" }))
    .collect::<Vec<_>>()
    .join(", ")
}

fn project_view(record: ProjectRecord, my_role: Option<ProjectRole>) -> Project {
    Project {
        id: record.id,
        name: record.name,
        description: record.description,
        created_at: record.created_at,
        updated_at: record.updated_at,
        my_role,
    }
}

fn project_event<'a>(
    actor: &'a Actor,
    action: AuditAction,
    project: &'a ProjectRecord,
) -> AuditEvent<'a> {
    AuditEvent::by(actor, action)
        .project(project.id, &project.name)
        .target(AuditTargetKind::Project, project.id, &project.name)
}

/// A change of `user`'s membership in `project`: the event belongs to the
/// project, so its administrators see it.
fn member_event<'a>(
    actor: &'a Actor,
    action: AuditAction,
    project: &'a ProjectRecord,
    user: &'a UserRecord,
) -> AuditEvent<'a> {
    AuditEvent::by(actor, action)
        .project(project.id, &project.name)
        .target(AuditTargetKind::User, user.id, &user.username)
}

fn member_view(record: MemberRecord) -> Member {
    Member {
        user_id: record.user_id,
        username: record.username,
        role: record.role,
    }
}

impl Slipway {
    /// The project and the user a change of membership is about, once the
    /// actor is known to administer the project.
    async fn membership_change(
        &self,
        actor: &Actor,
        project: &str,
        username: &str,
    ) -> Result<(ProjectRecord, UserRecord), AppError> {
        let (record, my_role) = self.visible_project(actor, project).await?;
        Self::require_role(
            actor,
            my_role,
            ProjectRole::Administrator,
            "managing members",
        )?;
        Ok((record, self.user_named(username).await?))
    }

    fn validate_project(input: &ProjectInput) -> Result<(), AppError> {
        validate_name("name", &input.name)?;
        validate_description("description", &input.description)
    }

    async fn user_named(&self, username: &str) -> Result<UserRecord, AppError> {
        self.store
            .user_by_name(username)
            .await?
            .ok_or_else(|| AppError::invalid("username", &format!("no user '{username}' exists")))
    }
}

#[async_trait::async_trait]
impl ProjectsApi for Slipway {
    async fn list_projects(&self, actor: &Actor) -> Result<Vec<Project>, AppError> {
        let projects = self
            .store
            .list_projects(actor.user.id, actor.user.is_admin)
            .await?;
        Ok(projects
            .into_iter()
            .map(|(record, role)| project_view(record, role))
            .collect())
    }

    async fn get_project(&self, actor: &Actor, reference: &str) -> Result<Project, AppError> {
        let (record, role) = self.visible_project(actor, reference).await?;
        Ok(project_view(record, role))
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn create_project(
        &self,
        actor: &Actor,
        input: ProjectInput,
    ) -> Result<Project, AppError> {
        if !actor.user.is_admin {
            return Err(AppError::forbidden(
                "creating a project needs the global admin role",
            ));
        }
        Self::validate_project(&input)?;
        let record = self
            .store
            .create_project(&input.name, &input.description, now_millis())
            .await
            .on_constraint(constraint::PROJECT_NAME, project_name_taken)?;
        // The creator administers what they made, even if later not a global admin.
        self.store
            .set_membership(record.id, actor.user.id, ProjectRole::Administrator)
            .await?;
        tracing::info!(project = %record.name, "project created");
        self.audit(project_event(actor, AuditAction::ProjectCreated, &record))
            .await;
        Ok(project_view(record, Some(ProjectRole::Administrator)))
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username))]
    async fn update_project(
        &self,
        actor: &Actor,
        reference: &str,
        input: ProjectInput,
    ) -> Result<Project, AppError> {
        let (record, role) = self.visible_project(actor, reference).await?;
        Self::require_role(actor, role, ProjectRole::Administrator, "editing a project")?;
        Self::validate_project(&input)?;
        let updated = self
            .store
            .update_project(record.id, &input.name, &input.description, now_millis())
            .await
            .on_constraint(constraint::PROJECT_NAME, project_name_taken)?;
        let mut changed = project_event(actor, AuditAction::ProjectChanged, &updated);
        if updated.name != record.name {
            changed = changed.detail("previous_name", record.name.as_str());
        }
        self.audit(changed).await;
        Ok(project_view(updated, role))
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn delete_project(&self, actor: &Actor, reference: &str) -> Result<(), AppError> {
        let (record, role) = self.visible_project(actor, reference).await?;
        Self::require_role(
            actor,
            role,
            ProjectRole::Administrator,
            "deleting a project",
        )?;
        let contents = self.store.project_contents(record.id).await?;
        if !contents.is_empty() {
            return Err(AppError::conflict(format!(
                "project '{}' still holds {}; delete those first",
                record.name,
                contents_phrase(&contents)
            )));
        }
        self.store.delete_project(record.id).await?;
        self.webhook_tokens.forget_all();
        tracing::info!(project = %record.name, "project deleted");
        self.audit(project_event(actor, AuditAction::ProjectDeleted, &record))
            .await;
        Ok(())
    }

    async fn list_members(&self, actor: &Actor, project: &str) -> Result<Vec<Member>, AppError> {
        let (record, _) = self.visible_project(actor, project).await?;
        let members = self.store.list_members(record.id).await?;
        Ok(members.into_iter().map(member_view).collect())
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn set_member(
        &self,
        actor: &Actor,
        project: &str,
        username: &str,
        role: ProjectRole,
    ) -> Result<Member, AppError> {
        let (record, user) = self.membership_change(actor, project, username).await?;
        let previous = self.store.membership(record.id, user.id).await?;
        self.store.set_membership(record.id, user.id, role).await?;
        tracing::info!(project = %record.name, member = %user.username, role = role.as_str(), "member set");
        let action = match previous {
            None => AuditAction::MemberAdded,
            Some(_) => AuditAction::MemberChanged,
        };
        self.audit(
            member_event(actor, action, &record, &user)
                .detail("role", role.as_str())
                .detail("previous_role", previous.map(ProjectRole::as_str)),
        )
        .await;
        Ok(Member {
            user_id: user.id,
            username: user.username,
            role,
        })
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn remove_member(
        &self,
        actor: &Actor,
        project: &str,
        username: &str,
    ) -> Result<(), AppError> {
        let (record, user) = self.membership_change(actor, project, username).await?;
        let previous = self.store.membership(record.id, user.id).await?;
        if !self.store.remove_membership(record.id, user.id).await? {
            return Err(AppError::not_found(format!(
                "'{username}' is not a member of '{}'",
                record.name
            )));
        }
        self.audit(
            member_event(actor, AuditAction::MemberRemoved, &record, &user)
                .detail("previous_role", previous.map(ProjectRole::as_str)),
        )
        .await;
        Ok(())
    }
}

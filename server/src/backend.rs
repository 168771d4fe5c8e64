//! The application's rules: who may do what, validation, and the calls into
//! the store. Both doors — Leptos server functions and `/api/v1` — go through
//! [`Slipway`], so a rule is written once.

use app::backend::{Actor, Backend};
use app::error::AppError;
use app::model::*;

use std::collections::BTreeMap;

use app::endpoint::{Endpoint, EndpointInput, Validation};
use app::execution::{Execution, ExecutionFilter, ExecutionSummary, Pipeline, Trigger};
use app::pipeline::PipelineSpec;
use app::webhook::{ActivityFilter, DockerEvent, DockerWebhook, DockerWebhookInput};

use crate::connect::Outbound;
use crate::crypto::SecretBox;
use crate::secrets;
use crate::store::{
    constraint, CancelOutcome, EndpointUser, EndpointUserKind, MemberRecord, NewTokenRecord,
    ProjectContents, ProjectRecord, ResultExt, SharedStore, StoreError, UserRecord,
};

const SESSION_LIFETIME_MILLIS: i64 = 14 * 24 * 60 * 60 * 1000;
pub const API_TOKEN_PREFIX: &str = "slw_";
const SESSION_TOKEN_PREFIX: &str = "sls_";

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// Logs the cause of an internal failure and hides it from the caller.
pub(crate) fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(%error, "internal error");
    AppError::Internal
}

/// A store failure the caller did not expect (a refused constraint it reacts
/// to is caught first, with `ResultExt::on_constraint`).
impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        internal(error)
    }
}

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

/// "pipeline 'deploy', webhook 'on-push'": what still uses an endpoint.
fn users_phrase(users: &[EndpointUser]) -> String {
    users
        .iter()
        .map(|user| match user.kind {
            EndpointUserKind::Pipeline => format!("pipeline '{}'", user.name),
            EndpointUserKind::Webhook => format!("webhook '{}'", user.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn actor_from(user: UserRecord) -> Actor {
    Actor {
        user: User {
            id: user.id,
            username: user.username,
            is_admin: user.is_admin,
        },
    }
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

/// Creates an API token for a user; the answer is the only place the secret appears.
pub async fn issue_api_token(
    store: &SharedStore,
    user_id: i64,
    name: &str,
) -> Result<NewApiToken, AppError> {
    validate_name("name", name)?;
    let token = secrets::random_token(API_TOKEN_PREFIX);
    let info = store
        .create_api_token(NewTokenRecord {
            user_id,
            name,
            prefix: &token[..API_TOKEN_PREFIX.len() + 6],
            token_hash: &secrets::token_hash(&token),
            created_at: now_millis(),
        })
        .await?;
    Ok(NewApiToken { info, token })
}

/// An object that belongs to a project; names are unique within a project only.
pub(crate) trait ProjectOwned {
    fn project_id(&self) -> i64;
    fn project_name(&self) -> &str;
}

macro_rules! project_owned {
    ($($record:ty),*) => {$(
        impl ProjectOwned for $record {
            fn project_id(&self) -> i64 {
                self.project_id
            }
            fn project_name(&self) -> &str {
                &self.project_name
            }
        }
    )*};
}
project_owned!(
    crate::store::EndpointRecord,
    crate::store::PipelineRecord,
    crate::store::WebhookRecord
);

#[derive(Clone)]
pub struct Slipway {
    pub store: SharedStore,
    pub secret_box: SecretBox,
    pub outbound: Outbound,
    /// Base of hook URLs, as registries reach this server.
    pub public_url: String,
    /// Wakes the engine's workers and reaches runs in progress here.
    pub signals: crate::engine::EngineSignals,
    /// Where committed changes are announced to the pages' live streams.
    pub live: crate::live::LiveBus,
}

fn member_view(record: MemberRecord) -> Member {
    Member {
        user_id: record.user_id,
        username: record.username,
        role: record.role,
    }
}

fn user_view(record: UserRecord) -> User {
    actor_from(record).user
}

impl Slipway {
    pub fn new(
        store: SharedStore,
        secret_box: SecretBox,
        outbound: Outbound,
        public_url: String,
    ) -> Self {
        Slipway {
            store,
            secret_box,
            outbound,
            public_url,
            signals: Default::default(),
            live: Default::default(),
        }
    }

    /// Of the objects found by id or name, the one the actor may see (in
    /// `project` when given), with the actor's role in its project.
    pub(crate) async fn pick_visible<R: ProjectOwned>(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        candidates: Vec<R>,
        noun: &str,
    ) -> Result<(R, Option<ProjectRole>), AppError> {
        let mut visible = Vec::new();
        for record in candidates {
            let in_project = project.is_none_or(|project| {
                project == record.project_name() || project == record.project_id().to_string()
            });
            if !in_project {
                continue;
            }
            let role = self
                .store
                .membership(record.project_id(), actor.user.id)
                .await?;
            if role.is_some() || actor.user.is_admin {
                visible.push((record, role));
            }
        }
        match visible.len() {
            0 => Err(AppError::not_found(format!(
                "no {noun} '{reference}' exists (or you are not a member of its project)"
            ))),
            1 => Ok(visible.remove(0)),
            _ => Err(AppError::conflict(format!(
                "several projects have a {noun} named '{reference}': name the project too, or use the id"
            ))),
        }
    }

    fn require_admin(actor: &Actor, doing: &str) -> Result<(), AppError> {
        if actor.user.is_admin {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "{doing} needs the global admin role"
            )))
        }
    }

    async fn user_named(&self, username: &str) -> Result<UserRecord, AppError> {
        self.store
            .user_by_name(username)
            .await?
            .ok_or_else(|| AppError::invalid("username", &format!("no user '{username}' exists")))
    }

    /// Finds a project by id (all digits) or by name, among those the actor may see.
    pub(crate) async fn visible_project(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> Result<(ProjectRecord, Option<ProjectRole>), AppError> {
        let record = match reference.parse::<i64>() {
            Ok(id) => self.store.project_by_id(id).await?,
            Err(_) => self.store.project_by_name(reference).await?,
        };
        let not_found = || {
            AppError::not_found(format!(
                "no project '{reference}' exists (or you are not a member of it)"
            ))
        };
        let record = record.ok_or_else(not_found)?;
        let role = self.store.membership(record.id, actor.user.id).await?;
        if role.is_none() && !actor.user.is_admin {
            return Err(not_found());
        }
        Ok((record, role))
    }

    /// Checks that the actor holds at least `needed` in the project (admins hold everything).
    pub(crate) fn require_role(
        actor: &Actor,
        role: Option<ProjectRole>,
        needed: ProjectRole,
        doing: &str,
    ) -> Result<(), AppError> {
        if actor.user.is_admin || role.is_some_and(|role| role >= needed) {
            return Ok(());
        }
        Err(AppError::forbidden(format!(
            "{doing} needs the {} role in this project",
            needed.as_str()
        )))
    }

    fn validate_project(input: &ProjectInput) -> Result<(), AppError> {
        validate_name("name", &input.name)?;
        validate_description("description", &input.description)
    }
}

#[async_trait::async_trait]
impl Backend for Slipway {
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
            _ => return Err(AppError::BadCredentials),
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
        tracing::info!(project = %record.name, "project deleted");
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
        let (record, my_role) = self.visible_project(actor, project).await?;
        Self::require_role(
            actor,
            my_role,
            ProjectRole::Administrator,
            "managing members",
        )?;
        let user = self.user_named(username).await?;
        self.store.set_membership(record.id, user.id, role).await?;
        tracing::info!(project = %record.name, member = %user.username, role = role.as_str(), "member set");
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
        let (record, my_role) = self.visible_project(actor, project).await?;
        Self::require_role(
            actor,
            my_role,
            ProjectRole::Administrator,
            "managing members",
        )?;
        let user = self.user_named(username).await?;
        if !self.store.remove_membership(record.id, user.id).await? {
            return Err(AppError::not_found(format!(
                "'{username}' is not a member of '{}'",
                record.name
            )));
        }
        Ok(())
    }

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
        if input.password.chars().count() < 8 {
            return Err(AppError::invalid(
                "password",
                "must be at least 8 characters long",
            ));
        }
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
        Ok(user_view(user))
    }

    async fn list_endpoints(&self, actor: &Actor) -> Result<Vec<Endpoint>, AppError> {
        let member = (!actor.user.is_admin).then_some(actor.user.id);
        self.store
            .list_endpoints(member)
            .await?
            .into_iter()
            .map(|record| self.endpoint_view(record))
            .collect()
    }

    async fn get_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Endpoint, AppError> {
        let (record, _) = self.visible_endpoint(actor, reference, project).await?;
        self.endpoint_view(record)
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username, endpoint = %input.name))]
    async fn create_endpoint(
        &self,
        actor: &Actor,
        input: EndpointInput,
    ) -> Result<Endpoint, AppError> {
        self.save_endpoint(actor, None, input).await
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username))]
    async fn update_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        mut input: EndpointInput,
    ) -> Result<Endpoint, AppError> {
        let (record, role) = self.visible_endpoint(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "editing endpoints")?;
        if input.project.is_empty() {
            input.project = record.project_id.to_string();
        }
        if input.kind.is_some_and(|kind| kind.as_str() != record.kind) {
            return Err(AppError::invalid(
                "kind",
                "cannot change; create a new endpoint of the other kind",
            ));
        }
        self.save_endpoint(actor, Some(&record), input).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn delete_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<(), AppError> {
        let (record, role) = self.visible_endpoint(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "deleting endpoints")?;
        let users = self.store.endpoint_users(record.id).await?;
        if !users.is_empty() {
            return Err(AppError::conflict(format!(
                "endpoint '{}' is still used by {}; change or delete those first",
                record.name,
                users_phrase(&users)
            )));
        }
        self.store.delete_endpoint(record.id).await?;
        tracing::info!(endpoint = %record.name, "endpoint deleted");
        Ok(())
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn validate_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Validation, AppError> {
        let (record, role) = self.visible_endpoint(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "validating endpoints")?;
        let secrets = self.endpoint_secrets(&record)?;
        let endpoint = self.endpoint_view(record)?;
        let validation = self.check_endpoint(&endpoint, &secrets).await;
        let json = serde_json::to_string(&validation).map_err(internal)?;
        self.store
            .set_endpoint_validation(endpoint.id, &json)
            .await?;
        Ok(validation)
    }

    async fn validate_endpoint_draft(
        &self,
        actor: &Actor,
        existing: Option<i64>,
        mut input: EndpointInput,
    ) -> Result<Validation, AppError> {
        let stored = match existing {
            Some(id) => {
                let (record, _) = self.visible_endpoint(actor, &id.to_string(), None).await?;
                if input.project.is_empty() {
                    input.project = record.project_id.to_string();
                }
                self.endpoint_secrets(&record)?
            }
            None => Default::default(),
        };
        let (project, role) = self.visible_project(actor, &input.project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "validating endpoints")?;
        let kind = input.kind.ok_or_else(|| {
            AppError::invalid("kind", "is required: docker-registry or kubernetes")
        })?;
        let secrets = Self::merged_secrets(&input, kind, stored);
        let settings = Self::checked_endpoint(&input, kind, &secrets)?;
        let draft = Endpoint {
            id: existing.unwrap_or_default(),
            project: project.name,
            project_id: project.id,
            name: input.name,
            description: input.description,
            kind,
            url: input.url.trim_end_matches('/').to_string(),
            settings,
            stored_secrets: secrets.names(),
            last_validation: None,
            created_at: 0,
            updated_at: 0,
        };
        Ok(self.check_endpoint(&draft, &secrets).await)
    }

    async fn list_pipelines(&self, actor: &Actor) -> Result<Vec<Pipeline>, AppError> {
        let member = (!actor.user.is_admin).then_some(actor.user.id);
        self.store
            .list_pipelines(member)
            .await?
            .into_iter()
            .map(|record| self.pipeline_view(record))
            .collect()
    }

    async fn get_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Pipeline, AppError> {
        let (record, _) = self.visible_pipeline(actor, reference, project).await?;
        self.pipeline_view(record)
    }

    #[tracing::instrument(skip(self, actor, spec), fields(user = %actor.user.username, pipeline = %spec.name))]
    async fn create_pipeline(
        &self,
        actor: &Actor,
        spec: PipelineSpec,
    ) -> Result<Pipeline, AppError> {
        self.save_pipeline(actor, None, spec).await
    }

    #[tracing::instrument(skip(self, actor, spec), fields(user = %actor.user.username))]
    async fn update_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        mut spec: PipelineSpec,
    ) -> Result<Pipeline, AppError> {
        let (record, role) = self.visible_pipeline(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "editing pipelines")?;
        if spec.project.is_empty() {
            spec.project = record.project_id.to_string();
        }
        self.save_pipeline(actor, Some(&record), spec).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn delete_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<(), AppError> {
        let (record, role) = self.visible_pipeline(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "deleting pipelines")?;
        self.store.delete_pipeline(record.id).await?;
        tracing::info!(pipeline = %record.name, "pipeline deleted");
        Ok(())
    }

    fn pipeline_from_text(&self, text: &str) -> Result<PipelineSpec, AppError> {
        crate::pipeline_text::parse_pipeline(text, None)
            .map_err(|error| AppError::bad_request(error.to_string()))
    }

    fn pipeline_to_yaml(&self, spec: &PipelineSpec) -> String {
        crate::pipeline_text::to_yaml(spec)
    }

    #[tracing::instrument(skip(self, actor, inputs), fields(user = %actor.user.username))]
    async fn run_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        inputs: BTreeMap<String, String>,
    ) -> Result<ExecutionSummary, AppError> {
        let (record, role) = self.visible_pipeline(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Executor, "running pipelines")?;
        let trigger = Trigger {
            kind: "manual".into(),
            user: Some(actor.user.username.clone()),
            ..Trigger::default()
        };
        self.queue_run(&record, inputs, &trigger, Some(actor.user.id))
            .await
    }

    async fn list_executions(
        &self,
        actor: &Actor,
        filter: ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, AppError> {
        let records = self
            .store
            .list_executions(&Self::page_query(actor, &filter)?)
            .await?;
        records
            .into_iter()
            .map(crate::pipelines::summary_view)
            .collect()
    }

    async fn get_execution(&self, actor: &Actor, id: i64) -> Result<Execution, AppError> {
        let (record, role) = self.visible_execution(actor, id).await?;
        let mut execution = self.execution_view(record).await?;
        execution.can_execute =
            Self::require_role(actor, role, ProjectRole::Executor, "running").is_ok();
        Ok(execution)
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn cancel_execution(&self, actor: &Actor, id: i64) -> Result<ExecutionSummary, AppError> {
        let (record, role) = self.visible_execution(actor, id).await?;
        Self::require_role(actor, role, ProjectRole::Executor, "canceling runs")?;
        match self.store.request_cancel(record.id, now_millis()).await? {
            CancelOutcome::Requested => self.signals.cancel(record.id),
            CancelOutcome::CanceledInQueue => self.live.publish(crate::live::execution_event(
                &record,
                app::execution::ExecutionStatus::Canceled,
            )),
            CancelOutcome::AlreadyFinished => {
                return Err(AppError::conflict(format!(
                    "execution {id} has already finished"
                )))
            }
        }
        let current = self
            .store
            .execution_by_id(id)
            .await?
            .ok_or(AppError::Internal)?;
        crate::pipelines::summary_view(current)
    }

    async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<DockerWebhook>, AppError> {
        let member = (!actor.user.is_admin).then_some(actor.user.id);
        let mut webhooks = Vec::new();
        for record in self.store.list_webhooks(member).await? {
            webhooks.push(self.webhook_view(record, None).await?);
        }
        Ok(webhooks)
    }

    async fn get_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError> {
        let (record, _) = self.visible_webhook(actor, reference, project).await?;
        self.webhook_view(record, None).await
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username, webhook = %input.name))]
    async fn create_webhook(
        &self,
        actor: &Actor,
        input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError> {
        self.save_webhook(actor, None, input).await
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username))]
    async fn update_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        mut input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError> {
        let (record, role) = self.visible_webhook(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "editing webhooks")?;
        if input.project.is_empty() {
            input.project = record.project_id.to_string();
        }
        self.save_webhook(actor, Some(&record), input).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn set_webhook_enabled(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        enabled: bool,
    ) -> Result<DockerWebhook, AppError> {
        let (record, role) = self.visible_webhook(actor, reference, project).await?;
        Self::require_role(
            actor,
            role,
            ProjectRole::Developer,
            "enabling or disabling webhooks",
        )?;
        self.store
            .set_webhook_enabled(record.id, enabled, now_millis())
            .await?;
        tracing::info!(webhook = %record.name, enabled, "webhook toggled");
        let record = self
            .store
            .webhook_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        self.webhook_view(record, None).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn delete_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Option<String>, AppError> {
        let (record, role) = self.visible_webhook(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "deleting webhooks")?;
        let hub_problem = self.delete_from_hub(&record).await;
        self.store.delete_webhook(record.id).await?;
        tracing::info!(webhook = %record.name, hub_problem = hub_problem.as_deref().unwrap_or(""), "webhook deleted");
        Ok(hub_problem)
    }

    async fn regenerate_webhook_token(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError> {
        let (record, role) = self.visible_webhook(actor, reference, project).await?;
        Self::require_role(
            actor,
            role,
            ProjectRole::Developer,
            "regenerating a webhook's token",
        )?;
        self.regenerate_token(&record).await
    }

    async fn retry_webhook_sync(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError> {
        let (record, role) = self.visible_webhook(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "syncing webhooks")?;
        self.retry_hub_sync(&record).await
    }

    async fn list_activity(
        &self,
        actor: &Actor,
        filter: ActivityFilter,
    ) -> Result<Vec<DockerEvent>, AppError> {
        if let Some(webhook) = filter.webhook {
            self.visible_webhook(actor, &webhook.to_string(), None)
                .await?;
        }
        let query = crate::store::EventQuery {
            member: (!actor.user.is_admin).then_some(actor.user.id),
            webhook_id: filter.webhook,
            status: filter.status.filter(|status| !status.is_empty()),
            before_id: filter.before,
            limit: i64::from(filter.limit.unwrap_or(50).clamp(1, 500)),
        };
        let events = self.store.list_events(&query).await?;
        Ok(events
            .into_iter()
            .map(crate::webhooks::event_view)
            .collect())
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn rerun_event(&self, actor: &Actor, event_id: i64) -> Result<DockerEvent, AppError> {
        self.rerun_event_as(actor, event_id).await
    }

    async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenInfo>, AppError> {
        Ok(self.store.list_api_tokens(actor.user.id).await?)
    }

    async fn create_api_token(&self, actor: &Actor, name: &str) -> Result<NewApiToken, AppError> {
        issue_api_token(&self.store, actor.user.id, name).await
    }

    async fn revoke_api_token(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        if self
            .store
            .revoke_api_token(actor.user.id, id, now_millis())
            .await?
        {
            Ok(())
        } else {
            Err(AppError::not_found(format!(
                "you have no active API token with id {id}"
            )))
        }
    }
}

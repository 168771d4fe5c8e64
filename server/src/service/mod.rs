//! The application's rules: who may do what, validation, and the calls into
//! the store. Both doors — Leptos server functions and `/api/v1` — go through
//! [`Slipway`], so a rule is written once. Each domain's operations are one
//! trait of `app::backend`, implemented in the file of that domain.

mod activity;
mod approvals;
pub(crate) use approvals::approval_of;
pub mod audit;
mod auth;
pub mod delivery;
mod delivery_writer;
mod endpoints;
mod executions;
mod hashing_pool;
mod hub_sync;
mod pipelines;
mod projects;
pub(crate) mod push_order;
pub mod refusals;
pub mod sign_in_guard;
mod status;
mod tag_trial;
mod users;
pub mod webhook_tokens;
mod webhooks;

pub use audit::{AuditActor, AuditEvent};
pub use auth::{SESSION_IDLE_TIMEOUT_MILLIS, SESSION_LIFETIME_MILLIS};
pub use sign_in_guard::{SignInGuard, SignInLimits};
pub use users::{issue_api_token, token_event, API_TOKEN_PREFIX};

use app::backend::Actor;
use app::error::AppError;
use app::model::*;

use crate::connect::Outbound;
use crate::crypto::SecretBox;
use crate::errors::internal;
pub(crate) use crate::errors::Refusal;
use crate::store::{ProjectRecord, SharedStore, StoreError, UserRecord};

/// A store failure the caller did not expect (a refused constraint it reacts
/// to is caught first, with `ResultExt::on_constraint`).
impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        internal(error)
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        AppError::from(error).into()
    }
}

/// The actor a session or token belongs to; the door that resolved it adds
/// the request's address.
fn actor_from(user: UserRecord) -> Actor {
    Actor {
        user: User {
            id: user.id,
            username: user.username,
            is_admin: user.is_admin,
        },
        client: None,
    }
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

/// A form that names no project means the project of the object it edits.
pub(crate) fn default_project(project: &mut String, record: &impl ProjectOwned) {
    if project.is_empty() {
        *project = record.project_id().to_string();
    }
}

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
    /// Each webhook's delivery allowance (`max_deliveries_per_minute`).
    pub limiter: std::sync::Arc<dyn crate::receive::rate_limit::DeliveryLimiter>,
    /// Deliveries refused before they were read, counted per webhook.
    pub refusals: refusals::RefusalCounter,
    /// Throttles password checks and bounds how many run at once.
    pub sign_in_guard: std::sync::Arc<SignInGuard>,
    /// Whether the server can send email (`--smtp-url` and `--smtp-from`):
    /// without it a pipeline with an email notification is refused on save.
    pub email_configured: bool,
    /// Records deliveries, many in one transaction (group commit).
    delivery_writer: std::sync::Arc<delivery_writer::DeliveryWriter>,
    /// Webhooks by token hash, for the deliveries of the next moments.
    webhook_tokens: std::sync::Arc<webhook_tokens::WebhookTokenCache>,
    /// What `/metrics` reports; shared with the engine and the router.
    pub metrics: crate::metrics::SharedMetrics,
    /// This replica's name to the others (`--replica-id`).
    pub replica_id: String,
    /// `--keep-days`, as the status page shows it.
    pub keep_days: u32,
}

impl Slipway {
    pub fn new(
        store: SharedStore,
        secret_box: SecretBox,
        outbound: Outbound,
        public_url: String,
    ) -> Self {
        Slipway {
            delivery_writer: std::sync::Arc::new(delivery_writer::DeliveryWriter::new(
                store.clone(),
            )),
            webhook_tokens: std::sync::Arc::new(webhook_tokens::WebhookTokenCache::new(
                crate::config::DEFAULT_WEBHOOK_CACHE,
            )),
            store,
            secret_box,
            outbound,
            public_url,
            signals: Default::default(),
            live: Default::default(),
            limiter: std::sync::Arc::new(crate::receive::rate_limit::InMemoryLimiter::default()),
            refusals: Default::default(),
            sign_in_guard: std::sync::Arc::new(SignInGuard::new(SignInLimits::default())),
            email_configured: false,
            metrics: Default::default(),
            replica_id: crate::engine::default_replica_id(),
            keep_days: crate::retention::DEFAULT_KEEP_DAYS,
        }
    }

    /// The same service named `replica_id` and pruning after `keep_days`
    /// (as the server's flags say; the status page shows both).
    pub fn with_replica(mut self, replica_id: &str, keep_days: u32) -> Self {
        self.replica_id = replica_id.to_string();
        self.keep_days = keep_days;
        self
    }

    /// The same service counting into `metrics` (the one the engine and
    /// the router count into too).
    pub fn with_metrics(mut self, metrics: crate::metrics::SharedMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The same service, able to send email notifications or not.
    pub fn with_email(mut self, configured: bool) -> Self {
        self.email_configured = configured;
        self
    }

    /// The same service keeping webhooks read for deliveries this long
    /// (`--webhook-cache-ms`).
    pub fn with_webhook_cache(mut self, fresh_for: std::time::Duration) -> Self {
        self.webhook_tokens =
            std::sync::Arc::new(webhook_tokens::WebhookTokenCache::new(fresh_for));
        self
    }

    /// The same service with other sign-in limits (`--max-concurrent-password-checks`, …).
    pub fn with_sign_in_limits(mut self, limits: SignInLimits) -> Self {
        self.sign_in_guard = std::sync::Arc::new(SignInGuard::new(limits));
        self
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

    /// For an update: the found object if the actor may edit it (developer
    /// role), with the form's project defaulting to the object's own.
    pub(crate) fn to_edit<R: ProjectOwned>(
        actor: &Actor,
        (record, role): (R, Option<ProjectRole>),
        doing: &str,
        project: &mut String,
    ) -> Result<R, AppError> {
        Self::require_role(actor, role, ProjectRole::Developer, doing)?;
        default_project(project, &record);
        Ok(record)
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
}

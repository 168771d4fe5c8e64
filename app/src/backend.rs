//! The port between the Leptos server functions and the server crate.
//!
//! `app` cannot depend on `server` (the server embeds the app), so the server
//! provides an implementation of [`Backend`] through Leptos context. The JSON
//! API calls the same implementation, which keeps validation and role checks
//! in one place for both doors.

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::{AuditEntry, AuditFilter};
use crate::endpoint::{Endpoint, EndpointInput, Validation};
use crate::error::AppError;
use crate::execution::{Execution, ExecutionFilter, ExecutionSummary, Pipeline};
use crate::model::*;
use crate::pipeline::PipelineSpec;
use crate::webhook::{
    ActivityFilter, DockerEvent, DockerWebhook, DockerWebhookInput, TagTrial, TagTrialAnswer,
};
use std::collections::BTreeMap;

/// Who is asking: resolved from a session cookie or an API token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user: User,
    /// The address the request came from, for the audit trail. The doors
    /// set it (see [`client_address`]); `None` where nobody knows it.
    pub client: Option<IpAddr>,
}

pub type SharedBackend = Arc<dyn Backend>;

/// Name of the HTTP-only cookie that carries the session token over plain HTTP.
pub const SESSION_COOKIE: &str = "slipway_session";
/// Its name when the public URL is https: the `__Host-` prefix makes the
/// browser keep it only if it is `Secure`, `Path=/` and without `Domain`, so
/// neither a sibling subdomain nor a plain-HTTP answer can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-slipway_session";

/// How this server names and sets its session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCookie {
    /// The public URL is https: the cookie is `Secure` and `__Host-` prefixed.
    pub secure: bool,
}

impl SessionCookie {
    /// The cookie's name; only this one is read back.
    pub fn name(self) -> &'static str {
        if self.secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The session token in a request's Cookie headers, if any: the one
    /// reader of the session cookie for server functions and the server's
    /// own routes.
    pub fn token_from(self, headers: &http::HeaderMap) -> Option<String> {
        let name = self.name();
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(found, _)| *found == name)
            .map(|(_, value)| value.to_string())
    }

    /// A `Set-Cookie` value that stores `value` for `max_age_seconds` (0 clears it).
    /// HttpOnly keeps scripts away from it; SameSite=Lax keeps other sites'
    /// forms from posting with it.
    pub fn set_cookie(self, value: &str, max_age_seconds: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age={max_age_seconds}",
            self.name()
        )
    }
}

/// The address a request came from: the TCP peer or, when the peer is a
/// configured trusted proxy, the client it names in `X-Forwarded-For`. The
/// server puts it on every request; sign-in throttling reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

/// `Backend`: every domain trait at once, implemented for whatever implements them all.
macro_rules! backend_of {
    ($(#[$doc:meta])* $($domain:ident),+) => {
        $(#[$doc])*
        pub trait Backend: $($domain +)+ Send + Sync + 'static {}

        impl<T> Backend for T where T: $($domain +)+ Send + Sync + 'static {}
    };
}

backend_of!(
    /// Everything the server offers the two doors (server functions and `/api/v1`):
    /// one trait per domain, each implemented in its own file on the server side, so a
    /// new operation is one edit in its domain. Methods of the domain traits can be
    /// called on a [`SharedBackend`] directly.
    AuthApi,
    ProjectsApi,
    UsersApi,
    EndpointsApi,
    PipelinesApi,
    ExecutionsApi,
    ApprovalsApi,
    WebhooksApi,
    ActivityApi,
    AuditApi,
    StatusApi
);

/// Signing in and out, passwords, and who a session or an API token belongs to.
#[async_trait::async_trait]
pub trait AuthApi: Send + Sync {
    /// Checks a user name and password and opens a session; returns the
    /// session token. `client` is throttled with the name (429), and checks
    /// beyond the server's hashing capacity are refused (503).
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<String, AppError>;
    async fn sign_out(&self, session_token: &str) -> Result<(), AppError>;
    /// Ends every session of the actor, in every browser (API tokens stay);
    /// answers how many were open.
    async fn sign_out_everywhere(&self, actor: &Actor) -> Result<u64, AppError>;
    /// Sets the actor's password after checking the current one (throttled
    /// as a sign-in is), and ends the actor's other sessions: all but
    /// `keep_session`, the one the change was made from.
    async fn change_password(
        &self,
        actor: &Actor,
        change: PasswordChange,
        client: Option<std::net::IpAddr>,
        keep_session: Option<&str>,
    ) -> Result<(), AppError>;
    async fn actor_for_session(&self, session_token: &str) -> Result<Option<Actor>, AppError>;
    async fn actor_for_api_token(&self, api_token: &str) -> Result<Option<Actor>, AppError>;
    /// How this server names and sets its session cookie.
    fn session_cookie(&self) -> SessionCookie;
}

/// Projects and their members.
#[async_trait::async_trait]
pub trait ProjectsApi: Send + Sync {
    async fn list_projects(&self, actor: &Actor) -> Result<Vec<Project>, AppError>;
    async fn get_project(&self, actor: &Actor, reference: &str) -> Result<Project, AppError>;
    async fn create_project(&self, actor: &Actor, input: ProjectInput)
        -> Result<Project, AppError>;
    async fn update_project(
        &self,
        actor: &Actor,
        reference: &str,
        input: ProjectInput,
    ) -> Result<Project, AppError>;
    async fn delete_project(&self, actor: &Actor, reference: &str) -> Result<(), AppError>;

    async fn list_members(&self, actor: &Actor, project: &str) -> Result<Vec<Member>, AppError>;
    /// Adds the user to the project, or changes their role there.
    async fn set_member(
        &self,
        actor: &Actor,
        project: &str,
        username: &str,
        role: ProjectRole,
    ) -> Result<Member, AppError>;
    async fn remove_member(
        &self,
        actor: &Actor,
        project: &str,
        username: &str,
    ) -> Result<(), AppError>;
}

/// Users (global admins only) and each user's own API tokens.
#[async_trait::async_trait]
pub trait UsersApi: Send + Sync {
    async fn list_users(&self, actor: &Actor) -> Result<Vec<User>, AppError>;
    async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<User, AppError>;

    async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenInfo>, AppError>;
    async fn create_api_token(
        &self,
        actor: &Actor,
        request: TokenRequest,
    ) -> Result<NewApiToken, AppError>;
    async fn revoke_api_token(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
}

/// Docker registry and Kubernetes endpoints.
#[async_trait::async_trait]
pub trait EndpointsApi: Send + Sync {
    /// `reference` is an id, or a name (with `project` when several projects use it).
    async fn list_endpoints(&self, actor: &Actor) -> Result<Vec<Endpoint>, AppError>;
    async fn get_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Endpoint, AppError>;
    async fn create_endpoint(
        &self,
        actor: &Actor,
        input: EndpointInput,
    ) -> Result<Endpoint, AppError>;
    async fn update_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        input: EndpointInput,
    ) -> Result<Endpoint, AppError>;
    async fn delete_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<(), AppError>;
    /// Checks a saved endpoint against the real service and records the result.
    async fn validate_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Validation, AppError>;
    /// Checks what a form holds before it is saved; empty secrets of `existing` are reused.
    async fn validate_endpoint_draft(
        &self,
        actor: &Actor,
        existing: Option<i64>,
        input: EndpointInput,
    ) -> Result<Validation, AppError>;
}

/// Pipeline definitions.
#[async_trait::async_trait]
pub trait PipelinesApi: Send + Sync {
    async fn list_pipelines(&self, actor: &Actor) -> Result<Vec<Pipeline>, AppError>;
    async fn get_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Pipeline, AppError>;
    async fn create_pipeline(
        &self,
        actor: &Actor,
        spec: PipelineSpec,
    ) -> Result<Pipeline, AppError>;
    async fn update_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        spec: PipelineSpec,
    ) -> Result<Pipeline, AppError>;
    /// Refused while webhooks start the pipeline or runs of it are unfinished;
    /// a pipeline with finished runs is deleted only with `delete_runs`,
    /// and their history goes with it.
    async fn delete_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        delete_runs: bool,
    ) -> Result<(), AppError>;
    /// Reads a pipeline written as YAML or JSON (what the editor's YAML view holds).
    fn pipeline_from_text(&self, text: &str) -> Result<PipelineSpec, AppError>;
    fn pipeline_to_yaml(&self, spec: &PipelineSpec) -> String;
}

/// Runs: starting, listing, following and canceling them.
#[async_trait::async_trait]
pub trait ExecutionsApi: Send + Sync {
    /// Queues a run; inputs not given take their defaults.
    async fn run_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        inputs: BTreeMap<String, String>,
    ) -> Result<ExecutionSummary, AppError>;
    async fn list_executions(
        &self,
        actor: &Actor,
        filter: ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, AppError>;
    async fn get_execution(&self, actor: &Actor, id: i64) -> Result<Execution, AppError>;
    async fn cancel_execution(&self, actor: &Actor, id: i64) -> Result<ExecutionSummary, AppError>;
}

/// Approval tasks: deciding them, and what waits for the reader.
#[async_trait::async_trait]
pub trait ApprovalsApi: Send + Sync {
    /// Approves or rejects a WAITING approval task of a run: 403 for anyone
    /// the task does not name, 409 when it is not waiting.
    async fn decide_approval(
        &self,
        actor: &Actor,
        execution_id: i64,
        decision: crate::approval::Decision,
        request: crate::approval::DecisionRequest,
    ) -> Result<Execution, AppError>;
    /// The approvals waiting that the reader may decide.
    async fn waiting_approvals(
        &self,
        actor: &Actor,
    ) -> Result<Vec<crate::approval::WaitingApproval>, AppError>;
}

/// Docker webhooks (triggers), their Docker Hub twins and their Activity.
#[async_trait::async_trait]
pub trait WebhooksApi: Send + Sync {
    async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<DockerWebhook>, AppError>;
    /// Whether a push of `trial.repository:trial.candidate_tag` would start a
    /// run under the patterns (and `newer_only`) tried, and why (not).
    async fn try_tag(&self, actor: &Actor, trial: TagTrial) -> Result<TagTrialAnswer, AppError>;
    async fn get_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError>;
    /// Creates the webhook (and its Docker Hub twin); the answer carries the hook URL, once.
    async fn create_webhook(
        &self,
        actor: &Actor,
        input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError>;
    async fn update_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError>;
    /// The card's Enable/Disable toggle.
    async fn set_webhook_enabled(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        enabled: bool,
    ) -> Result<DockerWebhook, AppError>;
    /// Sets how many deliveries a minute the webhook takes (`PATCH
    /// {"max_deliveries_per_minute": N}`); 422 outside the allowed range.
    async fn set_webhook_delivery_limit(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        max_deliveries_per_minute: i64,
    ) -> Result<DockerWebhook, AppError>;
    /// Deletes the webhook and its Docker Hub twin; answers why the Hub side could not be deleted, if so.
    async fn delete_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Option<String>, AppError>;
    /// A new secure token (the old hook URL stops working); the answer carries the new hook URL.
    async fn regenerate_webhook_token(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError>;
    async fn retry_webhook_sync(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError>;
}

/// Activity: what became of every delivery, and re-running an event whose run failed.
#[async_trait::async_trait]
pub trait ActivityApi: Send + Sync {
    async fn list_activity(
        &self,
        actor: &Actor,
        filter: ActivityFilter,
    ) -> Result<Vec<DockerEvent>, AppError>;
    async fn rerun_event(&self, actor: &Actor, event_id: i64) -> Result<DockerEvent, AppError>;
}

/// The audit trail: who did what.
#[async_trait::async_trait]
pub trait AuditApi: Send + Sync {
    /// Entries newest first: every entry for a global admin; for a project
    /// administrator, the entries of the projects they administer (not other
    /// projects', not sign-ins or tokens); 403 for everyone else.
    async fn list_audit(
        &self,
        actor: &Actor,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError>;
    /// Whether the actor may read the audit trail at all (the navigation asks).
    async fn may_read_audit(&self, actor: &Actor) -> Result<bool, AppError>;
}

/// How the server stands, for operators.
#[async_trait::async_trait]
pub trait StatusApi: Send + Sync {
    /// Version, replicas, database, queue, outbox and retention; global
    /// admins only (403 for everyone else).
    async fn server_status(&self, actor: &Actor) -> Result<crate::status::ServerStatus, AppError>;
}

#[cfg(test)]
mod session_cookie_tests {
    use super::{SessionCookie, SECURE_SESSION_COOKIE, SESSION_COOKIE};

    const PLAIN: SessionCookie = SessionCookie { secure: false };
    const SECURE: SessionCookie = SessionCookie { secure: true };

    fn headers(cookies: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for cookie in cookies {
            headers.append(http::header::COOKIE, cookie.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_in_any_cookie_header() {
        let mine = format!("{SESSION_COOKIE}=abc.def");
        assert_eq!(
            PLAIN.token_from(&headers(&[&format!("theme=dark; {mine}; lang=en")])),
            Some("abc.def".to_string())
        );
        assert_eq!(
            PLAIN.token_from(&headers(&["theme=dark", &mine])),
            Some("abc.def".to_string())
        );
    }

    #[test]
    fn no_session_cookie_is_none() {
        assert_eq!(PLAIN.token_from(&headers(&[])), None);
        let other = format!("x{SESSION_COOKIE}=nope; {SESSION_COOKIE}_old=nope");
        assert_eq!(PLAIN.token_from(&headers(&[&other])), None);
    }

    #[test]
    fn over_https_only_the_host_prefixed_cookie_counts() {
        let planted = format!("{SESSION_COOKIE}=planted");
        assert_eq!(SECURE.token_from(&headers(&[&planted])), None);
        let mine = format!("{planted}; {SECURE_SESSION_COOKIE}=real");
        assert_eq!(SECURE.token_from(&headers(&[&mine])), Some("real".into()));
        assert_eq!(PLAIN.token_from(&headers(&[&mine])), Some("planted".into()));
    }

    #[test]
    fn the_cookie_is_secure_and_prefixed_over_https_only() {
        assert_eq!(
            SECURE.set_cookie("t", 60),
            "__Host-slipway_session=t; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60"
        );
        assert_eq!(
            PLAIN.set_cookie("t", 60),
            "slipway_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }
}

//! The audit trail: who did what, when, from where, and how it ended. Shared
//! by the Audit page and `GET /api/v1/audit`. Entries carry names as they were
//! when the event happened (users and objects may be renamed or deleted
//! later) and never a secret: the detail holds only what the recording code
//! put there by name (see `server::service::audit`).

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// Entries per answer unless the caller asks otherwise, and the most one answer holds.
pub const DEFAULT_AUDIT_PAGE: u32 = 100;
pub const MAX_AUDIT_PAGE: u32 = 500;

/// One table of `(variant, stable dotted name, what the page says)` gives the
/// enum, its text form and its list.
macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $label:literal;)*) => {
        /// What happened. The dotted names are stable: scripts filter by them
        /// and log readers match them; add names, never rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum AuditAction {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }

            /// How the Audit page names it.
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|action| action.as_str() == text)
            }

            /// The part before the dot (`session`, `webhook`, …): what the page groups by.
            pub fn domain(self) -> &'static str {
                self.as_str().split('.').next().unwrap_or_default()
            }
        }
    };
}

audit_actions! {
    /// A user signed in with the right password.
    SessionSignIn => "session.sign_in", "signed in";
    /// A sign-in was refused: unknown user or wrong password (the actor is the name tried).
    SessionSignInFailed => "session.sign_in_failed", "sign-in failed";
    /// A sign-in was refused before the password was checked: too many attempts.
    SessionSignInThrottled => "session.sign_in_throttled", "sign-in throttled";
    TokenCreated => "token.created", "API token created";
    TokenRevoked => "token.revoked", "API token revoked";
    UserCreated => "user.created", "user created";
    /// A password (and possibly the global role) set with `slipway user set-password`.
    UserPasswordSet => "user.password_set", "password set";
    /// The global admin role given or taken (`--role` of the command line); the detail says which.
    UserRoleChanged => "user.role_changed", "global role changed";
    ProjectCreated => "project.created", "project created";
    ProjectChanged => "project.changed", "project changed";
    ProjectDeleted => "project.deleted", "project deleted";
    MemberAdded => "member.added", "member added";
    MemberChanged => "member.changed", "member's role changed";
    MemberRemoved => "member.removed", "member removed";
    EndpointCreated => "endpoint.created", "endpoint created";
    EndpointChanged => "endpoint.changed", "endpoint changed";
    EndpointDeleted => "endpoint.deleted", "endpoint deleted";
    /// A saved endpoint or a form's draft was checked against the real service.
    EndpointValidated => "endpoint.validated", "endpoint validated";
    PipelineCreated => "pipeline.created", "pipeline created";
    PipelineChanged => "pipeline.changed", "pipeline changed";
    PipelineDeleted => "pipeline.deleted", "pipeline deleted";
    /// A run started by a person: Run, Run again, or Re-run of an Activity row.
    RunStarted => "run.started", "run started";
    RunCanceled => "run.canceled", "run canceled";
    /// An approval task approved (recorded by the approval task's approve call).
    RunApproved => "run.approved", "run approved";
    /// An approval task rejected (recorded by the approval task's reject call).
    RunRejected => "run.rejected", "run rejected";
    WebhookCreated => "webhook.created", "webhook created";
    WebhookChanged => "webhook.changed", "webhook changed";
    /// The card's Enable/Disable switch; the detail says which.
    WebhookToggled => "webhook.toggled", "webhook enabled or disabled";
    WebhookDeleted => "webhook.deleted", "webhook deleted";
    WebhookTokenRegenerated => "webhook.token_regenerated", "webhook token regenerated";
    WebhookSyncRetried => "webhook.sync_retried", "Docker Hub sync retried";
    /// Deliveries from a sender outside a webhook's source allow-list, counted:
    /// one entry per sender and counting window, never one per request.
    DeliveryRefusedByAllowList => "delivery.refused_by_allow_list", "deliveries refused by the allow-list";
}

/// The OpenAPI schema of [`AuditAction`], written by hand: the derive does
/// not see the `serde(rename)` of variants made by `audit_actions!` (it would
/// list the Rust names), so the names come from the same table instead.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for AuditAction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "What happened: a stable dotted name (names are added, never renamed).",
            ))
            .enum_values(Some(AuditAction::ALL.iter().map(|action| action.as_str())))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for AuditAction {}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AuditOutcome {
    /// Done as asked.
    Success,
    /// Tried and failed: a wrong password, an endpoint that did not answer as expected.
    Failure,
    /// Not attempted: throttled, or outside an allow-list.
    Refused,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 3] = [
        AuditOutcome::Success,
        AuditOutcome::Failure,
        AuditOutcome::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
            AuditOutcome::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// What kind of object an entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AuditTargetKind {
    User,
    ApiToken,
    Project,
    Endpoint,
    Pipeline,
    Execution,
    Webhook,
}

impl AuditTargetKind {
    pub const ALL: [AuditTargetKind; 7] = [
        AuditTargetKind::User,
        AuditTargetKind::ApiToken,
        AuditTargetKind::Project,
        AuditTargetKind::Endpoint,
        AuditTargetKind::Pipeline,
        AuditTargetKind::Execution,
        AuditTargetKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditTargetKind::User => "user",
            AuditTargetKind::ApiToken => "api_token",
            AuditTargetKind::Project => "project",
            AuditTargetKind::Endpoint => "endpoint",
            AuditTargetKind::Pipeline => "pipeline",
            AuditTargetKind::Execution => "execution",
            AuditTargetKind::Webhook => "webhook",
        }
    }

    /// How the Audit page names it.
    pub fn label(self) -> &'static str {
        match self {
            AuditTargetKind::User => "user",
            AuditTargetKind::ApiToken => "API token",
            AuditTargetKind::Project => "project",
            AuditTargetKind::Endpoint => "endpoint",
            AuditTargetKind::Pipeline => "pipeline",
            AuditTargetKind::Execution => "run",
            AuditTargetKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub at: Millis,
    /// The user who acted, when there was one with an id (none for the
    /// command line, an unknown name at sign-in, or a registry's sender).
    pub actor_id: Option<i64>,
    /// The actor's name as it was then: a user name, the name tried at
    /// sign-in, `command line`, or `registry sender`.
    pub actor: String,
    pub action: AuditAction,
    pub project_id: Option<i64>,
    /// The project's name as it was then.
    pub project: Option<String>,
    pub target_kind: Option<AuditTargetKind>,
    pub target_id: Option<i64>,
    /// The object's name as it was then.
    pub target: Option<String>,
    pub outcome: AuditOutcome,
    /// A small JSON object of facts about the event (a role, whether a secret
    /// was entered, the address validated); never a secret.
    pub detail: serde_json::Value,
    /// The address the request came from, where known.
    pub client: Option<String>,
}

/// `GET /api/v1/audit?project=&user=&action=&before=&limit=`. Empty values
/// mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct AuditFilter {
    /// A project id or name.
    pub project: Option<String>,
    /// The actor: a user id or name (a name no user has now matches the
    /// names entries were recorded with).
    pub user: Option<String>,
    /// One [`AuditAction`] name, e.g. `webhook.toggled`.
    pub action: Option<String>,
    /// Entries with an id below this one (the "older" page).
    pub before: Option<i64>,
    /// At most [`MAX_AUDIT_PAGE`]; [`DEFAULT_AUDIT_PAGE`] when not given.
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's document lists the names serde writes, not the Rust ones.
    #[cfg(feature = "ssr")]
    #[test]
    fn the_openapi_schema_of_actions_lists_their_dotted_names() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(AuditAction::schema()).expect("serializes");
        let written: Vec<serde_json::Value> = AuditAction::ALL
            .iter()
            .map(|action| serde_json::to_value(action).expect("serializes"))
            .collect();
        assert_eq!(schema["enum"], serde_json::Value::Array(written));
    }

    #[test]
    fn action_names_are_dotted_unique_and_read_back() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            let name = action.as_str();
            assert!(seen.insert(name), "{name} appears twice");
            assert_eq!(AuditAction::parse(name), Some(*action));
            assert_eq!(name.matches('.').count(), 1, "{name} is domain.event");
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::json!(name),
                "the JSON form is the dotted name"
            );
        }
        assert_eq!(AuditAction::parse("session.signin"), None);
        assert_eq!(AuditAction::WebhookToggled.domain(), "webhook");
    }
}

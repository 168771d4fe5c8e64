//! Endpoint rules: what a valid Docker registry or Kubernetes endpoint holds,
//! how its secrets are sealed and merged on edit, and the view pages get.

use app::audit::{AuditAction, AuditOutcome, AuditTargetKind};
use app::backend::*;
use app::endpoint::*;
use app::error::AppError;
use app::model::ProjectRole;

use super::audit::AuditEvent;
use super::Slipway;
use crate::clock::now_millis;
use crate::connect;
use crate::errors::internal;
use crate::store::{
    constraint, EndpointRecord, EndpointUser, EndpointUserKind, EndpointWrite, ResultExt,
};

fn endpoint_event<'a>(
    actor: &'a Actor,
    action: AuditAction,
    record: &'a EndpointRecord,
) -> AuditEvent<'a> {
    AuditEvent::by(actor, action)
        .project(record.project_id, &record.project_name)
        .target(AuditTargetKind::Endpoint, record.id, &record.name)
        .detail("kind", record.kind.as_str())
        .detail("address", address_of(&record.url))
}

/// The names of the secrets a form or a request entered (never their values).
fn entered_secret_names(input: &EndpointInput) -> Vec<&'static str> {
    [
        ("password", &input.password),
        ("token", &input.token),
        ("client_key", &input.client_key),
        ("kubeconfig", &input.kubeconfig),
    ]
    .into_iter()
    .filter(|(_, value)| value.as_deref().is_some_and(|value| !value.is_empty()))
    .map(|(name, _)| name)
    .collect()
}

/// Where an endpoint points, for the audit trail: scheme, host and port
/// only; a URL's user information, path and query stay out.
fn address_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| "(not a URL)".to_string())
}

fn validation_outcome(validation: &Validation) -> AuditOutcome {
    if validation.ok {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    }
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

impl Slipway {
    /// The page/API view of a stored endpoint: settings parsed, secrets reduced to their names.
    pub(crate) fn endpoint_view(&self, record: EndpointRecord) -> Result<Endpoint, AppError> {
        crate::endpoints::view(&self.secret_box, record)
    }

    pub(crate) fn endpoint_secrets(
        &self,
        record: &EndpointRecord,
    ) -> Result<EndpointSecrets, AppError> {
        crate::endpoints::secrets(&self.secret_box, record)
    }

    /// Finds an endpoint the actor may see, by id or by name (and project).
    pub(crate) async fn visible_endpoint(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<(EndpointRecord, Option<ProjectRole>), AppError> {
        let candidates = match reference.parse::<i64>() {
            Ok(id) => self.store.endpoint_by_id(id).await?.into_iter().collect(),
            Err(_) => self.store.endpoints_by_name(reference).await?,
        };
        self.pick_visible(actor, reference, project, candidates, "endpoint")
            .await
    }

    /// Checks the input and returns what to store: settings kept to the kind's own fields.
    pub(crate) fn checked_endpoint(
        input: &EndpointInput,
        kind: EndpointKind,
        secrets: &EndpointSecrets,
    ) -> Result<EndpointSettings, AppError> {
        let invalid = |field: &str, message: String| AppError::invalid(field, &message);
        app::model::validate_name("name", &input.name)?;
        app::model::validate_description("description", &input.description)?;
        connect::check_url(&input.url).map_err(|message| invalid("url", message))?;
        let given = &input.settings;
        match kind {
            EndpointKind::DockerRegistry => {
                let server_type = given.server_type.unwrap_or_default();
                let username = given
                    .username
                    .clone()
                    .filter(|name| !name.trim().is_empty());
                if server_type == RegistryServerType::DockerHub {
                    if username.is_none() {
                        return Err(invalid("username", "is required for Docker Hub".into()));
                    }
                    if secrets.password.is_none() {
                        return Err(invalid("password", "is required for Docker Hub".into()));
                    }
                }
                Ok(EndpointSettings {
                    server_type: Some(server_type),
                    username,
                    cloud_proxy: given.cloud_proxy,
                    ..EndpointSettings::default()
                })
            }
            EndpointKind::Kubernetes => {
                let auth = given.auth.unwrap_or_default();
                let namespace = given.namespace.clone().filter(|ns| !ns.trim().is_empty());
                if let Some(namespace) = &namespace {
                    check_namespace(namespace).map_err(|message| invalid("namespace", message))?;
                }
                let ca_cert = given.ca_cert.clone().filter(|pem| !pem.trim().is_empty());
                if let Some(pem) = &ca_cert {
                    connect::check_pem_certificates(pem)
                        .map_err(|message| invalid("ca_cert", message))?;
                }
                let mut settings = EndpointSettings {
                    auth: Some(auth),
                    namespace,
                    ca_cert,
                    insecure_skip_tls_verify: given.insecure_skip_tls_verify,
                    ..EndpointSettings::default()
                };
                match auth {
                    KubernetesAuth::Token => {
                        if secrets.token.is_none() {
                            return Err(invalid(
                                "token",
                                "is required for token authentication".into(),
                            ));
                        }
                    }
                    KubernetesAuth::ClientCertificate => {
                        let cert = given
                            .client_cert
                            .clone()
                            .filter(|pem| !pem.trim().is_empty());
                        let cert = cert.ok_or_else(|| {
                            invalid(
                                "client_cert",
                                "is required for client-certificate authentication".into(),
                            )
                        })?;
                        connect::check_pem_certificates(&cert)
                            .map_err(|message| invalid("client_cert", message))?;
                        let key = secrets.client_key.as_deref().ok_or_else(|| {
                            invalid(
                                "client_key",
                                "is required for client-certificate authentication".into(),
                            )
                        })?;
                        connect::check_pem_private_key(key)
                            .map_err(|message| invalid("client_key", message))?;
                        connect::check_client_identity(&cert, key)
                            .map_err(|message| invalid("client_key", message))?;
                        settings.client_cert = Some(cert);
                    }
                    KubernetesAuth::Kubeconfig => {
                        let kubeconfig = secrets.kubeconfig.as_deref().ok_or_else(|| {
                            invalid(
                                "kubeconfig",
                                "is required for kubeconfig authentication".into(),
                            )
                        })?;
                        let contexts = connect::kubeconfig_contexts(kubeconfig)
                            .map_err(|message| invalid("kubeconfig", message))?;
                        let context = given
                            .kubeconfig_context
                            .clone()
                            .filter(|name| !name.trim().is_empty());
                        if let Some(context) = &context {
                            if !contexts.contains(context) {
                                return Err(invalid(
                                    "kubeconfig_context",
                                    format!(
                                        "is not in the kubeconfig; it has: {}",
                                        contexts.join(", ")
                                    ),
                                ));
                            }
                        }
                        settings.kubeconfig_context = context;
                    }
                }
                Ok(settings)
            }
        }
    }

    /// The secrets to store: new values where given, the stored ones otherwise,
    /// and only the one the endpoint's kind and authentication use. A stored
    /// secret only ever goes where it was entered for: when the address
    /// (scheme, host, port), the registry server type or the Kubernetes
    /// authentication changed, it must be entered again.
    pub(crate) fn merged_secrets(
        input: &EndpointInput,
        kind: EndpointKind,
        stored: Option<(&EndpointRecord, EndpointSecrets)>,
    ) -> Result<EndpointSecrets, AppError> {
        let (stored_target, stored) = match stored {
            Some((record, secrets)) => (Some(SecretTarget::of_record(record)?), secrets),
            None => (None, EndpointSecrets::default()),
        };
        type Build = fn(Option<String>) -> EndpointSecrets;
        let (field, given, kept, build): (&str, _, _, Build) =
            match (kind, input.settings.auth.unwrap_or_default()) {
                (EndpointKind::DockerRegistry, _) => {
                    ("password", &input.password, stored.password, |password| {
                        EndpointSecrets {
                            password,
                            ..EndpointSecrets::default()
                        }
                    })
                }
                (EndpointKind::Kubernetes, KubernetesAuth::Token) => {
                    ("token", &input.token, stored.token, |token| {
                        EndpointSecrets {
                            token,
                            ..EndpointSecrets::default()
                        }
                    })
                }
                (EndpointKind::Kubernetes, KubernetesAuth::ClientCertificate) => (
                    "client_key",
                    &input.client_key,
                    stored.client_key,
                    |client_key| EndpointSecrets {
                        client_key,
                        ..EndpointSecrets::default()
                    },
                ),
                (EndpointKind::Kubernetes, KubernetesAuth::Kubeconfig) => (
                    "kubeconfig",
                    &input.kubeconfig,
                    stored.kubeconfig,
                    |kubeconfig| EndpointSecrets {
                        kubeconfig,
                        ..EndpointSecrets::default()
                    },
                ),
            };
        if let Some(value) = given.clone().filter(|text| !text.is_empty()) {
            return Ok(build(Some(value)));
        }
        if let (Some(_), Some(stored_target)) = (&kept, stored_target) {
            let target = SecretTarget::of_input(input, kind)?;
            if target != stored_target {
                return Err(AppError::invalid(
                    field,
                    &format!(
                        "the stored {field} was entered for {stored_target}, not {target}; \
                         enter it again for the new address"
                    ),
                ));
            }
        }
        Ok(build(kept))
    }

    /// Validates the input for `project_id` and writes it (create when `existing` is None).
    pub(crate) async fn save_endpoint(
        &self,
        actor: &Actor,
        existing: Option<&EndpointRecord>,
        input: EndpointInput,
    ) -> Result<Endpoint, AppError> {
        let (project, role) =
            self.visible_project(actor, &input.project)
                .await
                .map_err(|error| match error {
                    AppError::NotFound { message } => AppError::invalid("project", &message),
                    other => other,
                })?;
        Self::require_role(actor, role, ProjectRole::Developer, "editing endpoints")?;
        let kind = input.kind.ok_or_else(|| {
            AppError::invalid("kind", "is required: docker-registry or kubernetes")
        })?;
        let stored = match existing {
            Some(record) => Some((record, self.endpoint_secrets(record)?)),
            None => None,
        };
        let secrets = Self::merged_secrets(&input, kind, stored)?;
        let settings = Self::checked_endpoint(&input, kind, &secrets)?;
        let settings_json = serde_json::to_string(&settings).map_err(internal)?;
        let sealed = (!secrets.names().is_empty())
            .then(|| serde_json::to_string(&secrets).map(|json| self.secret_box.seal(&json)))
            .transpose()
            .map_err(internal)?;
        let write = EndpointWrite {
            project_id: project.id,
            name: &input.name,
            description: &input.description,
            kind,
            url: input.url.trim_end_matches('/'),
            settings: &settings_json,
            sealed_secrets: sealed.as_deref(),
            now: now_millis(),
        };
        let result = match existing {
            Some(record) => self.store.update_endpoint(record.id, write).await,
            None => self.store.create_endpoint(write).await,
        };
        let record = result.on_constraint(constraint::ENDPOINT_NAME, |_| {
            AppError::conflict(format!(
                "project '{}' already has an endpoint named '{}'; choose another name",
                project.name, input.name
            ))
        })?;
        tracing::info!(endpoint = %record.name, project = %project.name, kind = record.kind.as_str(), "endpoint saved");
        let action = match existing {
            Some(_) => AuditAction::EndpointChanged,
            None => AuditAction::EndpointCreated,
        };
        self.audit(
            endpoint_event(actor, action, &record)
                .detail("sensitive_fields_entered", entered_secret_names(&input)),
        )
        .await;
        self.endpoint_view(record)
    }

    /// Runs the real check, bounded in time by the outbound timeout.
    pub(crate) async fn check_endpoint(
        &self,
        endpoint: &Endpoint,
        secrets: &EndpointSecrets,
    ) -> Validation {
        connect::validate(endpoint, secrets, &self.outbound).await
    }
}

/// Where an endpoint's secret goes: the address (scheme, host, port) and
/// the way it is presented (registry server type or Kubernetes authentication).
#[derive(PartialEq, Eq)]
struct SecretTarget {
    scheme: String,
    host: String,
    port: Option<u16>,
    /// "Docker Hub", "Bearer token", …
    way: &'static str,
}

impl SecretTarget {
    fn new(kind: EndpointKind, url: &reqwest::Url, settings: &EndpointSettings) -> Self {
        let way = match kind {
            EndpointKind::DockerRegistry => settings.server_type.unwrap_or_default().label(),
            EndpointKind::Kubernetes => settings.auth.unwrap_or_default().label(),
        };
        SecretTarget {
            scheme: url.scheme().to_string(),
            host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: url.port_or_known_default(),
            way,
        }
    }

    fn of_input(input: &EndpointInput, kind: EndpointKind) -> Result<Self, AppError> {
        let url =
            connect::check_url(&input.url).map_err(|message| AppError::invalid("url", &message))?;
        Ok(Self::new(kind, &url, &input.settings))
    }

    fn of_record(record: &EndpointRecord) -> Result<Self, AppError> {
        let kind = record.kind;
        let settings: EndpointSettings =
            serde_json::from_str(&record.settings).map_err(internal)?;
        let url = reqwest::Url::parse(&record.url).map_err(internal)?;
        Ok(Self::new(kind, &url, &settings))
    }
}

impl std::fmt::Display for SecretTarget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} at {}://{}", self.way, self.scheme, self.host)?;
        match self.port {
            Some(port) => write!(formatter, ":{port}"),
            None => Ok(()),
        }
    }
}

/// Kubernetes namespaces are DNS-1123 labels.
fn check_namespace(namespace: &str) -> Result<(), String> {
    let valid = namespace.len() <= 63
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err("must be a DNS label: lower-case letters, digits and '-', at most 63 characters".into())
    }
}

#[async_trait::async_trait]
impl EndpointsApi for Slipway {
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
        let found = self.visible_endpoint(actor, reference, project).await?;
        let record = Self::to_edit(actor, found, "editing endpoints", &mut input.project)?;
        if input.kind.is_some_and(|kind| kind != record.kind) {
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
        self.audit(endpoint_event(actor, AuditAction::EndpointDeleted, &record))
            .await;
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
        self.audit(
            AuditEvent::by(actor, AuditAction::EndpointValidated)
                .outcome(validation_outcome(&validation))
                .project(endpoint.project_id, &endpoint.project)
                .target(AuditTargetKind::Endpoint, endpoint.id, &endpoint.name)
                .detail("kind", endpoint.kind.as_str())
                .detail("address", address_of(&endpoint.url))
                .detail("draft", false),
        )
        .await;
        Ok(validation)
    }

    async fn validate_endpoint_draft(
        &self,
        actor: &Actor,
        existing: Option<i64>,
        mut input: EndpointInput,
    ) -> Result<Validation, AppError> {
        // A draft of a saved endpoint may use its stored secrets: it is
        // checked with the rights on that endpoint's own project and kind.
        let record = match existing {
            Some(id) => {
                let found = self.visible_endpoint(actor, &id.to_string(), None).await?;
                let record =
                    Self::to_edit(actor, found, "validating endpoints", &mut input.project)?;
                if input.project != record.project_name
                    && input.project != record.project_id.to_string()
                {
                    return Err(AppError::invalid(
                        "project",
                        &format!(
                            "must be the endpoint's own project '{}' when validating a saved endpoint",
                            record.project_name
                        ),
                    ));
                }
                let stored_kind = record.kind;
                if input.kind.is_some_and(|kind| kind != stored_kind) {
                    return Err(AppError::invalid(
                        "kind",
                        "cannot change; create a new endpoint of the other kind",
                    ));
                }
                input.kind = Some(stored_kind);
                Some(record)
            }
            None => None,
        };
        let (project, role) = self.visible_project(actor, &input.project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "validating endpoints")?;
        let kind = input.kind.ok_or_else(|| {
            AppError::invalid("kind", "is required: docker-registry or kubernetes")
        })?;
        let stored = match &record {
            Some(record) => Some((record, self.endpoint_secrets(record)?)),
            None => None,
        };
        let secrets = Self::merged_secrets(&input, kind, stored)?;
        let settings = Self::checked_endpoint(&input, kind, &secrets)?;
        let input_secrets = entered_secret_names(&input);
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
        let validation = self.check_endpoint(&draft, &secrets).await;
        // A draft of a saved endpoint is about that endpoint (and may use its
        // stored secrets, sent to the address recorded here).
        let event = AuditEvent::by(actor, AuditAction::EndpointValidated)
            .outcome(validation_outcome(&validation))
            .project(draft.project_id, &draft.project);
        let event = match &record {
            Some(record) => event.target(AuditTargetKind::Endpoint, record.id, &record.name),
            None => event.target_without_id(AuditTargetKind::Endpoint, &draft.name),
        };
        self.audit(
            event
                .detail("kind", draft.kind.as_str())
                .detail("address", address_of(&draft.url))
                .detail("draft", true)
                .detail("sensitive_fields_entered", input_secrets),
        )
        .await;
        Ok(validation)
    }
}

//! Endpoints: where images come from (Docker registries) and where they are
//! deployed (Kubernetes clusters). Secrets go in through [`EndpointInput`] and
//! never come back: [`Endpoint`] only says whether one is stored.

use serde::{Deserialize, Serialize};

use crate::model::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EndpointKind {
    DockerRegistry,
    Kubernetes,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::DockerRegistry => "docker-registry",
            EndpointKind::Kubernetes => "kubernetes",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EndpointKind::DockerRegistry => "Docker registry",
            EndpointKind::Kubernetes => "Kubernetes",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [EndpointKind::DockerRegistry, EndpointKind::Kubernetes]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RegistryServerType {
    /// Docker Hub: credentials are checked through the Hub API's login.
    #[default]
    DockerHub,
    /// Any registry speaking the Registry HTTP API v2 (CNCF distribution, Harbor, …).
    Registry,
}

impl RegistryServerType {
    pub const ALL: [RegistryServerType; 2] =
        [RegistryServerType::DockerHub, RegistryServerType::Registry];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistryServerType::DockerHub => "docker-hub",
            RegistryServerType::Registry => "registry",
        }
    }

    /// How pages name it.
    pub fn label(self) -> &'static str {
        match self {
            RegistryServerType::DockerHub => "Docker Hub",
            RegistryServerType::Registry => "Registry (HTTP API v2)",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// How Slipway authenticates to a Kubernetes API server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum KubernetesAuth {
    /// A bearer token (for example a service account's).
    #[default]
    Token,
    /// A client certificate and its private key (PEM).
    ClientCertificate,
    /// A pasted kubeconfig; `kubeconfig_context` picks the context.
    Kubeconfig,
}

impl KubernetesAuth {
    pub const ALL: [KubernetesAuth; 3] = [
        KubernetesAuth::Token,
        KubernetesAuth::ClientCertificate,
        KubernetesAuth::Kubeconfig,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KubernetesAuth::Token => "token",
            KubernetesAuth::ClientCertificate => "client-certificate",
            KubernetesAuth::Kubeconfig => "kubeconfig",
        }
    }

    /// How pages name it.
    pub fn label(self) -> &'static str {
        match self {
            KubernetesAuth::Token => "Bearer token",
            KubernetesAuth::ClientCertificate => "Client certificate",
            KubernetesAuth::Kubeconfig => "Kubeconfig",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The result of the last Validate action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Validation {
    pub ok: bool,
    pub message: String,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub checked_at: Millis,
}

/// The settings of an endpoint that are not secret. Stored as JSON; the
/// fields that do not belong to the endpoint's kind stay empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EndpointSettings {
    // Docker registry
    pub server_type: Option<RegistryServerType>,
    pub username: Option<String>,
    pub cloud_proxy: bool,
    // Kubernetes
    pub auth: Option<KubernetesAuth>,
    pub namespace: Option<String>,
    pub ca_cert: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub client_cert: Option<String>,
    pub kubeconfig_context: Option<String>,
}

/// An endpoint as pages and the API show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Endpoint {
    pub id: i64,
    pub project: String,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub kind: EndpointKind,
    /// Registry or repository URL, or the Kubernetes API server URL.
    pub url: String,
    #[serde(flatten)]
    pub settings: EndpointSettings,
    /// Which secrets are stored (never their values): e.g. `["password"]`.
    pub stored_secrets: Vec<String>,
    pub last_validation: Option<Validation>,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub updated_at: Millis,
}

impl Endpoint {
    /// Whether the endpoint is of the project a definition names, by name or
    /// by id (as pipelines may name it).
    pub fn belongs_to(&self, project: &str) -> bool {
        self.project == project || self.project_id.to_string() == project
    }
}

/// A create or an edit. A secret left out (or empty) on an edit keeps the stored one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EndpointInput {
    pub project: String,
    pub name: String,
    pub description: String,
    pub kind: Option<EndpointKind>,
    pub url: String,
    #[serde(flatten)]
    pub settings: EndpointSettings,
    pub password: Option<String>,
    pub token: Option<String>,
    pub client_key: Option<String>,
    pub kubeconfig: Option<String>,
}

/// The secret values of an endpoint, as they are sealed together at rest.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSecrets {
    pub password: Option<String>,
    pub token: Option<String>,
    pub client_key: Option<String>,
    pub kubeconfig: Option<String>,
}

crate::redacted_debug!(EndpointInput {
    project, name, description, kind, url, settings
} secret { password, token, client_key, kubeconfig });
crate::redacted_debug!(EndpointSecrets {} secret { password, token, client_key, kubeconfig });

impl EndpointSecrets {
    /// The names of the secrets present, for [`Endpoint::stored_secrets`].
    pub fn names(&self) -> Vec<String> {
        [
            ("password", &self.password),
            ("token", &self.token),
            ("client_key", &self.client_key),
            ("kubeconfig", &self.kubeconfig),
        ]
        .into_iter()
        .filter(|(_, value)| value.as_deref().is_some_and(|value| !value.is_empty()))
        .map(|(name, _)| name.to_string())
        .collect()
    }
}

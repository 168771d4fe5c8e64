//! Outbound connections to endpoints: the HTTP client every call shares, the
//! Validate action that really signs in to a registry or a cluster, the
//! Kubernetes client the pipeline's Kubernetes task uses, the Docker Hub
//! webhook API client, and the input checks for the endpoint form.
//!
//! Two rules hold everywhere in this module: every call is bounded by
//! [`Outbound::timeout`] (a dead host answers within seconds, never hangs a
//! request), and no message or error ever contains a secret (passwords, tokens,
//! private keys, kubeconfig contents): they are shown to people and logged.

mod checks;
mod hub;
mod kubernetes;
mod manifests;
mod outbound;
mod registry;

pub use registry::registry_credentials;

#[cfg(test)]
mod test_support;

use std::time::Duration;

use app::endpoint::{Endpoint, EndpointKind, EndpointSecrets, RegistryServerType, Validation};

pub use checks::{
    check_client_identity, check_kubeconfig_context, check_pem_certificates, check_pem_private_key,
    check_url, kubeconfig_contexts,
};
pub use hub::{DockerHubClient, HubError, HubSession, HubWebhook, HubWebhookPipeline};
pub use kubernetes::{kube_client, kube_config, KubeTimeouts};
pub use manifests::{DigestResolver, ManifestQuery, ResolveError, MANIFEST_ACCEPT};
pub(crate) use outbound::{describe_transport_failure, read_capped};
pub use outbound::{
    private_address_kind, EgressDenied, Outbound, ReadError, DEFAULT_DOCKER_HUB_API_URL,
    DEFAULT_DOCKER_HUB_REGISTRY_URL, EGRESS_DENIED_PREFIX, MAX_API_RESPONSE_BYTES,
    MAX_TASK_REDIRECTS,
};

/// Why an outbound client could not be set up. The texts name the setting to fix
/// and never quote a secret (nor the proxy URL, which may carry a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("this endpoint uses the cloud proxy, but the server has no --cloud-proxy-url")]
    CloudProxyNotConfigured,
    #[error("the server's --cloud-proxy-url is not a valid proxy URL")]
    InvalidCloudProxyUrl,
    #[error("could not set up the HTTP client: {0}")]
    HttpClient(String),
    #[error("the URL is not usable: {0}")]
    InvalidUrl(String),
    /// A secret the endpoint needs is not stored; the text names it ("token").
    #[error("no {0} is stored for this endpoint")]
    MissingSecret(&'static str),
    /// A setting the endpoint needs is empty; the text names it ("client certificate").
    #[error("the endpoint has no {0}")]
    MissingSetting(&'static str),
    #[error("the CA certificate is not usable: {0}")]
    CaCertificate(String),
    #[error("the client certificate is not usable: {0}")]
    ClientCertificate(String),
    #[error("the kubeconfig is not usable: {0}")]
    Kubeconfig(String),
    #[error("could not set up the Kubernetes client: {0}")]
    KubeClient(String),
}

/// How much longer than [`Outbound::timeout`] a whole validation may take: each
/// request is bounded by the timeout itself, so its own (more precise) error
/// normally wins; this only cuts a multi-step check (token dance, several API
/// calls) that keeps getting slow answers.
const VALIDATION_GRACE: Duration = Duration::from_secs(1);

/// The Validate action: really signs in with the stored credentials and says
/// what happened in words a person can act on. Never takes much longer than
/// `outbound.timeout` (plus [`VALIDATION_GRACE`]) and never quotes a secret.
pub async fn validate(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
    outbound: &Outbound,
) -> Validation {
    let check = async {
        match endpoint.kind {
            EndpointKind::DockerRegistry => {
                match endpoint.settings.server_type.unwrap_or_default() {
                    RegistryServerType::DockerHub => {
                        registry::check_docker_hub(endpoint, secrets, outbound).await
                    }
                    RegistryServerType::Registry => {
                        registry::check_registry(endpoint, secrets, outbound).await
                    }
                }
            }
            EndpointKind::Kubernetes => {
                kubernetes::check_cluster(endpoint, secrets, outbound).await
            }
        }
    };
    let deadline = outbound.timeout + VALIDATION_GRACE;
    let outcome = tokio::time::timeout(deadline, check)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{} did not finish answering within {}",
                validation_target(endpoint),
                outbound::seconds(deadline)
            ))
        });
    let (ok, message) = match outcome {
        Ok(message) => (true, message),
        Err(message) => (false, message),
    };
    Validation {
        ok,
        message,
        checked_at: crate::clock::now_millis(),
    }
}

/// Who a validation talks to, for the "did not answer" message.
fn validation_target(endpoint: &Endpoint) -> String {
    let docker_hub = endpoint.kind == EndpointKind::DockerRegistry
        && endpoint.settings.server_type.unwrap_or_default() == RegistryServerType::DockerHub;
    if docker_hub {
        "Docker Hub".to_string()
    } else {
        outbound::display_target(&endpoint.url)
    }
}

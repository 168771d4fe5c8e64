//! The Kubernetes client of an endpoint (for Validate and for the pipeline's
//! Kubernetes task) and the Validate check of a cluster.

use std::time::Duration;

use app::endpoint::{Endpoint, EndpointSecrets, KubernetesAuth};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use kube::config::KubeConfigOptions;

use super::checks::{
    check_client_identity, check_url, chosen_context, describe_kubeconfig_error,
    parse_certificates, parse_kubeconfig,
};
use super::outbound::{
    describe_transport_failure, ensure_crypto_provider, excerpt, is_tls_failure,
};
use super::{ConnectError, Outbound};
use crate::metrics::KubeRequestCounter;
use tower::util::MapResultLayer;
use tower::BoxError;

/// Time limits of a Kubernetes client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KubeTimeouts {
    /// Establishing a connection, TLS included.
    pub connect: Duration,
    /// Waiting for (more of) an answer; `None` for no limit. A watch must ask
    /// for a `timeoutSeconds` below this, or it is cut off.
    pub read: Option<Duration>,
    /// Sending a request.
    pub write: Duration,
}

impl KubeTimeouts {
    /// Every step bounded by `timeout`: for short calls such as Validate.
    pub fn for_requests(timeout: Duration) -> Self {
        Self {
            connect: timeout,
            read: Some(timeout),
            write: timeout,
        }
    }
}

impl Default for KubeTimeouts {
    /// For deployments: a dead API server shows within 10 s, while a read (a
    /// rollout watch) may wait up to 5 minutes for news.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Some(Duration::from_secs(300)),
            write: Duration::from_secs(300),
        }
    }
}

/// A client for the endpoint's cluster. See [`kube_config`].
/// Its requests are counted into `requests` (`/metrics`).
pub async fn kube_client(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
    timeouts: KubeTimeouts,
    requests: &KubeRequestCounter,
) -> Result<kube::Client, ConnectError> {
    client_from_config(kube_config(endpoint, secrets, timeouts).await?, requests)
}

/// The client configuration of a Kubernetes endpoint:
/// - auth `token` (bearer), `client-certificate` (the settings' certificate and
///   the stored key, which must belong together) or `kubeconfig` (the stored
///   kubeconfig's chosen context, which must not run commands or read files);
/// - the server is the endpoint's URL; for a kubeconfig, the URL wins over the
///   context's server when given (a kubeconfig made on a laptop may name an
///   address the Slipway server does not reach);
/// - the settings' CA certificate is trusted (besides a kubeconfig's), and
///   `insecure_skip_tls_verify` turns verification off;
/// - the settings' namespace (else the context's, else `default`) is the default;
/// - no proxy: kube would take `HTTPS_PROXY` for kubeconfigs only, and is built
///   without proxy support, so every auth kind connects the same, directly.
pub async fn kube_config(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
    timeouts: KubeTimeouts,
) -> Result<kube::Config, ConnectError> {
    let settings = &endpoint.settings;
    let mut config = match settings.auth.unwrap_or_default() {
        KubernetesAuth::Token => {
            let token = required_secret(secrets.token.as_deref(), "token")?;
            let mut config = kube::Config::new(cluster_uri(&endpoint.url)?);
            config.auth_info.token = Some(token.trim().to_string().into());
            config
        }
        KubernetesAuth::ClientCertificate => {
            let certificate = non_empty(settings.client_cert.as_deref())
                .ok_or(ConnectError::MissingSetting("client certificate"))?;
            let key = required_secret(secrets.client_key.as_deref(), "client key")?;
            check_client_identity(certificate, key).map_err(ConnectError::ClientCertificate)?;
            let mut config = kube::Config::new(cluster_uri(&endpoint.url)?);
            // As in a kubeconfig's `client-*-data` fields: base64 of the PEM text.
            config.auth_info.client_certificate_data = Some(BASE64.encode(certificate));
            config.auth_info.client_key_data = Some(BASE64.encode(key).into());
            config
        }
        KubernetesAuth::Kubeconfig => config_from_kubeconfig(endpoint, secrets).await?,
    };
    if let Some(namespace) = non_empty(settings.namespace.as_deref()) {
        config.default_namespace = namespace.trim().to_string();
    }
    if let Some(ca_pem) = non_empty(settings.ca_cert.as_deref()) {
        let certificates = parse_certificates(ca_pem).map_err(ConnectError::CaCertificate)?;
        config
            .root_cert
            .get_or_insert_with(Vec::new)
            .extend(certificates.iter().map(|certificate| certificate.to_vec()));
    }
    if settings.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    config.connect_timeout = Some(timeouts.connect);
    config.read_timeout = timeouts.read;
    config.write_timeout = Some(timeouts.write);
    // Otherwise the time a pooled connection sat idle counts against the read timeout.
    config.reset_reader_on_write = true;
    config.proxy_url = None;
    Ok(config)
}

async fn config_from_kubeconfig(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
) -> Result<kube::Config, ConnectError> {
    let text = required_secret(secrets.kubeconfig.as_deref(), "kubeconfig")?;
    let kubeconfig = parse_kubeconfig(text).map_err(ConnectError::Kubeconfig)?;
    let context = chosen_context(&kubeconfig, endpoint.settings.kubeconfig_context.as_deref())
        .map_err(ConnectError::Kubeconfig)?;
    let options = KubeConfigOptions {
        context: Some(context),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|error| ConnectError::Kubeconfig(describe_kubeconfig_error(&error)))?;
    if !endpoint.url.trim().is_empty() {
        config.cluster_url = cluster_uri(&endpoint.url)?;
    }
    Ok(config)
}

/// A client whose every request (discovery, reads, writes, watches) is
/// counted by how it ended, under the client's own timeouts and TLS.
fn client_from_config(
    config: kube::Config,
    requests: &KubeRequestCounter,
) -> Result<kube::Client, ConnectError> {
    ensure_crypto_provider();
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|error| ConnectError::KubeClient(error.to_string()))?;
    Ok(builder
        .with_layer(&MapResultLayer::new(counting(requests.clone())))
        .build())
}

/// Records each answer's status class, or `error` when none came.
fn counting<B>(
    requests: KubeRequestCounter,
) -> impl Fn(Result<http::Response<B>, BoxError>) -> Result<http::Response<B>, BoxError> + Clone {
    move |answer| {
        requests.record(answer.as_ref().ok().map(|answer| answer.status().as_u16()));
        answer
    }
}

fn cluster_uri(url: &str) -> Result<http::Uri, ConnectError> {
    let url = check_url(url).map_err(ConnectError::InvalidUrl)?;
    url.as_str()
        .parse::<http::Uri>()
        .map_err(|error| ConnectError::InvalidUrl(error.to_string()))
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

fn required_secret<'a>(
    value: Option<&'a str>,
    name: &'static str,
) -> Result<&'a str, ConnectError> {
    non_empty(value).ok_or(ConnectError::MissingSecret(name))
}

/// Validate for a Kubernetes endpoint: the API server's version (it answers),
/// one pod list in the default namespace (the credentials are accepted and
/// may read there), and that the namespace exists (when they may read it).
pub(super) async fn check_cluster(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
    outbound: &Outbound,
) -> Result<String, String> {
    let config = kube_config(
        endpoint,
        secrets,
        KubeTimeouts::for_requests(outbound.timeout),
    )
    .await
    .map_err(|error| error.to_string())?;
    // kube's own client does not take the resolver of the other clients: the
    // cluster's address is checked here, before connecting.
    outbound
        .check_egress(&config.cluster_url.to_string())
        .await
        .map_err(|denied| format!("did not call the cluster: {denied}"))?;
    let target = ClusterTarget {
        server: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        verifies_with_own_ca: config.root_cert.is_some() || config.accept_invalid_certs,
        timeout: outbound.timeout,
    };
    let client =
        client_from_config(config, &outbound.kube_requests).map_err(|error| error.to_string())?;

    let version = client
        .apiserver_version()
        .await
        .map_err(|error| target.describe(&error))?
        .git_version;
    let cluster = format!("Kubernetes {version} at {}", target.server);
    let namespace = client.default_namespace().to_string();

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    match pods.list(&ListParams::default().limit(1)).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(format!(
                "{cluster} answers, but listing pods in '{namespace}' is forbidden: {}",
                excerpt(&status.message, &[])
            ));
        }
        Err(error) => return Err(target.describe(&error)),
    }
    // Listing pods in a namespace that does not exist succeeds (with none), so a
    // typo would only show at the first deployment. Credentials limited to their
    // namespace may not read Namespaces (403): then this check is skipped.
    let namespaces: Api<Namespace> = Api::all(client);
    if let Ok(None) = namespaces.get_opt(&namespace).await {
        return Err(format!(
            "{cluster} answers, but the namespace '{namespace}' does not exist"
        ));
    }
    Ok(format!(
        "{cluster}; listing pods in '{namespace}' is allowed"
    ))
}

/// What failure messages about one cluster need to know.
struct ClusterTarget {
    /// The API server URL, for messages.
    server: String,
    /// Whether a CA certificate is given or verification is off, i.e. whether
    /// a "give the CA" hint would be news.
    verifies_with_own_ca: bool,
    timeout: Duration,
}

impl ClusterTarget {
    fn describe(&self, error: &kube::Error) -> String {
        let server = &self.server;
        match error {
            kube::Error::Api(status) if status.code == 401 => format!(
                "Kubernetes at {server} refused the credentials (401: {})",
                excerpt(&status.message, &[])
            ),
            kube::Error::Api(status) => format!(
                "Kubernetes at {server} answered {} {}: {}",
                status.code,
                status.reason,
                excerpt(&status.message, &[])
            ),
            other => {
                let mut message = format!(
                    "could not reach Kubernetes at {server}: {}",
                    describe_transport_failure(other, self.timeout)
                );
                if is_tls_failure(other) && !self.verifies_with_own_ca {
                    message.push_str(
                        "; give the cluster's CA certificate (or, for a test cluster only, skip TLS verification)",
                    );
                }
                message
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use app::endpoint::{EndpointKind, EndpointSettings};
    use slipway_standins::kube::{KubeStandin, KubeStandinHandle};

    use super::*;
    use crate::connect::test_support::{
        endpoint, hanging_address, install_crypto_provider, silent_server, validation_bound,
        CLIENT_CERT_PEM, CLIENT_KEY_PEM, OTHER_KEY_PEM,
    };
    use crate::connect::validate;

    const VERSION: &str = "v1.35.0-slipway-standin";

    fn outbound(timeout: Duration) -> Outbound {
        Outbound {
            timeout,
            ..Outbound::default()
        }
    }

    fn cluster(url: &str, settings: EndpointSettings) -> Endpoint {
        endpoint(EndpointKind::Kubernetes, url, settings)
    }

    fn token(token: &str) -> EndpointSecrets {
        EndpointSecrets {
            token: Some(token.to_string()),
            ..EndpointSecrets::default()
        }
    }

    async fn standin(tls: bool) -> KubeStandinHandle {
        KubeStandin::builder()
            .token("full-token")
            .readonly_token("readonly-token")
            .namespace("dev")
            .tls(tls)
            .start()
            .await
            .expect("kube stand-in")
    }

    #[tokio::test]
    async fn tokens_are_checked_with_a_version_call_and_a_pod_list() {
        install_crypto_provider();
        let kube = standin(false).await;
        let url = kube.url();
        let endpoint = cluster(&url, EndpointSettings::default());
        let outbound = outbound(Duration::from_secs(5));

        let good = validate(&endpoint, &token("full-token"), &outbound).await;
        assert!(good.ok, "{}", good.message);
        assert_eq!(
            good.message,
            format!("Kubernetes {VERSION} at {url}; listing pods in 'default' is allowed")
        );
        let listed = kube.requests().iter().any(|request| {
            request.path == "/api/v1/namespaces/default/pods" && request.status == 200
        });
        assert!(listed, "the pod list was not made");

        let wrong = validate(&endpoint, &token("wrong-token"), &outbound).await;
        assert!(!wrong.ok);
        assert!(
            wrong.message.starts_with(&format!(
                "Kubernetes at {url} refused the credentials (401: "
            )),
            "{}",
            wrong.message
        );
        assert!(!wrong.message.contains("wrong-token"));

        // A read-only token may list pods: Validate says so (deploying needs more).
        let readonly = validate(&endpoint, &token("readonly-token"), &outbound).await;
        assert!(readonly.ok, "{}", readonly.message);

        let missing = validate(&endpoint, &EndpointSecrets::default(), &outbound).await;
        assert_eq!(missing.message, "no token is stored for this endpoint");
    }

    #[tokio::test]
    async fn the_default_namespace_must_exist() {
        install_crypto_provider();
        let kube = standin(false).await;
        let url = kube.url();
        let outbound = outbound(Duration::from_secs(5));
        let in_namespace = |namespace: &str| {
            cluster(
                &url,
                EndpointSettings {
                    namespace: Some(namespace.to_string()),
                    ..EndpointSettings::default()
                },
            )
        };

        let dev = validate(&in_namespace("dev"), &token("full-token"), &outbound).await;
        assert!(dev.ok, "{}", dev.message);
        assert!(
            dev.message.ends_with("listing pods in 'dev' is allowed"),
            "{}",
            dev.message
        );

        let typo = validate(&in_namespace("dve"), &token("full-token"), &outbound).await;
        assert!(!typo.ok);
        assert_eq!(
            typo.message,
            format!(
                "Kubernetes {VERSION} at {url} answers, but the namespace 'dve' does not exist"
            )
        );
    }

    #[tokio::test]
    async fn tls_needs_the_clusters_ca_or_the_explicit_insecure_flag() {
        install_crypto_provider();
        let kube = standin(true).await;
        let url = kube.url();
        assert!(url.starts_with("https://"));
        let outbound = outbound(Duration::from_secs(5));
        let with = |settings: EndpointSettings| cluster(&url, settings);

        let with_ca = with(EndpointSettings {
            ca_cert: kube.ca_pem().map(str::to_string),
            ..EndpointSettings::default()
        });
        let trusted = validate(&with_ca, &token("full-token"), &outbound).await;
        assert!(trusted.ok, "{}", trusted.message);

        let untrusted = validate(
            &with(EndpointSettings::default()),
            &token("full-token"),
            &outbound,
        )
        .await;
        assert!(!untrusted.ok);
        assert_eq!(
            untrusted.message,
            format!(
                "could not reach Kubernetes at {url}: the server's TLS certificate is not signed by a trusted certificate authority; give the cluster's CA certificate (or, for a test cluster only, skip TLS verification)"
            )
        );

        let insecure = with(EndpointSettings {
            insecure_skip_tls_verify: true,
            ..EndpointSettings::default()
        });
        let unverified = validate(&insecure, &token("full-token"), &outbound).await;
        assert!(unverified.ok, "{}", unverified.message);

        let bad_ca = with(EndpointSettings {
            ca_cert: Some("not a certificate".to_string()),
            ..EndpointSettings::default()
        });
        let refused = validate(&bad_ca, &token("full-token"), &outbound).await;
        assert!(
            refused
                .message
                .starts_with("the CA certificate is not usable: no certificate found"),
            "{}",
            refused.message
        );
    }

    #[tokio::test]
    async fn client_certificates_are_loaded_and_must_match_their_key() {
        install_crypto_provider();
        let kube = standin(true).await;
        let url = kube.url();
        let settings = EndpointSettings {
            auth: Some(KubernetesAuth::ClientCertificate),
            client_cert: Some(CLIENT_CERT_PEM.to_string()),
            ca_cert: kube.ca_pem().map(str::to_string),
            namespace: Some("dev".to_string()),
            ..EndpointSettings::default()
        };
        let endpoint = cluster(&url, settings);
        let key = |pem: &str| EndpointSecrets {
            client_key: Some(pem.to_string()),
            ..EndpointSecrets::default()
        };

        let config = kube_config(&endpoint, &key(CLIENT_KEY_PEM), KubeTimeouts::default())
            .await
            .expect("config");
        assert_eq!(config.default_namespace, "dev");
        assert!(config.auth_info.client_certificate_data.is_some());
        let client = kube_client(
            &endpoint,
            &key(CLIENT_KEY_PEM),
            KubeTimeouts::default(),
            &Default::default(),
        )
        .await
        .expect("client");
        // The stand-in does not check client certificates, but the TLS
        // connection with one configured works.
        let version = client.apiserver_version().await.expect("version");
        assert_eq!(version.git_version, VERSION);

        let mismatch = kube_config(&endpoint, &key(OTHER_KEY_PEM), KubeTimeouts::default())
            .await
            .expect_err("the key is not the certificate's");
        assert_eq!(
            mismatch.to_string(),
            "the client certificate is not usable: the private key does not belong to the client certificate"
        );
        let no_key = kube_config(
            &endpoint,
            &EndpointSecrets::default(),
            KubeTimeouts::default(),
        )
        .await;
        assert_eq!(
            no_key.err(),
            Some(ConnectError::MissingSecret("client key"))
        );
    }

    fn kubeconfig_for(kube: &KubeStandinHandle) -> String {
        let ca = BASE64.encode(kube.ca_pem().unwrap_or_default());
        let url = kube.url();
        format!(
            r#"apiVersion: v1
kind: Config
current-context: stale
clusters:
- name: standin
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: deployer
  user:
    token: full-token
- name: former
  user:
    token: revoked-token
contexts:
- name: stale
  context: {{cluster: standin, user: former}}
- name: deploy
  context: {{cluster: standin, user: deployer, namespace: dev}}
"#
        )
    }

    #[tokio::test]
    async fn a_pasted_kubeconfig_is_used_with_the_chosen_context() {
        install_crypto_provider();
        let kube = standin(true).await;
        let url = kube.url();
        let secrets = EndpointSecrets {
            kubeconfig: Some(kubeconfig_for(&kube)),
            ..EndpointSecrets::default()
        };
        let with_context = |context: Option<&str>| {
            // No URL: the kubeconfig's server is used.
            cluster(
                "",
                EndpointSettings {
                    auth: Some(KubernetesAuth::Kubeconfig),
                    kubeconfig_context: context.map(str::to_string),
                    ..EndpointSettings::default()
                },
            )
        };
        let outbound = outbound(Duration::from_secs(5));

        let chosen = validate(&with_context(Some("deploy")), &secrets, &outbound).await;
        assert!(chosen.ok, "{}", chosen.message);
        assert_eq!(
            chosen.message,
            format!("Kubernetes {VERSION} at {url}; listing pods in 'dev' is allowed")
        );

        let current = validate(&with_context(None), &secrets, &outbound).await;
        assert!(!current.ok);
        assert!(
            current.message.contains("refused the credentials (401"),
            "{}",
            current.message
        );
        assert!(!current.message.contains("revoked-token"));

        let unknown = validate(&with_context(Some("prod")), &secrets, &outbound).await;
        assert_eq!(
            unknown.message,
            "the kubeconfig is not usable: the kubeconfig has no context 'prod' (it has: stale, deploy)"
        );
    }

    #[tokio::test]
    async fn unreachable_clusters_answer_within_the_timeout() {
        install_crypto_provider();
        let timeout = Duration::from_secs(2);

        let started = Instant::now();
        let closed = validate(
            &cluster("http://127.0.0.1:9", EndpointSettings::default()),
            &token("t"),
            &outbound(timeout),
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(
            closed.message,
            "could not reach Kubernetes at http://127.0.0.1:9: the connection was refused (is the address and port right?)"
        );

        // A host that drops connects, one that accepts and never answers, and
        // an outside address that is a blackhole on most networks (here any
        // failure counts: some sandboxes intercept it).
        let hanging = hanging_address().await;
        let silent = silent_server().await;
        let at = |url: String| cluster(&url, EndpointSettings::default());
        let outbound = outbound(timeout);
        let secrets = token("t");
        let [hung_at, silent_at, outside_at] = [
            format!("http://{}", hanging.addr),
            format!("http://{silent}"),
            "https://10.255.255.1:6443".to_string(),
        ]
        .map(at);
        let started = Instant::now();
        let (hung, unanswered, outside) = tokio::join!(
            validate(&hung_at, &secrets, &outbound),
            validate(&silent_at, &secrets, &outbound),
            validate(&outside_at, &secrets, &outbound),
        );
        assert!(
            started.elapsed() < validation_bound(timeout),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(
            hung.message,
            format!(
                "could not reach Kubernetes at http://{}: no answer within 2 s",
                hanging.addr
            )
        );
        assert_eq!(
            unanswered.message,
            format!("could not reach Kubernetes at http://{silent}: no answer within 2 s")
        );
        assert!(!outside.ok, "{}", outside.message);
    }
}

//! The HTTP client that outbound calls share, and the words used when a call
//! fails on the way (refused, timed out, TLS, DNS).

use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;

use super::ConnectError;

/// Docker Hub's API base; `cloud.docker.com`, which the manual names, is retired.
pub const DEFAULT_DOCKER_HUB_API_URL: &str = "https://hub.docker.com";

/// Where Docker Hub's images are served (the Registry API, not the Hub API).
pub const DEFAULT_DOCKER_HUB_REGISTRY_URL: &str = "https://registry-1.docker.io";

const USER_AGENT: &str = concat!("slipway/", env!("CARGO_PKG_VERSION"));

/// How the server reaches outside services.
#[derive(Clone)]
pub struct Outbound {
    /// Docker Hub API base, e.g. `https://hub.docker.com` (tests: a stand-in).
    pub docker_hub_api_url: String,
    /// Where Docker Hub tags are resolved to digests (`--docker-hub-registry-url`).
    pub docker_hub_registry_url: String,
    /// Resolves tags to digests, keeping registry tokens between pushes.
    pub digests: std::sync::Arc<super::DigestResolver>,
    /// The proxy for endpoints marked "cloud proxy" (on-premises registries);
    /// may carry `user:password@`, so it is never printed.
    pub cloud_proxy_url: Option<String>,
    /// The most any one call may take, connecting included.
    pub timeout: Duration,
    /// Hosts (`host` or `host:port`) Docker Hub callbacks may be sent to; empty: callbacks off.
    pub callback_hosts: Vec<String>,
    /// `--deny-private-egress`: refuse calls to loopback, link-local, private and
    /// cloud-metadata addresses (see [`private_address_kind`]).
    pub deny_private_egress: bool,
    /// Counts the requests of every Kubernetes client built with this (`/metrics`).
    pub kube_requests: crate::metrics::KubeRequestCounter,
}

impl Outbound {
    /// Whether callbacks are on and `url`'s host (with its port, if the entry has
    /// one) is on the allow-list.
    pub fn allows_callback(&self, url: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(url) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let with_port = url
            .port_or_known_default()
            .map(|port| format!("{host}:{port}"));
        self.callback_hosts.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            !entry.is_empty() && (entry == host || Some(&entry) == with_port.as_ref())
        })
    }

    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A client whose connects and whole requests end within [`Self::timeout`],
    /// going through the cloud proxy when asked, that never follows a redirect
    /// (a 3xx is answered as it is): for endpoint validation, the Docker Hub
    /// API and callbacks, where an open redirect on an allowed host must lead
    /// nowhere. Without the proxy, reqwest's usual `HTTPS_PROXY`/`NO_PROXY`
    /// environment variables apply.
    pub fn http_client(&self, via_cloud_proxy: bool) -> Result<reqwest::Client, ConnectError> {
        self.build_client(via_cloud_proxy, Policy::none())
    }

    /// The client of REST and Poll tasks: as [`Self::http_client`] without the
    /// cloud proxy, but following up to [`MAX_TASK_REDIRECTS`] redirects, each
    /// held to `--deny-private-egress` like the first request.
    pub fn task_client(&self) -> Result<reqwest::Client, ConnectError> {
        let deny = self.deny_private_egress;
        let policy = Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_TASK_REDIRECTS {
                let error = format!("more than {MAX_TASK_REDIRECTS} redirects");
                return attempt.error(error);
            }
            // Names are checked by the resolver; addresses written in the URL here.
            match literal_address_denied(deny, attempt.url()) {
                Some(denied) => attempt.error(denied),
                None => attempt.follow(),
            }
        });
        self.build_client(false, policy)
    }

    fn build_client(
        &self,
        via_cloud_proxy: bool,
        redirects: Policy,
    ) -> Result<reqwest::Client, ConnectError> {
        ensure_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .redirect(redirects);
        if via_cloud_proxy {
            let proxy_url = self
                .cloud_proxy_url
                .as_deref()
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .ok_or(ConnectError::CloudProxyNotConfigured)?;
            let proxy =
                reqwest::Proxy::all(proxy_url).map_err(|_| ConnectError::InvalidCloudProxyUrl)?;
            builder = builder.proxy(proxy);
        } else if self.deny_private_egress {
            // Every name is resolved here, for redirects and at each connect
            // too, so a name that later resolves to a private address
            // (DNS rebinding) is refused as well. (Through the cloud proxy the
            // proxy resolves; the target was checked by `check_egress`.)
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        builder
            .build()
            .map_err(|error| ConnectError::HttpClient(innermost_message(&error.without_url())))
    }

    /// With `--deny-private-egress`, refuses `url` when its host is, or resolves
    /// to, a private address (every address it resolves to is checked). A name
    /// that does not resolve here passes: the call itself then fails, or the
    /// cloud proxy resolves it. Call before each request; the clients'
    /// resolver checks again when they connect.
    pub async fn check_egress(&self, url: &str) -> Result<(), EgressDenied> {
        check_egress(self.deny_private_egress, url).await
    }
}

/// How many redirects a REST or Poll task's request follows.
pub const MAX_TASK_REDIRECTS: usize = 10;

/// See [`Outbound::check_egress`].
pub(crate) async fn check_egress(deny: bool, url: &str) -> Result<(), EgressDenied> {
    if !deny {
        return Ok(());
    }
    let Ok(url) = reqwest::Url::parse(url.trim()) else {
        return Ok(());
    };
    if let Some(denied) = literal_address_denied(true, &url) {
        return Err(denied);
    }
    let Some(name) = url.host_str().filter(|_| literal_address(&url).is_none()) else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(addresses) = tokio::net::lookup_host((name, port)).await else {
        return Ok(());
    };
    for address in addresses {
        refuse_private(name, address.ip())?;
    }
    Ok(())
}

/// The refusal of an address written in the URL itself (no resolver sees those).
fn literal_address_denied(deny: bool, url: &reqwest::Url) -> Option<EgressDenied> {
    if !deny {
        return None;
    }
    let address = literal_address(url)?;
    refuse_private(&address.to_string(), address).err()
}

/// The address a URL names as its host, if it names one rather than a name.
fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn refuse_private(host: &str, address: IpAddr) -> Result<(), EgressDenied> {
    match private_address_kind(address) {
        Some(kind) => Err(EgressDenied {
            host: host.to_string(),
            address,
            kind,
        }),
        None => Ok(()),
    }
}

/// A call `--deny-private-egress` refused before connecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressDenied {
    host: String,
    address: IpAddr,
    kind: &'static str,
}

impl std::fmt::Display for EgressDenied {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            host,
            address,
            kind,
        } = self;
        formatter.write_str(EGRESS_DENIED_PREFIX)?;
        if *host == address.to_string() {
            write!(formatter, "{address} is {kind}")?;
        } else {
            write!(formatter, "{host} resolves to {address}, {kind}")?;
        }
        formatter.write_str(
            " (the server runs with --deny-private-egress; an operator can turn it off \
             to allow calls to private networks)",
        )
    }
}

impl StdError for EgressDenied {}

/// How every [`EgressDenied`] message begins.
pub const EGRESS_DENIED_PREFIX: &str = "private egress is denied: ";

/// What kind of non-public address `address` is (loopback, link-local —
/// which holds the 169.254.169.254 cloud metadata service —, private,
/// carrier-grade NAT — Alibaba's 100.100.100.200 metadata —, unspecified),
/// or `None` for an address `--deny-private-egress` lets through.
pub fn private_address_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => private_v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => private_v4_kind(v4),
            None => private_v6_kind(v6),
        },
    }
}

fn private_v4_kind(address: Ipv4Addr) -> Option<&'static str> {
    let [first, second, ..] = address.octets();
    if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_link_local() {
        Some("a link-local address (where cloud metadata services live)")
    } else if address.is_private() {
        Some("a private network address")
    } else if first == 100 && (64..128).contains(&second) {
        Some("a shared (carrier-grade NAT) address, where some cloud metadata services live")
    } else if first == 0 || address.is_broadcast() {
        Some("not a routable address")
    } else {
        None
    }
}

fn private_v6_kind(address: Ipv6Addr) -> Option<&'static str> {
    let first = address.segments()[0];
    if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_unspecified() {
        Some("not a routable address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address (where cloud metadata services live)")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private network (unique local) address, where some cloud metadata services live")
    } else {
        None
    }
}

/// The resolver of clients under `--deny-private-egress`: resolves as the
/// system does and refuses a name when any of its addresses is private.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            for address in &addresses {
                refuse_private(&name, address.ip())?;
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Why an answer's body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the response was larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the response failed: {}", innermost_message(.0))]
    Failed(reqwest::Error),
}

/// Reads an answer's body, stopping (and failing) as soon as it is larger
/// than `limit` bytes: a hostile server cannot stream gigabytes into memory.
/// Every outbound body is read through this.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| ReadError::Failed(error.without_url()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// As [`read_capped`], as text (invalid UTF-8 replaced).
pub(crate) async fn read_capped_text(
    response: reqwest::Response,
    limit: usize,
) -> Result<String, ReadError> {
    let body = read_capped(response, limit).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The most of a registry's or Docker Hub's answer (validation, the Hub's
/// API) that is read; their answers are small JSON documents.
pub const MAX_API_RESPONSE_BYTES: usize = 256 * 1024;

impl Default for Outbound {
    fn default() -> Self {
        Self {
            docker_hub_api_url: DEFAULT_DOCKER_HUB_API_URL.to_string(),
            docker_hub_registry_url: DEFAULT_DOCKER_HUB_REGISTRY_URL.to_string(),
            digests: std::sync::Arc::default(),
            cloud_proxy_url: None,
            timeout: Self::DEFAULT_TIMEOUT,
            callback_hosts: Vec::new(),
            deny_private_egress: false,
            kube_requests: Default::default(),
        }
    }
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Outbound")
            .field("docker_hub_api_url", &self.docker_hub_api_url)
            .field("docker_hub_registry_url", &self.docker_hub_registry_url)
            // The proxy URL may hold credentials: say only whether there is one.
            .field(
                "cloud_proxy_url",
                &self.cloud_proxy_url.as_ref().map(|_| "<set>"),
            )
            .field("timeout", &self.timeout)
            .field("callback_hosts", &self.callback_hosts)
            .field("deny_private_egress", &self.deny_private_egress)
            .finish()
    }
}

/// reqwest (`rustls-no-provider`) panics when building a client before a rustls
/// crypto provider is installed; the server installs ring at start, and this
/// makes the module safe to use from anywhere else (tests, tools) too.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is then in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// One short phrase for a call that failed before any HTTP answer: connection
/// refused, no answer in time, a TLS problem, a name that does not resolve.
/// The error chains of reqwest and kube (hyper, io, rustls) are searched for
/// the cause a person can act on.
pub(crate) fn describe_transport_failure(
    error: &(dyn StdError + 'static),
    timeout: Duration,
) -> String {
    let causes = causes(error);
    if let Some(denied) = causes
        .iter()
        .find_map(|cause| cause.downcast_ref::<EgressDenied>())
    {
        return denied.to_string();
    }
    if let Some(tls) = causes
        .iter()
        .find_map(|cause| cause.downcast_ref::<rustls::Error>())
    {
        return describe_tls_failure(tls);
    }
    let io_kind = causes
        .iter()
        .find_map(|cause| cause.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    let reqwest_timeout = causes.iter().any(|cause| {
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
    });
    match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => {
            "the connection was refused (is the address and port right?)".to_string()
        }
        Some(io::ErrorKind::TimedOut) => no_answer_within(timeout),
        _ if reqwest_timeout => no_answer_within(timeout),
        _ => {
            let message = innermost_message(error);
            if causes
                .iter()
                .any(|cause| cause.to_string().starts_with("dns error"))
            {
                format!("the host name could not be resolved ({message})")
            } else {
                message
            }
        }
    }
}

/// Whether a failure happened in the TLS handshake (for hints about CAs).
pub(crate) fn is_tls_failure(error: &(dyn StdError + 'static)) -> bool {
    causes(error)
        .iter()
        .any(|cause| cause.downcast_ref::<rustls::Error>().is_some())
}

fn describe_tls_failure(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "the server's TLS certificate is not signed by a trusted certificate authority"
                .to_string()
        }
        other => format!("the TLS handshake failed: {other}"),
    }
}

fn no_answer_within(timeout: Duration) -> String {
    format!("no answer within {}", seconds(timeout))
}

/// Every error in a chain, outermost first. An `io::Error` wrapping another
/// error (how hyper and tokio-rustls carry TLS errors, sometimes twice) skips
/// that error in `source()`, so the wrapped error is followed instead.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut found: Vec<&'a (dyn StdError + 'static)> = Vec::new();
    let mut current = Some(error);
    while let Some(cause) = current {
        found.push(cause);
        current = match cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(wrapped) => Some(wrapped),
            None => cause.source(),
        };
    }
    found
}

/// The root cause's message, which is the informative one in hyper/reqwest
/// chains ("client error (Connect)" → "tcp connect error" → "Network is unreachable").
fn innermost_message(error: &(dyn StdError + 'static)) -> String {
    causes(error)
        .iter()
        .rev()
        .map(|cause| cause.to_string())
        .find(|message| !message.trim().is_empty())
        .unwrap_or_else(|| "unknown error".to_string())
}

/// `host:port` of a URL for messages (no path, query or user info), or a short
/// stand-in when the text is not a URL.
pub(crate) fn display_target(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(parsed) => match (parsed.host_str(), parsed.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            _ => "the server".to_string(),
        },
        Err(_) => "the server".to_string(),
    }
}

/// "2 s", "1.5 s".
pub(crate) fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// The most of an answer's body a message quotes.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// A one-line excerpt of at most [`EXCERPT_CHARS`] characters, with every
/// occurrence of the given secrets replaced, for quoting an answer's body.
pub(crate) fn excerpt(text: &str, secrets: &[&str]) -> String {
    let mut cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        cleaned = cleaned.replace(secret, "<redacted>");
    }
    if cleaned.chars().count() <= EXCERPT_CHARS {
        return cleaned;
    }
    let mut shortened: String = cleaned.chars().take(EXCERPT_CHARS - 1).collect();
    shortened.push('…');
    shortened
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn outbound(hosts: &[&str]) -> Outbound {
        Outbound {
            callback_hosts: hosts.iter().map(|host| host.to_string()).collect(),
            ..Outbound::default()
        }
    }

    #[test]
    fn callbacks_are_off_without_an_allow_list() {
        assert!(!outbound(&[]).allows_callback("https://hooks.example.test/u/a/hook/1/"));
    }

    #[test]
    fn only_listed_hosts_and_ports_are_allowed() {
        let list = outbound(&["hooks.example.test", "127.0.0.1:8080"]);
        assert!(list.allows_callback("https://hooks.example.test/u/a/hook/1/"));
        assert!(list.allows_callback("https://HOOKS.example.test:8443/x"));
        assert!(list.allows_callback("http://127.0.0.1:8080/callback"));
        assert!(!list.allows_callback("http://127.0.0.1:9090/callback"));
        assert!(!list.allows_callback("https://hooks.example.test.evil.test/x"));
        assert!(!list.allows_callback("https://evil.test/?hooks.example.test"));
        assert!(!list.allows_callback("ftp://hooks.example.test/x"));
        assert!(!list.allows_callback("not a url"));
    }
    use crate::connect::test_support::install_crypto_provider;

    #[tokio::test]
    async fn the_cloud_proxy_must_be_configured_when_an_endpoint_asks_for_it() {
        install_crypto_provider();
        let outbound = Outbound::default();
        let error = outbound.http_client(true).err();
        assert_eq!(error, Some(ConnectError::CloudProxyNotConfigured));
        assert_eq!(
            ConnectError::CloudProxyNotConfigured.to_string(),
            "this endpoint uses the cloud proxy, but the server has no --cloud-proxy-url"
        );
        assert!(outbound.http_client(false).is_ok());
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_as_refused_at_once() {
        install_crypto_provider();
        let outbound = Outbound {
            timeout: Duration::from_secs(2),
            ..Outbound::default()
        };
        let client = outbound.http_client(false).expect("client");
        let started = Instant::now();
        let error = client
            .get("http://127.0.0.1:9/")
            .send()
            .await
            .expect_err("nothing listens on port 9");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            describe_transport_failure(&error, outbound.timeout),
            "the connection was refused (is the address and port right?)"
        );
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let address: IpAddr = private.parse().unwrap();
            assert!(private_address_kind(address).is_some(), "{private}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "1.1.1.1", "2606:4700::1111"] {
            let address: IpAddr = public.parse().unwrap();
            assert_eq!(private_address_kind(address), None, "{public}");
        }
    }

    #[tokio::test]
    async fn egress_checks_apply_only_when_denied_and_to_every_form_of_host() {
        let on = |url: &'static str| async move { check_egress(true, url).await };
        assert!(check_egress(false, "http://127.0.0.1/").await.is_ok());
        for url in [
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost/x",
        ] {
            let denied = on(url).await.expect_err(url);
            assert!(
                denied.to_string().starts_with("private egress is denied: "),
                "{denied}"
            );
        }
        assert!(on("http://8.8.8.8/").await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        install_crypto_provider();
        let outbound = Outbound {
            deny_private_egress: true,
            ..Outbound::default()
        };
        for client in [
            outbound.http_client(false).unwrap(),
            outbound.task_client().unwrap(),
        ] {
            let error = client
                .get("http://localhost:9/")
                .send()
                .await
                .expect_err("localhost is loopback");
            let message = describe_transport_failure(&error, outbound.timeout);
            assert!(
                message.starts_with("private egress is denied: localhost resolves to "),
                "{message}"
            );
        }
    }

    #[test]
    fn excerpts_are_short_single_lines_without_secrets() {
        let body = format!(
            "{{\"detail\": \"bad token s3cr3t\",\n \"x\": \"{}\"}}",
            "y".repeat(500)
        );
        let quoted = excerpt(&body, &["s3cr3t"]);
        assert!(!quoted.contains("s3cr3t"));
        assert!(!quoted.contains('\n'));
        assert_eq!(quoted.chars().count(), EXCERPT_CHARS);
        assert!(quoted.starts_with("{\"detail\": \"bad token <redacted>\""));
    }

    #[test]
    fn targets_and_durations_read_well() {
        assert_eq!(
            display_target("https://user:pw@example.com/v2/?q=1"),
            "example.com:443"
        );
        assert_eq!(display_target("http://127.0.0.1:9"), "127.0.0.1:9");
        assert_eq!(display_target("not a url"), "the server");
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert!(!format!(
            "{:?}",
            Outbound {
                cloud_proxy_url: Some("http://u:hunter2@proxy:3128".into()),
                ..Outbound::default()
            }
        )
        .contains("hunter2"));
    }
}

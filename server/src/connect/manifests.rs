//! The digest a tag points at, asked of the registry: `HEAD
//! /v2/<repository>/manifests/<tag>` accepting image indexes, manifest lists
//! and single manifests, answered by `Docker-Content-Digest`.
//!
//! A HEAD, not a GET: Docker Hub counts a manifest GET as a pull against the
//! account's rate limit and a HEAD not, and the digest is all that is needed.
//! Multi-platform images resolve to their index digest, which is what a
//! cluster pulling `repo@digest` expects (each node picks its platform).
//!
//! Authentication follows the registry's challenge: a `Basic` challenge gets
//! the endpoint's user name and password, a `Bearer` challenge sends them to
//! the token service it names and the answer's token is cached (per registry,
//! repository and credentials) until shortly before it expires, so a burst of pushes
//! asks for one token.
//!
//! Bounded: every request ends within [`ATTEMPT_TIMEOUT`] (or the server's
//! outbound timeout, if shorter), and a registry that does not answer, is
//! overloaded (429) or fails (5xx) is tried [`ATTEMPTS`] times in all. An
//! answer that settles it (unknown tag, refused credentials, no or a
//! malformed digest) is not retried. Errors quote the registry's answer, never
//! a password or token.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, ACCEPT, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};

use super::outbound::{
    check_egress, describe_transport_failure, display_target, excerpt, read_capped,
    read_capped_text, ReadError, MAX_API_RESPONSE_BYTES,
};
use super::registry::{auth_parameters, TokenAnswer};
use super::{check_url, ConnectError, Outbound};
use crate::receive::payload::is_valid_digest;

/// What a tag may name, most specific last: an index or list is preferred,
/// so a multi-platform image resolves to the digest every platform shares.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Tries in all for a registry that does not answer, is overloaded or fails.
pub const ATTEMPTS: usize = 3;

/// The longest one request may take; a webhook delivery waits for this.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pauses between tries.
const BACKOFF: [Duration; ATTEMPTS - 1] = [Duration::from_millis(250), Duration::from_secs(1)];

/// Tokens kept at most; when full, expired ones go, then all.
const MAX_CACHED_TOKENS: usize = 1024;

/// How long before its stated expiry a token stops being used.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// A token service that does not say how long its token lasts means 60 s
/// (Docker's token authentication specification).
const DEFAULT_TOKEN_SECONDS: u64 = 60;

/// The image whose digest is wanted, and how to reach its registry.
pub struct ManifestQuery<'a> {
    /// The registry's base URL (`https://registry-1.docker.io`); its path is ignored.
    pub registry_url: &'a str,
    /// The repository as the registry names it (`library/nginx`, `team/app`).
    pub repository: &'a str,
    pub tag: &'a str,
    /// The endpoint's user name and password, both or neither.
    pub credentials: Option<(&'a str, &'a str)>,
    pub via_cloud_proxy: bool,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    registry: String,
    repository: String,
    /// The user name and a fingerprint of the password (never the password).
    credentials: String,
}

struct CachedToken {
    token: String,
    usable_until: Instant,
}

/// Resolves tags to digests; holds the token cache and the HTTP clients.
#[derive(Default)]
pub struct DigestResolver {
    tokens: Mutex<HashMap<TokenKey, CachedToken>>,
    clients: Mutex<HashMap<bool, reqwest::Client>>,
}

/// Why a tag could not be resolved: the registry's answer, in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub message: String,
    /// Worth another try (no answer, 429, 5xx), as opposed to settled.
    transient: bool,
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

fn settled(message: String) -> ResolveError {
    ResolveError {
        message,
        transient: false,
    }
}

fn transient(message: String) -> ResolveError {
    ResolveError {
        message,
        transient: true,
    }
}

impl DigestResolver {
    /// The digest `query.tag` points at now, tried up to [`ATTEMPTS`] times.
    pub async fn resolve(
        &self,
        outbound: &Outbound,
        query: &ManifestQuery<'_>,
    ) -> Result<String, ResolveError> {
        let session = self.session(outbound, query)?;
        let mut attempt = 0;
        loop {
            match session.resolve_once(self).await {
                Err(error) if error.transient && attempt + 1 < ATTEMPTS => {
                    tokio::time::sleep(BACKOFF[attempt]).await;
                    attempt += 1;
                }
                Err(error) if error.transient => {
                    return Err(transient(format!("{} ({ATTEMPTS} tries)", error.message)))
                }
                outcome => return outcome,
            }
        }
    }

    fn session<'a>(
        &self,
        outbound: &Outbound,
        query: &'a ManifestQuery<'a>,
    ) -> Result<Session<'a>, ResolveError> {
        let base = check_url(query.registry_url)
            .map_err(|problem| settled(format!("the registry URL is not usable: {problem}")))?;
        let mut manifest_url = base.clone();
        manifest_url.set_query(None);
        manifest_url.set_fragment(None);
        manifest_url.set_path(&format!("/v2/{}/manifests/{}", query.repository, query.tag));
        let http = self
            .client(outbound, query.via_cloud_proxy)
            .map_err(|error| settled(error.to_string()))?;
        Ok(Session {
            http,
            host: display_target(base.as_str()),
            manifest_url,
            query,
            timeout: outbound.timeout.min(ATTEMPT_TIMEOUT),
            deny_private_egress: outbound.deny_private_egress,
            key: TokenKey {
                registry: base.origin().ascii_serialization(),
                repository: query.repository.to_string(),
                // A changed password must not reuse the old one's token.
                credentials: query
                    .credentials
                    .map_or(String::new(), |(username, password)| {
                        let fingerprint = Sha256::digest(password.as_bytes());
                        format!("{username}:{}", hex::encode(&fingerprint[..8]))
                    }),
            },
        })
    }

    fn client(
        &self,
        outbound: &Outbound,
        via_cloud_proxy: bool,
    ) -> Result<reqwest::Client, ConnectError> {
        let mut clients = lock(&self.clients);
        if let Some(client) = clients.get(&via_cloud_proxy) {
            return Ok(client.clone());
        }
        let client = outbound.http_client(via_cloud_proxy)?;
        clients.insert(via_cloud_proxy, client.clone());
        Ok(client)
    }

    fn cached_token(&self, key: &TokenKey) -> Option<String> {
        let tokens = lock(&self.tokens);
        tokens
            .get(key)
            .filter(|cached| cached.usable_until > Instant::now())
            .map(|cached| cached.token.clone())
    }

    fn keep_token(&self, key: TokenKey, token: String, lifetime: Duration) {
        let mut tokens = lock(&self.tokens);
        if tokens.len() >= MAX_CACHED_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, cached| cached.usable_until > now);
            if tokens.len() >= MAX_CACHED_TOKENS {
                tokens.clear();
            }
        }
        let usable_until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        tokens.insert(
            key,
            CachedToken {
                token,
                usable_until,
            },
        );
    }

    fn forget_token(&self, key: &TokenKey) {
        lock(&self.tokens).remove(key);
    }
}

/// How a manifest request authenticates.
enum Authorization {
    None,
    Basic,
    Bearer(String),
}

struct Session<'a> {
    http: reqwest::Client,
    /// `host:port`, for messages.
    host: String,
    manifest_url: Url,
    query: &'a ManifestQuery<'a>,
    timeout: Duration,
    deny_private_egress: bool,
    key: TokenKey,
}

impl Session<'_> {
    /// One try: with a cached token if there is one, else anonymously; a
    /// challenge is answered once.
    async fn resolve_once(&self, resolver: &DigestResolver) -> Result<String, ResolveError> {
        let cached = resolver.cached_token(&self.key);
        let first_authorization = match &cached {
            Some(token) => Authorization::Bearer(token.clone()),
            None => Authorization::None,
        };
        let answer = self.head_manifest(&first_authorization).await?;
        if answer.status() != StatusCode::UNAUTHORIZED {
            return self.digest_of(answer).await;
        }
        if cached.is_some() {
            // Revoked or expired early: ask for a new one.
            resolver.forget_token(&self.key);
        }
        let authorization = match challenge_of(answer.headers()) {
            Some(Challenge::Basic) if self.query.credentials.is_some() => Authorization::Basic,
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let (token, lifetime) = self.fetch_token(&realm, service, scope).await?;
                resolver.keep_token(self.key.clone(), token.clone(), lifetime);
                Authorization::Bearer(token)
            }
            _ => return Err(self.refused()),
        };
        let answer = self.head_manifest(&authorization).await?;
        if answer.status() == StatusCode::UNAUTHORIZED {
            resolver.forget_token(&self.key);
            return Err(self.refused());
        }
        self.digest_of(answer).await
    }

    async fn head_manifest(
        &self,
        authorization: &Authorization,
    ) -> Result<reqwest::Response, ResolveError> {
        let request = self
            .http
            .request(Method::HEAD, self.manifest_url.clone())
            .header(ACCEPT, MANIFEST_ACCEPT)
            .timeout(self.timeout);
        let request = match authorization {
            Authorization::None => request,
            Authorization::Basic => self.with_basic_auth(request),
            Authorization::Bearer(token) => request.bearer_auth(token),
        };
        self.send(request, &format!("the registry at {}", self.host))
            .await
    }

    fn with_basic_auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.query.credentials {
            Some((username, password)) => request.basic_auth(username, Some(password)),
            None => request,
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        target: &str,
    ) -> Result<reqwest::Response, ResolveError> {
        let unreachable = |error: &reqwest::Error| {
            transient(format!(
                "could not reach {target}: {}",
                describe_transport_failure(error, self.timeout)
            ))
        };
        let request = request.build().map_err(|error| unreachable(&error))?;
        check_egress(self.deny_private_egress, request.url().as_str())
            .await
            .map_err(|denied| settled(format!("did not call {target}: {denied}")))?;
        self.http
            .execute(request)
            .await
            .map_err(|error| unreachable(&error))
    }

    /// A token from the challenge's realm, with the endpoint's credentials
    /// when it has them (anonymous tokens pull public repositories).
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<(String, Duration), ResolveError> {
        let mut url = check_url(realm).map_err(|_| {
            settled(format!(
                "the registry at {} named a token service that is not a usable URL",
                self.host
            ))
        })?;
        // The scope the challenge names, else the one this request needs.
        let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.query.repository));
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(service) = &service {
                pairs.append_pair("service", service);
            }
            pairs.append_pair("scope", &scope);
        }
        let service_name = format!(
            "the registry's token service at {}",
            display_target(url.as_str())
        );
        let request = self.with_basic_auth(self.http.get(url).timeout(self.timeout));
        let answer = self.send(request, &service_name).await?;
        let status = answer.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(settled(format!(
                "{}{}",
                self.refused().message,
                format_args!(" (its token service said {status})")
            )));
        }
        if !status.is_success() {
            return Err(self.unexpected(answer, "the token request").await);
        }
        let body = read_capped(answer, MAX_API_RESPONSE_BYTES)
            .await
            .map_err(|error| transient(format!("{service_name} answered, but {error}")))?;
        let parsed: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            settled(format!(
                "{service_name} answered something that is not a token"
            ))
        })?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(DEFAULT_TOKEN_SECONDS));
        parsed
            .token
            .or(parsed.access_token)
            .filter(|token| !token.is_empty())
            .map(|token| (token, lifetime))
            .ok_or_else(|| settled(format!("{service_name} answered without a token")))
    }

    /// The `Docker-Content-Digest` of a manifest answer, or what was wrong.
    async fn digest_of(&self, answer: reqwest::Response) -> Result<String, ResolveError> {
        let status = answer.status();
        if status.is_success() {
            let Some(value) = answer.headers().get("docker-content-digest") else {
                return Err(settled(format!(
                    "the registry at {} answered {} without a Docker-Content-Digest header",
                    self.host,
                    self.image()
                )));
            };
            let digest = value.to_str().unwrap_or_default().trim();
            if is_valid_digest(digest) {
                return Ok(digest.to_string());
            }
            return Err(settled(format!(
                "the registry at {} answered {} with a malformed digest '{}'",
                self.host,
                self.image(),
                excerpt(&String::from_utf8_lossy(value.as_bytes()), &[])
            )));
        }
        match status {
            StatusCode::NOT_FOUND => Err(settled(format!(
                "the registry at {} has no {} (404: unknown repository or tag)",
                self.host,
                self.image()
            ))),
            StatusCode::FORBIDDEN => Err(settled(format!(
                "the registry at {} refused access to {} (403)",
                self.host, self.query.repository
            ))),
            _ => Err(self.unexpected(answer, &self.image()).await),
        }
    }

    /// `repository:tag`, for messages.
    fn image(&self) -> String {
        format!("{}:{}", self.query.repository, self.query.tag)
    }

    fn refused(&self) -> ResolveError {
        settled(match self.query.credentials {
            Some((username, _)) => format!(
                "the registry at {} refused the credentials of {username} for {} (401)",
                self.host, self.query.repository
            ),
            None => format!(
                "the registry at {} needs a user name and password for {} (401): set them on the endpoint",
                self.host, self.query.repository
            ),
        })
    }

    /// Any other answer: 429 and 5xx are worth another try.
    async fn unexpected(&self, answer: reqwest::Response, asked: &str) -> ResolveError {
        let status = answer.status();
        let password = self.query.credentials.map_or("", |(_, password)| password);
        let body = match read_capped_text(answer, MAX_API_RESPONSE_BYTES).await {
            Ok(text) => excerpt(&text, &[password]),
            Err(too_large @ ReadError::TooLarge { .. }) => too_large.to_string(),
            Err(ReadError::Failed(_)) => String::new(),
        };
        let quoted = if body.is_empty() {
            String::new()
        } else {
            format!(": {body}")
        };
        let message = format!(
            "the registry at {} answered {status} to {asked}{quoted}",
            self.host
        );
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            transient(message)
        } else {
            settled(message)
        }
    }
}

pub(super) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The challenge of a 401 this client answers: a `Bearer` one when the
/// registry offers it (token auth is what registries offering both prefer),
/// else `Basic`.
pub(super) fn challenge_of(headers: &HeaderMap) -> Option<Challenge> {
    let mut basic = None;
    for value in headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
    {
        let value = value.trim();
        let (scheme, parameters) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            basic = Some(Challenge::Basic);
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let parameters = auth_parameters(parameters);
            let find = |wanted: &str| {
                parameters
                    .iter()
                    .find(|(name, _)| name == wanted)
                    .map(|(_, value)| value.clone())
            };
            if let Some(realm) = find("realm") {
                return Some(Challenge::Bearer {
                    realm,
                    service: find("service"),
                    scope: find("scope"),
                });
            }
        }
    }
    basic
}

/// The cache's lock; a panic elsewhere leaves plain data, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use slipway_standins::hub::{HubStandin, HubStandinHandle};

    use super::*;
    use crate::connect::test_support::install_crypto_provider;

    async fn registry() -> HubStandinHandle {
        install_crypto_provider();
        HubStandin::builder()
            .credentials("alice", "right-password")
            .start()
            .await
            .expect("the registry stand-in starts")
    }

    fn query<'a>(
        registry: &'a str,
        tag: &'a str,
        credentials: Option<(&'a str, &'a str)>,
    ) -> ManifestQuery<'a> {
        ManifestQuery {
            registry_url: registry,
            repository: "alice/app",
            tag,
            credentials,
            via_cloud_proxy: false,
        }
    }

    fn outbound(timeout: Duration) -> Outbound {
        Outbound {
            timeout,
            ..Outbound::default()
        }
    }

    fn calls(registry: &HubStandinHandle, method: &str, path_part: &str) -> usize {
        registry
            .calls()
            .iter()
            .filter(|call| call.method == method && call.path.contains(path_part))
            .count()
    }

    #[tokio::test]
    async fn a_tag_resolves_with_a_head_and_the_token_is_asked_for_once() {
        let registry = registry().await;
        let pushed = registry.store_image("alice", "app", "v1", &["linux/amd64", "linux/arm64"]);
        registry.mark_private("alice", "app");
        let resolver = DigestResolver::default();
        let outbound = outbound(Duration::from_secs(5));
        let url = registry.url();
        let credentials = Some(("alice", "right-password"));

        let first = resolver
            .resolve(&outbound, &query(&url, "v1", credentials))
            .await;
        let second = resolver
            .resolve(&outbound, &query(&url, "v1", credentials))
            .await;

        // The index digest of the multi-platform image, twice, with one token.
        assert_eq!(first, Ok(pushed.clone()));
        assert_eq!(second, Ok(pushed));
        assert_eq!(calls(&registry, "GET", "/token"), 1);
        assert_eq!(
            calls(&registry, "GET", "/manifests/"),
            0,
            "a GET counts as a pull"
        );
        assert_eq!(calls(&registry, "HEAD", "/manifests/v1"), 3);
    }

    #[tokio::test]
    async fn answers_that_settle_it_are_not_retried_and_say_what_was_wrong() {
        let registry = registry().await;
        registry.store_image("alice", "app", "v1", &[]);
        registry.mark_private("alice", "app");
        let resolver = DigestResolver::default();
        let outbound = outbound(Duration::from_secs(5));
        let url = registry.url();
        let host = url.trim_start_matches("http://");

        let unknown = resolver
            .resolve(
                &outbound,
                &query(&url, "nope", Some(("alice", "right-password"))),
            )
            .await
            .unwrap_err();
        assert_eq!(
            unknown.message,
            format!(
                "the registry at {host} has no alice/app:nope (404: unknown repository or tag)"
            )
        );
        assert_eq!(
            calls(&registry, "HEAD", "/manifests/nope"),
            2,
            "anonymous, then with a token"
        );

        let refused = resolver
            .resolve(
                &outbound,
                &query(&url, "v1", Some(("alice", "wrong-password"))),
            )
            .await
            .unwrap_err();
        assert!(
            refused.message.starts_with(&format!(
                "the registry at {host} refused the credentials of alice for alice/app (401)"
            )),
            "{}",
            refused.message
        );
        assert!(!refused.message.contains("wrong-password"));

        let anonymous = resolver
            .resolve(&outbound, &query(&url, "v1", None))
            .await
            .unwrap_err();
        assert!(
            anonymous.message.contains("needs a user name and password"),
            "{}",
            anonymous.message
        );
    }

    #[tokio::test]
    async fn a_failing_registry_is_tried_three_times_and_a_hanging_one_is_bounded() {
        let registry = registry().await;
        registry.store_image("alice", "app", "v1", &[]);
        let resolver = DigestResolver::default();
        let url = registry.url();

        registry.fail_registry_with(503);
        let failed = resolver
            .resolve(&outbound(Duration::from_secs(5)), &query(&url, "v1", None))
            .await
            .unwrap_err();
        assert!(failed.message.contains("503"), "{}", failed.message);
        assert!(failed.message.ends_with("(3 tries)"), "{}", failed.message);
        assert_eq!(calls(&registry, "HEAD", "/manifests/v1"), ATTEMPTS);

        registry.stop_failing_registry();
        registry.hang_registry(true);
        let started = Instant::now();
        let hung = resolver
            .resolve(
                &outbound(Duration::from_millis(300)),
                &query(&url, "v1", None),
            )
            .await
            .unwrap_err();
        // Three tries of 0.3 s and the pauses between them (1.25 s), with room for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(hung.message.contains("could not reach"), "{}", hung.message);
        registry.hang_registry(false);
    }

    #[test]
    fn a_bearer_challenge_is_preferred_to_basic() {
        let mut headers = HeaderMap::new();
        headers.append(WWW_AUTHENTICATE, "Basic realm=\"r\"".parse().unwrap());
        headers.append(
            WWW_AUTHENTICATE,
            "Bearer realm=\"https://auth.example/token\",service=\"s\""
                .parse()
                .unwrap(),
        );
        assert!(
            matches!(challenge_of(&headers), Some(Challenge::Bearer { realm, .. }) if realm == "https://auth.example/token")
        );
        let mut basic_only = HeaderMap::new();
        basic_only.append(WWW_AUTHENTICATE, "Basic realm=\"r\"".parse().unwrap());
        assert!(matches!(challenge_of(&basic_only), Some(Challenge::Basic)));
    }
}

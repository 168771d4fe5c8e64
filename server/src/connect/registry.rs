//! Validating Docker registry endpoints: Docker Hub through its login API, any
//! other registry through the Registry HTTP API v2 (`GET /v2/`), including the
//! bearer-token handshake of the Docker Registry token authentication spec
//! (Docker Hub's own registry, Harbor, GitLab, distribution with token auth).

use std::time::Duration;

use app::endpoint::{Endpoint, EndpointSecrets};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::manifests::{challenge_of, Challenge};
use super::outbound::{
    check_egress, describe_transport_failure, display_target, excerpt, read_capped,
    read_capped_text, ReadError, MAX_API_RESPONSE_BYTES,
};
use super::{check_url, DockerHubClient, Outbound};

struct Credentials<'a> {
    username: &'a str,
    password: &'a str,
}

/// The user name and password, both or neither (an anonymous registry), as
/// the pushed-image pinning sends them to the registry.
pub fn registry_credentials<'a>(
    endpoint: &'a Endpoint,
    secrets: &'a EndpointSecrets,
) -> Result<Option<(&'a str, &'a str)>, String> {
    Ok(credentials(endpoint, secrets)?
        .map(|credentials| (credentials.username, credentials.password)))
}

/// The user name and password, both or neither (an anonymous registry).
fn credentials<'a>(
    endpoint: &'a Endpoint,
    secrets: &'a EndpointSecrets,
) -> Result<Option<Credentials<'a>>, String> {
    let username = endpoint
        .settings
        .username
        .as_deref()
        .map(str::trim)
        .filter(|username| !username.is_empty());
    let password = secrets
        .password
        .as_deref()
        .filter(|password| !password.is_empty());
    match (username, password) {
        (Some(username), Some(password)) => Ok(Some(Credentials { username, password })),
        (Some(username), None) => Err(format!("no password is stored for the user {username}")),
        (None, Some(_)) => Err("a password is stored, but no user name is set".to_string()),
        (None, None) => Ok(None),
    }
}

pub(super) async fn check_docker_hub(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
    outbound: &Outbound,
) -> Result<String, String> {
    let Some(credentials) = credentials(endpoint, secrets)? else {
        return Err("enter the Docker Hub user name and password".to_string());
    };
    let hub = DockerHubClient::new(outbound, endpoint.settings.cloud_proxy)
        .map_err(|error| error.to_string())?;
    match hub.login(credentials.username, credentials.password).await {
        Ok(_) => Ok(format!(
            "Signed in to Docker Hub as {}",
            credentials.username
        )),
        Err(error) if error.is_unauthorized() => {
            Err("Docker Hub refused the user name or password".to_string())
        }
        Err(error) => Err(error.to_string()),
    }
}

pub(super) async fn check_registry(
    endpoint: &Endpoint,
    secrets: &EndpointSecrets,
    outbound: &Outbound,
) -> Result<String, String> {
    let url = check_url(&endpoint.url)
        .map_err(|problem| format!("the registry URL is not usable: {problem}"))?;
    let probe = RegistryProbe {
        http: outbound
            .http_client(endpoint.settings.cloud_proxy)
            .map_err(|error| error.to_string())?,
        api_root: api_root(&url),
        host: display_target(url.as_str()),
        timeout: outbound.timeout,
        deny_private_egress: outbound.deny_private_egress,
        credentials: credentials(endpoint, secrets)?,
    };
    probe.sign_in().await
}

/// The Registry API lives at `/v2/` of the registry's origin, whatever
/// repository path the endpoint's URL names.
fn api_root(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_path("/v2/");
    root.set_query(None);
    root.set_fragment(None);
    root
}

struct RegistryProbe<'a> {
    http: reqwest::Client,
    api_root: Url,
    /// `host:port`, for messages.
    host: String,
    timeout: Duration,
    deny_private_egress: bool,
    credentials: Option<Credentials<'a>>,
}

impl RegistryProbe<'_> {
    /// `GET /v2/` with basic auth; a `401` with a bearer challenge gets a token
    /// from the challenge's realm (with the same basic auth) and tries again.
    async fn sign_in(&self) -> Result<String, String> {
        let first = self
            .send(
                self.with_basic_auth(self.http.get(self.api_root.clone())),
                "",
            )
            .await?;
        match first.status() {
            status if status.is_success() => Ok(self.signed_in()),
            StatusCode::UNAUTHORIZED => {
                let Some(challenge) = bearer_challenge(first.headers()) else {
                    return Err(self.refused(""));
                };
                let token = self.fetch_token(&challenge).await?;
                let second = self
                    .send(self.http.get(self.api_root.clone()).bearer_auth(token), "")
                    .await?;
                match second.status() {
                    status if status.is_success() => Ok(self.signed_in()),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(self.refused("")),
                    _ => Err(self.unexpected(second, "/v2/").await),
                }
            }
            StatusCode::FORBIDDEN => Err(self.refused("")),
            _ => Err(self.unexpected(first, "/v2/").await),
        }
    }

    async fn fetch_token(&self, challenge: &BearerChallenge) -> Result<String, String> {
        let mut realm = check_url(&challenge.realm).map_err(|_| {
            format!(
                "the registry at {} named a token service that is not a usable URL",
                self.host
            )
        })?;
        let parameters = [("service", &challenge.service), ("scope", &challenge.scope)];
        for (name, value) in parameters {
            if let Some(value) = value {
                realm.query_pairs_mut().append_pair(name, value);
            }
        }
        let service = format!("token service at {}", display_target(realm.as_str()));
        let answer = self
            .send(self.with_basic_auth(self.http.get(realm)), &service)
            .await?;
        match answer.status() {
            status if status.is_success() => {
                let body = read_capped(answer, MAX_API_RESPONSE_BYTES)
                    .await
                    .map_err(|error| format!("the registry's {service} answered, but {error}"))?;
                let parsed: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
                    format!("the registry's {service} answered something that is not a token")
                })?;
                parsed
                    .token
                    .or(parsed.access_token)
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| format!("the registry's {service} answered without a token"))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(self.refused(&format!(" (its {service} said {})", answer.status())))
            }
            _ => Err(self.unexpected(answer, "the token request").await),
        }
    }

    fn with_basic_auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some(credentials) => {
                request.basic_auth(credentials.username, Some(credentials.password))
            }
            None => request,
        }
    }

    /// Sends a request; `via` names a party other than the registry itself.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        via: &str,
    ) -> Result<reqwest::Response, String> {
        let target = if via.is_empty() {
            format!("the registry at {}", self.host)
        } else {
            format!("the registry's {via}")
        };
        let unreachable = |error: &reqwest::Error| {
            format!(
                "could not reach {target}: {}",
                describe_transport_failure(error, self.timeout)
            )
        };
        let request = request.build().map_err(|error| unreachable(&error))?;
        check_egress(self.deny_private_egress, request.url().as_str())
            .await
            .map_err(|denied| format!("did not call {target}: {denied}"))?;
        self.http
            .execute(request)
            .await
            .map_err(|error| unreachable(&error))
    }

    fn signed_in(&self) -> String {
        match &self.credentials {
            Some(credentials) => format!(
                "Signed in to the registry at {} as {}",
                self.host, credentials.username
            ),
            None => format!(
                "The registry at {} answers and lets anyone in (no user name is set)",
                self.host
            ),
        }
    }

    fn refused(&self, detail: &str) -> String {
        match &self.credentials {
            Some(_) => format!(
                "the registry at {} refused the credentials{detail}",
                self.host
            ),
            None => format!(
                "the registry at {} needs a user name and password{detail}",
                self.host
            ),
        }
    }

    async fn unexpected(&self, response: reqwest::Response, asked: &str) -> String {
        let status = response.status();
        let hint = if status == StatusCode::NOT_FOUND && asked == "/v2/" {
            " (no Registry API there: is this the address of a Docker registry?)"
        } else {
            ""
        };
        let password = self
            .credentials
            .as_ref()
            .map_or("", |credentials| credentials.password);
        let body = match read_capped_text(response, MAX_API_RESPONSE_BYTES).await {
            Ok(text) => excerpt(&text, &[password]),
            Err(too_large @ ReadError::TooLarge { .. }) => too_large.to_string(),
            Err(ReadError::Failed(_)) => String::new(),
        };
        let quoted = if body.is_empty() {
            String::new()
        } else {
            format!(": {body}")
        };
        format!(
            "the registry at {} answered {status} to {asked}{hint}{quoted}",
            self.host
        )
    }
}

/// A token service's answer (Docker's token authentication specification).
#[derive(Deserialize)]
pub(super) struct TokenAnswer {
    pub token: Option<String>,
    pub access_token: Option<String>,
    /// Seconds the token lasts.
    pub expires_in: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
    scope: Option<String>,
}

/// The `Bearer realm="…",service="…",scope="…"` challenge of a 401, if any.
fn bearer_challenge(headers: &HeaderMap) -> Option<BearerChallenge> {
    match challenge_of(headers)? {
        Challenge::Bearer {
            realm,
            service,
            scope,
        } => Some(BearerChallenge {
            realm,
            service,
            scope,
        }),
        Challenge::Basic => None,
    }
}

/// `name=value` pairs of an HTTP auth challenge (RFC 9110 §11.2); values may be
/// quoted strings holding commas (`scope="repository:a/b:pull,push"`).
pub(super) fn auth_parameters(text: &str) -> Vec<(String, String)> {
    let mut parameters = Vec::new();
    let mut rest = text.trim();
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => take_quoted(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        parameters.push((name, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    parameters
}

/// The content of a quoted string (after its opening quote) and what follows it.
fn take_quoted(quoted: &str) -> (String, &str) {
    let mut value = String::new();
    let mut escaped = false;
    for (index, character) in quoted.char_indices() {
        match character {
            _ if escaped => {
                value.push(character);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => return (value, &quoted[index + 1..]),
            _ => value.push(character),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use app::endpoint::{EndpointKind, EndpointSettings, RegistryServerType};
    use axum::extract::{RawQuery, State};
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use base64::Engine;
    use slipway_standins::hub::HubStandin;

    use super::*;
    use crate::connect::test_support::{
        endpoint, hanging_address, install_crypto_provider, silent_server, validation_bound,
    };
    use crate::connect::validate;

    const ISSUED_TOKEN: &str = "issued-registry-token";

    /// A registry that wants basic auth on `/v2/`, or (with a token service)
    /// a bearer token from its `/token` realm, which wants basic auth.
    #[derive(Clone)]
    struct FakeRegistry {
        token_service: bool,
        realm: String,
        token_queries: Arc<Mutex<Vec<String>>>,
    }

    fn basic_auth_is_right(headers: &HeaderMap) -> bool {
        let expected = base64::engine::general_purpose::STANDARD.encode("alice:right-password");
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            == Some(format!("Basic {expected}").as_str())
    }

    async fn api_root(State(fake): State<FakeRegistry>, headers: HeaderMap) -> impl IntoResponse {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let (allowed, challenge) = if fake.token_service {
            (
                authorization == Some(format!("Bearer {ISSUED_TOKEN}").as_str()),
                format!(
                    r#"Bearer realm="{}",service="fake-registry",scope="registry:catalog:*""#,
                    fake.realm
                ),
            )
        } else {
            (
                basic_auth_is_right(&headers),
                r#"Basic realm="fake-registry""#.to_string(),
            )
        };
        if allowed {
            (StatusCode::OK, "{}").into_response()
        } else {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#;
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, challenge)],
                body,
            )
                .into_response()
        }
    }

    async fn token(
        State(fake): State<FakeRegistry>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
    ) -> impl IntoResponse {
        fake.token_queries
            .lock()
            .expect("lock")
            .push(query.unwrap_or_default());
        if basic_auth_is_right(&headers) {
            (
                StatusCode::OK,
                format!(r#"{{"token":"{ISSUED_TOKEN}","expires_in":300}}"#),
            )
        } else {
            (
                StatusCode::UNAUTHORIZED,
                r#"{"details":"incorrect username or password"}"#.to_string(),
            )
        }
    }

    /// Starts the fake; answers its base URL and the token requests' queries.
    async fn start_fake_registry(token_service: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let fake = FakeRegistry {
            token_service,
            realm: format!("{url}/token"),
            token_queries: Arc::default(),
        };
        let queries = Arc::clone(&fake.token_queries);
        let router = Router::new()
            .route("/v2/", get(api_root))
            .route("/token", get(token))
            .with_state(fake);
        tokio::spawn(async move { axum::serve(listener, router).await });
        (url, queries)
    }

    fn registry_endpoint(url: &str, server_type: RegistryServerType, username: &str) -> Endpoint {
        let settings = EndpointSettings {
            server_type: Some(server_type),
            username: Some(username.to_string()),
            ..EndpointSettings::default()
        };
        endpoint(EndpointKind::DockerRegistry, url, settings)
    }

    fn password(password: &str) -> EndpointSecrets {
        EndpointSecrets {
            password: Some(password.to_string()),
            ..EndpointSecrets::default()
        }
    }

    fn outbound(timeout: Duration) -> Outbound {
        Outbound {
            timeout,
            ..Outbound::default()
        }
    }

    #[tokio::test]
    async fn a_registry_with_basic_auth_takes_the_right_password_only() {
        install_crypto_provider();
        let (url, _) = start_fake_registry(false).await;
        let host = url.trim_start_matches("http://");
        // The repository path in the URL does not matter: the API is at /v2/.
        let endpoint = registry_endpoint(
            &format!("{url}/team/app"),
            RegistryServerType::Registry,
            "alice",
        );

        let good = validate(
            &endpoint,
            &password("right-password"),
            &outbound(Duration::from_secs(5)),
        )
        .await;
        assert!(good.ok, "{}", good.message);
        assert_eq!(
            good.message,
            format!("Signed in to the registry at {host} as alice")
        );
        assert!(good.checked_at > 1_700_000_000_000);

        let bad = validate(
            &endpoint,
            &password("wrong-password"),
            &outbound(Duration::from_secs(5)),
        )
        .await;
        assert!(!bad.ok);
        assert_eq!(
            bad.message,
            format!("the registry at {host} refused the credentials")
        );
    }

    #[tokio::test]
    async fn a_registry_with_a_token_service_gets_the_bearer_token_dance() {
        install_crypto_provider();
        let (url, token_queries) = start_fake_registry(true).await;
        let host = url.trim_start_matches("http://");
        let endpoint = registry_endpoint(&url, RegistryServerType::Registry, "alice");

        let good = validate(
            &endpoint,
            &password("right-password"),
            &outbound(Duration::from_secs(5)),
        )
        .await;
        assert!(good.ok, "{}", good.message);
        assert_eq!(
            good.message,
            format!("Signed in to the registry at {host} as alice")
        );
        assert_eq!(
            token_queries.lock().expect("lock").as_slice(),
            ["service=fake-registry&scope=registry%3Acatalog%3A*"]
        );

        let bad = validate(
            &endpoint,
            &password("wrong-password"),
            &outbound(Duration::from_secs(5)),
        )
        .await;
        assert!(!bad.ok);
        assert_eq!(
            bad.message,
            format!("the registry at {host} refused the credentials (its token service at {host} said 401 Unauthorized)")
        );
        assert!(!bad.message.contains("wrong-password"));
    }

    #[test]
    fn bearer_challenges_are_parsed_with_quoted_commas() {
        let mut headers = HeaderMap::new();
        headers.append(
            reqwest::header::WWW_AUTHENTICATE,
            "Basic realm=\"x\"".parse().expect("header"),
        );
        headers.append(
            reqwest::header::WWW_AUTHENTICATE,
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push""#
                .parse()
                .expect("header"),
        );
        assert_eq!(
            bearer_challenge(&headers),
            Some(BearerChallenge {
                realm: "https://auth.example.com/token".to_string(),
                service: Some("registry.example.com".to_string()),
                scope: Some("repository:team/app:pull,push".to_string()),
            })
        );
        assert_eq!(
            auth_parameters(r#"realm=plain, error="invalid_token", x="a\"b""#),
            vec![
                ("realm".to_string(), "plain".to_string()),
                ("error".to_string(), "invalid_token".to_string()),
                ("x".to_string(), "a\"b".to_string()),
            ]
        );
    }

    /// A registry whose `/v2/` answers `answer` (status, headers, body chunks
    /// of 64 KiB, streamed); answers its URL and how many chunks were produced.
    async fn start_odd_registry(
        status: u16,
        location: Option<String>,
        chunks: usize,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use futures::StreamExt as _;
        let produced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = produced.clone();
        let router = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            let location = location.clone();
            async move {
                let stream = futures::stream::iter(0..chunks).map(move |_| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 64 * 1024]))
                });
                let mut response =
                    axum::response::Response::new(axum::body::Body::from_stream(stream));
                *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                if let Some(location) = location {
                    response
                        .headers_mut()
                        .insert(axum::http::header::LOCATION, location.parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("http://{address}"), produced)
    }

    #[tokio::test]
    async fn a_huge_registry_answer_is_not_read_past_the_limit() {
        install_crypto_provider();
        // 800 × 64 KiB = 50 MiB of error page.
        let (url, produced) = start_odd_registry(500, None, 800).await;
        let endpoint = registry_endpoint(&url, RegistryServerType::Registry, "alice");

        let outcome = validate(&endpoint, &password("p"), &outbound(Duration::from_secs(5))).await;

        assert!(!outcome.ok);
        assert!(
            outcome.message.ends_with(&format!(
                "the response was larger than {MAX_API_RESPONSE_BYTES} bytes"
            )),
            "{}",
            outcome.message
        );
        // Reading stopped near the limit: far from all 50 MiB were produced
        // (what the peer gets out before the close is what the kernel's
        // socket buffers take, a few MiB on loopback).
        let sent = produced.load(std::sync::atomic::Ordering::SeqCst);
        assert!(sent < 400, "{sent} chunks of 64 KiB were produced");
    }

    #[tokio::test]
    async fn a_registry_redirect_is_reported_not_followed() {
        install_crypto_provider();
        let (elsewhere, _) = start_fake_registry(false).await;
        let (url, _) = start_odd_registry(302, Some(format!("{elsewhere}/v2/")), 0).await;
        let endpoint = registry_endpoint(&url, RegistryServerType::Registry, "alice");

        let outcome = validate(
            &endpoint,
            &password("right-password"),
            &outbound(Duration::from_secs(5)),
        )
        .await;

        assert!(!outcome.ok, "{}", outcome.message);
        assert!(
            outcome.message.contains("answered 302 Found to /v2/"),
            "{}",
            outcome.message
        );
    }

    #[tokio::test]
    async fn with_deny_private_egress_a_private_registry_is_not_called() {
        install_crypto_provider();
        let (url, _) = start_fake_registry(false).await;
        let endpoint = registry_endpoint(&url, RegistryServerType::Registry, "alice");
        let outbound = Outbound {
            deny_private_egress: true,
            ..outbound(Duration::from_secs(5))
        };

        let outcome = validate(&endpoint, &password("right-password"), &outbound).await;

        assert!(!outcome.ok);
        assert!(
            outcome
                .message
                .starts_with("did not call the registry at 127.0.0.1:")
                && outcome
                    .message
                    .contains("private egress is denied: 127.0.0.1 is a loopback address"),
            "{}",
            outcome.message
        );
    }

    #[tokio::test]
    async fn docker_hub_sign_in_is_checked_through_its_login() {
        install_crypto_provider();
        let hub = HubStandin::builder()
            .credentials("svendowideit", "right-password")
            .start()
            .await
            .expect("hub stand-in");
        let outbound = Outbound {
            docker_hub_api_url: hub.url(),
            ..outbound(Duration::from_secs(5))
        };
        // The endpoint's URL is the repository's; the login goes to the API.
        let endpoint = registry_endpoint(
            "https://index.docker.io/v1/",
            RegistryServerType::DockerHub,
            "svendowideit",
        );

        let good = validate(&endpoint, &password("right-password"), &outbound).await;
        assert_eq!(
            (good.ok, good.message.as_str()),
            (true, "Signed in to Docker Hub as svendowideit")
        );

        let bad = validate(&endpoint, &password("wrong-password"), &outbound).await;
        assert_eq!(
            (bad.ok, bad.message.as_str()),
            (false, "Docker Hub refused the user name or password")
        );

        hub.fail_with(503);
        let failing = validate(&endpoint, &password("right-password"), &outbound).await;
        assert!(!failing.ok);
        assert!(
            failing
                .message
                .starts_with("Docker Hub answered 503 Service Unavailable"),
            "{}",
            failing.message
        );

        let no_password = validate(&endpoint, &EndpointSecrets::default(), &outbound).await;
        assert_eq!(
            no_password.message,
            "no password is stored for the user svendowideit"
        );
        let proxied = Endpoint {
            settings: EndpointSettings {
                cloud_proxy: true,
                ..endpoint.settings.clone()
            },
            ..endpoint.clone()
        };
        let without_proxy = validate(&proxied, &password("right-password"), &outbound).await;
        assert_eq!(
            without_proxy.message,
            "this endpoint uses the cloud proxy, but the server has no --cloud-proxy-url"
        );
    }

    #[tokio::test]
    async fn unreachable_registries_answer_within_the_timeout() {
        install_crypto_provider();
        let timeout = Duration::from_secs(2);
        let closed_hub = Outbound {
            docker_hub_api_url: "http://127.0.0.1:9".to_string(),
            ..outbound(timeout)
        };
        let hub_endpoint = registry_endpoint(
            "https://index.docker.io/v1/",
            RegistryServerType::DockerHub,
            "alice",
        );
        let started = Instant::now();
        let closed = validate(&hub_endpoint, &password("pw"), &closed_hub).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            closed.message,
            "could not reach Docker Hub: the connection was refused (is the address and port right?)"
        );

        // A host that drops connects, one that accepts and never answers, and
        // an outside address that is a blackhole on most networks (here any
        // failure counts: some sandboxes intercept it).
        let hanging = hanging_address().await;
        let silent = silent_server().await;
        let registry_at =
            |addr: String| registry_endpoint(&addr, RegistryServerType::Registry, "alice");
        let outbound = outbound(timeout);
        let secrets = password("pw");
        let [hung_at, silent_at, outside_at] = [
            format!("http://{}", hanging.addr),
            format!("http://{silent}"),
            "http://10.255.255.1:5000".to_string(),
        ]
        .map(registry_at);
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
                "could not reach the registry at {}: no answer within 2 s",
                hanging.addr
            )
        );
        assert_eq!(
            unanswered.message,
            format!("could not reach the registry at {silent}: no answer within 2 s")
        );
        assert!(!outside.ok, "{}", outside.message);
    }
}

//! What every request and answer passes through before the routes: the
//! client's address, the Origin check of browser POSTs, and the security
//! headers (a nonce-based Content-Security-Policy among them).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use app::backend::ClientAddress;
use app::error::AppError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::nonce::Nonce;

use super::error::ApiError;
use super::AppState;
use crate::receive::cidr::Cidr;

/// How long browsers keep to https once told (`Strict-Transport-Security`): a year.
pub const HSTS_MAX_AGE_SECONDS: u64 = 365 * 24 * 60 * 60;

/// What the middleware here needs to know of the configuration.
#[derive(Clone, Debug)]
pub struct SecurityConfig {
    /// Where browsers reach this server: `--public-url`'s scheme, host and port.
    pub public_origin: Origin,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxies`).
    pub trusted_proxies: Vec<Cidr>,
    /// The addresses of the front end's JavaScript modules at the public
    /// origin, space-separated: `/pkg/slipway.js`, which the page preloads
    /// with a `<link>` that cannot carry the nonce (so the modules it
    /// imports do not inherit one), and the loader of the split wasm that
    /// it imports.
    pub front_end_modules: String,
}

impl SecurityConfig {
    /// `module_paths` are the front end's JavaScript modules as the pages
    /// load them (`/pkg/slipway.js` and what it imports).
    pub fn new(
        public_url: &str,
        trusted_proxies: Vec<Cidr>,
        module_paths: &[String],
    ) -> anyhow::Result<Self> {
        let public_origin = Origin::parse(public_url).ok_or_else(|| {
            anyhow::anyhow!(
                "--public-url '{public_url}' is not an absolute http or https URL (e.g. https://slipway.example.com)"
            )
        })?;
        Ok(SecurityConfig {
            front_end_modules: module_paths
                .iter()
                .map(|path| format!("{public_origin}{path}"))
                .collect::<Vec<_>>()
                .join(" "),
            public_origin,
            trusted_proxies,
        })
    }

    /// The page's policy: scripts only through the nonce of this answer
    /// (the hydration script) and the front end's modules, wasm
    /// compiled from them, styles and images from this server, fetches and
    /// the live stream to this server, and no framing, plugins, base
    /// changes or foreign form targets.
    pub fn content_security_policy(&self, nonce: &str) -> String {
        format!(
            "default-src 'none'; script-src 'nonce-{nonce}' 'wasm-unsafe-eval' {}; \
             style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; \
             manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            self.front_end_modules
        )
    }

    fn https(&self) -> bool {
        self.public_origin.scheme == "https"
    }

    fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|proxy| proxy.contains(address))
    }

    /// The client behind `peer`: the peer itself, unless it is a trusted
    /// proxy; then the nearest address in `X-Forwarded-For` that is not a
    /// trusted proxy (read from the right: what the proxies appended; the
    /// left end is whatever the client chose to send).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.is_trusted_proxy(client) {
            return client;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in forwarded.into_iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>() else {
                // Not an address: what lies further left cannot be trusted either.
                break;
            };
            client = address;
            if !self.is_trusted_proxy(address) {
                break;
            }
        }
        client
    }
}

/// The scheme, host and port of a URL: what browsers send as `Origin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute http(s) URL; `None` for anything else
    /// (`null`, a relative reference, another scheme).
    pub fn parse(url: &str) -> Option<Origin> {
        let uri: axum::http::Uri = url.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host().filter(|host| !host.is_empty())?;
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(default_port),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        write!(formatter, "{}://{}", self.scheme, self.host)?;
        if self.port != default_port {
            write!(formatter, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// Puts the request's [`ClientAddress`] in its extensions, for the routes
/// that throttle by address (sign-in).
pub async fn client_address(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    if let Some(peer) = peer {
        let client = state.security.client_address(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// Requests a browser may send with the session cookie and that change
/// something: every method but GET, HEAD and OPTIONS, outside the doors
/// that never read the cookie (`/api/v1` takes bearer tokens only, the
/// receivers their secure tokens).
fn is_cookie_door_write(method: &Method, path: &str) -> bool {
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    !safe && !path.starts_with("/api/v1/") && !path.starts_with("/pipelines/api/")
}

/// Server functions (and any other write a session cookie authorises) must
/// come from a page of this server: their `Origin` — or, when a browser
/// leaves it out, their `Referer` — must be `--public-url`'s origin.
/// Neither header: refused too (every browser sends `Origin` on a POST).
/// SameSite=Lax already keeps the cookie off other sites' POSTs; this is the
/// second lock, and it also stops sign-in forms posted from elsewhere.
pub async fn browser_writes_from_public_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_cookie_door_write(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let public = &state.security.public_origin;
    let sent = [header::ORIGIN, header::REFERER]
        .into_iter()
        .find_map(|name| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        });
    let refusal = match sent {
        None => format!(
            "a request without Origin or Referer is refused here: send it from a page of {public}"
        ),
        Some(sent) => match Origin::parse(&sent) {
            Some(origin) if origin == *public => return next.run(request).await,
            _ => format!(
                "cross-origin request refused: this server is {public} (--public-url); open Slipway there"
            ),
        },
    };
    ApiError(AppError::forbidden(refusal)).into_response()
}

/// Security headers on every answer, and a fresh CSP nonce per request: the
/// nonce goes into the request's extensions, where the Leptos context picks
/// it up for the hydration script (see `router`), and into the policy.
pub async fn security_headers(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = Nonce::new();
    request.extensions_mut().insert(nonce.clone());
    // Built assets are the same for everyone and may be kept, but are asked
    // for again each time (an unchanged file is a 304): they keep their
    // names from build to build (the split's chunks too), and a browser
    // mixing a module of the old build with one of the new would fail to
    // hydrate after an upgrade. Pages and data are never kept (they differ
    // per user and may hold what only they see).
    let path = request.uri().path();
    let cacheable = path.starts_with("/pkg/") || path == "/favicon.svg";
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&state.security.content_security_policy(&nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // For browsers older than CSP's frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let cache_control = if cacheable { "no-cache" } else { "no-store" };
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if state.security.https() {
        if let Ok(hsts) = HeaderValue::from_str(&format!("max-age={HSTS_MAX_AGE_SECONDS}")) {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(proxies: &[&str]) -> SecurityConfig {
        SecurityConfig::new(
            "https://slipway.example.com/",
            proxies.iter().map(|p| Cidr::parse(p).unwrap()).collect(),
            &["/pkg/slipway.js".into(), "/pkg/loader.js".into()],
        )
        .unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let public = Origin::parse("https://Slipway.Example.com/cd/").unwrap();
        assert_eq!(public.to_string(), "https://slipway.example.com");
        assert_eq!(
            Origin::parse("https://slipway.example.com:443"),
            Some(public.clone())
        );
        assert_ne!(
            Origin::parse("http://slipway.example.com"),
            Some(public.clone())
        );
        assert_ne!(
            Origin::parse("https://slipway.example.com:8443"),
            Some(public.clone())
        );
        assert_ne!(Origin::parse("https://evil.example"), Some(public));
        let referer = Origin::parse("http://127.0.0.1:3000/projects?x=1").unwrap();
        assert_eq!(referer.to_string(), "http://127.0.0.1:3000");
        assert_eq!(Origin::parse("null"), None);
        assert_eq!(Origin::parse("/relative"), None);
        assert_eq!(Origin::parse("ftp://host"), None);
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() {
        let config = config(&[]);
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            config.client_address(ip("10.0.0.5"), &headers),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
        let config = config(&["10.0.0.0/8"]);
        // The client made up the first entry; the proxies appended the rest.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(
            config.client_address(ip("10.0.0.5"), &headers),
            ip("203.0.113.9")
        );
        // A peer that is not a proxy is not believed.
        assert_eq!(
            config.client_address(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
        // Nothing forwarded: the proxy itself.
        assert_eq!(
            config.client_address(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        // Garbage stops the walk at the last hop known.
        let garbage = forwarded(&["203.0.113.9, not-an-address, 10.0.0.7"]);
        assert_eq!(
            config.client_address(ip("10.0.0.5"), &garbage),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn the_policy_allows_the_nonce_the_module_and_wasm_and_nothing_inline() {
        let policy = config(&[]).content_security_policy("abc");
        assert!(policy.contains(
            "script-src 'nonce-abc' 'wasm-unsafe-eval' https://slipway.example.com/pkg/slipway.js \
             https://slipway.example.com/pkg/loader.js;"
        ));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("connect-src 'self'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("'unsafe-eval'"));
    }

    #[test]
    fn only_writes_outside_the_token_doors_need_an_origin() {
        assert!(is_cookie_door_write(&Method::POST, "/api/sign_in"));
        assert!(is_cookie_door_write(&Method::DELETE, "/anything"));
        assert!(!is_cookie_door_write(&Method::GET, "/api/live"));
        assert!(!is_cookie_door_write(&Method::POST, "/api/v1/projects"));
        assert!(!is_cookie_door_write(
            &Method::POST,
            "/pipelines/api/docker-hub-webhooks"
        ));
    }
}

//! Docker Hub's API for the Docker webhook's twin on the Hub: sign in, then
//! create, update, delete and list the repository's `webhook_pipeline`s. The
//! API is undocumented and may refuse; a refusal comes back as a [`HubError`]
//! with the Hub's status and a short reason, for a "not synced" message.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::outbound::{
    check_egress, describe_transport_failure, excerpt, read_capped_text, ReadError,
    MAX_API_RESPONSE_BYTES,
};
use super::{check_url, ConnectError, Outbound};

/// A `next` page link is followed at most this often (a loop guard).
const MAX_PAGES: usize = 50;

/// The Hub's answer to a call, or why there was none. `reason` is at most a
/// short excerpt of the Hub's answer and never holds the session token, the
/// password or a hook URL that was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubError {
    /// The Hub's HTTP status; `None` when it could not be reached.
    pub status: Option<u16>,
    pub reason: String,
}

impl HubError {
    pub fn is_unauthorized(&self) -> bool {
        self.status == Some(401)
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }

    fn unreachable(error: &reqwest::Error, timeout: Duration) -> Self {
        Self {
            status: None,
            reason: format!(
                "could not reach Docker Hub: {}",
                describe_transport_failure(error, timeout)
            ),
        }
    }

    fn answered(status: StatusCode, body: &str, secrets: &[&str]) -> Self {
        Self {
            status: Some(status.as_u16()),
            reason: excerpt(&summarize_error_body(body), secrets),
        }
    }

    fn not_understood(status: StatusCode, what: &str) -> Self {
        Self {
            status: Some(status.as_u16()),
            reason: format!("its answer to {what} was not understood"),
        }
    }
}

impl std::fmt::Display for HubError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(status) = self.status else {
            return formatter.write_str(&self.reason);
        };
        write!(formatter, "Docker Hub answered {status}")?;
        if let Some(label) = StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
        {
            write!(formatter, " {label}")?;
        }
        if !self.reason.is_empty() {
            write!(formatter, ": {}", self.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for HubError {}

/// Docker Hub error bodies are Django REST framework's: `{"detail": "…"}` or
/// field errors `{"name": ["…"], "webhooks": [{"hook_url": ["…"]}]}`. This makes
/// them one line ("name: A webhook pipeline with this name already exists.").
fn summarize_error_body(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    let Value::Object(fields) = &value else {
        return strings_within(&value).join(" ");
    };
    for key in ["detail", "message", "error"] {
        if let Some(Value::String(text)) = fields.get(key) {
            return text.clone();
        }
    }
    fields
        .iter()
        .map(|(field, errors)| format!("{field}: {}", strings_within(errors).join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn strings_within(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings_within).collect(),
        Value::Object(fields) => fields.values().flat_map(strings_within).collect(),
        _ => Vec::new(),
    }
}

/// One webhook pipeline on a Docker Hub repository.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubWebhookPipeline {
    pub name: String,
    /// How the Hub addresses the pipeline in URLs (a slug of the first name).
    pub slug: String,
    #[serde(default)]
    pub webhooks: Vec<HubWebhook>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubWebhook {
    pub name: String,
    /// Slipway's hook URL; its `secureToken` query is a secret.
    pub hook_url: String,
}

impl std::fmt::Debug for HubWebhookPipeline {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HubWebhookPipeline")
            .field("name", &self.name)
            .field("slug", &self.slug)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

impl std::fmt::Debug for HubWebhook {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hook URL's query holds the webhook's secure token: print the rest only.
        let shown = self
            .hook_url
            .split_once('?')
            .map_or(self.hook_url.as_str(), |(before, _)| before);
        formatter
            .debug_struct("HubWebhook")
            .field("name", &self.name)
            .field("hook_url", &format_args!("{shown}?<redacted>"))
            .finish()
    }
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
}

#[derive(Deserialize)]
struct PipelinePage {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    results: Vec<HubWebhookPipeline>,
}

/// Talks to the Docker Hub API at [`Outbound::docker_hub_api_url`].
#[derive(Clone)]
pub struct DockerHubClient {
    http: reqwest::Client,
    api_url: Url,
    timeout: Duration,
    deny_private_egress: bool,
}

impl DockerHubClient {
    pub fn new(outbound: &Outbound, via_cloud_proxy: bool) -> Result<Self, ConnectError> {
        let api_url = check_url(&outbound.docker_hub_api_url).map_err(|problem| {
            ConnectError::InvalidUrl(format!("--docker-hub-api-url: {problem}"))
        })?;
        Ok(Self {
            http: outbound.http_client(via_cloud_proxy)?,
            api_url,
            timeout: outbound.timeout,
            deny_private_egress: outbound.deny_private_egress,
        })
    }

    /// `POST /v2/users/login`; the session's token authorizes the other calls.
    pub async fn login(&self, username: &str, password: &str) -> Result<HubSession, HubError> {
        let request = self
            .http
            .post(self.url(&["v2", "users", "login"], false))
            .json(&json!({"username": username, "password": password}));
        let (status, body) = self.call(request, &[password]).await?;
        let token = serde_json::from_str::<LoginAnswer>(&body)
            .ok()
            .map(|answer| answer.token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| HubError::not_understood(status, "the login"))?;
        Ok(HubSession {
            client: self.clone(),
            token,
        })
    }

    /// The API base plus `segments` (each percent-encoded, so a namespace can
    /// not reach another path), with a trailing slash when asked.
    fn url(&self, segments: &[&str], trailing_slash: bool) -> Url {
        let mut url = self.api_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        // check_url accepted only http(s) URLs with a host, which always have a path.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
            if trailing_slash {
                path.push("");
            }
        }
        url
    }

    fn pipelines_url(&self, namespace: &str, repo: &str, slug: Option<&str>) -> Url {
        let mut segments = vec!["v2", "repositories", namespace, repo, "webhook_pipeline"];
        segments.extend(slug);
        self.url(&segments, true)
    }

    /// Sends a request; a success answers its status and body, anything else
    /// becomes a [`HubError`] with `secrets` blanked out of the quoted body.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<(StatusCode, String), HubError> {
        let request = request
            .build()
            .map_err(|error| HubError::unreachable(&error, self.timeout))?;
        check_egress(self.deny_private_egress, request.url().as_str())
            .await
            .map_err(|denied| HubError {
                status: None,
                reason: format!("did not call Docker Hub: {denied}"),
            })?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|error| HubError::unreachable(&error, self.timeout))?;
        let status = response.status();
        let body = match read_capped_text(response, MAX_API_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(ReadError::Failed(error)) => {
                return Err(HubError::unreachable(&error, self.timeout))
            }
            Err(too_large @ ReadError::TooLarge { .. }) => {
                return Err(HubError {
                    status: Some(status.as_u16()),
                    reason: too_large.to_string(),
                })
            }
        };
        if status.is_success() {
            Ok((status, body))
        } else {
            Err(HubError::answered(status, &body, secrets))
        }
    }
}

/// A signed-in Docker Hub session. Its token is never printed.
#[derive(Clone)]
pub struct HubSession {
    client: DockerHubClient,
    token: String,
}

impl std::fmt::Debug for HubSession {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("HubSession(token redacted)")
    }
}

impl HubSession {
    /// Every webhook pipeline of `namespace/repo`, following `next` pages on
    /// the same host only (the token must not travel elsewhere).
    pub async fn list_webhooks(
        &self,
        namespace: &str,
        repo: &str,
    ) -> Result<Vec<HubWebhookPipeline>, HubError> {
        let mut url = self.client.pipelines_url(namespace, repo, None);
        let mut pipelines = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: PipelinePage = self
                .fetch(self.client.http.get(url.clone()), &[], "the webhook list")
                .await?;
            pipelines.extend(page.results);
            let next = page
                .next
                .and_then(|next| url.join(&next).ok())
                .filter(|next| next.origin() == self.client.api_url.origin());
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(pipelines)
    }

    /// `POST …/webhook_pipeline/`: one pipeline named `name` with one webhook.
    pub async fn create_webhook(
        &self,
        namespace: &str,
        repo: &str,
        name: &str,
        hook_url: &str,
    ) -> Result<HubWebhookPipeline, HubError> {
        let request = self
            .client
            .http
            .post(self.client.pipelines_url(namespace, repo, None))
            .json(&pipeline_body(name, hook_url));
        self.fetch(request, &[hook_url], "the webhook creation")
            .await
    }

    /// Replaces the pipeline found by its slug or its name (`PUT …/{slug}/`);
    /// a 404 [`HubError`] when there is none, so the caller can create it.
    pub async fn update_webhook(
        &self,
        namespace: &str,
        repo: &str,
        slug_or_name: &str,
        name: &str,
        hook_url: &str,
    ) -> Result<HubWebhookPipeline, HubError> {
        let existing = self
            .list_webhooks(namespace, repo)
            .await?
            .into_iter()
            .find(|pipeline| pipeline.slug == slug_or_name || pipeline.name == slug_or_name)
            .ok_or_else(|| HubError {
                status: Some(404),
                reason: format!("there is no webhook '{slug_or_name}' on {namespace}/{repo}"),
            })?;
        let request = self
            .client
            .http
            .put(
                self.client
                    .pipelines_url(namespace, repo, Some(&existing.slug)),
            )
            .json(&pipeline_body(name, hook_url));
        self.fetch(request, &[hook_url], "the webhook update").await
    }

    /// `DELETE …/{slug}/`. Answers whether it existed: one already gone is no error.
    pub async fn delete_webhook(
        &self,
        namespace: &str,
        repo: &str,
        slug: &str,
    ) -> Result<bool, HubError> {
        let request =
            self.client
                .http
                .delete(self.client.pipelines_url(namespace, repo, Some(slug)));
        match self
            .client
            .call(self.authorized(request), &[self.token.as_str()])
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if error.is_not_found() => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header(AUTHORIZATION, format!("JWT {}", self.token))
    }

    /// An authorized call whose success body is JSON of type `T`.
    async fn fetch<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
        what: &str,
    ) -> Result<T, HubError> {
        let mut all_secrets = vec![self.token.as_str()];
        all_secrets.extend_from_slice(secrets);
        let (status, body) = self
            .client
            .call(self.authorized(request), &all_secrets)
            .await?;
        serde_json::from_str(&body).map_err(|_| HubError::not_understood(status, what))
    }
}

fn pipeline_body(name: &str, hook_url: &str) -> Value {
    json!({
        "name": name,
        "expect_final_callback": false,
        "webhooks": [{"name": name, "hook_url": hook_url}],
    })
}

#[cfg(test)]
mod tests {
    use slipway_standins::hub::HubStandin;

    use super::*;
    use crate::connect::test_support::install_crypto_provider;

    const HOOK: &str = "http://slipway.test/pipelines/api/docker-hub-webhooks?secureToken=tok-1";
    const NEW_HOOK: &str =
        "http://slipway.test/pipelines/api/docker-hub-webhooks?secureToken=tok-2";

    fn outbound(api_url: String) -> Outbound {
        Outbound {
            docker_hub_api_url: api_url,
            timeout: Duration::from_secs(5),
            ..Outbound::default()
        }
    }

    #[tokio::test]
    async fn with_deny_private_egress_a_private_hub_is_not_called() {
        install_crypto_provider();
        let hub = HubStandin::builder()
            .credentials("alice", "pw")
            .start()
            .await
            .expect("hub stand-in");
        let outbound = Outbound {
            deny_private_egress: true,
            ..outbound(hub.url())
        };
        let client = DockerHubClient::new(&outbound, false).expect("client");

        let error = client.login("alice", "pw").await.expect_err("denied");

        assert_eq!(error.status, None);
        assert!(
            error
                .to_string()
                .starts_with("did not call Docker Hub: private egress is denied: 127.0.0.1 is a loopback address"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn login_answers_a_session_or_the_hubs_refusal() {
        install_crypto_provider();
        let hub = HubStandin::builder()
            .credentials("svendowideit", "right-password")
            .start()
            .await
            .expect("hub stand-in");
        let client = DockerHubClient::new(&outbound(hub.url()), false).expect("client");
        let session = client
            .login("svendowideit", "right-password")
            .await
            .expect("login");
        assert_eq!(format!("{session:?}"), "HubSession(token redacted)");

        let refused = client
            .login("svendowideit", "wrong-password")
            .await
            .expect_err("wrong password");
        assert!(refused.is_unauthorized());
        assert_eq!(
            refused.to_string(),
            "Docker Hub answered 401 Unauthorized: Incorrect authentication credentials."
        );
    }

    #[tokio::test]
    async fn webhooks_are_created_updated_listed_and_deleted() {
        install_crypto_provider();
        let hub = HubStandin::builder().start().await.expect("hub stand-in");
        let client = DockerHubClient::new(&outbound(hub.url()), false).expect("client");
        let session = client
            .login("slipway", "slipway-password")
            .await
            .expect("login");

        let created = session
            .create_webhook("slipway", "testhook", "Demo Webhook", HOOK)
            .await
            .expect("create");
        assert_eq!(created.name, "Demo Webhook");
        assert_eq!(created.slug, "demo-webhook");
        assert_eq!(created.webhooks.len(), 1);
        assert_eq!(created.webhooks[0].hook_url, HOOK);
        let stored = hub.webhook_pipelines("slipway", "testhook");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["expect_final_callback"], json!(false));
        assert_eq!(stored[0]["webhooks"][0]["name"], json!("Demo Webhook"));

        // By name (the slug is the Hub's to choose), renaming it too.
        let updated = session
            .update_webhook(
                "slipway",
                "testhook",
                "Demo Webhook",
                "demo renamed",
                NEW_HOOK,
            )
            .await
            .expect("update");
        assert_eq!(updated.slug, "demo-webhook");
        assert_eq!(updated.name, "demo renamed");
        let listed = session
            .list_webhooks("slipway", "testhook")
            .await
            .expect("list");
        assert_eq!(listed, vec![updated.clone()]);
        assert_eq!(listed[0].webhooks[0].hook_url, NEW_HOOK);
        assert!(!format!("{listed:?}").contains("tok-2"));

        let missing = session
            .update_webhook("slipway", "testhook", "nothing-here", "x", NEW_HOOK)
            .await
            .expect_err("no such webhook");
        assert!(missing.is_not_found());

        assert_eq!(
            session
                .delete_webhook("slipway", "testhook", &updated.slug)
                .await,
            Ok(true)
        );
        assert!(hub.webhook_pipelines("slipway", "testhook").is_empty());
        assert_eq!(
            session
                .delete_webhook("slipway", "testhook", &updated.slug)
                .await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn refusals_carry_the_hubs_status_and_reason_but_no_secret() {
        install_crypto_provider();
        let hub = HubStandin::builder().start().await.expect("hub stand-in");
        let client = DockerHubClient::new(&outbound(hub.url()), false).expect("client");
        let session = client
            .login("slipway", "slipway-password")
            .await
            .expect("login");
        session
            .create_webhook("slipway", "testhook", "demo", HOOK)
            .await
            .expect("create");

        let duplicate = session
            .create_webhook("slipway", "testhook", "demo", HOOK)
            .await
            .expect_err("duplicate name");
        assert_eq!(
            duplicate.to_string(),
            "Docker Hub answered 400 Bad Request: name: A webhook pipeline with this name already exists."
        );
        let foreign = session
            .list_webhooks("someone-else", "testhook")
            .await
            .expect_err("not our namespace");
        assert_eq!(foreign.status, Some(403));

        hub.fail_with(503);
        let refused = session
            .create_webhook("slipway", "other", "demo", HOOK)
            .await
            .expect_err("the Hub is failing");
        assert_eq!(refused.status, Some(503));
        assert!(
            refused
                .to_string()
                .starts_with("Docker Hub answered 503 Service Unavailable: Service Unavailable"),
            "{refused}"
        );
        assert!(!refused.to_string().contains(&session.token));
        assert!(refused.reason.chars().count() <= crate::connect::outbound::EXCERPT_CHARS);
        hub.stop_failing();
        assert!(hub.webhook_pipelines("slipway", "other").is_empty());
    }

    #[test]
    fn long_or_secret_bodies_are_cut_and_blanked() {
        let body =
            json!({"detail": format!("token abc.def.ghi is bad {}", "x".repeat(400))}).to_string();
        let error = HubError::answered(StatusCode::UNAUTHORIZED, &body, &["abc.def.ghi"]);
        assert!(!error.reason.contains("abc.def.ghi"));
        assert_eq!(
            error.reason.chars().count(),
            crate::connect::outbound::EXCERPT_CHARS
        );
        let html = HubError::answered(
            StatusCode::BAD_GATEWAY,
            "<html>\n<b>Bad gateway</b>\n</html>",
            &[],
        );
        assert_eq!(
            html.to_string(),
            "Docker Hub answered 502 Bad Gateway: <html> <b>Bad gateway</b> </html>"
        );
    }

    #[tokio::test]
    async fn the_cloud_proxy_carries_hub_calls() {
        install_crypto_provider();
        // The Hub's address does not resolve: only the proxy (the stand-in,
        // which routes absolute-form requests by path) can answer.
        let hub = HubStandin::builder().start().await.expect("hub stand-in");
        let outbound = Outbound {
            cloud_proxy_url: Some(hub.url()),
            ..outbound("http://docker-hub.invalid".to_string())
        };
        let direct = DockerHubClient::new(&outbound, false).expect("client");
        assert_eq!(
            direct
                .login("slipway", "slipway-password")
                .await
                .err()
                .map(|error| error.status),
            Some(None)
        );
        let proxied = DockerHubClient::new(&outbound, true).expect("client");
        assert!(proxied.login("slipway", "slipway-password").await.is_ok());
    }
}

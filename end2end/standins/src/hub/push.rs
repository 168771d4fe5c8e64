//! Simulated image pushes: Docker Hub's push payload, POSTed to hook URLs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The fixture payload Docker Hub documents, kept verbatim; pushes copy it and
/// replace only the fields that name the push.
const PAYLOAD_TEMPLATE: &str = include_str!("push-payload-template.json");

/// A push to simulate. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Push {
    /// Where to deliver; when absent, to every hook of `namespace/repo`'s webhook pipelines.
    pub hook_url: Option<String>,
    /// Default `latest`.
    pub tag: Option<String>,
    /// Default: the stand-in's user name.
    pub namespace: Option<String>,
    /// Default `testhook`, the fixture's repository.
    pub repo: Option<String>,
    /// Seconds since the epoch; default now, with microseconds.
    pub pushed_at: Option<f64>,
    /// Default `trustedbuilder`, as in the fixture.
    pub pusher: Option<String>,
    /// Default: a URL on this stand-in (`/u/{namespace}/{repo}/hook/{id}/`) that
    /// records the callback, so callback tests need no outside host.
    pub callback_url: Option<String>,
}

/// What one hook URL answered.
#[derive(Debug, Clone, Serialize)]
pub struct PushDelivery {
    pub hook_url: String,
    pub payload: Value,
    /// The target's HTTP status; 0 when it could not be reached.
    pub status: u16,
    /// The target's answer body, or the connection error.
    pub body: String,
    pub content_type: Option<String>,
}

/// The push with its defaults filled in.
pub(crate) struct ResolvedPush {
    pub namespace: String,
    pub repo: String,
    payload: Value,
}

impl Push {
    pub(crate) fn resolve(&self, default_namespace: &str, base_url: &str) -> ResolvedPush {
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_string());
        let repo = self.repo.clone().unwrap_or_else(|| "testhook".to_string());
        let callback_url = self.callback_url.clone().unwrap_or_else(|| {
            format!(
                "{base_url}/u/{namespace}/{repo}/hook/{}/",
                uuid::Uuid::new_v4().simple()
            )
        });
        let pushed_at = self
            .pushed_at
            .unwrap_or_else(|| crate::unix_micros_now() as f64 / 1_000_000.0);

        let mut payload = template().clone();
        payload["callback_url"] = json!(callback_url);
        payload["push_data"]["pushed_at"] = json!(pushed_at);
        payload["push_data"]["tag"] = json!(self.tag.as_deref().unwrap_or("latest"));
        if let Some(pusher) = &self.pusher {
            payload["push_data"]["pusher"] = json!(pusher);
        }
        let repository = &mut payload["repository"];
        repository["name"] = json!(repo);
        repository["namespace"] = json!(namespace);
        repository["owner"] = json!(namespace);
        repository["repo_name"] = json!(format!("{namespace}/{repo}"));
        repository["repo_url"] = json!(format!(
            "https://registry.hub.docker.com/u/{namespace}/{repo}/"
        ));
        ResolvedPush {
            namespace,
            repo,
            payload,
        }
    }
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        serde_json::from_str(PAYLOAD_TEMPLATE).expect("the bundled push payload is valid JSON")
    })
}

/// The client for deliveries. Plain HTTP is what tests use; HTTPS works against
/// no certificate (no roots are loaded), which keeps the stand-in self-contained.
pub(crate) fn http_client() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(30))
        .user_agent("Go-http-client/1.1")
        .build()
        .expect("a client with a preconfigured TLS backend builds")
}

impl ResolvedPush {
    pub(crate) async fn deliver(&self, client: &reqwest::Client, hook_url: &str) -> PushDelivery {
        let sent = client.post(hook_url).json(&self.payload).send().await;
        let (status, body, content_type) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                let body = response
                    .text()
                    .await
                    .unwrap_or_else(|error| format!("(body unreadable: {error})"));
                (status, body, content_type)
            }
            Err(error) => (0, format!("could not deliver to {hook_url}: {error}"), None),
        };
        PushDelivery {
            hook_url: hook_url.to_string(),
            payload: self.payload.clone(),
            status,
            body,
            content_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_values_give_back_the_fixture() {
        let push = Push {
            tag: Some("latest".into()),
            namespace: Some("svendowideit".into()),
            repo: Some("testhook".into()),
            pushed_at: Some(1417566161.0),
            callback_url: template()["callback_url"].as_str().map(str::to_string),
            ..Push::default()
        };
        assert_eq!(&push.resolve("someone", "http://x").payload, template());
    }
}

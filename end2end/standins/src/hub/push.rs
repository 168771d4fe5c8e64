//! Simulated image pushes: Docker Hub's push payload, POSTed to hook URLs.
//! (Storing the pushed image is the registry's part, see `registry.rs`.)

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
    /// A multi-arch push, e.g. `["linux/amd64", "linux/arm64"]`: the tag then
    /// points at an OCI image index, and one payload per platform is delivered
    /// (as Docker Hub sends one webhook per platform). Absent or empty: a
    /// single-platform image and one payload.
    pub platforms: Option<Vec<String>>,
}

/// How far apart the `pushed_at` of a multi-arch push's payloads are.
const PLATFORM_PAYLOAD_STEP_MICROS: i64 = 3_000;

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
    /// The digest the pushed tag points at after the push (the index's for a
    /// multi-arch push).
    pub digest: String,
}

/// The push with its defaults filled in.
pub(crate) struct ResolvedPush {
    pub namespace: String,
    pub repo: String,
    pub tag: String,
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

        let tag = self.tag.clone().unwrap_or_else(|| "latest".to_string());

        let mut payload = template().clone();
        payload["callback_url"] = json!(callback_url);
        payload["push_data"]["pushed_at"] = json!(pushed_at);
        payload["push_data"]["tag"] = json!(tag);
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
            tag,
            payload,
        }
    }

    /// The platforms asked for (empty for a single-platform push).
    pub(crate) fn platform_list(&self) -> &[String] {
        self.platforms.as_deref().unwrap_or_default()
    }

    /// One payload per platform (one for a single-platform push), all with the
    /// same tag; the first has the push's `pushed_at`, the others follow a few
    /// milliseconds apart, each with its own default `callback_url`.
    pub(crate) fn resolve_each_platform(
        &self,
        default_namespace: &str,
        base_url: &str,
    ) -> Vec<ResolvedPush> {
        let first = self.resolve(default_namespace, base_url);
        let first_micros = first.payload["push_data"]["pushed_at"]
            .as_f64()
            .map_or_else(crate::unix_micros_now, |seconds| {
                (seconds * 1_000_000.0).round() as i64
            });
        let mut resolved = vec![first];
        for index in 1..self.platform_list().len() {
            let later = Push {
                pushed_at: Some(
                    (first_micros + index as i64 * PLATFORM_PAYLOAD_STEP_MICROS) as f64
                        / 1_000_000.0,
                ),
                ..self.clone()
            };
            resolved.push(later.resolve(default_namespace, base_url));
        }
        resolved
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
    pub(crate) async fn deliver(
        &self,
        client: &reqwest::Client,
        hook_url: &str,
        digest: &str,
    ) -> PushDelivery {
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
            digest: digest.to_string(),
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

    #[test]
    fn a_multi_arch_push_gives_one_payload_per_platform_milliseconds_apart() {
        let push = Push {
            tag: Some("v1".into()),
            pushed_at: Some(1417566161.5),
            platforms: Some(vec!["linux/amd64".into(), "linux/arm64".into()]),
            ..Push::default()
        };

        let resolved = push.resolve_each_platform("someone", "http://x");

        let pushed_at: Vec<f64> = resolved
            .iter()
            .map(|one| {
                one.payload["push_data"]["pushed_at"]
                    .as_f64()
                    .unwrap_or(0.0)
            })
            .collect();
        assert_eq!(pushed_at, [1417566161.5, 1417566161.503]);
        assert!(resolved
            .iter()
            .all(|one| one.payload["push_data"]["tag"] == "v1"));
        assert_ne!(
            resolved[0].payload["callback_url"],
            resolved[1].payload["callback_url"]
        );
    }
}

//! Which image a Docker-triggered run deploys: the digest the push named,
//! else the one its tag points at when the push is accepted, asked of the
//! registry the webhook's endpoint names. The run's inputs carry it as
//! `DOCKER_DIGEST` and `DOCKER_IMAGE_REF` (`host/repository@digest`), so a
//! Kubernetes task deploying `${input.DOCKER_IMAGE_REF}` deploys what was
//! pushed even when the tag moves on before the task runs.
//!
//! Resolution happens at accept time (before the delivery is answered) rather
//! than when the run starts: a queued run may wait behind others, and the tag
//! could be re-pointed meanwhile. Should the registry not answer then, the
//! run is queued without a digest and the engine asks once more before its
//! first task; if that fails too, the run fails with the registry's answer
//! (a re-run asks again). The request side and the engine share this module,
//! which needs only the store, the secret box and the outbound settings.

use std::collections::BTreeMap;

use app::endpoint::{EndpointKind, RegistryServerType};

use crate::connect::{self, ManifestQuery, Outbound};
use crate::crypto::SecretBox;
use crate::endpoints;
use crate::errors::{Refusal, INTERNAL_FAILURE};
use crate::receive::payload::DOCKER_HUB_REGISTRY;
use crate::store::SharedStore;

pub const DIGEST_INPUT: &str = "DOCKER_DIGEST";
pub const IMAGE_REF_INPUT: &str = "DOCKER_IMAGE_REF";

/// The pushed tag, as the run's inputs name it.
pub struct PushedTag<'a> {
    /// `DOCKER_REGISTRY`: `docker.io` for Docker Hub; may be empty.
    pub registry: &'a str,
    /// `DOCKER_IMAGE`: the repository path (`library/nginx`, `team/app`).
    pub image: &'a str,
    pub tag: &'a str,
}

impl<'a> PushedTag<'a> {
    /// The tag the inputs of a Docker-triggered run name, if they name one.
    pub fn of_inputs(inputs: &'a BTreeMap<String, String>) -> Option<PushedTag<'a>> {
        let value = |name: &str| inputs.get(name).map(String::as_str).unwrap_or_default();
        let pushed = PushedTag {
            registry: value("DOCKER_REGISTRY"),
            image: value("DOCKER_IMAGE"),
            tag: value("DOCKER_TAG"),
        };
        (!pushed.image.is_empty() && !pushed.tag.is_empty()).then_some(pushed)
    }
}

/// Sets `DOCKER_DIGEST` and `DOCKER_IMAGE_REF`; the reference names
/// `registry_host` (the push's registry, else the endpoint's host).
pub fn pin(inputs: &mut BTreeMap<String, String>, registry_host: &str, image: &str, digest: &str) {
    let reference = if registry_host.is_empty() {
        format!("{image}@{digest}")
    } else {
        format!("{registry_host}/{image}@{digest}")
    };
    inputs.insert(DIGEST_INPUT.to_string(), digest.to_string());
    inputs.insert(IMAGE_REF_INPUT.to_string(), reference);
}

/// Whether the inputs already name a digest.
pub fn is_pinned(inputs: &BTreeMap<String, String>) -> bool {
    inputs
        .get(DIGEST_INPUT)
        .is_some_and(|digest| !digest.is_empty())
}

/// A tag resolved, and how the reference names its registry.
pub struct Resolved {
    pub digest: String,
    /// The registry host for `DOCKER_IMAGE_REF`: `docker.io` for Docker Hub,
    /// else the host of the endpoint's URL (where the digest was read).
    pub registry_host: String,
}

/// The digest `pushed` points at now, asked of the registry of the
/// project's Docker registry endpoint `endpoint_id` with its credentials
/// (Docker Hub endpoints: at `--docker-hub-registry-url`). The error is a
/// sentence for the run's page: the registry's answer, or what is wrong
/// with the endpoint.
pub async fn resolve(
    store: &SharedStore,
    secret_box: &SecretBox,
    outbound: &Outbound,
    project_id: i64,
    endpoint_id: i64,
    pushed: &PushedTag<'_>,
) -> Result<Resolved, String> {
    let (endpoint, secrets) = endpoints::in_project(
        store,
        secret_box,
        project_id,
        &endpoint_id.to_string(),
        EndpointKind::DockerRegistry,
    )
    .await
    .map_err(|refusal| match refusal {
        Refusal::Reason(reason) => reason,
        Refusal::Internal => INTERNAL_FAILURE.to_string(),
    })?;
    let docker_hub =
        endpoint.settings.server_type.unwrap_or_default() == RegistryServerType::DockerHub;
    let registry_url = if docker_hub {
        outbound.docker_hub_registry_url.clone()
    } else {
        endpoint.url.clone()
    };
    let credentials = connect::registry_credentials(&endpoint, &secrets)
        .map_err(|problem| format!("endpoint '{}': {problem}", endpoint.name))?;
    let query = ManifestQuery {
        registry_url: &registry_url,
        repository: pushed.image,
        tag: pushed.tag,
        credentials,
        via_cloud_proxy: endpoint.settings.cloud_proxy,
    };
    let digest = outbound
        .digests
        .resolve(outbound, &query)
        .await
        .map_err(|error| error.message)?;
    // The registry the digest was read from is the one the cluster pulls
    // it from: Docker Hub's images are named `docker.io/…`.
    let registry_host = if docker_hub {
        DOCKER_HUB_REGISTRY.to_string()
    } else {
        host_of(&registry_url)
    };
    Ok(Resolved {
        digest,
        registry_host,
    })
}

/// The registry host of a push that did not name one: the host of the
/// endpoint's URL (empty when it cannot be read; the reference then has none).
pub async fn endpoint_host(store: &SharedStore, endpoint_id: i64) -> String {
    match store.endpoint_by_id(endpoint_id).await {
        Ok(Some(endpoint)) => host_of(&endpoint.url),
        Ok(None) => String::new(),
        Err(error) => {
            tracing::warn!(%error, "reading a webhook's endpoint for its registry host failed");
            String::new()
        }
    }
}

/// `host[:port]` of a URL, lower case; empty when it has none.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_ascii_lowercase();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_default()
}

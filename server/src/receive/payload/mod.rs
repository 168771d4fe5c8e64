//! Push payloads from registries, read into one [`PushEvent`].
//!
//! Two formats arrive: Docker Hub's webhook body (`push_data` + `repository`)
//! and the CNCF distribution notification envelope (`{"events":[…]}`) sent by
//! self-hosted registries and Harbor-like products. Which one a body is in
//! follows from the receiver it was sent to ([`DeliverySource`]).
//!
//! Every value taken from a payload ends up as a `DOCKER_*` pipeline input and
//! from there inside Kubernetes YAML, so each one is checked against a strict
//! grammar here (Docker reference names, Docker tags, OCI digests, host names,
//! user names) and the event is refused otherwise: nothing that could break
//! out of a YAML scalar (quotes, `: `, `#`, newlines, …) gets past this module.
//! Times are not passed through but re-written as RFC 3339 UTC.
//!
//! Choices made where the formats leave room, told in each format's module
//! (`docker_hub`, `distribution`): how a one-segment or deep repository path
//! splits into namespace and name, and which `registry` an event has. A
//! missing optional value becomes `None`/empty; a present but malformed one
//! is an error rather than being dropped silently.
//!
//! Layout: one module per format, each with a `parse(body)` that [`parse`]
//! dispatches to by [`DeliverySource`]; `json` (field navigation and error
//! messages), `time` and `grammar` (what a value may look like) are shared.

mod distribution;
mod docker_hub;
mod grammar;
mod json;
#[cfg(test)]
mod tests;
mod time;

use std::collections::BTreeMap;
use std::fmt;

use app::pipeline::DOCKER_PARAMETERS;
use app::webhook::DeliverySource;

pub use distribution::parse_registry_envelope;
pub use docker_hub::{parse_docker_hub, DOCKER_HUB_OFFICIAL_NAMESPACE, DOCKER_HUB_REGISTRY};
pub use grammar::{
    is_valid_digest, is_valid_event_id, is_valid_owner, is_valid_path_component,
    is_valid_registry_host, is_valid_repository_path, is_valid_tag,
};

/// The most tag pushes one delivery may report; a delivery with more is
/// refused whole (413) and starts nothing. Registries send one push per
/// delivery: CNCF distribution wraps each event in an envelope of its own
/// (`notifications/http.go`: `Events: []events.Event{event}`), Docker Hub's
/// body is one push. 100 leaves two orders of magnitude for a batching
/// sender while one delivery cannot start more than 100 runs.
pub const MAX_PUSHES_PER_DELIVERY: usize = 100;

/// Reads a delivery's body in its source's format: the tag pushes it reports
/// (none for an envelope of pulls, deletes or layer pushes).
///
/// A new format is a module beside these with a `parse` of this signature,
/// a [`DeliverySource`] variant, and one line here.
pub fn parse(source: DeliverySource, body: &[u8]) -> Result<Vec<PushEvent>, PayloadError> {
    match source {
        DeliverySource::DockerHub => docker_hub::parse(body),
        DeliverySource::Registry => distribution::parse(body),
    }
}

/// One pushed tag, whichever registry sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushEvent {
    /// `DOCKER_OWNER_NAME`: Docker Hub `push_data.pusher` (else
    /// `repository.owner`); registry `actor.name`. May be empty.
    pub owner: String,
    /// `DOCKER_REPO_NAMESPACE`: `library` for Docker Hub official images,
    /// empty for a one-segment repository on another registry.
    pub namespace: String,
    /// `DOCKER_REPO_NAME`: the last path segment of the repository.
    pub repo_name: String,
    /// `DOCKER_IMAGE`: `namespace/repo_name`, or `repo_name` alone when the
    /// namespace is empty; without registry host and tag.
    pub image: String,
    /// `DOCKER_TAG`.
    pub tag: String,
    /// `DOCKER_DIGEST`: the manifest digest, when the registry sends one.
    pub digest: Option<String>,
    /// `DOCKER_REGISTRY`: `host[:port]` (lower case); `docker.io` for Hub.
    pub registry: Option<String>,
    /// `DOCKER_PUSHED_AT`: RFC 3339 in UTC (`2014-12-03T00:22:41Z`).
    pub pushed_at: Option<String>,
    /// `DOCKER_EVENT_ID`: the registry's event id; Docker Hub sends none.
    pub event_id: Option<String>,
    /// Docker Hub only: where to report the outcome (only to allow-listed hosts).
    pub callback_url: Option<String>,
    /// Same key = the same push delivered again; how it is made is told on
    /// each parser. Its parts are joined with `|`, which no part can contain.
    pub dedupe_key: String,
}

impl PushEvent {
    /// `pushed_at` in milliseconds since 1970, for ordering pushes.
    pub fn pushed_at_millis(&self) -> Option<i64> {
        let pushed_at = self.pushed_at.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(pushed_at)
            .ok()
            .map(|time| time.timestamp_millis())
    }

    /// The values for the `DOCKER_*` pipeline inputs, one per name in
    /// [`DOCKER_PARAMETERS`]; a value the event does not have is `""`.
    ///
    /// `DOCKER_EVENT_ID` is the registry's event id here; a caller that wants
    /// the Activity row id there (as the table describes it) overwrites it.
    pub fn docker_inputs(&self) -> BTreeMap<String, String> {
        DOCKER_PARAMETERS
            .iter()
            .map(|(name, _description)| {
                let value = match *name {
                    "DOCKER_OWNER_NAME" => self.owner.as_str(),
                    "DOCKER_IMAGE" => self.image.as_str(),
                    "DOCKER_REPO_NAME" => self.repo_name.as_str(),
                    "DOCKER_REPO_NAMESPACE" => self.namespace.as_str(),
                    "DOCKER_TAG" => self.tag.as_str(),
                    "DOCKER_DIGEST" => self.digest.as_deref().unwrap_or(""),
                    "DOCKER_REGISTRY" => self.registry.as_deref().unwrap_or(""),
                    "DOCKER_PUSHED_AT" => self.pushed_at.as_deref().unwrap_or(""),
                    "DOCKER_EVENT_ID" => self.event_id.as_deref().unwrap_or(""),
                    // Set with the digest once it is known (`pinning::pin`).
                    "DOCKER_IMAGE_REF" => "",
                    // A parameter added to the table later and not known here.
                    _ => "",
                };
                (name.to_string(), value.to_string())
            })
            .collect()
    }
}

/// Why a payload was refused: one line, naming the field and what was wrong
/// with it. Offending values are quoted escaped and shortened, so the message
/// is safe to log and to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl fmt::Display for PayloadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

/// `namespace/repo_name`, or `repo_name` alone when the namespace is empty.
fn join_image(namespace: &str, repo_name: &str) -> String {
    if namespace.is_empty() {
        repo_name.to_string()
    } else {
        format!("{namespace}/{repo_name}")
    }
}

//! Push payloads from registries, read into one [`PushEvent`].
//!
//! Docker Hub's webhook body (`push_data` + `repository`) arrives at its own
//! receiver and is read by [`parse_docker_hub`]. Everything else arrives at
//! the registry receiver, whose format is detected from the delivery's
//! headers and body by [`parse_registry_delivery`]: the CNCF distribution
//! notification envelope (`{"events":[…]}`, self-hosted registries and
//! GitLab's container registry), Harbor (default and CloudEvents), GitHub
//! `package` events (GitHub Container Registry), Quay, Azure Container
//! Registry, Amazon ECR through EventBridge, Google Artifact Registry through
//! a Pub/Sub push subscription, and JFrog Artifactory. Each format has its
//! module here, whose doc says where its field names come from and what was
//! chosen where the product leaves room.
//!
//! Every value taken from a payload ends up as a `DOCKER_*` pipeline input and
//! from there inside Kubernetes YAML, so each one is checked against a strict
//! grammar here (Docker reference names, Docker tags, OCI digests, host names,
//! user names) and the event is refused otherwise: nothing that could break
//! out of a YAML scalar (quotes, `: `, `#`, newlines, …) gets past this module.
//! Times are not passed through but re-written as RFC 3339 UTC.
//!
//! A missing optional value becomes `None`/empty; a present but malformed one
//! is an error rather than being dropped silently. Events that are not tag
//! pushes (pulls, deletes, failed pushes, a package updated, a ping) are not
//! errors: they come back as [`NotAPush`] entries that say what they were.
//!
//! Layout: one module per format; [`parse`] dispatches by the receiver
//! ([`DeliverySource`]), [`parse_registry_delivery`] by detection; `json`
//! (field navigation and error messages), `time`, `grammar` (what a value may
//! look like) and `common` (repository paths, references, not-a-push
//! entries) are shared.

mod acr;
mod common;
mod distribution;
mod docker_hub;
mod ecr;
mod gar;
mod github;
mod grammar;
mod harbor;
mod jfrog;
mod json;
mod quay;
#[cfg(test)]
mod tests;
mod time;

use std::collections::BTreeMap;
use std::fmt;

use app::pipeline::DOCKER_PARAMETERS;
use app::webhook::DeliverySource;
use serde_json::{Map, Value};

pub use distribution::parse_registry_envelope;
pub use docker_hub::{parse_docker_hub, DOCKER_HUB_OFFICIAL_NAMESPACE, DOCKER_HUB_REGISTRY};
pub use grammar::{
    is_valid_digest, is_valid_event_id, is_valid_owner, is_valid_path_component,
    is_valid_registry_host, is_valid_repository_path, is_valid_tag,
};

/// The refusal of a body in none of the formats the registry receiver reads.
pub const UNKNOWN_REGISTRY_FORMAT: &str = "not a registry webhook Slipway knows (Docker distribution, Harbor, GitHub, Quay, ACR, ECR, Artifact Registry, JFrog)";

/// The most tag pushes one delivery may report; a delivery with more is
/// refused whole (413) and starts nothing. Registries send one push per
/// delivery: CNCF distribution wraps each event in an envelope of its own
/// (`notifications/http.go`: `Events: []events.Event{event}`), Docker Hub's
/// body is one push; Quay's `repo_push` and Harbor's `resources` name the
/// few tags one push updated. 100 leaves two orders of magnitude for a
/// batching sender while one delivery cannot start more than 100 runs.
pub const MAX_PUSHES_PER_DELIVERY: usize = 100;

/// Reads a delivery's body in its source's format: the tag pushes it reports
/// (none for an envelope of pulls, deletes or layer pushes).
///
/// `docker-hub` and `registry` read the Docker Hub body and the CNCF
/// envelope, as each receiver always did. Every other source is read by
/// [`parse_registry_delivery`] (without headers) and must be detected as
/// that source; its events that are not pushes are left out here.
pub fn parse(source: DeliverySource, body: &[u8]) -> Result<Vec<PushEvent>, PayloadError> {
    match source {
        DeliverySource::DockerHub => docker_hub::parse(body),
        DeliverySource::Registry => distribution::parse(body),
        DeliverySource::Harbor
        | DeliverySource::Ghcr
        | DeliverySource::Quay
        | DeliverySource::Acr
        | DeliverySource::Ecr
        | DeliverySource::Gar
        | DeliverySource::Gitlab
        | DeliverySource::Jfrog => {
            let delivery = parse_registry_delivery(&RegistryHeaders::default(), body)?;
            if delivery.source == source {
                Ok(delivery.pushes)
            } else {
                Err(PayloadError(format!(
                    "{}: the body is not in this format (it reads as {})",
                    source.as_str(),
                    delivery.source.as_str()
                )))
            }
        }
    }
}

/// The headers of a registry delivery that tell its format or carry its
/// event id (values as received; `None` when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryHeaders<'a> {
    /// `X-GitHub-Event`: `package` (or `registry_package`), `ping`, …
    pub github_event: Option<&'a str>,
    /// `X-GitHub-Delivery`: the GUID of a GitHub delivery, kept on re-delivery.
    pub github_delivery: Option<&'a str>,
}

/// An event of a delivery that is not a tag push: what it was, for the
/// IGNORED Activity row that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAPush {
    /// One line saying what the event was, e.g. "Harbor PULL_ARTIFACT of
    /// library/nginx:1.27", "GitHub package 'shop-api' updated", "ping".
    /// Payload values in it are either valid names or quoted escaped.
    pub what: String,
    /// The repository it names (`library/nginx`), when it names a valid one;
    /// else empty.
    pub repository: String,
    /// The tag it names, when it names a valid one; else empty.
    pub tag: String,
}

/// A registry delivery read: its detected format, the tag pushes it
/// reports, and its events that are not tag pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryDelivery {
    pub source: DeliverySource,
    pub pushes: Vec<PushEvent>,
    pub not_pushes: Vec<NotAPush>,
}

impl RegistryDelivery {
    fn new(source: DeliverySource) -> Self {
        Self {
            source,
            pushes: Vec::new(),
            not_pushes: Vec::new(),
        }
    }
}

/// Detects the format from headers and body (no per-format URL) and reads
/// the delivery.
///
/// Headers first: an `X-GitHub-Event` header makes it GitHub (`ping` is a
/// not-a-push "ping" whatever the body; `package` and `registry_package`
/// are read; any other event is a not-a-push saying which it was). Then the
/// body, which must be a JSON object, by the keys only one format has at its
/// top level, first match wins:
///
/// 1. `events` → the CNCF distribution envelope: `gitlab` when GitLab's
///    container registry sent it (see `distribution`), else `registry`;
/// 2. `specversion` with a `type` starting `harbor.` → Harbor CloudEvents;
/// 3. `type` and `event_data` → Harbor's default format;
/// 4. `package` or `registry_package` with `action` → GitHub (a body sent
///    without its headers; `zen` with `hook_id` → a GitHub ping);
/// 5. `detail-type` and `detail` → an EventBridge event, read as ECR;
/// 6. `message` and `subscription` → a Pub/Sub push, read as Artifact Registry;
/// 7. `domain` and `event_type` → JFrog;
/// 8. `docker_url` → Quay;
/// 9. `action` and `target` → Azure Container Registry (one event, no envelope).
///
/// Anything else is refused with [`UNKNOWN_REGISTRY_FORMAT`]. Once a format
/// is detected, each of its errors starts with the source's name and names
/// the field: "harbor: wrong type of `event_data.resources[0].tag`: …".
pub fn parse_registry_delivery(
    headers: &RegistryHeaders<'_>,
    body: &[u8],
) -> Result<RegistryDelivery, PayloadError> {
    if let Some(event) = headers.github_event.filter(|event| !event.is_empty()) {
        return github::parse_event(event, headers.github_delivery, body)
            .map_err(|error| error.in_format(DeliverySource::Ghcr));
    }
    let document = json::parse_json(body)?;
    let Some(root) = document.as_object() else {
        return Err(PayloadError(UNKNOWN_REGISTRY_FORMAT.to_string()));
    };
    let Some(format) = Format::detect(root) else {
        return Err(PayloadError(UNKNOWN_REGISTRY_FORMAT.to_string()));
    };
    let delivery = match format {
        Format::Distribution => distribution::parse_delivery(root),
        Format::HarborCloudEvents => harbor::parse_cloud_event(root),
        Format::HarborDefault => harbor::parse_default(root),
        Format::GitHub(key) => github::parse_body(key, headers.github_delivery, root),
        Format::GitHubPing => Ok(github::ping()),
        Format::EventBridge => ecr::parse(root),
        Format::PubSub => gar::parse(root),
        Format::Jfrog => jfrog::parse(root),
        Format::Quay => quay::parse(root),
        Format::Acr => acr::parse(root),
    };
    delivery.map_err(|error| error.in_format(format.source(root)))
}

/// The formats [`parse_registry_delivery`] tells apart by the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Distribution,
    HarborCloudEvents,
    HarborDefault,
    /// The top-level key holding the package: `package` or `registry_package`.
    GitHub(&'static str),
    GitHubPing,
    EventBridge,
    PubSub,
    Jfrog,
    Quay,
    Acr,
}

impl Format {
    fn detect(root: &Map<String, Value>) -> Option<Format> {
        let has = |key: &str| root.contains_key(key);
        let harbor_type = root
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.starts_with("harbor."));
        Some(if has("events") {
            Format::Distribution
        } else if has("specversion") && harbor_type {
            Format::HarborCloudEvents
        } else if has("type") && has("event_data") {
            Format::HarborDefault
        } else if has("package") && has("action") {
            Format::GitHub("package")
        } else if has("registry_package") && has("action") {
            Format::GitHub("registry_package")
        } else if has("zen") && has("hook_id") {
            Format::GitHubPing
        } else if has("detail-type") && has("detail") {
            Format::EventBridge
        } else if has("message") && has("subscription") {
            Format::PubSub
        } else if has("domain") && has("event_type") {
            Format::Jfrog
        } else if has("docker_url") {
            Format::Quay
        } else if has("action") && has("target") {
            Format::Acr
        } else {
            return None;
        })
    }

    /// The source a body of this format is from (for its error messages).
    fn source(self, root: &Map<String, Value>) -> DeliverySource {
        match self {
            Format::Distribution => distribution::source_of(root),
            Format::HarborCloudEvents | Format::HarborDefault => DeliverySource::Harbor,
            Format::GitHub(_) | Format::GitHubPing => DeliverySource::Ghcr,
            Format::EventBridge => DeliverySource::Ecr,
            Format::PubSub => DeliverySource::Gar,
            Format::Jfrog => DeliverySource::Jfrog,
            Format::Quay => DeliverySource::Quay,
            Format::Acr => DeliverySource::Acr,
        }
    }
}

/// One pushed tag, whichever registry sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushEvent {
    /// `DOCKER_OWNER_NAME`: who pushed, when the format says (Docker Hub
    /// `push_data.pusher`, else `repository.owner`; registry `actor.name`;
    /// Harbor `operator`; GitHub `sender.login`). May be empty.
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
    /// `DOCKER_EVENT_ID`: the source's event id (CNCF and ACR `id`,
    /// CloudEvents `id`, `X-GitHub-Delivery`, Pub/Sub `messageId`,
    /// EventBridge `id`); Docker Hub, Harbor's default format, Quay and JFrog
    /// send none.
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

impl PayloadError {
    /// The message with the detected format's name in front ("harbor: …").
    fn in_format(self, source: DeliverySource) -> PayloadError {
        PayloadError(format!("{}: {}", source.as_str(), self.0))
    }
}

/// `namespace/repo_name`, or `repo_name` alone when the namespace is empty.
fn join_image(namespace: &str, repo_name: &str) -> String {
    if namespace.is_empty() {
        repo_name.to_string()
    } else {
        format!("{namespace}/{repo_name}")
    }
}

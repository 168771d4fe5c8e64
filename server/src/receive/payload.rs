//! Push payloads from registries, read into one [`PushEvent`].
//!
//! Two formats arrive: Docker Hub's webhook body (`push_data` + `repository`)
//! and the CNCF distribution notification envelope (`{"events":[…]}`) sent by
//! self-hosted registries and Harbor-like products.
//!
//! Every value taken from a payload ends up as a `DOCKER_*` pipeline input and
//! from there inside Kubernetes YAML, so each one is checked against a strict
//! grammar here (Docker reference names, Docker tags, OCI digests, host names,
//! user names) and the event is refused otherwise: nothing that could break
//! out of a YAML scalar (quotes, `: `, `#`, newlines, …) gets past this module.
//! Times are not passed through but re-written as RFC 3339 UTC.
//!
//! Choices made where the formats leave room:
//! - A one-segment Docker Hub repository (`ubuntu`) is an official image and
//!   gets the namespace `library`, as on Docker Hub (`library/ubuntu`). A
//!   one-segment repository on a self-hosted registry (`app`) keeps an empty
//!   namespace and `image` stays `app`: `library/` is a Docker Hub convention,
//!   and `127.0.0.1:5000/library/app` would name an image that does not exist.
//! - A deeper registry path (`team/sub/app`) splits at its last `/`:
//!   namespace `team/sub`, repository name `app`.
//! - Docker Hub events have the registry `docker.io` (how image references
//!   spell Docker Hub); registry events have the host the push was sent to
//!   (`request.host`, else the host of `target.url`).
//! - A missing optional value becomes `None`/empty; a present but malformed
//!   one is an error rather than being dropped silently.

use std::collections::BTreeMap;
use std::fmt;

use app::pipeline::DOCKER_PARAMETERS;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// How Docker Hub is named in image references; the `registry` of Hub events.
pub const DOCKER_HUB_REGISTRY: &str = "docker.io";

/// The namespace Docker Hub gives official images (`ubuntu` = `library/ubuntu`).
pub const DOCKER_HUB_OFFICIAL_NAMESPACE: &str = "library";

/// Longest repository path Docker accepts (distribution's `NameTotalLengthMax`).
const MAX_REPOSITORY_CHARS: usize = 255;
/// Longest owner name kept; longer ones are not user names.
const MAX_OWNER_CHARS: usize = 256;
/// Longest registry event id kept (distribution sends UUIDs, 36 chars).
const MAX_EVENT_ID_CHARS: usize = 128;
/// Longest digest kept: `sha512:` and 128 hex digits fit with room to spare.
const MAX_DIGEST_CHARS: usize = 255;
/// Longest `host[:port]` kept (a DNS name is at most 253 chars).
const MAX_HOST_CHARS: usize = 261;
/// Longest callback URL kept.
const MAX_URL_CHARS: usize = 2048;
/// Longest excerpt of an offending value quoted in an error message.
const MAX_QUOTED_CHARS: usize = 64;
/// Latest `pushed_at` accepted: 9999-12-31T23:59:59Z, as seconds since 1970.
const MAX_EPOCH_SECONDS: f64 = 253_402_300_799.0;

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

/// Reads a Docker Hub push webhook body.
///
/// Required: `push_data.tag` and `repository.repo_name` (or both
/// `repository.namespace` and `repository.name`). Optional: `pusher`,
/// `repository.owner`, `pushed_at` (seconds since 1970 as an integer, a float
/// or a float in exponent form), `callback_url`. Other fields are ignored.
///
/// The dedupe key is `hub|<image>|<tag>|<pushed_at>`: Docker Hub re-sends the
/// same body, and a new push of the tag has a new `pushed_at`.
pub fn parse_docker_hub(body: &[u8]) -> Result<PushEvent, PayloadError> {
    let document = parse_json(body)?;
    let root = as_object(&document, "the body")?;
    let push_data = as_object(required(root, "push_data", "push_data")?, "push_data")?;
    let repository = as_object(required(root, "repository", "repository")?, "repository")?;

    let tag = required_string(push_data, "tag", "push_data.tag")?;
    check_tag(tag, "push_data.tag")?;

    let (namespace, repo_name) = hub_repository_name(repository)?;
    let image = join_image(&namespace, &repo_name);

    let owner = match optional_string(push_data, "pusher", "push_data.pusher")? {
        Some(pusher) if !pusher.is_empty() => (pusher, "push_data.pusher"),
        _ => (
            optional_string(repository, "owner", "repository.owner")?.unwrap_or(""),
            "repository.owner",
        ),
    };
    check_owner(owner.0, owner.1)?;

    let pushed_at = match push_data.get("pushed_at") {
        None | Some(Value::Null) => None,
        Some(value) => Some(epoch_seconds_to_rfc3339(value, "push_data.pushed_at")?),
    };

    let callback_url = optional_string(root, "callback_url", "callback_url")?
        .filter(|url| !url.is_empty())
        .map(|url| check_callback_url(url, "callback_url").map(str::to_string))
        .transpose()?;

    let dedupe_key = format!(
        "hub|{image}|{tag}|{}",
        pushed_at.as_deref().unwrap_or_default()
    );
    Ok(PushEvent {
        owner: owner.0.to_string(),
        namespace,
        repo_name,
        image,
        tag: tag.to_string(),
        digest: None,
        registry: Some(DOCKER_HUB_REGISTRY.to_string()),
        pushed_at,
        event_id: None,
        callback_url,
        dedupe_key,
    })
}

/// Reads a registry notification envelope
/// (`application/vnd.docker.distribution.events.v1+json`, `…v2+json` or
/// `application/json`: the body is the same) and returns its tag pushes.
///
/// Skipped, not errors: actions other than `push` (pulls, deletes, mounts),
/// pushes of layers, configs and other blobs (a `target.mediaType` that is
/// not a manifest or an index), and manifest pushes without a tag (push by
/// digest, e.g. the platform manifests of a multi-arch index). A tagged push
/// without `mediaType` counts as a manifest push, as only manifests have tags.
/// An event that is a tag push but malformed refuses the whole envelope.
///
/// The dedupe key is `registry|event|<id>` when the event has an id (a
/// re-sent envelope keeps its ids), else
/// `registry|<repository>|<tag>|<digest>`.
pub fn parse_registry_envelope(body: &[u8]) -> Result<Vec<PushEvent>, PayloadError> {
    let document = parse_json(body)?;
    let root = as_object(&document, "the body")?;
    let events = match required(root, "events", "events")? {
        Value::Array(events) => events,
        other => return Err(wrong_type("events", "an array", other)),
    };
    let mut pushes = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let place = format!("events[{index}]");
        if let Some(push) = parse_registry_event(event, &place)? {
            pushes.push(push);
        }
    }
    Ok(pushes)
}

/// One envelope event: `Ok(None)` when it is not a tag push.
fn parse_registry_event(event: &Value, place: &str) -> Result<Option<PushEvent>, PayloadError> {
    let event = as_object(event, place)?;
    let action = required_string(event, "action", &format!("{place}.action"))?;
    if action != "push" {
        return Ok(None);
    }
    let target_place = format!("{place}.target");
    let target = as_object(required(event, "target", &target_place)?, &target_place)?;
    let media_type = optional_string(target, "mediaType", &format!("{target_place}.mediaType"))?;
    if media_type.is_some_and(|media_type| !is_manifest_media_type(media_type)) {
        return Ok(None);
    }
    let tag = match optional_string(target, "tag", &format!("{target_place}.tag"))? {
        Some(tag) if !tag.is_empty() => tag,
        _ => return Ok(None),
    };
    check_tag(tag, &format!("{target_place}.tag"))?;

    let repository_place = format!("{target_place}.repository");
    let repository = required_string(target, "repository", &repository_place)?;
    check_repository_path(repository, &repository_place)?;
    let (namespace, repo_name) = match repository.rsplit_once('/') {
        Some((namespace, name)) => (namespace.to_string(), name.to_string()),
        None => (String::new(), repository.to_string()),
    };

    let digest_place = format!("{target_place}.digest");
    let digest = optional_string(target, "digest", &digest_place)?
        .filter(|digest| !digest.is_empty())
        .map(|digest| check_digest(digest, &digest_place).map(str::to_string))
        .transpose()?;

    let registry = registry_host(event, target, place)?;

    let pushed_at = match optional_string(event, "timestamp", &format!("{place}.timestamp"))? {
        Some(timestamp) if !timestamp.is_empty() => {
            Some(rfc3339_to_utc(timestamp, &format!("{place}.timestamp"))?)
        }
        _ => None,
    };

    let event_id_place = format!("{place}.id");
    let event_id = optional_string(event, "id", &event_id_place)?
        .filter(|id| !id.is_empty())
        .map(|id| check_event_id(id, &event_id_place).map(str::to_string))
        .transpose()?;

    let owner = match event.get("actor") {
        None | Some(Value::Null) => "",
        Some(actor) => {
            let actor_place = format!("{place}.actor");
            let actor = as_object(actor, &actor_place)?;
            optional_string(actor, "name", &format!("{actor_place}.name"))?.unwrap_or("")
        }
    };
    check_owner(owner, &format!("{place}.actor.name"))?;

    let dedupe_key = match &event_id {
        Some(id) => format!("registry|event|{id}"),
        None => format!(
            "registry|{repository}|{tag}|{}",
            digest.as_deref().unwrap_or_default()
        ),
    };
    Ok(Some(PushEvent {
        owner: owner.to_string(),
        image: repository.to_string(),
        namespace,
        repo_name,
        tag: tag.to_string(),
        digest,
        registry,
        pushed_at,
        event_id,
        callback_url: None,
        dedupe_key,
    }))
}

/// Manifests and indexes (what a tag can name), as opposed to layers,
/// configs and other blobs. Known types first; then any vendor type that
/// calls itself a manifest or an index, so newer artifact types still count.
fn is_manifest_media_type(media_type: &str) -> bool {
    const MANIFEST_MEDIA_TYPES: &[&str] = &[
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.artifact.manifest.v1+json",
    ];
    let media_type = media_type.trim().to_ascii_lowercase();
    // Parameters such as `; charset=utf-8` do not change the kind.
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    MANIFEST_MEDIA_TYPES.contains(&essence)
        || ((essence.contains(".manifest.") || essence.contains(".index."))
            && !essence.contains("layer"))
}

/// The registry's `host[:port]`: `request.host`, else the host of `target.url`.
fn registry_host(
    event: &Map<String, Value>,
    target: &Map<String, Value>,
    place: &str,
) -> Result<Option<String>, PayloadError> {
    let request_place = format!("{place}.request");
    if let Some(request) = event.get("request").filter(|value| !value.is_null()) {
        let request = as_object(request, &request_place)?;
        let host_place = format!("{request_place}.host");
        if let Some(host) = optional_string(request, "host", &host_place)? {
            if !host.is_empty() {
                return check_host(host, &host_place).map(Some);
            }
        }
    }
    let url_place = format!("{place}.target.url");
    match optional_string(target, "url", &url_place)? {
        Some(url) if !url.is_empty() => {
            let authority = url_authority(url)
                .ok_or_else(|| invalid(&url_place, "is not an absolute http(s) URL", url))?;
            check_host(authority, &url_place).map(Some)
        }
        _ => Ok(None),
    }
}

/// `host[:port]` of `scheme://[userinfo@]host[:port]/…`, without the userinfo.
fn url_authority(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!host.is_empty()).then_some(host)
}

/// The Docker Hub repository as `(namespace, name)`, from `repo_name`, else
/// from `namespace` + `name`.
fn hub_repository_name(repository: &Map<String, Value>) -> Result<(String, String), PayloadError> {
    if let Some(repo_name) = optional_string(repository, "repo_name", "repository.repo_name")? {
        if !repo_name.is_empty() {
            check_repository_path(repo_name, "repository.repo_name")?;
            return Ok(match repo_name.rsplit_once('/') {
                Some((namespace, name)) => (namespace.to_string(), name.to_string()),
                None => (
                    DOCKER_HUB_OFFICIAL_NAMESPACE.to_string(),
                    repo_name.to_string(),
                ),
            });
        }
    }
    let namespace = optional_string(repository, "namespace", "repository.namespace")?;
    let name = optional_string(repository, "name", "repository.name")?;
    match (namespace, name) {
        (Some(namespace), Some(name)) if !namespace.is_empty() && !name.is_empty() => {
            check_path_component(namespace, "repository.namespace")?;
            check_path_component(name, "repository.name")?;
            let path = format!("{namespace}/{name}");
            check_repository_path(&path, "repository.namespace + repository.name")?;
            Ok((namespace.to_string(), name.to_string()))
        }
        _ => Err(PayloadError(
            "missing field `repository.repo_name` (or `repository.namespace` and `repository.name`)"
                .to_string(),
        )),
    }
}

fn join_image(namespace: &str, repo_name: &str) -> String {
    if namespace.is_empty() {
        repo_name.to_string()
    } else {
        format!("{namespace}/{repo_name}")
    }
}

// ---- JSON navigation with errors that name the field ----

fn parse_json(body: &[u8]) -> Result<Value, PayloadError> {
    // serde_json's message ends with "at line L column C"; it bounds nesting
    // depth itself, so a deep body is an error rather than a stack overflow.
    serde_json::from_slice(body)
        .map_err(|error| PayloadError(one_line(&format!("malformed JSON: {error}"))))
}

fn as_object<'a>(value: &'a Value, place: &str) -> Result<&'a Map<String, Value>, PayloadError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(place, "an object", value))
}

fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<&'a Value, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(PayloadError(format!("missing field `{place}`"))),
        Some(value) => Ok(value),
    }
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<&'a str, PayloadError> {
    let value = required(object, key, place)?;
    value
        .as_str()
        .ok_or_else(|| wrong_type(place, "a string", value))
}

/// A string field that may be absent or null.
fn optional_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<&'a str>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(wrong_type(place, "a string", other)),
    }
}

fn wrong_type(place: &str, expected: &str, found: &Value) -> PayloadError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let place = if place.starts_with("the ") {
        place.to_string()
    } else {
        format!("`{place}`")
    };
    PayloadError(format!(
        "wrong type of {place}: expected {expected}, found {found}"
    ))
}

fn invalid(place: &str, problem: &str, value: &str) -> PayloadError {
    PayloadError(format!("`{place}` {problem}: {}", quote(value)))
}

/// The value as an escaped, shortened Rust string literal: no newline or
/// control character of the payload reaches a log line or an answer.
fn quote(value: &str) -> String {
    let mut excerpt: String = value.chars().take(MAX_QUOTED_CHARS).collect();
    if excerpt.len() < value.len() {
        excerpt.push('…');
    }
    format!("{excerpt:?}")
}

fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- Times ----

/// Docker Hub's `pushed_at`: seconds since 1970 as a JSON number, integer or
/// not (`1417566161`, `1417566161.0`, `1.417566161e9`). Fractions are kept to
/// the millisecond, which is all an f64 of this size holds reliably.
fn epoch_seconds_to_rfc3339(value: &Value, place: &str) -> Result<String, PayloadError> {
    let Value::Number(number) = value else {
        return Err(wrong_type(place, "a number of seconds since 1970", value));
    };
    let (seconds, milliseconds) = if let Some(seconds) = number.as_i64() {
        (seconds, 0)
    } else if number.is_u64() {
        // Above i64::MAX: far out of range.
        return Err(invalid(place, "is out of range", &number.to_string()));
    } else {
        let seconds = number.as_f64().unwrap_or(f64::NAN);
        if !seconds.is_finite() || !(0.0..=MAX_EPOCH_SECONDS).contains(&seconds) {
            return Err(invalid(place, "is out of range", &number.to_string()));
        }
        let total_milliseconds = (seconds * 1000.0).round() as i64;
        (
            total_milliseconds.div_euclid(1000),
            total_milliseconds.rem_euclid(1000),
        )
    };
    if !(0..=MAX_EPOCH_SECONDS as i64).contains(&seconds) {
        return Err(invalid(place, "is out of range", &number.to_string()));
    }
    let nanoseconds = u32::try_from(milliseconds * 1_000_000).unwrap_or(0);
    DateTime::<Utc>::from_timestamp(seconds, nanoseconds)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .ok_or_else(|| invalid(place, "is out of range", &number.to_string()))
}

/// A registry event `timestamp` (RFC 3339, any offset), re-written in UTC.
fn rfc3339_to_utc(timestamp: &str, place: &str) -> Result<String, PayloadError> {
    DateTime::parse_from_rfc3339(timestamp)
        .map(|time| {
            time.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        })
        .map_err(|_| invalid(place, "is not an RFC 3339 time", timestamp))
}

// ---- Grammars: what may reach a pipeline input ----

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    tag.len() <= 128
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// One path component of the Docker reference grammar:
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
pub fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alphanumeric = |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    let mut index = 0;
    loop {
        // A run of lower-case letters and digits…
        let run_start = index;
        while index < bytes.len() && is_alphanumeric(bytes[index]) {
            index += 1;
        }
        if index == run_start {
            return false;
        }
        if index == bytes.len() {
            return true;
        }
        // …then one separator: `.`, `_`, `__` or any number of `-`.
        match bytes[index] {
            b'.' => index += 1,
            b'_' => {
                index += 1;
                if bytes.get(index) == Some(&b'_') {
                    index += 1;
                }
            }
            b'-' => {
                while bytes.get(index) == Some(&b'-') {
                    index += 1;
                }
            }
            _ => return false,
        }
    }
}

/// A repository path: components joined by `/`, at most 255 characters.
pub fn is_valid_repository_path(path: &str) -> bool {
    path.len() <= MAX_REPOSITORY_CHARS && path.split('/').all(is_valid_path_component)
}

/// An OCI digest: `algorithm:encoded`, algorithm
/// `[a-z0-9]+([+._-][a-z0-9]+)*`, encoded `[a-zA-Z0-9=_-]+`.
pub fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    digest.len() <= MAX_DIGEST_CHARS && algorithm_ok && encoded_ok
}

/// `host[:port]`: a DNS name or IPv4 address (labels of letters, digits and
/// inner `-`, joined by `.`) and an optional numeric port. Bracketed IPv6
/// literals are refused on purpose: a value starting with `[` would read as a
/// YAML flow sequence where a pipeline puts the registry unquoted.
pub fn is_valid_registry_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_CHARS {
        return false;
    }
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
    });
    name_ok && port_ok
}

/// A user name as registries report it: letters, digits, `_`, `.`, `@`, `+`,
/// `-`, not starting with punctuation other than `_`; or empty.
pub fn is_valid_owner(owner: &str) -> bool {
    let mut chars = owner.chars();
    match chars.next() {
        None => true,
        Some(first) => {
            owner.len() <= MAX_OWNER_CHARS
                && (first.is_ascii_alphanumeric() || first == '_')
                && chars
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '-'))
        }
    }
}

/// A registry event id: distribution sends a UUID; allow the characters of
/// ids in general (`A-Za-z0-9`, `-`, `_`, `.`, `:`), starting alphanumeric.
pub fn is_valid_event_id(id: &str) -> bool {
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    id.len() <= MAX_EVENT_ID_CHARS
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn check_tag(tag: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_tag(tag) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
            tag,
        ))
    }
}

fn check_path_component(component: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_path_component(component) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__` or `-`)",
            component,
        ))
    }
}

fn check_repository_path(path: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_repository_path(path) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most 255 characters)",
            path,
        ))
    }
}

fn check_digest<'a>(digest: &'a str, place: &str) -> Result<&'a str, PayloadError> {
    if is_valid_digest(digest) {
        Ok(digest)
    } else {
        Err(invalid(
            place,
            "is not a valid digest (algorithm:hex)",
            digest,
        ))
    }
}

/// Checks and lower-cases a registry host (host names are case-insensitive,
/// and webhook image patterns compare it as text).
fn check_host(host: &str, place: &str) -> Result<String, PayloadError> {
    if is_valid_registry_host(host) {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(invalid(place, "is not a valid registry host[:port]", host))
    }
}

fn check_owner(owner: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_owner(owner) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid user name (letters, digits, `_`, `.`, `@`, `+`, `-`)",
            owner,
        ))
    }
}

fn check_event_id<'a>(id: &'a str, place: &str) -> Result<&'a str, PayloadError> {
    if is_valid_event_id(id) {
        Ok(id)
    } else {
        Err(invalid(
            place,
            "is not a valid event id (letters, digits, `-`, `_`, `.`, `:`)",
            id,
        ))
    }
}

/// The callback is only ever POSTed to allow-listed hosts (checked where it
/// is sent); here it must at least be a plain absolute http(s) URL.
fn check_callback_url<'a>(url: &'a str, place: &str) -> Result<&'a str, PayloadError> {
    let plain = url.len() <= MAX_URL_CHARS
        && url.chars().all(|c| c.is_ascii_graphic())
        && url_authority(url).is_some_and(is_valid_registry_host);
    if plain {
        Ok(url)
    } else {
        Err(invalid(place, "is not an absolute http(s) URL", url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/docker-hub-push.json");
    const REGISTRY_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/registry-push-event.json");

    fn hub_body_with(push_data: Value) -> Vec<u8> {
        serde_json::json!({
            "push_data": push_data,
            "repository": {"repo_name": "svendowideit/testhook"}
        })
        .to_string()
        .into_bytes()
    }

    fn hub_error(body: &[u8]) -> String {
        match parse_docker_hub(body) {
            Ok(event) => panic!("expected an error, parsed {event:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn registry_error(body: &[u8]) -> String {
        match parse_registry_envelope(body) {
            Ok(events) => panic!("expected an error, parsed {events:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn fixture_event() -> Value {
        let envelope: Value =
            serde_json::from_slice(REGISTRY_FIXTURE).expect("registry fixture is JSON");
        envelope["events"][0].clone()
    }

    fn envelope_of(events: Vec<Value>) -> Vec<u8> {
        serde_json::json!({ "events": events })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn docker_hub_fixture_parses() {
        let event = parse_docker_hub(HUB_FIXTURE).expect("fixture parses");
        assert_eq!(event.owner, "trustedbuilder");
        assert_eq!(event.namespace, "svendowideit");
        assert_eq!(event.repo_name, "testhook");
        assert_eq!(event.image, "svendowideit/testhook");
        assert_eq!(event.tag, "latest");
        assert_eq!(event.digest, None);
        assert_eq!(event.registry.as_deref(), Some("docker.io"));
        assert_eq!(event.pushed_at.as_deref(), Some("2014-12-03T00:22:41Z"));
        assert_eq!(event.event_id, None);
        assert_eq!(
            event.callback_url.as_deref(),
            Some(
                "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/"
            )
        );
        assert_eq!(
            event.dedupe_key,
            "hub|svendowideit/testhook|latest|2014-12-03T00:22:41Z"
        );
    }

    #[test]
    fn registry_fixture_parses() {
        let events = parse_registry_envelope(REGISTRY_FIXTURE).expect("fixture parses");
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.image, "demo/app");
        assert_eq!(event.namespace, "demo");
        assert_eq!(event.repo_name, "app");
        assert_eq!(event.tag, "v1");
        assert_eq!(
            event.digest.as_deref(),
            Some("sha256:ce8818d7fba34efd8ec25180c1a0c1b9f9bed890e6d24f7c13d71f009e3b8b0b")
        );
        assert_eq!(event.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(
            event.event_id.as_deref(),
            Some("3ffc5ce2-1c3e-4a06-ae26-abd3d8951a1c")
        );
        assert_eq!(event.owner, "");
        assert_eq!(
            event.pushed_at.as_deref(),
            Some("2026-11-28T00:20:59.225371787Z")
        );
        assert_eq!(event.callback_url, None);
        assert_eq!(
            event.dedupe_key,
            "registry|event|3ffc5ce2-1c3e-4a06-ae26-abd3d8951a1c"
        );
    }

    #[test]
    fn docker_inputs_use_the_parameter_table_names() {
        let event = parse_docker_hub(HUB_FIXTURE).expect("fixture parses");
        let inputs = event.docker_inputs();
        let names: Vec<&str> = DOCKER_PARAMETERS.iter().map(|(name, _)| *name).collect();
        assert_eq!(inputs.keys().map(String::as_str).collect::<Vec<_>>(), {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted
        });
        assert_eq!(inputs["DOCKER_OWNER_NAME"], "trustedbuilder");
        assert_eq!(inputs["DOCKER_IMAGE"], "svendowideit/testhook");
        assert_eq!(inputs["DOCKER_REPO_NAME"], "testhook");
        assert_eq!(inputs["DOCKER_REPO_NAMESPACE"], "svendowideit");
        assert_eq!(inputs["DOCKER_TAG"], "latest");
        assert_eq!(inputs["DOCKER_DIGEST"], "");
        assert_eq!(inputs["DOCKER_REGISTRY"], "docker.io");
        assert_eq!(inputs["DOCKER_PUSHED_AT"], "2014-12-03T00:22:41Z");
        assert_eq!(inputs["DOCKER_EVENT_ID"], "");

        let registry = &parse_registry_envelope(REGISTRY_FIXTURE).expect("parses")[0];
        let inputs = registry.docker_inputs();
        assert_eq!(inputs["DOCKER_REGISTRY"], "127.0.0.1:5000");
        assert_eq!(
            inputs["DOCKER_EVENT_ID"],
            "3ffc5ce2-1c3e-4a06-ae26-abd3d8951a1c"
        );
        assert!(inputs["DOCKER_DIGEST"].starts_with("sha256:ce8818d7"));
    }

    #[test]
    fn hub_pushed_at_integer_float_and_exponent_forms() {
        for pushed_at in [
            "1417566161",
            "1417566161.0",
            "1.417566161e9",
            "1.417566161E+9",
        ] {
            let body = format!(
                r#"{{"push_data":{{"tag":"latest","pushed_at":{pushed_at}}},"repository":{{"repo_name":"a/b"}}}}"#
            );
            let event = parse_docker_hub(body.as_bytes()).expect(pushed_at);
            assert_eq!(
                event.pushed_at.as_deref(),
                Some("2014-12-03T00:22:41Z"),
                "{pushed_at}"
            );
        }
        let event = parse_docker_hub(&hub_body_with(
            serde_json::json!({"tag": "v", "pushed_at": 1417566161.25}),
        ))
        .expect("fraction parses");
        assert_eq!(event.pushed_at.as_deref(), Some("2014-12-03T00:22:41.250Z"));
        let event = parse_docker_hub(&hub_body_with(serde_json::json!({"tag": "v"})))
            .expect("no pushed_at parses");
        assert_eq!(event.pushed_at, None);
        assert_eq!(event.dedupe_key, "hub|svendowideit/testhook|v|");
    }

    #[test]
    fn hub_pushed_at_of_wrong_type_or_range_is_refused() {
        let message = hub_error(&hub_body_with(
            serde_json::json!({"tag": "v", "pushed_at": "yesterday"}),
        ));
        assert_eq!(
            message,
            "wrong type of `push_data.pushed_at`: expected a number of seconds since 1970, found a string"
        );
        for pushed_at in [-1.0, 1e300, 253_402_300_800.0] {
            let message = hub_error(&hub_body_with(
                serde_json::json!({"tag": "v", "pushed_at": pushed_at}),
            ));
            assert!(
                message.starts_with("`push_data.pushed_at` is out of range"),
                "{message}"
            );
        }
        let message = hub_error(
            br#"{"push_data":{"tag":"v","pushed_at":18446744073709551615},"repository":{"repo_name":"a/b"}}"#,
        );
        assert!(message.contains("out of range"), "{message}");
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let message = hub_error(b"{\n  \"push_data\": {\"tag\": \"v\",}\n}");
        assert!(message.starts_with("malformed JSON: "), "{message}");
        assert!(message.contains("line 2 column"), "{message}");
        let message = registry_error(b"");
        assert!(message.starts_with("malformed JSON: "), "{message}");
        let message = registry_error(b"\xff\xfe");
        assert!(message.starts_with("malformed JSON: "), "{message}");
    }

    #[test]
    fn missing_required_hub_fields_are_named() {
        assert_eq!(
            hub_error(&hub_body_with(serde_json::json!({"pusher": "me"}))),
            "missing field `push_data.tag`"
        );
        assert_eq!(
            hub_error(br#"{"repository":{"repo_name":"a/b"}}"#),
            "missing field `push_data`"
        );
        assert_eq!(
            hub_error(br#"{"push_data":{"tag":"v"},"repository":{"name":"b"}}"#),
            "missing field `repository.repo_name` (or `repository.namespace` and `repository.name`)"
        );
        assert_eq!(
            hub_error(&hub_body_with(serde_json::json!({"tag": 5}))),
            "wrong type of `push_data.tag`: expected a string, found a number"
        );
    }

    #[test]
    fn hub_repository_from_namespace_and_name_or_official() {
        let event = parse_docker_hub(
            br#"{"push_data":{"tag":"v"},"repository":{"namespace":"acme","name":"web"}}"#,
        )
        .expect("namespace + name parse");
        assert_eq!(
            (
                event.image.as_str(),
                event.namespace.as_str(),
                event.repo_name.as_str()
            ),
            ("acme/web", "acme", "web")
        );
        assert_eq!(event.owner, "");

        let event = parse_docker_hub(
            br#"{"push_data":{"tag":"v"},"repository":{"repo_name":"ubuntu","owner":"docker"}}"#,
        )
        .expect("official image parses");
        assert_eq!(event.image, "library/ubuntu");
        assert_eq!(event.namespace, "library");
        assert_eq!(event.owner, "docker");
    }

    #[test]
    fn tags_with_spaces_or_newlines_are_refused_escaped() {
        let message = hub_error(&hub_body_with(serde_json::json!({"tag": "v1 beta"})));
        assert_eq!(
            message,
            r#"`push_data.tag` is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): "v1 beta""#
        );
        let message = hub_error(&hub_body_with(
            serde_json::json!({"tag": "v1\nimage: evil"}),
        ));
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains(r#""v1\nimage: evil""#), "{message}");
        for tag in ["", ".hidden", "-x", &"a".repeat(129)] {
            hub_error(&hub_body_with(serde_json::json!({ "tag": tag })));
        }
        assert!(is_valid_tag(&"a".repeat(128)));
    }

    #[test]
    fn names_outside_the_reference_grammar_are_refused() {
        for repo_name in [
            "Svendowideit/testhook",
            "a/b c",
            "a//b",
            "a/b/",
            "a/-b",
            "a/b:c",
            "a/b\"",
            "a___b",
        ] {
            let body = serde_json::json!({"push_data": {"tag": "v"}, "repository": {"repo_name": repo_name}});
            let message = hub_error(body.to_string().as_bytes());
            assert!(
                message.starts_with("`repository.repo_name` is not a valid repository name"),
                "{message}"
            );
        }
        for good in ["a", "a.b", "a_b", "a__b", "a---b", "a0/b-c/d.e"] {
            assert!(is_valid_repository_path(good), "{good}");
        }
        let message = hub_error(
            br#"{"push_data":{"tag":"v","pusher":"me: you"},"repository":{"repo_name":"a/b"}}"#,
        );
        assert!(
            message.starts_with("`push_data.pusher` is not a valid user name"),
            "{message}"
        );
    }

    #[test]
    fn non_object_bodies_are_refused() {
        assert_eq!(
            hub_error(b"[]"),
            "wrong type of the body: expected an object, found an array"
        );
        assert_eq!(
            hub_error(b"\"text\""),
            "wrong type of the body: expected an object, found a string"
        );
        assert_eq!(
            registry_error(b"42"),
            "wrong type of the body: expected an object, found a number"
        );
        assert_eq!(registry_error(b"{}"), "missing field `events`");
        assert_eq!(
            registry_error(br#"{"events":{}}"#),
            "wrong type of `events`: expected an array, found an object"
        );
        assert_eq!(
            registry_error(br#"{"events":[7]}"#),
            "wrong type of `events[0]`: expected an object, found a number"
        );
        assert_eq!(
            hub_error(br#"{"push_data":"v","repository":{}}"#),
            "wrong type of `push_data`: expected an object, found a string"
        );
    }

    #[test]
    fn layer_pushes_pulls_deletes_and_untagged_pushes_are_skipped() {
        let manifest_push = fixture_event();
        let mut layer_push = fixture_event();
        layer_push["target"]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        layer_push["target"]["tag"] = Value::Null;
        let mut octet_push = fixture_event();
        octet_push["target"]["mediaType"] = "application/octet-stream".into();
        let mut pull = fixture_event();
        pull["action"] = "pull".into();
        let mut delete = fixture_event();
        delete["action"] = "delete".into();
        let mut by_digest = fixture_event();
        by_digest["target"]
            .as_object_mut()
            .expect("object")
            .remove("tag");

        let events = parse_registry_envelope(&envelope_of(vec![manifest_push.clone(), layer_push]))
            .expect("parses");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].tag, "v1");

        let events =
            parse_registry_envelope(&envelope_of(vec![pull, delete, octet_push, by_digest]))
                .expect("parses");
        assert!(events.is_empty(), "{events:?}");
        assert!(parse_registry_envelope(br#"{"events":[]}"#)
            .expect("parses")
            .is_empty());
    }

    #[test]
    fn registry_event_variants() {
        // No id: the key is repository + tag + digest; no request: host from the URL.
        let mut event = fixture_event();
        let object = event.as_object_mut().expect("object");
        object.remove("id");
        object.remove("request");
        object.remove("timestamp");
        object.insert(
            "actor".into(),
            serde_json::json!({"name": "ci-bot@example.com"}),
        );
        event["target"]["repository"] = "app".into();
        event["target"]["mediaType"] =
            "application/vnd.docker.distribution.manifest.v2+json".into();
        let events = parse_registry_envelope(&envelope_of(vec![event])).expect("parses");
        let push = &events[0];
        assert_eq!(
            (
                push.namespace.as_str(),
                push.repo_name.as_str(),
                push.image.as_str()
            ),
            ("", "app", "app")
        );
        assert_eq!(push.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(push.owner, "ci-bot@example.com");
        assert_eq!(push.pushed_at, None);
        assert_eq!(
            push.dedupe_key,
            "registry|app|v1|sha256:ce8818d7fba34efd8ec25180c1a0c1b9f9bed890e6d24f7c13d71f009e3b8b0b"
        );

        // Deep path, offset time, upper-case host, no media type.
        let mut event = fixture_event();
        event["target"]["repository"] = "team/sub/app".into();
        event["target"]
            .as_object_mut()
            .expect("object")
            .remove("mediaType");
        event["timestamp"] = "2026-11-28T02:20:59+02:00".into();
        event["request"]["host"] = "Registry.Example.COM".into();
        let push = &parse_registry_envelope(&envelope_of(vec![event])).expect("parses")[0];
        assert_eq!(
            (push.namespace.as_str(), push.repo_name.as_str()),
            ("team/sub", "app")
        );
        assert_eq!(push.pushed_at.as_deref(), Some("2026-11-28T00:20:59Z"));
        assert_eq!(push.registry.as_deref(), Some("registry.example.com"));
    }

    #[test]
    fn malformed_registry_tag_pushes_are_refused_with_their_place() {
        let mut event = fixture_event();
        event["target"]["tag"] = "v1\n".into();
        let message = registry_error(&envelope_of(vec![fixture_event(), event]));
        assert!(
            message.starts_with("`events[1].target.tag` is not a valid Docker tag"),
            "{message}"
        );

        let mut event = fixture_event();
        event["target"]["digest"] = "sha256:not hex".into();
        let message = registry_error(&envelope_of(vec![event]));
        assert!(
            message.starts_with("`events[0].target.digest` is not a valid digest"),
            "{message}"
        );

        let mut event = fixture_event();
        event["request"]["host"] = "evil.com/x: y".into();
        let message = registry_error(&envelope_of(vec![event]));
        assert!(
            message.starts_with("`events[0].request.host` is not a valid registry host"),
            "{message}"
        );

        let mut event = fixture_event();
        event["timestamp"] = "last tuesday".into();
        let message = registry_error(&envelope_of(vec![event]));
        assert!(
            message.starts_with("`events[0].timestamp` is not an RFC 3339 time"),
            "{message}"
        );

        let mut event = fixture_event();
        event["target"]
            .as_object_mut()
            .expect("object")
            .remove("repository");
        assert_eq!(
            registry_error(&envelope_of(vec![event])),
            "missing field `events[0].target.repository`"
        );

        let mut event = fixture_event();
        event.as_object_mut().expect("object").remove("action");
        assert_eq!(
            registry_error(&envelope_of(vec![event])),
            "missing field `events[0].action`"
        );
    }

    #[test]
    fn registry_hosts() {
        for good in [
            "127.0.0.1:5000",
            "localhost",
            "registry.example.com",
            "a-b.c",
        ] {
            assert!(is_valid_registry_host(good), "{good}");
        }
        for bad in [
            "",
            ":5000",
            "a:",
            "a:123456",
            "a b",
            "a/b",
            "-a",
            "a..b",
            "[::1]:5000",
            "a:5000:1",
            "a-:1",
        ] {
            assert!(!is_valid_registry_host(bad), "{bad}");
        }
    }

    #[test]
    fn hub_callback_url_must_be_a_plain_http_url() {
        let message = hub_error(
            br#"{"callback_url":"javascript:alert(1)","push_data":{"tag":"v"},"repository":{"repo_name":"a/b"}}"#,
        );
        assert!(
            message.starts_with("`callback_url` is not an absolute http(s) URL"),
            "{message}"
        );
        let event = parse_docker_hub(
            br#"{"callback_url":"","push_data":{"tag":"v"},"repository":{"repo_name":"a/b"}}"#,
        )
        .expect("empty callback is none");
        assert_eq!(event.callback_url, None);
    }
}

//! What the registry formats share: repository paths, references, the
//! checked parts of a push, and the texts of events that are not pushes.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::grammar::{
    check_digest, check_event_id, check_host, is_valid_digest, is_valid_repository_path,
    is_valid_tag,
};
use super::json::{invalid, nonempty_string, one_line, quote};
use super::time::rfc3339_to_utc;
use super::{join_image, NotAPush, PayloadError, PushEvent};

/// Longest payload word (an action, an event type) shown as it is in a
/// not-a-push text; a longer or odd one is quoted escaped and shortened.
const MAX_WORD_CHARS: usize = 64;

/// `(namespace, name)` of a checked repository path, split at its last `/`
/// (`team/sub/app` → `team/sub`, `app`; `app` → empty, `app`), so the name
/// is one path component and `namespace/name` is the path again.
pub(super) fn split_repository(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some((namespace, name)) => (namespace.to_string(), name.to_string()),
        None => (String::new(), path.to_string()),
    }
}

/// How not-a-push texts name a source.
pub(super) fn product(source: DeliverySource) -> &'static str {
    match source {
        DeliverySource::DockerHub => "Docker Hub",
        DeliverySource::Registry => "Registry",
        DeliverySource::Harbor => "Harbor",
        DeliverySource::Ghcr => "GitHub",
        DeliverySource::Quay => "Quay",
        DeliverySource::Acr => "ACR",
        DeliverySource::Ecr => "ECR",
        DeliverySource::Gar => "Artifact Registry",
        DeliverySource::Gitlab => "GitLab registry",
        DeliverySource::Jfrog => "JFrog",
    }
}

/// A payload word (an action, an event type, a package name) as shown in a
/// not-a-push text: as it is when it is plain (letters, digits, `._-:/@+$`
/// and single spaces between them), else quoted escaped and shortened, so
/// the text stays one safe line.
pub(super) fn word(text: &str) -> String {
    let plain = !text.is_empty()
        && text.len() <= MAX_WORD_CHARS
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains("  ")
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '+' | '$' | ' ')
        });
    if plain {
        text.to_string()
    } else {
        quote(text)
    }
}

/// `repository:tag`, or `repository@digest` when there is no tag, from the
/// parts that keep to their grammar; `None` without a valid repository.
pub(super) fn reference(
    repository: Option<&str>,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Option<String> {
    let repository = repository.filter(|path| is_valid_repository_path(path))?;
    Some(
        match (
            tag.filter(|tag| is_valid_tag(tag)),
            digest.filter(|digest| is_valid_digest(digest)),
        ) {
            (Some(tag), _) => format!("{repository}:{tag}"),
            (None, Some(digest)) => format!("{repository}@{digest}"),
            (None, None) => repository.to_string(),
        },
    )
}

/// "<Product> <what> of <reference>", or without " of …" when the event
/// names no valid repository.
pub(super) fn event_text(
    source: DeliverySource,
    what: &str,
    repository: Option<&str>,
    tag: Option<&str>,
    digest: Option<&str>,
) -> String {
    match reference(repository, tag, digest) {
        Some(reference) => format!("{} {what} of {reference}", product(source)),
        None => format!("{} {what}", product(source)),
    }
}

/// A not-a-push entry: `what` made one line without control characters;
/// repository and tag kept only when they keep to their grammar.
pub(super) fn not_a_push(what: &str, repository: Option<&str>, tag: Option<&str>) -> NotAPush {
    let what: String = what.chars().filter(|c| !c.is_control()).collect();
    NotAPush {
        what: one_line(&what),
        repository: repository
            .filter(|path| is_valid_repository_path(path))
            .unwrap_or_default()
            .to_string(),
        tag: tag
            .filter(|tag| is_valid_tag(tag))
            .unwrap_or_default()
            .to_string(),
    }
}

/// A string field read leniently (for describing events that are not
/// pushes, where a value of the wrong type is simply not shown).
pub(super) fn text<'a>(object: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    object?.get(key)?.as_str().filter(|text| !text.is_empty())
}

/// An object field read leniently.
pub(super) fn object<'a>(
    object: Option<&'a Map<String, Value>>,
    key: &str,
) -> Option<&'a Map<String, Value>> {
    object?.get(key)?.as_object()
}

/// The checked, lower-cased host of a `host[:port]/path…` reference (Harbor
/// `resource_url`, Quay `docker_url`, Artifact Registry image names), and
/// what follows its first `/`.
pub(super) fn reference_host<'a>(
    reference: &'a str,
    place: &str,
) -> Result<(String, &'a str), PayloadError> {
    let (host, rest) = reference
        .split_once('/')
        .ok_or_else(|| invalid(place, "is not a host/repository reference", reference))?;
    Ok((check_host(host, place)?, rest))
}

/// An optional digest field: absent, null or empty is `None`; else checked.
pub(super) fn optional_digest(
    object: &Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<String>, PayloadError> {
    nonempty_string(object, key, place)?
        .map(|digest| check_digest(digest, place).map(str::to_string))
        .transpose()
}

/// An optional RFC 3339 time field, re-written in UTC.
pub(super) fn optional_time(
    object: &Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<String>, PayloadError> {
    nonempty_string(object, key, place)?
        .map(|time| rfc3339_to_utc(time, place))
        .transpose()
}

/// An optional event id field, checked.
pub(super) fn optional_event_id(
    object: &Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<String>, PayloadError> {
    nonempty_string(object, key, place)?
        .map(|id| check_event_id(id, place).map(str::to_string))
        .transpose()
}

/// The checked parts of one tag push, before its dedupe key is chosen.
#[derive(Clone, Debug, Default)]
pub(super) struct Pushed {
    /// A checked repository path (`namespace/name`).
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    pub registry: Option<String>,
    pub pushed_at: Option<String>,
    pub event_id: Option<String>,
    pub owner: String,
}

impl Pushed {
    /// `<source>|event|<id>` when the source gave an event id (a re-sent
    /// delivery keeps it), else `<source>|<repository>|<tag>|<digest>`.
    pub(super) fn key(&self, source: DeliverySource) -> String {
        match &self.event_id {
            Some(id) => format!("{}|event|{id}", source.as_str()),
            None => format!(
                "{}|{}|{}|{}",
                source.as_str(),
                self.repository,
                self.tag,
                self.digest.as_deref().unwrap_or_default()
            ),
        }
    }

    pub(super) fn event(self, dedupe_key: String) -> PushEvent {
        let (namespace, repo_name) = split_repository(&self.repository);
        PushEvent {
            owner: self.owner,
            image: join_image(&namespace, &repo_name),
            namespace,
            repo_name,
            tag: self.tag,
            digest: self.digest,
            registry: self.registry,
            pushed_at: self.pushed_at,
            event_id: self.event_id,
            callback_url: None,
            dedupe_key,
        }
    }
}

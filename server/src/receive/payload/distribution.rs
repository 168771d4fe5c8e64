//! The CNCF distribution notification envelope (`{"events":[…]}`), sent by
//! self-hosted registries (CNCF distribution's `notifications` section) and
//! GitLab's container registry, a fork of it.
//!
//! A one-segment repository (`app`) keeps an empty namespace and `image`
//! stays `app`: `library/` is a Docker Hub convention, and
//! `127.0.0.1:5000/library/app` would name an image that does not exist. A
//! deeper path (`team/sub/app`) splits at its last `/`: namespace `team/sub`,
//! repository name `app`. Events have the host the push was sent to
//! (`request.host`, else the host of `target.url`).
//!
//! GitLab: its registry sends the same envelope, so it is told apart by
//! what only GitLab's fork adds or names. An envelope is GitLab's when one of
//! its events has `actor.user_type` (the kind of GitLab credential that
//! pushed: `personal_access_token`, `deploy_token`, a CI job's, …; GitLab's
//! container registry added it to the actor in v3.66.0, 2023-01, merge
//! request 1203, while upstream distribution's actor has only `name`), or
//! when its registry host (`request.host`, else the host of `target.url`)
//! is `registry.gitlab.com`. `request.useragent` was considered and not
//! used: it is the pushing client's (`docker/…`, `buildkit/…`,
//! `containerd/…`), the same whichever registry received the push. A
//! self-managed GitLab older than v3.66.0 under its own host name is read
//! as `registry`: the same format, only the Activity source differs.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{event_text, not_a_push, object, text, word};
use super::grammar::{
    check_digest, check_event_id, check_host, check_owner, check_repository_path, check_tag,
    url_authority,
};
use super::json::{
    as_object, invalid, optional_string, parse_json, required, required_string, wrong_type,
};
use super::time::rfc3339_to_utc;
use super::{NotAPush, PayloadError, PushEvent, RegistryDelivery};

/// GitLab.com's container registry.
const GITLAB_COM_REGISTRY: &str = "registry.gitlab.com";

/// The format's entry in the dispatch by receiver.
pub(super) fn parse(body: &[u8]) -> Result<Vec<PushEvent>, PayloadError> {
    parse_registry_envelope(body)
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
    read_envelope(root, DeliverySource::Registry).map(|delivery| delivery.pushes)
}

/// The envelope as the registry receiver reads it: `gitlab` or `registry`
/// ([`source_of`]), with the events that are not pushes said: one
/// [`NotAPush`] per pull, delete, mount or other action. Layer and blob
/// pushes and manifest pushes without a tag stay silent: one image push
/// makes many of them. The dedupe keys start with the source's name.
pub(super) fn parse_delivery(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    read_envelope(root, source_of(root))
}

/// `gitlab` when GitLab's container registry sent the envelope (see the
/// module doc), else `registry`.
pub(super) fn source_of(root: &Map<String, Value>) -> DeliverySource {
    let events = root.get("events").and_then(Value::as_array);
    let gitlab = events.is_some_and(|events| {
        events.iter().filter_map(Value::as_object).any(|event| {
            let user_type = object(Some(event), "actor")
                .and_then(|actor| actor.get("user_type"))
                .is_some_and(|user_type| !user_type.is_null());
            let host = text(object(Some(event), "request"), "host")
                .or_else(|| text(object(Some(event), "target"), "url").and_then(url_authority));
            user_type || host.is_some_and(|host| host.eq_ignore_ascii_case(GITLAB_COM_REGISTRY))
        })
    });
    if gitlab {
        DeliverySource::Gitlab
    } else {
        DeliverySource::Registry
    }
}

fn read_envelope(
    root: &Map<String, Value>,
    source: DeliverySource,
) -> Result<RegistryDelivery, PayloadError> {
    let events = match required(root, "events", "events")? {
        Value::Array(events) => events,
        other => return Err(wrong_type("events", "an array", other)),
    };
    let mut delivery = RegistryDelivery::new(source);
    for (index, event) in events.iter().enumerate() {
        let place = format!("events[{index}]");
        match read_event(event, &place, source)? {
            Event::Push(push) => delivery.pushes.push(*push),
            Event::NotAPush(not_push) => delivery.not_pushes.push(not_push),
            Event::Silent => {}
        }
    }
    Ok(delivery)
}

/// What one envelope event is.
enum Event {
    Push(Box<PushEvent>),
    /// A pull, delete, mount or other action: said, not started.
    NotAPush(NotAPush),
    /// A layer or blob push, or a manifest pushed without a tag.
    Silent,
}

fn read_event(event: &Value, place: &str, source: DeliverySource) -> Result<Event, PayloadError> {
    let event = as_object(event, place)?;
    let action = required_string(event, "action", &format!("{place}.action"))?;
    if action != "push" {
        let target = object(Some(event), "target");
        let repository = text(target, "repository");
        let tag = text(target, "tag");
        let what = event_text(
            source,
            &word(action),
            repository,
            tag,
            text(target, "digest"),
        );
        return Ok(Event::NotAPush(not_a_push(&what, repository, tag)));
    }
    let target_place = format!("{place}.target");
    let target = as_object(required(event, "target", &target_place)?, &target_place)?;
    let media_type = optional_string(target, "mediaType", &format!("{target_place}.mediaType"))?;
    if media_type.is_some_and(|media_type| !is_manifest_media_type(media_type)) {
        return Ok(Event::Silent);
    }
    let tag = match optional_string(target, "tag", &format!("{target_place}.tag"))? {
        Some(tag) if !tag.is_empty() => tag,
        _ => return Ok(Event::Silent),
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

    let prefix = source.as_str();
    let dedupe_key = match &event_id {
        Some(id) => format!("{prefix}|event|{id}"),
        None => format!(
            "{prefix}|{repository}|{tag}|{}",
            digest.as_deref().unwrap_or_default()
        ),
    };
    Ok(Event::Push(Box::new(PushEvent {
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
    })))
}

/// Manifests and indexes (what a tag can name), as opposed to layers,
/// configs and other blobs. Known types first; then any vendor type that
/// calls itself a manifest or an index, so newer artifact types still count.
pub(super) fn is_manifest_media_type(media_type: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, envelope_of, fixture_event, fixture_json, only_not_push, registry_error,
        GITLAB_FIXTURE, REGISTRY_FIXTURE,
    };
    use super::*;

    #[test]
    fn gitlab_fixture_is_read_as_gitlab() {
        let digest = "sha256:60af4a1cd7e0c3b4749d46554b21e27d3c25b26905d27ab6c4532f2df30e122b";
        let read = delivery(GITLAB_FIXTURE);
        assert_eq!(read.source, DeliverySource::Gitlab);
        assert!(read.not_pushes.is_empty());
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                owner: "ci-bot".into(),
                namespace: "acme/shop".into(),
                repo_name: "api".into(),
                image: "acme/shop/api".into(),
                tag: "1.2.0".into(),
                digest: Some(digest.into()),
                registry: Some("registry.gitlab.example.com".into()),
                pushed_at: Some("2026-11-28T09:14:07.173270Z".into()),
                event_id: Some("a582a0f3-e620-43e6-8e98-ff850fc9d984".into()),
                callback_url: None,
                dedupe_key: "gitlab|event|a582a0f3-e620-43e6-8e98-ff850fc9d984".into(),
            }]
        );
        // The envelope's own parser reads it as the registry receiver always did.
        assert_eq!(
            parse_registry_envelope(GITLAB_FIXTURE).expect("parses")[0].dedupe_key,
            "registry|event|a582a0f3-e620-43e6-8e98-ff850fc9d984"
        );
    }

    #[test]
    fn gitlab_is_told_by_actor_user_type_or_gitlab_com_host() {
        let mut document = fixture_json(GITLAB_FIXTURE);
        let event = &mut document["events"][0];
        event["actor"]
            .as_object_mut()
            .expect("object")
            .remove("user_type");
        assert_eq!(
            delivery(&body_of(&document)).source,
            DeliverySource::Registry
        );
        document["events"][0]["request"]["host"] = "Registry.GitLab.com".into();
        assert_eq!(delivery(&body_of(&document)).source, DeliverySource::Gitlab);
        let event = document["events"][0].as_object_mut().expect("object");
        event.remove("request");
        event.insert(
            "target".into(),
            serde_json::json!({"repository": "acme/api", "tag": "v1",
                "url": "https://registry.gitlab.com/v2/acme/api/manifests/v1"}),
        );
        let read = delivery(&body_of(&document));
        assert_eq!(read.source, DeliverySource::Gitlab);
        assert_eq!(
            read.pushes[0].registry.as_deref(),
            Some("registry.gitlab.com")
        );

        let mut pull = fixture_json(GITLAB_FIXTURE);
        pull["events"][0]["action"] = "pull".into();
        let read = delivery(&body_of(&pull));
        assert_eq!(read.source, DeliverySource::Gitlab);
        assert_eq!(
            only_not_push(&read).what,
            "GitLab registry pull of acme/shop/api:1.2.0"
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

        // Found while writing the payload fuzz target's check that every
        // DOCKER_* value can be bound into YAML: `a:` could not.
        let mut event = fixture_event();
        event["id"] = "a1:".into();
        let message = registry_error(&envelope_of(vec![event]));
        assert!(
            message.starts_with("`events[0].id` is not a valid event id"),
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
}

//! Harbor's webhook, in both payload formats a Harbor webhook policy offers.
//!
//! Field names from Harbor's documentation, "Configure Webhook
//! Notifications" (goharbor.io, `working-with-projects/project-configuration/
//! configure-webhooks`), whose example push notification is
//! `{"type":"PUSH_ARTIFACT","occur_at":<seconds since 1970>,"operator":…,
//! "event_data":{"resources":[{"digest","tag","resource_url"}],
//! "repository":{"date_created","name","namespace","repo_full_name",
//! "repo_type"}}}`, and from Harbor's proposal "Support CloudEvents For
//! Webhook" (goharbor/community, `proposals/new/cloudevents.md`, shipped in
//! Harbor 2.8): the CloudEvents format is a structured-mode CloudEvent
//! (`specversion`, `id`, `source`, `type`, `time`, `datacontenttype`, the
//! extension `operator`) whose `data` holds the same `resources` and
//! `repository`, with the types mapped `PUSH_ARTIFACT` →
//! `harbor.artifact.pushed`, `PULL_ARTIFACT` → `harbor.artifact.pulled`,
//! `DELETE_ARTIFACT` → `harbor.artifact.deleted`, and so on. Harbor sends it
//! whole in the body; binary mode (`ce-*` headers) is not read.
//!
//! Choices:
//! - Only `PUSH_ARTIFACT` / `harbor.artifact.pushed` is a push; every other
//!   type (pulls, deletes, scans, quotas, replication, retention) is a
//!   not-a-push per resource ("Harbor PULL_ARTIFACT of library/nginx:1.27"),
//!   read leniently: a value of the wrong type there is left out, not an
//!   error.
//! - One push per resource with a tag; a resource without one (an artifact
//!   pushed by digest) is a not-a-push saying so.
//! - The repository is `repository.repo_full_name` (else `namespace/name`).
//!   Harbor's `namespace` is the project; a nested repository
//!   (`library/team/nginx`, `name` = `team/nginx`) splits at its last `/`
//!   like every other format, so `DOCKER_REPO_NAME` is one path component.
//! - The registry host is the part of the resource's `resource_url` before
//!   its first `/` (`harbor.example.com` of
//!   `harbor.example.com/library/nginx:1.27`).
//! - `operator` is the owner. A Harbor robot account is named `robot$…`
//!   (`robot$library+ci`); `$` is outside the user-name grammar (it starts
//!   `${…}` bindings), so the prefix is written `robot+`
//!   (`robot+library+ci`). Any other odd operator refuses the push.
//! - Pushed time: `occur_at` (seconds since 1970) in the default format, the
//!   CloudEvent's `time` in the other.
//! - Event id and dedupe key: the CloudEvent's `id` (`harbor|event|<id>`,
//!   with `|<tag>` added when the event names several tags). The default
//!   format has no id: the key is `harbor|<repository>|<tag>|<digest>|
//!   <pushed at>`, the same for a re-sent notification and new for a new
//!   push of the tag.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{
    event_text, not_a_push, object, optional_digest, optional_event_id, optional_time,
    reference_host, text, word, Pushed,
};
use super::grammar::{check_owner, check_repository_path, check_tag};
use super::json::{
    as_object, nonempty_string, optional_string, required_array, required_object, required_string,
};
use super::time::epoch_seconds_to_rfc3339;
use super::{NotAPush, PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Harbor;
/// The push type of the default format.
const PUSH_ARTIFACT: &str = "PUSH_ARTIFACT";
/// The push type of the CloudEvents format.
const ARTIFACT_PUSHED: &str = "harbor.artifact.pushed";

/// What a push event carries outside its resources.
struct Envelope<'a> {
    /// The event type as sent, for texts.
    kind: &'a str,
    /// Where the resources and repository are: `event_data` or `data`.
    place: &'static str,
    pushed_at: Option<String>,
    event_id: Option<String>,
    owner: String,
}

/// The default format (`type`, `occur_at`, `operator`, `event_data`).
pub(super) fn parse_default(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    let kind = required_string(root, "type", "type")?;
    if kind != PUSH_ARTIFACT {
        return Ok(not_pushes(kind, object(Some(root), "event_data")));
    }
    let data = required_object(root, "event_data", "event_data")?;
    let pushed_at = match root.get("occur_at") {
        None | Some(Value::Null) => None,
        Some(value) => Some(epoch_seconds_to_rfc3339(value, "occur_at")?),
    };
    let envelope = Envelope {
        kind,
        place: "event_data",
        pushed_at,
        event_id: None,
        owner: operator(root)?,
    };
    read_pushes(data, &envelope)
}

/// The CloudEvents format (`specversion`, `id`, `type`, `time`, `data`).
pub(super) fn parse_cloud_event(
    root: &Map<String, Value>,
) -> Result<RegistryDelivery, PayloadError> {
    let kind = required_string(root, "type", "type")?;
    if kind != ARTIFACT_PUSHED {
        return Ok(not_pushes(kind, object(Some(root), "data")));
    }
    let data = required_object(root, "data", "data")?;
    let envelope = Envelope {
        kind,
        place: "data",
        pushed_at: optional_time(root, "time", "time")?,
        event_id: optional_event_id(root, "id", "id")?,
        owner: operator(root)?,
    };
    read_pushes(data, &envelope)
}

/// `operator`, with a robot account's `robot$` written `robot+`.
fn operator(root: &Map<String, Value>) -> Result<String, PayloadError> {
    let operator = optional_string(root, "operator", "operator")?.unwrap_or_default();
    let owner = match operator.strip_prefix("robot$") {
        Some(robot) => format!("robot+{robot}"),
        None => operator.to_string(),
    };
    check_owner(&owner, "operator")?;
    Ok(owner)
}

fn read_pushes(
    data: &Map<String, Value>,
    envelope: &Envelope<'_>,
) -> Result<RegistryDelivery, PayloadError> {
    let place = envelope.place;
    let repository = repository_path(data, place)?;
    let resources = required_array(data, "resources", &format!("{place}.resources"))?;
    let mut delivery = RegistryDelivery::new(SOURCE);
    let tagged = resources
        .iter()
        .filter(|resource| text(resource.as_object(), "tag").is_some())
        .count();
    for (index, resource) in resources.iter().enumerate() {
        let resource_place = format!("{place}.resources[{index}]");
        let resource = as_object(resource, &resource_place)?;
        let digest = optional_digest(resource, "digest", &format!("{resource_place}.digest"))?;
        let tag_place = format!("{resource_place}.tag");
        let Some(tag) = nonempty_string(resource, "tag", &tag_place)? else {
            let what = event_text(
                SOURCE,
                &word(envelope.kind),
                Some(&repository),
                None,
                digest.as_deref(),
            );
            delivery.not_pushes.push(not_a_push(
                &format!("{what} without a tag"),
                Some(&repository),
                None,
            ));
            continue;
        };
        check_tag(tag, &tag_place)?;
        let url_place = format!("{resource_place}.resource_url");
        let registry = nonempty_string(resource, "resource_url", &url_place)?
            .map(|url| reference_host(url, &url_place).map(|(host, _)| host))
            .transpose()?;
        let pushed = Pushed {
            repository: repository.clone(),
            tag: tag.to_string(),
            digest,
            registry,
            pushed_at: envelope.pushed_at.clone(),
            event_id: envelope.event_id.clone(),
            owner: envelope.owner.clone(),
        };
        let dedupe_key = match &pushed.event_id {
            Some(_) if tagged > 1 => format!("{}|{tag}", pushed.key(SOURCE)),
            Some(_) => pushed.key(SOURCE),
            None => format!(
                "{}|{}",
                pushed.key(SOURCE),
                pushed.pushed_at.as_deref().unwrap_or_default()
            ),
        };
        delivery.pushes.push(pushed.event(dedupe_key));
    }
    if resources.is_empty() {
        let what = event_text(SOURCE, &word(envelope.kind), Some(&repository), None, None);
        delivery.not_pushes.push(not_a_push(
            &format!("{what} without artifacts"),
            Some(&repository),
            None,
        ));
    }
    Ok(delivery)
}

/// `repository.repo_full_name`, else `repository.namespace` +
/// `repository.name`; checked.
fn repository_path(data: &Map<String, Value>, place: &str) -> Result<String, PayloadError> {
    let repository_place = format!("{place}.repository");
    let repository = required_object(data, "repository", &repository_place)?;
    let full_place = format!("{repository_place}.repo_full_name");
    if let Some(full) = nonempty_string(repository, "repo_full_name", &full_place)? {
        check_repository_path(full, &full_place)?;
        return Ok(full.to_string());
    }
    let namespace = nonempty_string(
        repository,
        "namespace",
        &format!("{repository_place}.namespace"),
    )?;
    let name = nonempty_string(repository, "name", &format!("{repository_place}.name"))?;
    match (namespace, name) {
        (Some(namespace), Some(name)) => {
            let path = format!("{namespace}/{name}");
            check_repository_path(
                &path,
                &format!("{repository_place}.namespace + {repository_place}.name"),
            )?;
            Ok(path)
        }
        _ => Err(PayloadError(format!(
            "missing field `{full_place}` (or `{repository_place}.namespace` and `{repository_place}.name`)"
        ))),
    }
}

/// An event that is not a push: one entry per resource (one for the event
/// when it has none), read leniently.
fn not_pushes(kind: &str, data: Option<&Map<String, Value>>) -> RegistryDelivery {
    let repository_object = object(data, "repository");
    let repository = text(repository_object, "repo_full_name")
        .map(str::to_string)
        .or_else(|| {
            let namespace = text(repository_object, "namespace")?;
            let name = text(repository_object, "name")?;
            Some(format!("{namespace}/{name}"))
        });
    let repository = repository.as_deref();
    let resources: Vec<&Map<String, Value>> = data
        .and_then(|data| data.get("resources"))
        .and_then(Value::as_array)
        .map(|resources| resources.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let entry = |resource: Option<&Map<String, Value>>| -> NotAPush {
        let tag = text(resource, "tag");
        let what = event_text(
            SOURCE,
            &word(kind),
            repository,
            tag,
            text(resource, "digest"),
        );
        not_a_push(&what, repository, tag)
    };
    let mut delivery = RegistryDelivery::new(SOURCE);
    if resources.is_empty() {
        delivery.not_pushes.push(entry(None));
    } else {
        delivery
            .not_pushes
            .extend(resources.into_iter().map(|resource| entry(Some(resource))));
    }
    delivery
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, HARBOR_CLOUDEVENTS_FIXTURE,
        HARBOR_FIXTURE, HARBOR_PULL_FIXTURE,
    };
    use super::super::PushEvent;
    use super::*;

    const DIGEST: &str = "sha256:00bf70084073426a39a7cb456cf66cccbeafe2bc9d2ece690d5b5dc5b6584322";

    #[test]
    fn default_push_fixture_parses() {
        let read = delivery(HARBOR_FIXTURE);
        assert_eq!(read.source, DeliverySource::Harbor);
        assert!(read.not_pushes.is_empty(), "{read:?}");
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                owner: "ci-bot".into(),
                namespace: "library".into(),
                repo_name: "nginx".into(),
                image: "library/nginx".into(),
                tag: "1.27".into(),
                digest: Some(DIGEST.into()),
                registry: Some("harbor.example.com".into()),
                pushed_at: Some("2026-11-28T09:14:07Z".into()),
                event_id: None,
                callback_url: None,
                dedupe_key: format!("harbor|library/nginx|1.27|{DIGEST}|2026-11-28T09:14:07Z"),
            }]
        );
    }

    #[test]
    fn cloudevents_push_fixture_parses() {
        let read = delivery(HARBOR_CLOUDEVENTS_FIXTURE);
        assert_eq!(read.source, DeliverySource::Harbor);
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                // `robot$library+ci`: `$` is outside the user-name grammar.
                owner: "robot+library+ci".into(),
                namespace: "library".into(),
                repo_name: "nginx".into(),
                image: "library/nginx".into(),
                tag: "1.27".into(),
                digest: Some(DIGEST.into()),
                registry: Some("harbor.example.com".into()),
                pushed_at: Some("2026-11-28T09:14:07Z".into()),
                event_id: Some("b7f2c0de-6a1e-4c3b-9f8d-0e1a2b3c4d5e".into()),
                callback_url: None,
                dedupe_key: "harbor|event|b7f2c0de-6a1e-4c3b-9f8d-0e1a2b3c4d5e".into(),
            }]
        );
    }

    #[test]
    fn other_types_are_not_pushes_in_words() {
        let entry = only_not_push(&delivery(HARBOR_PULL_FIXTURE)).clone();
        assert_eq!(entry.what, "Harbor PULL_ARTIFACT of library/nginx:1.27");
        assert_eq!(entry.repository, "library/nginx");
        assert_eq!(entry.tag, "1.27");

        let mut deleted = fixture_json(HARBOR_PULL_FIXTURE);
        deleted["type"] = "DELETE_ARTIFACT".into();
        deleted["event_data"]["resources"][0]["tag"] = "".into();
        let read = delivery(&body_of(&deleted));
        assert_eq!(
            only_not_push(&read).what,
            format!("Harbor DELETE_ARTIFACT of library/nginx@{DIGEST}")
        );

        let mut pulled = fixture_json(HARBOR_CLOUDEVENTS_FIXTURE);
        pulled["type"] = "harbor.artifact.pulled".into();
        assert_eq!(
            only_not_push(&delivery(&body_of(&pulled))).what,
            "Harbor harbor.artifact.pulled of library/nginx:1.27"
        );

        // Read leniently: a scan event of another shape says what it was.
        let scan = br#"{"type":"SCANNING_COMPLETED","occur_at":"x","event_data":{"resources":7}}"#;
        let entry = only_not_push(&delivery(scan)).clone();
        assert_eq!(entry.what, "Harbor SCANNING_COMPLETED");
        assert_eq!((entry.repository.as_str(), entry.tag.as_str()), ("", ""));
    }

    #[test]
    fn untagged_resources_and_several_tags() {
        let mut document = fixture_json(HARBOR_CLOUDEVENTS_FIXTURE);
        let resource = document["data"]["resources"][0].clone();
        let mut second = resource.clone();
        second["tag"] = "latest".into();
        let mut untagged = resource.clone();
        untagged.as_object_mut().expect("object").remove("tag");
        document["data"]["resources"] = serde_json::json!([resource, second, untagged]);
        let read = delivery(&body_of(&document));
        let keys: Vec<&str> = read
            .pushes
            .iter()
            .map(|push| push.dedupe_key.as_str())
            .collect();
        assert_eq!(
            keys,
            vec![
                "harbor|event|b7f2c0de-6a1e-4c3b-9f8d-0e1a2b3c4d5e|1.27",
                "harbor|event|b7f2c0de-6a1e-4c3b-9f8d-0e1a2b3c4d5e|latest",
            ]
        );
        assert_eq!(
            only_not_push(&RegistryDelivery {
                pushes: Vec::new(),
                ..read
            })
            .what,
            format!("Harbor harbor.artifact.pushed of library/nginx@{DIGEST} without a tag")
        );
    }

    #[test]
    fn nested_repositories_and_namespace_plus_name() {
        let mut document = fixture_json(HARBOR_FIXTURE);
        document["event_data"]["repository"]["repo_full_name"] = "library/team/nginx".into();
        document["operator"] = serde_json::Value::Null;
        let push = &delivery(&body_of(&document)).pushes[0];
        assert_eq!(
            (
                push.namespace.as_str(),
                push.repo_name.as_str(),
                push.image.as_str()
            ),
            ("library/team", "nginx", "library/team/nginx")
        );
        assert_eq!(push.owner, "");

        let mut document = fixture_json(HARBOR_FIXTURE);
        document["event_data"]["repository"]
            .as_object_mut()
            .expect("object")
            .remove("repo_full_name");
        assert_eq!(
            delivery(&body_of(&document)).pushes[0].image,
            "library/nginx"
        );
        document["event_data"]["repository"]
            .as_object_mut()
            .expect("object")
            .remove("name");
        assert_eq!(
            delivery_error(&body_of(&document)),
            "harbor: missing field `event_data.repository.repo_full_name` (or `event_data.repository.namespace` and `event_data.repository.name`)"
        );
    }

    #[test]
    fn malformed_pushes_are_refused_naming_harbor_and_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/event_data/resources/0/tag",
                5.into(),
                "harbor: wrong type of `event_data.resources[0].tag`: expected a string, found a number",
            ),
            (
                "/event_data/resources/0/tag",
                "1.27 beta".into(),
                r#"harbor: `event_data.resources[0].tag` is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): "1.27 beta""#,
            ),
            (
                "/event_data/resources/0/resource_url",
                "nginx:1.27".into(),
                r#"harbor: `event_data.resources[0].resource_url` is not a host/repository reference: "nginx:1.27""#,
            ),
            (
                "/event_data/resources/0/digest",
                "sha256:beef".into(),
                r#"harbor: `event_data.resources[0].digest` is not a valid digest (algorithm:hex): "sha256:beef""#,
            ),
            (
                "/event_data/repository/repo_full_name",
                "Library/nginx".into(),
                r#"harbor: `event_data.repository.repo_full_name` is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most 255 characters): "Library/nginx""#,
            ),
            (
                "/operator",
                "eve: x".into(),
                r#"harbor: `operator` is not a valid user name (letters, digits, `_`, `.`, `@`, `+`, `-`): "eve: x""#,
            ),
            (
                "/occur_at",
                "yesterday".into(),
                "harbor: wrong type of `occur_at`: expected a number of seconds since 1970, found a string",
            ),
            (
                "/event_data/resources",
                serde_json::json!({}),
                "harbor: wrong type of `event_data.resources`: expected an array, found an object",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut document = fixture_json(HARBOR_FIXTURE);
            *document.pointer_mut(pointer).expect(pointer) = value;
            assert_eq!(delivery_error(&body_of(&document)), expected, "{pointer}");
        }
        let mut document = fixture_json(HARBOR_FIXTURE);
        document
            .as_object_mut()
            .expect("object")
            .remove("event_data");
        document["type"] = "PUSH_ARTIFACT".into();
        // Without `event_data` the body is no longer Harbor's default format.
        assert!(delivery_error(&body_of(&document)).starts_with("not a registry webhook"));

        let mut document = fixture_json(HARBOR_CLOUDEVENTS_FIXTURE);
        document["time"] = "soon".into();
        assert_eq!(
            delivery_error(&body_of(&document)),
            r#"harbor: `time` is not an RFC 3339 time: "soon""#
        );
        let mut document = fixture_json(HARBOR_CLOUDEVENTS_FIXTURE);
        document["data"] = serde_json::Value::Null;
        assert_eq!(
            delivery_error(&body_of(&document)),
            "harbor: missing field `data`"
        );
    }
}

//! Quay's repository notification for the "Push to Repository" event
//! (`repo_push`), sent by quay.io and Red Hat Quay to a webhook.
//!
//! Field names from Red Hat Quay's "Use Red Hat Quay", chapter "Repository
//! Notifications", section "Repository Push": `name`, `repository`
//! (`namespace/name`), `namespace`, `docker_url` (`quay.io/namespace/name`),
//! `homepage` and `updated_tags`, a list of the tags the push updated. An
//! older form of the same notification (Quay's 2013 example payload) gives
//! `updated_tags` as an object keyed by tag, with image ids as values; both
//! are read.
//!
//! Choices:
//! - One push per updated tag. The notification has no digest, no push
//!   time, no event id and no pusher: the digest is resolved from the
//!   registry later, the owner is empty.
//! - The repository is `repository`, split at its last `/`; `name` is not
//!   used (the documented example has `"name": "repository"` for the
//!   repository `dgangaia/test`).
//! - The registry host is the part of `docker_url` before its first `/`.
//! - Dedupe key `quay|<repository>|<tag>|<registry host>`: nothing in the
//!   notification tells two pushes of a tag apart, so a re-sent
//!   notification and a new push of the tag within the dedupe window have
//!   the same key (once the digest is resolved, the push's own key is the
//!   digest's).
//! - Other Quay notifications (builds queued, started, completed or
//!   failed; vulnerabilities found) also carry `docker_url`: they are
//!   not-a-push entries saying which.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{not_a_push, reference_host, word, Pushed};
use super::grammar::{check_repository_path, check_tag};
use super::json::{required_string, wrong_type};
use super::{PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Quay;

pub(super) fn parse(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    let docker_url = required_string(root, "docker_url", "docker_url")?;
    let (host, _) = reference_host(docker_url, "docker_url")?;
    let repository = required_string(root, "repository", "repository")?;
    check_repository_path(repository, "repository")?;

    let mut delivery = RegistryDelivery::new(SOURCE);
    let tags: Vec<(String, &str)> = match root.get("updated_tags") {
        None | Some(Value::Null) => {
            let kind = if root.contains_key("build_id") {
                "build notification"
            } else if root.contains_key("vulnerability") {
                "vulnerability notification"
            } else {
                "notification without updated_tags"
            };
            delivery.not_pushes.push(not_a_push(
                &format!("Quay {kind} for {repository}"),
                Some(repository),
                None,
            ));
            return Ok(delivery);
        }
        Some(Value::Array(tags)) => tags
            .iter()
            .enumerate()
            .map(|(index, tag)| {
                let place = format!("updated_tags[{index}]");
                tag.as_str()
                    .map(|tag| (place.clone(), tag))
                    .ok_or_else(|| wrong_type(&place, "a string", tag))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Object(tags)) => tags
            .keys()
            // The key is payload text: shown quoted when odd, as in values.
            .map(|tag| (format!("updated_tags.{}", word(tag)), tag.as_str()))
            .collect(),
        Some(other) => {
            return Err(wrong_type(
                "updated_tags",
                "an array of tags (or an object keyed by tag)",
                other,
            ))
        }
    };
    if tags.is_empty() {
        delivery.not_pushes.push(not_a_push(
            &format!("Quay push to {repository} without updated tags"),
            Some(repository),
            None,
        ));
    }
    for (place, tag) in tags {
        if tag.is_empty() {
            return Err(PayloadError(format!("empty tag in `{place}`")));
        }
        check_tag(tag, &place)?;
        let pushed = Pushed {
            repository: repository.to_string(),
            tag: tag.to_string(),
            registry: Some(host.clone()),
            ..Pushed::default()
        };
        let dedupe_key = format!("{}|{repository}|{tag}|{host}", SOURCE.as_str());
        delivery.pushes.push(pushed.event(dedupe_key));
    }
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, QUAY_FIXTURE,
    };
    use super::super::PushEvent;
    use super::*;

    fn quay_push(tag: &str) -> PushEvent {
        PushEvent {
            owner: String::new(),
            namespace: "acme".into(),
            repo_name: "shop-api".into(),
            image: "acme/shop-api".into(),
            tag: tag.into(),
            digest: None,
            registry: Some("quay.io".into()),
            pushed_at: None,
            event_id: None,
            callback_url: None,
            dedupe_key: format!("quay|acme/shop-api|{tag}|quay.io"),
        }
    }

    #[test]
    fn repo_push_fixture_is_one_push_per_tag() {
        let read = delivery(QUAY_FIXTURE);
        assert_eq!(read.source, DeliverySource::Quay);
        assert!(read.not_pushes.is_empty());
        assert_eq!(read.pushes, vec![quay_push("1.2.0"), quay_push("latest")]);

        // The older form: tags as the keys of an object.
        let mut document = fixture_json(QUAY_FIXTURE);
        document["updated_tags"] = serde_json::json!({"1.2.0": "b750fe79269d2ec9"});
        assert_eq!(
            delivery(&body_of(&document)).pushes,
            vec![quay_push("1.2.0")]
        );
    }

    #[test]
    fn other_notifications_are_not_pushes() {
        let mut build = fixture_json(QUAY_FIXTURE);
        build
            .as_object_mut()
            .expect("object")
            .remove("updated_tags");
        build["build_id"] = "296ec063-5f86-4706-a469-f0a400bf9df2".into();
        let entry = only_not_push(&delivery(&body_of(&build))).clone();
        assert_eq!(entry.what, "Quay build notification for acme/shop-api");
        assert_eq!(
            (entry.repository.as_str(), entry.tag.as_str()),
            ("acme/shop-api", "")
        );

        let mut empty = fixture_json(QUAY_FIXTURE);
        empty["updated_tags"] = serde_json::json!([]);
        assert_eq!(
            only_not_push(&delivery(&body_of(&empty))).what,
            "Quay push to acme/shop-api without updated tags"
        );
    }

    #[test]
    fn malformed_repo_pushes_are_refused_naming_quay_and_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/updated_tags/1",
                5.into(),
                "quay: wrong type of `updated_tags[1]`: expected a string, found a number",
            ),
            (
                "/updated_tags/0",
                "v1: x".into(),
                r#"quay: `updated_tags[0]` is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): "v1: x""#,
            ),
            (
                "/updated_tags",
                "latest".into(),
                "quay: wrong type of `updated_tags`: expected an array of tags (or an object keyed by tag), found a string",
            ),
            (
                "/docker_url",
                "quay.io".into(),
                r#"quay: `docker_url` is not a host/repository reference: "quay.io""#,
            ),
            (
                "/docker_url",
                "quay io/acme/shop-api".into(),
                r#"quay: `docker_url` is not a valid registry host[:port]: "quay io""#,
            ),
            (
                "/repository",
                serde_json::Value::Null,
                "quay: missing field `repository`",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut document = fixture_json(QUAY_FIXTURE);
            *document.pointer_mut(pointer).expect(pointer) = value;
            assert_eq!(delivery_error(&body_of(&document)), expected, "{pointer}");
        }
        // A key of the older object form is payload text: quoted in the place.
        let mut odd_key = fixture_json(QUAY_FIXTURE);
        odd_key["updated_tags"] = serde_json::json!({"v1\r": "b750fe79269d2ec9"});
        assert_eq!(
            delivery_error(&body_of(&odd_key)),
            r#"quay: `updated_tags."v1\r"` is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): "v1\r""#
        );
    }
}

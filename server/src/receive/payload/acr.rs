//! Azure Container Registry's webhook: one event per request, no envelope.
//!
//! Field names from Microsoft's "Azure Container Registry webhook reference"
//! (learn.microsoft.com, `azure/container-registry/container-registry-
//! webhook-reference`): the push event is `{"id","timestamp","action":"push",
//! "target":{"mediaType","size","digest","length","repository","tag"},
//! "request":{"id","host","method","useragent"}}`; the other events are
//! `chart_push`, `delete` (`target` without a tag) and `chart_delete`. The
//! request carries no headers of its own beyond those configured.
//!
//! Choices:
//! - Only `push` of a manifest (the `mediaType` rules of the distribution
//!   envelope) with a tag is a push. Every other event is a not-a-push:
//!   "ACR delete of hello-world@sha256:…", "ACR chart_push of repo:…", and
//!   so is a push without a tag or of a blob, saying so (each is one
//!   delivery, and its Activity row says what it was).
//! - Registry host `request.host` (`myregistry.azurecr.io`); repository
//!   `target.repository`, split at its last `/`; digest `target.digest`;
//!   pushed time `timestamp`. ACR names no pusher: the owner is empty.
//! - Event id `id`; dedupe key `acr|event|<id>`, else
//!   `acr|<repository>|<tag>|<digest>`.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{
    event_text, not_a_push, object, optional_digest, optional_event_id, optional_time, text, word,
    Pushed,
};
use super::distribution::is_manifest_media_type;
use super::grammar::{check_host, check_repository_path, check_tag};
use super::json::{nonempty_string, optional_object, required_object, required_string};
use super::{PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Acr;

pub(super) fn parse(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    let action = required_string(root, "action", "action")?;
    let mut delivery = RegistryDelivery::new(SOURCE);
    if action != "push" {
        let target = object(Some(root), "target");
        let (repository, tag) = (text(target, "repository"), text(target, "tag"));
        let what = event_text(
            SOURCE,
            &word(action),
            repository,
            tag,
            text(target, "digest"),
        );
        delivery.not_pushes.push(not_a_push(&what, repository, tag));
        return Ok(delivery);
    }
    let target = required_object(root, "target", "target")?;
    let repository = required_string(target, "repository", "target.repository")?;
    check_repository_path(repository, "target.repository")?;
    let digest = optional_digest(target, "digest", "target.digest")?;
    if let Some(media_type) = nonempty_string(target, "mediaType", "target.mediaType")? {
        if !is_manifest_media_type(media_type) {
            let what = event_text(SOURCE, "push", Some(repository), None, digest.as_deref());
            delivery.not_pushes.push(not_a_push(
                &format!("{what}: {} is not a manifest", word(media_type)),
                Some(repository),
                None,
            ));
            return Ok(delivery);
        }
    }
    let Some(tag) = nonempty_string(target, "tag", "target.tag")? else {
        let what = event_text(SOURCE, "push", Some(repository), None, digest.as_deref());
        delivery.not_pushes.push(not_a_push(
            &format!("{what} without a tag"),
            Some(repository),
            None,
        ));
        return Ok(delivery);
    };
    check_tag(tag, "target.tag")?;
    let registry = optional_object(root, "request", "request")?
        .map(|request| nonempty_string(request, "host", "request.host"))
        .transpose()?
        .flatten()
        .map(|host| check_host(host, "request.host"))
        .transpose()?;
    let pushed = Pushed {
        repository: repository.to_string(),
        tag: tag.to_string(),
        digest,
        registry,
        pushed_at: optional_time(root, "timestamp", "timestamp")?,
        event_id: optional_event_id(root, "id", "id")?,
        owner: String::new(),
    };
    let dedupe_key = pushed.key(SOURCE);
    delivery.pushes.push(pushed.event(dedupe_key));
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, ACR_DELETE_FIXTURE,
        ACR_FIXTURE,
    };
    use super::super::PushEvent;
    use super::*;

    const DIGEST: &str = "sha256:9596aac8b077ca80aebddea597f47dc9ec7dfbc2976daf2d3c8958460249d3f4";

    #[test]
    fn push_fixture_parses() {
        let read = delivery(ACR_FIXTURE);
        assert_eq!(read.source, DeliverySource::Acr);
        assert!(read.not_pushes.is_empty());
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                owner: String::new(),
                namespace: "shop".into(),
                repo_name: "api".into(),
                image: "shop/api".into(),
                tag: "1.2.0".into(),
                digest: Some(DIGEST.into()),
                registry: Some("acmeregistry.azurecr.io".into()),
                pushed_at: Some("2026-11-28T09:14:07.343145347Z".into()),
                event_id: Some("cb8c3971-9adc-488b-bf1e-43cbb4974ff5".into()),
                callback_url: None,
                dedupe_key: "acr|event|cb8c3971-9adc-488b-bf1e-43cbb4974ff5".into(),
            }]
        );
    }

    #[test]
    fn deletes_chart_pushes_untagged_and_blob_pushes_are_not_pushes() {
        let entry = only_not_push(&delivery(ACR_DELETE_FIXTURE)).clone();
        assert_eq!(entry.what, format!("ACR delete of shop/api@{DIGEST}"));
        assert_eq!(
            (entry.repository.as_str(), entry.tag.as_str()),
            ("shop/api", "")
        );

        let chart = br#"{"id":"6356e9e0","timestamp":"2026-03-05T23:45:31.2614267Z","action":"chart_push","target":{"mediaType":"application/vnd.acr.helm.chart","size":25265,"repository":"repo","tag":"wordpress-5.4.0.tgz","name":"wordpress","version":"5.4.0.tgz"}}"#;
        let entry = only_not_push(&delivery(chart)).clone();
        assert_eq!(entry.what, "ACR chart_push of repo:wordpress-5.4.0.tgz");

        let mut untagged = fixture_json(ACR_FIXTURE);
        untagged["target"]
            .as_object_mut()
            .expect("object")
            .remove("tag");
        assert_eq!(
            only_not_push(&delivery(&body_of(&untagged))).what,
            format!("ACR push of shop/api@{DIGEST} without a tag")
        );

        let mut blob = fixture_json(ACR_FIXTURE);
        blob["target"]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        assert_eq!(
            only_not_push(&delivery(&body_of(&blob))).what,
            format!(
                "ACR push of shop/api@{DIGEST}: application/vnd.oci.image.layer.v1.tar+gzip is not a manifest"
            )
        );
    }

    #[test]
    fn malformed_pushes_are_refused_naming_acr_and_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/target/tag",
                true.into(),
                "acr: wrong type of `target.tag`: expected a string, found a boolean",
            ),
            (
                "/target/repository",
                "shop//api".into(),
                r#"acr: `target.repository` is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most 255 characters): "shop//api""#,
            ),
            (
                "/request/host",
                "acme.azurecr.io/x".into(),
                r#"acr: `request.host` is not a valid registry host[:port]: "acme.azurecr.io/x""#,
            ),
            (
                "/timestamp",
                "2026-11-28 09:14".into(),
                r#"acr: `timestamp` is not an RFC 3339 time: "2026-11-28 09:14""#,
            ),
            (
                "/id",
                "#1".into(),
                r##"acr: `id` is not a valid event id (letters, digits, `-`, `_`, `.`, `:`, not ending with `:`): "#1""##,
            ),
            (
                "/action",
                serde_json::Value::Null,
                "acr: missing field `action`",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut document = fixture_json(ACR_FIXTURE);
            *document.pointer_mut(pointer).expect(pointer) = value;
            assert_eq!(delivery_error(&body_of(&document)), expected, "{pointer}");
        }
    }
}

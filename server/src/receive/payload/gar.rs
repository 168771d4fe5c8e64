//! Google Artifact Registry's notifications, delivered by a Pub/Sub push
//! subscription on the `gcr` topic.
//!
//! Field names from Google Cloud's "Configuring Pub/Sub notifications"
//! (cloud.google.com, `artifact-registry/docs/configure-notifications`):
//! Artifact Registry publishes to the topic `gcr` a JSON message
//! `{"action":"INSERT","digest":"us-east1-docker.pkg.dev/my-project/my-repo/
//! hello-world@sha256:…","tag":"us-east1-docker.pkg.dev/my-project/my-repo/
//! hello-world:1.1"}` for an image upload or a tag added (`tag` absent for a
//! push by digest), and `{"action":"DELETE",…}` for a deletion. And from
//! Pub/Sub's "Push subscriptions" (`pubsub/docs/push`): the push request's
//! body is `{"message":{"attributes","data","messageId","message_id",
//! "publishTime","publish_time"},"subscription":"projects/…/subscriptions/
//! …"}`, `data` being the message in base64. A subscription with payload
//! unwrapping (the bare message as the body) is not read: there is no
//! `messageId` in it.
//!
//! Choices:
//! - `message.data` is decoded as base64 (standard alphabet, else URL-safe,
//!   padded or not, as JSON encodings of bytes allow) and read as JSON; a
//!   value that is neither refuses the delivery naming `message.data`.
//! - A push is `INSERT` with a `tag`; an `INSERT` without one (a push by
//!   digest, e.g. a platform manifest) and `DELETE` are not-a-push entries.
//! - `tag` and `digest` are full references: the registry host is the part
//!   before the first `/` (`us-east1-docker.pkg.dev`, or `gcr.io` for a
//!   gcr.io repository), the repository the rest (`acme-prod/apps/shop-api`:
//!   namespace `acme-prod/apps`, project and repository, name `shop-api`).
//!   When both are given they must name the same image.
//! - Pushed time `publishTime`; no pusher: the owner is empty.
//! - Event id `messageId` (Pub/Sub keeps it when it redelivers); dedupe
//!   key `gar|event|<messageId>`, else `gar|<repository>|<tag>|<digest>`.

use app::webhook::DeliverySource;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use serde_json::{Map, Value};

use super::common::{
    event_text, not_a_push, optional_event_id, optional_time, reference_host, text, word, Pushed,
};
use super::grammar::{check_digest, check_repository_path, check_tag};
use super::json::{
    as_object, invalid, nonempty_string, one_line, required_object, required_string,
};
use super::{PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Gar;
const DATA: &str = "message.data";

pub(super) fn parse(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    let message = required_object(root, "message", "message")?;
    let encoded = required_string(message, "data", DATA)?;
    let decoded = decode_base64(encoded).ok_or_else(|| invalid(DATA, "is not base64", encoded))?;
    let document: Value = serde_json::from_slice(&decoded).map_err(|error| {
        PayloadError(one_line(&format!(
            "`{DATA}` is not base64 of JSON: {error}"
        )))
    })?;
    let data = as_object(&document, DATA)?;

    let event_id = match message.get("messageId") {
        Some(_) => optional_event_id(message, "messageId", "message.messageId")?,
        None => optional_event_id(message, "message_id", "message.message_id")?,
    };
    let pushed_at = match message.get("publishTime") {
        Some(_) => optional_time(message, "publishTime", "message.publishTime")?,
        None => optional_time(message, "publish_time", "message.publish_time")?,
    };

    let action = required_string(data, "action", &format!("{DATA}.action"))?;
    let mut delivery = RegistryDelivery::new(SOURCE);
    if action != "INSERT" {
        let tag = text(Some(data), "tag").and_then(|tag| split_tagged(tag).ok());
        let digest = text(Some(data), "digest").and_then(|digest| split_digested(digest).ok());
        let repository = tag
            .map(|(repository, _)| repository)
            .or(digest.map(|(repository, _)| repository));
        let what = event_text(
            SOURCE,
            &word(action),
            repository,
            tag.map(|(_, tag)| tag),
            digest.map(|(_, digest)| digest),
        );
        delivery
            .not_pushes
            .push(not_a_push(&what, repository, tag.map(|(_, tag)| tag)));
        return Ok(delivery);
    }

    let digest_place = format!("{DATA}.digest");
    let digest = nonempty_string(data, "digest", &digest_place)?
        .map(|reference| image_of(reference, &digest_place, '@'))
        .transpose()?;
    if let Some(image) = &digest {
        check_digest(&image.suffix, &digest_place)?;
    }
    let tag_place = format!("{DATA}.tag");
    let Some(tagged) = nonempty_string(data, "tag", &tag_place)?
        .map(|reference| image_of(reference, &tag_place, ':'))
        .transpose()?
    else {
        let image = digest.as_ref();
        let what = event_text(
            SOURCE,
            "INSERT",
            image.map(|image| image.repository.as_str()),
            None,
            image.map(|image| image.suffix.as_str()),
        );
        delivery.not_pushes.push(not_a_push(
            &format!("{what} without a tag (a push by digest)"),
            image.map(|image| image.repository.as_str()),
            None,
        ));
        return Ok(delivery);
    };
    check_tag(&tagged.suffix, &tag_place)?;
    if let Some(image) = &digest {
        if image.host != tagged.host || image.repository != tagged.repository {
            return Err(invalid(
                &digest_place,
                &format!("names another image than `{tag_place}`"),
                &format!("{}/{}", image.host, image.repository),
            ));
        }
    }
    let pushed = Pushed {
        repository: tagged.repository,
        tag: tagged.suffix,
        digest: digest.map(|image| image.suffix),
        registry: Some(tagged.host),
        pushed_at,
        event_id,
        owner: String::new(),
    };
    let dedupe_key = pushed.key(SOURCE);
    delivery.pushes.push(pushed.event(dedupe_key));
    Ok(delivery)
}

/// A checked `host/repository<separator>suffix` reference.
struct Image {
    host: String,
    repository: String,
    /// The tag (after `:`) or the digest (after `@`), not yet checked.
    suffix: String,
}

fn image_of(reference: &str, place: &str, separator: char) -> Result<Image, PayloadError> {
    let (host, rest) = reference_host(reference, place)?;
    let (repository, suffix) = rest.rsplit_once(separator).ok_or_else(|| {
        let problem = if separator == '@' {
            "is not an image reference with a digest (host/repository@digest)"
        } else {
            "is not an image reference with a tag (host/repository:tag)"
        };
        invalid(place, problem, reference)
    })?;
    check_repository_path(repository, place)?;
    Ok(Image {
        host,
        repository: repository.to_string(),
        suffix: suffix.to_string(),
    })
}

/// `(repository, tag)` of a `host/repository:tag` reference, leniently.
fn split_tagged(reference: &str) -> Result<(&str, &str), ()> {
    let (_, rest) = reference.split_once('/').ok_or(())?;
    rest.rsplit_once(':').ok_or(())
}

/// `(repository, digest)` of a `host/repository@digest` reference, leniently.
fn split_digested(reference: &str) -> Result<(&str, &str), ()> {
    let (_, rest) = reference.split_once('/').ok_or(())?;
    rest.split_once('@').ok_or(())
}

/// Base64 as JSON encodings of bytes allow: standard or URL-safe alphabet,
/// padded or not.
fn decode_base64(encoded: &str) -> Option<Vec<u8>> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [&alphabet::STANDARD, &alphabet::URL_SAFE]
        .into_iter()
        .find_map(|alphabet| GeneralPurpose::new(alphabet, config).decode(encoded).ok())
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, GAR_DELETE_FIXTURE,
        GAR_FIXTURE,
    };
    use super::super::PushEvent;
    use super::*;

    const DIGEST: &str = "sha256:12bd9dd4da19c95d69ca2b05b0487f3db9bcfb9dc44d82381a0030c5d5478ee6";
    const IMAGE: &str = "us-east1-docker.pkg.dev/acme-prod/apps/shop-api";

    /// The fixture's envelope with `data` as the message.
    fn with_message(data: serde_json::Value) -> Vec<u8> {
        let mut document = fixture_json(GAR_FIXTURE);
        document["message"]["data"] = STANDARD.encode(data.to_string()).into();
        body_of(&document)
    }

    #[test]
    fn insert_fixture_parses() {
        let read = delivery(GAR_FIXTURE);
        assert_eq!(read.source, DeliverySource::Gar);
        assert!(read.not_pushes.is_empty());
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                owner: String::new(),
                namespace: "acme-prod/apps".into(),
                repo_name: "shop-api".into(),
                image: "acme-prod/apps/shop-api".into(),
                tag: "1.2.0".into(),
                digest: Some(DIGEST.into()),
                registry: Some("us-east1-docker.pkg.dev".into()),
                pushed_at: Some("2026-11-28T09:14:07.482Z".into()),
                event_id: Some("11861203437541924".into()),
                callback_url: None,
                dedupe_key: "gar|event|11861203437541924".into(),
            }]
        );
        // Snake-case envelope fields, unpadded URL-safe base64, gcr.io.
        let mut document = fixture_json(GAR_FIXTURE);
        let message = document["message"].as_object_mut().expect("object");
        message.remove("messageId");
        message.remove("publishTime");
        message.insert(
            "data".into(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(r#"{"action":"INSERT","tag":"gcr.io/acme-prod/shop-api:v2"}"#)
                .into(),
        );
        let push = &delivery(&body_of(&document)).pushes[0];
        assert_eq!(push.registry.as_deref(), Some("gcr.io"));
        assert_eq!(
            (push.namespace.as_str(), push.repo_name.as_str()),
            ("acme-prod", "shop-api")
        );
        assert_eq!(push.event_id.as_deref(), Some("11861203437541924"));
        assert_eq!(push.pushed_at.as_deref(), Some("2026-11-28T09:14:07.482Z"));
        assert_eq!(push.digest, None);
    }

    #[test]
    fn deletes_and_pushes_by_digest_are_not_pushes() {
        let entry = only_not_push(&delivery(GAR_DELETE_FIXTURE)).clone();
        assert_eq!(
            entry.what,
            "Artifact Registry DELETE of acme-prod/apps/shop-api:1.1.0"
        );
        assert_eq!(
            (entry.repository.as_str(), entry.tag.as_str()),
            ("acme-prod/apps/shop-api", "1.1.0")
        );
        let body = with_message(
            serde_json::json!({"action": "INSERT", "digest": format!("{IMAGE}@{DIGEST}")}),
        );
        let entry = only_not_push(&delivery(&body)).clone();
        assert_eq!(
            entry.what,
            format!("Artifact Registry INSERT of acme-prod/apps/shop-api@{DIGEST} without a tag (a push by digest)")
        );
        assert_eq!(entry.repository, "acme-prod/apps/shop-api");
    }

    #[test]
    fn malformed_messages_are_refused_naming_gar_and_the_field() {
        let mut document = fixture_json(GAR_FIXTURE);
        document["message"]["data"] = "not base64!".into();
        assert_eq!(
            delivery_error(&body_of(&document)),
            r#"gar: `message.data` is not base64: "not base64!""#
        );
        document["message"]["data"] = STANDARD.encode("{not json").into();
        let message = delivery_error(&body_of(&document));
        assert!(
            message.starts_with("gar: `message.data` is not base64 of JSON: key must be a string"),
            "{message}"
        );
        document["message"]["data"] = 5.into();
        assert_eq!(
            delivery_error(&body_of(&document)),
            "gar: wrong type of `message.data`: expected a string, found a number"
        );
        assert_eq!(
            delivery_error(&with_message(serde_json::json!(["INSERT"]))),
            "gar: wrong type of `message.data`: expected an object, found an array"
        );
        assert_eq!(
            delivery_error(&with_message(
                serde_json::json!({"action": "INSERT", "tag": format!("{IMAGE}:1.2.0 beta")})
            )),
            r#"gar: `message.data.tag` is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): "1.2.0 beta""#
        );
        assert_eq!(
            delivery_error(&with_message(
                serde_json::json!({"action": "INSERT", "tag": "shop-api"})
            )),
            r#"gar: `message.data.tag` is not a host/repository reference: "shop-api""#
        );
        assert_eq!(
            delivery_error(&with_message(serde_json::json!({
                "action": "INSERT",
                "tag": format!("{IMAGE}:1.2.0"),
                "digest": format!("us-east1-docker.pkg.dev/acme-prod/apps/other@{DIGEST}"),
            }))),
            r#"gar: `message.data.digest` names another image than `message.data.tag`: "us-east1-docker.pkg.dev/acme-prod/apps/other""#
        );
        assert_eq!(
            delivery_error(&with_message(
                serde_json::json!({"tag": format!("{IMAGE}:1.2.0")})
            )),
            "gar: missing field `message.data.action`"
        );
        let mut document = fixture_json(GAR_FIXTURE);
        document["message"]["messageId"] = "1 2".into();
        assert_eq!(
            delivery_error(&body_of(&document)),
            r#"gar: `message.messageId` is not a valid event id (letters, digits, `-`, `_`, `.`, `:`, not ending with `:`): "1 2""#
        );
    }
}

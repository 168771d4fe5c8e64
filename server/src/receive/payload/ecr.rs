//! Amazon ECR's "ECR Image Action" event, delivered by an EventBridge rule
//! (an API destination POSTs the event as it is).
//!
//! Field names from the Amazon ECR User Guide, "Amazon ECR events and
//! EventBridge" (docs.aws.amazon.com, `AmazonECR/latest/userguide/
//! ecr-eventbridge.html`), event for a completed image push:
//! `{"version","id","detail-type":"ECR Image Action","source":"aws.ecr",
//! "account","time","region","resources","detail":{"result":"SUCCESS",
//! "repository-name","image-digest","action-type":"PUSH","image-tag"}}`;
//! the same event reports image deletions (`action-type: DELETE`) and
//! failed actions (`result: FAILURE`). ECR's other events (`ECR Image
//! Scan`, `ECR Pull Through Cache Action`, `ECR Replication Action`, …)
//! come from the same `source`.
//!
//! Choices:
//! - A push is `ECR Image Action` with `result: SUCCESS`, `action-type:
//!   PUSH` and an `image-tag`; a failure, a delete, an untagged push and
//!   ECR's other events are not-a-push entries saying which. An EventBridge
//!   event from another `source` is refused: it is not a registry event.
//! - Registry host `<account>.dkr.ecr.<region>.amazonaws.com`
//!   (`….amazonaws.com.cn` in the `cn-` regions), the host of the
//!   repository's URI; repository `repository-name`, split at its last `/`.
//! - Pushed time `time`; ECR names no pusher: the owner is empty.
//! - Event id `id` (EventBridge keeps it when it retries); dedupe key
//!   `ecr|event|<id>`, else `ecr|<repository>|<tag>|<digest>`.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{
    event_text, not_a_push, object, optional_digest, optional_event_id, optional_time, text, word,
    Pushed,
};
use super::grammar::{check_host, check_repository_path, check_tag};
use super::json::{invalid, nonempty_string, required_object, required_string};
use super::{PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Ecr;
/// EventBridge's `source` of ECR's events.
const ECR_EVENT_SOURCE: &str = "aws.ecr";
/// The `detail-type` of image pushes and deletions.
const IMAGE_ACTION: &str = "ECR Image Action";

pub(super) fn parse(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    let event_source = required_string(root, "source", "source")?;
    if event_source != ECR_EVENT_SOURCE {
        return Err(invalid(
            "source",
            "is not aws.ecr (only Amazon ECR's EventBridge events are read)",
            event_source,
        ));
    }
    let detail_type = required_string(root, "detail-type", "detail-type")?;
    let mut delivery = RegistryDelivery::new(SOURCE);
    if detail_type != IMAGE_ACTION {
        let detail = object(Some(root), "detail");
        let repository = text(detail, "repository-name");
        let tag = text(detail, "image-tag");
        // "ECR Image Scan" → "ECR Image Scan of …", not "ECR ECR Image Scan".
        let kind = detail_type.strip_prefix("ECR ").unwrap_or(detail_type);
        let what = event_text(SOURCE, &word(kind), repository, tag, None);
        delivery.not_pushes.push(not_a_push(&what, repository, tag));
        return Ok(delivery);
    }
    let detail = required_object(root, "detail", "detail")?;
    let result = required_string(detail, "result", "detail.result")?;
    let action = required_string(detail, "action-type", "detail.action-type")?;
    let repository = required_string(detail, "repository-name", "detail.repository-name")?;
    check_repository_path(repository, "detail.repository-name")?;
    let digest = optional_digest(detail, "image-digest", "detail.image-digest")?;
    let tag = nonempty_string(detail, "image-tag", "detail.image-tag")?;
    if result != "SUCCESS" || action != "PUSH" || tag.is_none() {
        let what = event_text(
            SOURCE,
            &word(action),
            Some(repository),
            tag,
            digest.as_deref(),
        );
        let what = if result != "SUCCESS" {
            format!("{what} with result {}", word(result))
        } else if action == "PUSH" {
            format!("{what} without a tag")
        } else {
            what
        };
        delivery
            .not_pushes
            .push(not_a_push(&what, Some(repository), tag));
        return Ok(delivery);
    }
    let tag = tag.unwrap_or_default();
    check_tag(tag, "detail.image-tag")?;
    let pushed = Pushed {
        repository: repository.to_string(),
        tag: tag.to_string(),
        digest,
        registry: Some(registry_host(root)?),
        pushed_at: optional_time(root, "time", "time")?,
        event_id: optional_event_id(root, "id", "id")?,
        owner: String::new(),
    };
    let dedupe_key = pushed.key(SOURCE);
    delivery.pushes.push(pushed.event(dedupe_key));
    Ok(delivery)
}

/// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]`.
fn registry_host(root: &Map<String, Value>) -> Result<String, PayloadError> {
    let account = required_string(root, "account", "account")?;
    if account.is_empty() || account.len() > 20 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "account",
            "is not an AWS account id (12 digits)",
            account,
        ));
    }
    let region = required_string(root, "region", "region")?;
    let region_ok = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(invalid("region", "is not an AWS region", region));
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    check_host(
        &format!("{account}.dkr.ecr.{region}.{suffix}"),
        "account + region",
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, ECR_FIXTURE,
    };
    use super::super::PushEvent;
    use super::*;

    const DIGEST: &str = "sha256:4babd39db5f3979c8b2e9c0369c0a2ee65ddf900be2e97cffb8ceba128d50e0e";

    #[test]
    fn image_action_push_fixture_parses() {
        let read = delivery(ECR_FIXTURE);
        assert_eq!(read.source, DeliverySource::Ecr);
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
                registry: Some("123456789012.dkr.ecr.us-west-2.amazonaws.com".into()),
                pushed_at: Some("2026-11-28T09:14:07Z".into()),
                event_id: Some("13cde686-328b-6117-af20-0e5566167482".into()),
                callback_url: None,
                dedupe_key: "ecr|event|13cde686-328b-6117-af20-0e5566167482".into(),
            }]
        );
        let mut china = fixture_json(ECR_FIXTURE);
        china["region"] = "cn-north-1".into();
        assert_eq!(
            delivery(&body_of(&china)).pushes[0].registry.as_deref(),
            Some("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
        );
    }

    #[test]
    fn failures_deletes_untagged_pushes_and_other_events_are_not_pushes() {
        let said = |pointer: &str, value: serde_json::Value| {
            let mut document = fixture_json(ECR_FIXTURE);
            match value {
                serde_json::Value::Null => {
                    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
                    document
                        .pointer_mut(parent)
                        .and_then(serde_json::Value::as_object_mut)
                        .expect(parent)
                        .remove(key);
                }
                value => *document.pointer_mut(pointer).expect(pointer) = value,
            }
            only_not_push(&delivery(&body_of(&document))).clone()
        };
        let entry = said("/detail/result", "FAILURE".into());
        assert_eq!(entry.what, "ECR PUSH of shop/api:1.2.0 with result FAILURE");
        assert_eq!(
            (entry.repository.as_str(), entry.tag.as_str()),
            ("shop/api", "1.2.0")
        );
        assert_eq!(
            said("/detail/action-type", "DELETE".into()).what,
            "ECR DELETE of shop/api:1.2.0"
        );
        assert_eq!(
            said("/detail/image-tag", serde_json::Value::Null).what,
            format!("ECR PUSH of shop/api@{DIGEST} without a tag")
        );
        assert_eq!(
            said("/detail-type", "ECR Image Scan".into()).what,
            "ECR Image Scan of shop/api:1.2.0"
        );
    }

    #[test]
    fn malformed_events_are_refused_naming_ecr_and_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/source",
                "aws.s3".into(),
                r#"ecr: `source` is not aws.ecr (only Amazon ECR's EventBridge events are read): "aws.s3""#,
            ),
            (
                "/detail/image-tag",
                7.into(),
                "ecr: wrong type of `detail.image-tag`: expected a string, found a number",
            ),
            (
                "/detail/repository-name",
                "Shop/API".into(),
                r#"ecr: `detail.repository-name` is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most 255 characters): "Shop/API""#,
            ),
            (
                "/account",
                "12345678901x".into(),
                r#"ecr: `account` is not an AWS account id (12 digits): "12345678901x""#,
            ),
            (
                "/region",
                "us west".into(),
                r#"ecr: `region` is not an AWS region: "us west""#,
            ),
            (
                "/detail",
                serde_json::json!([]),
                "ecr: wrong type of `detail`: expected an object, found an array",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut document = fixture_json(ECR_FIXTURE);
            *document.pointer_mut(pointer).expect(pointer) = value;
            assert_eq!(delivery_error(&body_of(&document)), expected, "{pointer}");
        }
    }
}

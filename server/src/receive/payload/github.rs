//! GitHub's `package` webhook event: a container image published to the
//! GitHub Container Registry (`ghcr.io`).
//!
//! Field names from GitHub's "Webhook events and payloads" (the `package`
//! event: `action` `published` or `updated`, `package`, `sender`), its
//! OpenAPI description of the payload (`webhook-package-published`:
//! `package.name`, `package.namespace`, `package.owner.login`,
//! `package.package_type`, `package.package_version` with `name`,
//! `created_at`, `updated_at` and `container_metadata.tag.{name,digest}`),
//! and octokit/webhooks' example `package/published.docker.payload.json`.
//! The headers are GitHub's: `X-GitHub-Event` names the event,
//! `X-GitHub-Delivery` is the delivery's GUID (kept when a delivery is sent
//! again). `registry_package`, the older name of the same event with the
//! package under `registry_package`, is read the same way.
//!
//! Choices:
//! - A push is `action: published` of a package whose `package_type` (else
//!   `ecosystem`) is `container`, in any case (GitHub sends `CONTAINER`).
//!   `updated`, other package types, a version published without a tag
//!   (the platform manifests of a multi-arch image) and other events are
//!   not-a-push entries: "GitHub package 'shop-api' updated"; `ping` is
//!   "ping".
//! - Registry `ghcr.io`; repository `<owner>/<package name>`, lower-cased
//!   as ghcr.io names images. The owner is `package.owner.login`, else the
//!   first segment of `package.namespace` (which the published example
//!   spells `owner/repository`). A package name with `/` in it
//!   (`team/api`) makes a deeper path, split at its last `/`.
//! - Tag `container_metadata.tag.name`; digest `container_metadata.tag.digest`,
//!   else `package_version.name` when it is a digest (a container version is
//!   named by its digest).
//! - Pushed time `package_version.updated_at`, else `created_at`; Go's zero
//!   time (`0001-01-01T00:00:00Z`, in GitHub's example) counts as absent.
//! - Owner `sender.login` (who published).
//! - Event id `X-GitHub-Delivery`; dedupe key `ghcr|event|<delivery>`, else
//!   `ghcr|<repository>|<tag>|<digest>`.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{
    not_a_push, object, optional_digest, optional_time, reference, text, word, Pushed,
};
use super::grammar::{
    check_event_id, check_owner, check_path_component, check_repository_path, check_tag,
    is_valid_digest,
};
use super::json::{
    as_object, nonempty_string, optional_object, parse_json, required_object, required_string,
};
use super::{PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Ghcr;
/// The registry of GitHub packages that are container images.
pub const GHCR_REGISTRY: &str = "ghcr.io";
/// The place named in errors about the delivery header.
const DELIVERY_HEADER: &str = "X-GitHub-Delivery";

/// A delivery with an `X-GitHub-Event` header.
pub(super) fn parse_event(
    event: &str,
    delivery: Option<&str>,
    body: &[u8],
) -> Result<RegistryDelivery, PayloadError> {
    match event {
        "ping" => Ok(ping()),
        "package" | "registry_package" => {
            let document = parse_json(body)?;
            let root = as_object(&document, "the body")?;
            let key = if event == "package" {
                "package"
            } else {
                "registry_package"
            };
            parse_body(key, delivery, root)
        }
        other => {
            let mut answer = RegistryDelivery::new(SOURCE);
            answer.not_pushes.push(not_a_push(
                &format!("GitHub {} event (not a package event)", word(other)),
                None,
                None,
            ));
            Ok(answer)
        }
    }
}

/// GitHub's ping, sent when a webhook is created.
pub(super) fn ping() -> RegistryDelivery {
    let mut delivery = RegistryDelivery::new(SOURCE);
    delivery.not_pushes.push(not_a_push("ping", None, None));
    delivery
}

/// A `package` (or `registry_package`) event body, the package under `key`.
pub(super) fn parse_body(
    key: &'static str,
    delivery: Option<&str>,
    root: &Map<String, Value>,
) -> Result<RegistryDelivery, PayloadError> {
    let event_id = delivery
        .filter(|id| !id.is_empty())
        .map(|id| check_event_id(id, DELIVERY_HEADER).map(str::to_string))
        .transpose()?;
    let action = required_string(root, "action", "action")?;
    let package = required_object(root, key, key)?;
    let name = required_string(package, "name", &format!("{key}.name"))?;
    let package_type =
        match nonempty_string(package, "package_type", &format!("{key}.package_type"))? {
            Some(package_type) => package_type,
            None => nonempty_string(package, "ecosystem", &format!("{key}.ecosystem"))?
                .ok_or_else(|| PayloadError(format!("missing field `{key}.package_type`")))?,
        };
    let mut answer = RegistryDelivery::new(SOURCE);
    if !package_type.eq_ignore_ascii_case("container") {
        answer.not_pushes.push(not_a_push(
            &format!(
                "GitHub {} package '{}' {}",
                word(&package_type.to_ascii_lowercase()),
                word(name),
                word(action)
            ),
            None,
            None,
        ));
        return Ok(answer);
    }

    if action != "published" {
        let (repository, tag) = names_of(package);
        answer.not_pushes.push(not_a_push(
            &format!("GitHub package '{}' {}", word(name), word(action)),
            repository.as_deref(),
            tag,
        ));
        return Ok(answer);
    }

    let owner_place = format!("{key}.owner");
    let owner_login = optional_object(package, "owner", &owner_place)?
        .map(|owner| nonempty_string(owner, "login", &format!("{owner_place}.login")))
        .transpose()?
        .flatten();
    let (namespace, namespace_place) = match owner_login {
        Some(login) => (login, format!("{owner_place}.login")),
        None => {
            let place = format!("{key}.namespace");
            let namespace = nonempty_string(package, "namespace", &place)?.ok_or_else(|| {
                PayloadError(format!(
                    "missing field `{owner_place}.login` (or `{key}.namespace`)"
                ))
            })?;
            (namespace.split('/').next().unwrap_or_default(), place)
        }
    };
    let namespace = namespace.to_ascii_lowercase();
    check_path_component(&namespace, &namespace_place)?;
    let repository = format!("{namespace}/{}", name.to_ascii_lowercase());
    check_repository_path(&repository, &format!("{key}.name"))?;

    let version_place = format!("{key}.package_version");
    let version = required_object(package, "package_version", &version_place)?;
    let metadata_place = format!("{version_place}.container_metadata");
    let metadata = optional_object(version, "container_metadata", &metadata_place)?;
    let tag_place = format!("{metadata_place}.tag");
    let tag_object = metadata
        .map(|metadata| optional_object(metadata, "tag", &tag_place))
        .transpose()?
        .flatten();
    let tag = tag_object
        .map(|tag| nonempty_string(tag, "name", &format!("{tag_place}.name")))
        .transpose()?
        .flatten();
    let digest = match tag_object
        .map(|tag| optional_digest(tag, "digest", &format!("{tag_place}.digest")))
        .transpose()?
        .flatten()
    {
        Some(digest) => Some(digest),
        None => text(Some(version), "name")
            .filter(|name| is_valid_digest(name))
            .map(str::to_string),
    };

    let Some(tag) = tag else {
        let version_text = reference(Some(&repository), None, digest.as_deref())
            .map(|reference| format!(" ({reference})"))
            .unwrap_or_default();
        answer.not_pushes.push(not_a_push(
            &format!(
                "GitHub package '{}' published without a tag{version_text}",
                word(name)
            ),
            Some(&repository),
            None,
        ));
        return Ok(answer);
    };
    check_tag(tag, &format!("{tag_place}.name"))?;

    let pushed_at = match optional_time(
        version,
        "updated_at",
        &format!("{version_place}.updated_at"),
    )?
    .filter(|time| !is_zero_time(time))
    {
        Some(time) => Some(time),
        None => optional_time(
            version,
            "created_at",
            &format!("{version_place}.created_at"),
        )?
        .filter(|time| !is_zero_time(time)),
    };
    let owner = match optional_object(root, "sender", "sender")? {
        Some(sender) => nonempty_string(sender, "login", "sender.login")?.unwrap_or_default(),
        None => "",
    };
    check_owner(owner, "sender.login")?;

    let pushed = Pushed {
        repository,
        tag: tag.to_string(),
        digest,
        registry: Some(GHCR_REGISTRY.to_string()),
        pushed_at,
        event_id,
        owner: owner.to_string(),
    };
    let dedupe_key = pushed.key(SOURCE);
    answer.pushes.push(pushed.event(dedupe_key));
    Ok(answer)
}

/// Go's zero time, which GitHub sends for a time it does not have.
fn is_zero_time(time: &str) -> bool {
    time.starts_with("0001-")
}

/// The repository and tag a package event names, read leniently (for an
/// event that is not a push).
fn names_of(package: &Map<String, Value>) -> (Option<String>, Option<&str>) {
    let owner = text(object(Some(package), "owner"), "login")
        .or_else(|| text(Some(package), "namespace")?.split('/').next());
    let repository = owner
        .zip(text(Some(package), "name"))
        .map(|(owner, name)| format!("{owner}/{name}").to_ascii_lowercase());
    let metadata = object(
        object(Some(package), "package_version"),
        "container_metadata",
    );
    (repository, text(object(metadata, "tag"), "name"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, GHCR_FIXTURE,
        GITHUB_DELIVERY,
    };
    use super::super::{parse_registry_delivery, PushEvent, RegistryHeaders};
    use super::*;

    const DIGEST: &str = "sha256:ebe61a13cfc4afef128f8198e00795d171043b4444d1b9312b000d679fc02a02";

    fn with_headers(event: &str, body: &[u8]) -> Result<RegistryDelivery, PayloadError> {
        parse_registry_delivery(
            &RegistryHeaders {
                github_event: Some(event),
                github_delivery: Some(GITHUB_DELIVERY),
            },
            body,
        )
    }

    #[test]
    fn published_container_fixture_parses() {
        let read = with_headers("package", GHCR_FIXTURE).expect("parses");
        assert_eq!(read.source, DeliverySource::Ghcr);
        assert!(read.not_pushes.is_empty(), "{read:?}");
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                owner: "octo-dev".into(),
                namespace: "acme".into(),
                repo_name: "shop-api".into(),
                image: "acme/shop-api".into(),
                tag: "1.2.0".into(),
                digest: Some(DIGEST.into()),
                registry: Some("ghcr.io".into()),
                pushed_at: Some("2026-11-28T09:14:07Z".into()),
                event_id: Some(GITHUB_DELIVERY.into()),
                callback_url: None,
                dedupe_key: format!("ghcr|event|{GITHUB_DELIVERY}"),
            }]
        );
        // Without its headers the body is still GitHub's, without an event id.
        let push = &delivery(GHCR_FIXTURE).pushes[0];
        assert_eq!(push.event_id, None);
        assert_eq!(
            push.dedupe_key,
            format!("ghcr|acme/shop-api|1.2.0|{DIGEST}")
        );
    }

    #[test]
    fn ping_updates_other_packages_and_other_events_are_not_pushes() {
        let entry = only_not_push(&with_headers("ping", b"not even JSON").expect("ping")).clone();
        assert_eq!(
            (
                entry.what.as_str(),
                entry.repository.as_str(),
                entry.tag.as_str()
            ),
            ("ping", "", "")
        );
        let ping = delivery(br#"{"zen":"Keep it logically awesome.","hook_id":1}"#);
        assert_eq!(only_not_push(&ping).what, "ping");

        let mut updated = fixture_json(GHCR_FIXTURE);
        updated["action"] = "updated".into();
        let read = with_headers("package", &body_of(&updated)).expect("parses");
        let entry = only_not_push(&read);
        assert_eq!(entry.what, "GitHub package 'shop-api' updated");
        assert_eq!(
            (entry.repository.as_str(), entry.tag.as_str()),
            ("acme/shop-api", "1.2.0")
        );

        let mut npm = fixture_json(GHCR_FIXTURE);
        npm["package"]["package_type"] = "npm".into();
        assert_eq!(
            only_not_push(&delivery(&body_of(&npm))).what,
            "GitHub npm package 'shop-api' published"
        );

        let mut untagged = fixture_json(GHCR_FIXTURE);
        untagged["package"]["package_version"]["container_metadata"]["tag"]["name"] = "".into();
        assert_eq!(
            only_not_push(&delivery(&body_of(&untagged))).what,
            format!("GitHub package 'shop-api' published without a tag (acme/shop-api@{DIGEST})")
        );

        let entry = only_not_push(&with_headers("push", b"{}").expect("parses")).clone();
        assert_eq!(entry.what, "GitHub push event (not a package event)");

        let mut registry_package = fixture_json(GHCR_FIXTURE);
        let package = registry_package
            .as_object_mut()
            .expect("object")
            .remove("package")
            .expect("package");
        registry_package["registry_package"] = package;
        let read = with_headers("registry_package", &body_of(&registry_package)).expect("parses");
        assert_eq!(read.pushes[0].image, "acme/shop-api");
    }

    #[test]
    fn owner_digest_and_time_fallbacks() {
        let mut document = fixture_json(GHCR_FIXTURE);
        let package = &mut document["package"];
        package.as_object_mut().expect("object").remove("owner");
        package["namespace"] = "Acme/shop".into();
        let version = &mut package["package_version"];
        version["container_metadata"]["tag"]
            .as_object_mut()
            .expect("object")
            .remove("digest");
        version["updated_at"] = "0001-01-01T00:00:00Z".into();
        version["created_at"] = "2026-11-28T10:14:05+01:00".into();
        document.as_object_mut().expect("object").remove("sender");
        let push = &delivery(&body_of(&document)).pushes[0];
        assert_eq!(push.image, "acme/shop-api");
        assert_eq!(push.digest.as_deref(), Some(DIGEST));
        assert_eq!(push.pushed_at.as_deref(), Some("2026-11-28T09:14:05Z"));
        assert_eq!(push.owner, "");
    }

    #[test]
    fn malformed_packages_are_refused_naming_ghcr_and_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/package/package_version/container_metadata/tag/name",
                serde_json::json!(["1.2.0"]),
                "ghcr: wrong type of `package.package_version.container_metadata.tag.name`: expected a string, found an array",
            ),
            (
                "/package/package_version/container_metadata/tag/digest",
                "sha256:xyz".into(),
                r#"ghcr: `package.package_version.container_metadata.tag.digest` is not a valid digest (algorithm:hex): "sha256:xyz""#,
            ),
            (
                "/package/name",
                "shop api".into(),
                r#"ghcr: `package.name` is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most 255 characters): "acme/shop api""#,
            ),
            (
                "/package/owner/login",
                "-acme".into(),
                r#"ghcr: `package.owner.login` is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__` or `-`): "-acme""#,
            ),
            (
                "/sender/login",
                "octo dev".into(),
                r#"ghcr: `sender.login` is not a valid user name (letters, digits, `_`, `.`, `@`, `+`, `-`): "octo dev""#,
            ),
            (
                "/package/package_version/updated_at",
                "today".into(),
                r#"ghcr: `package.package_version.updated_at` is not an RFC 3339 time: "today""#,
            ),
            (
                "/package/package_version",
                serde_json::Value::Null,
                "ghcr: missing field `package.package_version`",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut document = fixture_json(GHCR_FIXTURE);
            *document.pointer_mut(pointer).expect(pointer) = value;
            assert_eq!(delivery_error(&body_of(&document)), expected, "{pointer}");
        }
        assert_eq!(
            with_headers("package", b"[1]").unwrap_err().to_string(),
            "ghcr: wrong type of the body: expected an object, found an array"
        );
        let message = parse_registry_delivery(
            &RegistryHeaders {
                github_event: Some("package"),
                github_delivery: Some("id:"),
            },
            GHCR_FIXTURE,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            message,
            r#"ghcr: `X-GitHub-Delivery` is not a valid event id (letters, digits, `-`, `_`, `.`, `:`, not ending with `:`): "id:""#
        );
    }
}

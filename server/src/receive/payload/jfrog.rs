//! JFrog Artifactory's webhook for the Docker domain (a predefined webhook,
//! event "Docker tag was pushed").
//!
//! Field names from the JFrog Platform Administration documentation,
//! "Webhooks" → "Event Types" (jfrog.com/help, `domain-docker`): every
//! event is `{"domain","event_type","data":{…},"subscription_key",
//! "jpd_origin","source"}`; for `domain: docker` the events are `pushed`,
//! `deleted`, `promoted`, and `data` is `{"repo_key","path","name",
//! "sha256","size","image_name","tag","platforms":[{"architecture","os"}]}`
//! (`path` like `library/ubuntu/latest/list.manifest.json`, `sha256` the
//! manifest's checksum as bare hex). `jpd_origin` is the platform's URL.
//!
//! Choices:
//! - A push is `domain: docker`, `event_type: pushed` with a tag; every
//!   other Docker event (`deleted`, `promoted`, …) and every other domain
//!   (`artifact`, `build`, …) is a not-a-push entry saying which.
//! - Registry host: the host of `jpd_origin`. The repository is
//!   `<repo_key>/<image_name>` (`docker-local/library/ubuntu`), as images
//!   are named through Artifactory's "repository path" Docker access
//!   method, `<host>/<repo_key>/<image>:<tag>`, so `DOCKER_IMAGE_REF` and
//!   the digest lookup find the image there; it splits at its last `/`.
//! - Digest `sha256:` + `sha256` (a value already starting `sha256:` is
//!   taken as it is).
//! - No push time, no event id and no pusher (`source` names the emitting
//!   JFrog service, not a user): the owner is empty, the dedupe key
//!   `jfrog|<repository>|<tag>|<digest>`.

use app::webhook::DeliverySource;
use serde_json::{Map, Value};

use super::common::{event_text, not_a_push, object, text, word, Pushed};
use super::grammar::{
    check_digest, check_host, check_path_component, check_repository_path, check_tag, url_authority,
};
use super::json::{invalid, nonempty_string, required_object, required_string};
use super::{PayloadError, RegistryDelivery};

const SOURCE: DeliverySource = DeliverySource::Jfrog;

pub(super) fn parse(root: &Map<String, Value>) -> Result<RegistryDelivery, PayloadError> {
    let domain = required_string(root, "domain", "domain")?;
    let event_type = required_string(root, "event_type", "event_type")?;
    let mut delivery = RegistryDelivery::new(SOURCE);
    if domain != "docker" || event_type != "pushed" {
        let data = object(Some(root), "data");
        let repository = match (text(data, "repo_key"), text(data, "image_name")) {
            (Some(repo_key), Some(image)) if domain == "docker" => {
                Some(format!("{repo_key}/{image}"))
            }
            _ => None,
        };
        let tag = text(data, "tag").filter(|_| domain == "docker");
        let what = event_text(
            SOURCE,
            &format!("{} {}", word(domain), word(event_type)),
            repository.as_deref(),
            tag,
            None,
        );
        let what = if repository.is_some() {
            what
        } else {
            format!("{what} event")
        };
        delivery
            .not_pushes
            .push(not_a_push(&what, repository.as_deref(), tag));
        return Ok(delivery);
    }
    let data = required_object(root, "data", "data")?;
    let repo_key = required_string(data, "repo_key", "data.repo_key")?;
    check_path_component(repo_key, "data.repo_key")?;
    let image_name = required_string(data, "image_name", "data.image_name")?;
    check_repository_path(image_name, "data.image_name")?;
    let repository = format!("{repo_key}/{image_name}");
    check_repository_path(&repository, "data.repo_key + data.image_name")?;

    let digest = nonempty_string(data, "sha256", "data.sha256")?
        .map(|sha256| {
            let digest = if sha256.starts_with("sha256:") {
                sha256.to_string()
            } else {
                format!("sha256:{sha256}")
            };
            check_digest(&digest, "data.sha256").map(|_| digest.clone())
        })
        .transpose()?;
    let Some(tag) = nonempty_string(data, "tag", "data.tag")? else {
        let what = event_text(
            SOURCE,
            "docker pushed",
            Some(&repository),
            None,
            digest.as_deref(),
        );
        delivery.not_pushes.push(not_a_push(
            &format!("{what} without a tag"),
            Some(&repository),
            None,
        ));
        return Ok(delivery);
    };
    check_tag(tag, "data.tag")?;
    let registry = nonempty_string(root, "jpd_origin", "jpd_origin")?
        .map(|origin| {
            let authority = url_authority(origin)
                .ok_or_else(|| invalid("jpd_origin", "is not an absolute http(s) URL", origin))?;
            check_host(authority, "jpd_origin")
        })
        .transpose()?;
    let pushed = Pushed {
        repository,
        tag: tag.to_string(),
        digest,
        registry,
        ..Pushed::default()
    };
    let dedupe_key = pushed.key(SOURCE);
    delivery.pushes.push(pushed.event(dedupe_key));
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        body_of, delivery, delivery_error, fixture_json, only_not_push, JFROG_FIXTURE,
    };
    use super::super::PushEvent;
    use super::*;

    const DIGEST: &str = "sha256:0222b6b1424da5be90c347a72b07a44bc8762846073f07aa0b99871cba7bfb1c";

    #[test]
    fn docker_pushed_fixture_parses() {
        let read = delivery(JFROG_FIXTURE);
        assert_eq!(read.source, DeliverySource::Jfrog);
        assert!(read.not_pushes.is_empty());
        assert_eq!(
            read.pushes,
            vec![PushEvent {
                owner: String::new(),
                namespace: "docker-local/shop".into(),
                repo_name: "api".into(),
                image: "docker-local/shop/api".into(),
                tag: "1.2.0".into(),
                digest: Some(DIGEST.into()),
                registry: Some("acme.jfrog.io".into()),
                pushed_at: None,
                event_id: None,
                callback_url: None,
                dedupe_key: format!("jfrog|docker-local/shop/api|1.2.0|{DIGEST}"),
            }]
        );
    }

    #[test]
    fn other_docker_events_and_domains_are_not_pushes() {
        for (event_type, what) in [
            (
                "deleted",
                "JFrog docker deleted of docker-local/shop/api:1.2.0",
            ),
            (
                "promoted",
                "JFrog docker promoted of docker-local/shop/api:1.2.0",
            ),
        ] {
            let mut document = fixture_json(JFROG_FIXTURE);
            document["event_type"] = event_type.into();
            let entry = only_not_push(&delivery(&body_of(&document))).clone();
            assert_eq!(entry.what, what);
            assert_eq!(
                (entry.repository.as_str(), entry.tag.as_str()),
                ("docker-local/shop/api", "1.2.0")
            );
        }
        let artifact = br#"{"domain":"artifact","event_type":"deployed","data":{"repo_key":"generic-local","path":"a/b.txt","name":"b.txt","sha256":"x","size":0},"subscription_key":"k","jpd_origin":"https://acme.jfrog.io","source":"jfrog/acme"}"#;
        let entry = only_not_push(&delivery(artifact)).clone();
        assert_eq!(entry.what, "JFrog artifact deployed event");
        assert_eq!(entry.repository, "");
    }

    #[test]
    fn malformed_pushes_are_refused_naming_jfrog_and_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/data/sha256",
                "sample_checksum".into(),
                r#"jfrog: `data.sha256` is not a valid digest (algorithm:hex): "sha256:sample_checksum""#,
            ),
            (
                "/data/tag",
                serde_json::json!({}),
                "jfrog: wrong type of `data.tag`: expected a string, found an object",
            ),
            (
                "/data/repo_key",
                "Docker-Local".into(),
                r#"jfrog: `data.repo_key` is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__` or `-`): "Docker-Local""#,
            ),
            (
                "/jpd_origin",
                "acme.jfrog.io".into(),
                r#"jfrog: `jpd_origin` is not an absolute http(s) URL: "acme.jfrog.io""#,
            ),
            (
                "/data",
                serde_json::Value::Null,
                "jfrog: missing field `data`",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut document = fixture_json(JFROG_FIXTURE);
            *document.pointer_mut(pointer).expect(pointer) = value;
            assert_eq!(delivery_error(&body_of(&document)), expected, "{pointer}");
        }
        let mut document = fixture_json(JFROG_FIXTURE);
        document["data"]["sha256"] = format!("sha256:{}", &DIGEST[7..]).into();
        assert_eq!(
            delivery(&body_of(&document)).pushes[0].digest.as_deref(),
            Some(DIGEST)
        );
    }
}

//! Docker Hub's push webhook body (`push_data` + `repository`).
//!
//! A one-segment repository (`ubuntu`) is an official image and gets the
//! namespace `library`, as on Docker Hub (`library/ubuntu`). Events have the
//! registry `docker.io` (how image references spell Docker Hub).

use serde_json::{Map, Value};

use super::grammar::{
    check_callback_url, check_owner, check_path_component, check_repository_path, check_tag,
};
use super::json::{as_object, optional_string, parse_json, required, required_string};
use super::time::epoch_seconds_to_rfc3339;
use super::{join_image, PayloadError, PushEvent};

/// How Docker Hub is named in image references; the `registry` of Hub events.
pub const DOCKER_HUB_REGISTRY: &str = "docker.io";

/// The namespace Docker Hub gives official images (`ubuntu` = `library/ubuntu`).
pub const DOCKER_HUB_OFFICIAL_NAMESPACE: &str = "library";

/// The format's entry in the dispatch: a Hub body is one push.
pub(super) fn parse(body: &[u8]) -> Result<Vec<PushEvent>, PayloadError> {
    parse_docker_hub(body).map(|event| vec![event])
}

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

#[cfg(test)]
mod tests {
    use super::super::grammar::{is_valid_repository_path, is_valid_tag};
    use super::super::tests::{hub_body_with, hub_error, HUB_FIXTURE};
    use super::*;

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

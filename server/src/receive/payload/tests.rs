//! Fixtures and helpers of the payload tests, and the tests that hold for
//! every format.

use serde_json::Value;

use super::*;
use app::pipeline::DOCKER_PARAMETERS;

pub(super) const HUB_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/docker-hub-push.json");
pub(super) const REGISTRY_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/registry-push-event.json");
pub(super) const GITLAB_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/gitlab-registry-push.json");
pub(super) const HARBOR_FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/harbor-push.json");
pub(super) const HARBOR_PULL_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/harbor-pull.json");
pub(super) const HARBOR_CLOUDEVENTS_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/harbor-cloudevents-push.json");
pub(super) const GHCR_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/ghcr-package-published.json");
pub(super) const QUAY_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/quay-repo-push.json");
pub(super) const ACR_FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/acr-push.json");
pub(super) const ACR_DELETE_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/acr-delete.json");
pub(super) const ECR_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/ecr-image-action-push.json");
pub(super) const GAR_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/gar-pubsub-insert.json");
pub(super) const GAR_DELETE_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/gar-pubsub-delete.json");
pub(super) const JFROG_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/jfrog-docker-pushed.json");

/// The delivery ids of the GitHub tests.
pub(super) const GITHUB_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

/// Reads a body without headers.
pub(super) fn delivery(body: &[u8]) -> RegistryDelivery {
    parse_registry_delivery(&RegistryHeaders::default(), body)
        .unwrap_or_else(|error| panic!("expected a delivery, got: {error}"))
}

/// The error of a body read without headers.
pub(super) fn delivery_error(body: &[u8]) -> String {
    match parse_registry_delivery(&RegistryHeaders::default(), body) {
        Ok(delivery) => panic!("expected an error, parsed {delivery:?}"),
        Err(error) => error.to_string(),
    }
}

/// A fixture as JSON, to change before reading it again.
pub(super) fn fixture_json(fixture: &[u8]) -> Value {
    serde_json::from_slice(fixture).expect("fixture is JSON")
}

pub(super) fn body_of(document: &Value) -> Vec<u8> {
    serde_json::to_vec(document).expect("serializes")
}

/// The one not-a-push of a delivery that has no pushes.
pub(super) fn only_not_push(delivery: &RegistryDelivery) -> &NotAPush {
    assert!(delivery.pushes.is_empty(), "{delivery:?}");
    assert_eq!(delivery.not_pushes.len(), 1, "{delivery:?}");
    &delivery.not_pushes[0]
}

pub(super) fn hub_body_with(push_data: Value) -> Vec<u8> {
    serde_json::json!({
        "push_data": push_data,
        "repository": {"repo_name": "svendowideit/testhook"}
    })
    .to_string()
    .into_bytes()
}

pub(super) fn hub_error(body: &[u8]) -> String {
    match parse_docker_hub(body) {
        Ok(event) => panic!("expected an error, parsed {event:?}"),
        Err(error) => error.to_string(),
    }
}

pub(super) fn registry_error(body: &[u8]) -> String {
    match parse_registry_envelope(body) {
        Ok(events) => panic!("expected an error, parsed {events:?}"),
        Err(error) => error.to_string(),
    }
}

pub(super) fn fixture_event() -> Value {
    let envelope: Value =
        serde_json::from_slice(REGISTRY_FIXTURE).expect("registry fixture is JSON");
    envelope["events"][0].clone()
}

pub(super) fn envelope_of(events: Vec<Value>) -> Vec<u8> {
    serde_json::json!({ "events": events })
        .to_string()
        .into_bytes()
}

#[test]
fn docker_inputs_use_the_parameter_table_names() {
    let event = parse_docker_hub(HUB_FIXTURE).expect("fixture parses");
    let inputs = event.docker_inputs();
    let names: Vec<&str> = DOCKER_PARAMETERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(inputs.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted
    });
    assert_eq!(inputs["DOCKER_OWNER_NAME"], "trustedbuilder");
    assert_eq!(inputs["DOCKER_IMAGE"], "svendowideit/testhook");
    assert_eq!(inputs["DOCKER_REPO_NAME"], "testhook");
    assert_eq!(inputs["DOCKER_REPO_NAMESPACE"], "svendowideit");
    assert_eq!(inputs["DOCKER_TAG"], "latest");
    assert_eq!(inputs["DOCKER_DIGEST"], "");
    assert_eq!(inputs["DOCKER_REGISTRY"], "docker.io");
    assert_eq!(inputs["DOCKER_PUSHED_AT"], "2014-12-03T00:22:41Z");
    assert_eq!(inputs["DOCKER_EVENT_ID"], "");

    let registry = &parse_registry_envelope(REGISTRY_FIXTURE).expect("parses")[0];
    let inputs = registry.docker_inputs();
    assert_eq!(inputs["DOCKER_REGISTRY"], "127.0.0.1:5000");
    assert_eq!(
        inputs["DOCKER_EVENT_ID"],
        "3ffc5ce2-1c3e-4a06-ae26-abd3d8951a1c"
    );
    assert!(inputs["DOCKER_DIGEST"].starts_with("sha256:ce8818d7"));
}

#[test]
fn malformed_json_names_line_and_column() {
    let message = hub_error(b"{\n  \"push_data\": {\"tag\": \"v\",}\n}");
    assert!(message.starts_with("malformed JSON: "), "{message}");
    assert!(message.contains("line 2 column"), "{message}");
    let message = registry_error(b"");
    assert!(message.starts_with("malformed JSON: "), "{message}");
    let message = registry_error(b"\xff\xfe");
    assert!(message.starts_with("malformed JSON: "), "{message}");
}

#[test]
fn non_object_bodies_are_refused() {
    assert_eq!(
        hub_error(b"[]"),
        "wrong type of the body: expected an object, found an array"
    );
    assert_eq!(
        hub_error(b"\"text\""),
        "wrong type of the body: expected an object, found a string"
    );
    assert_eq!(
        registry_error(b"42"),
        "wrong type of the body: expected an object, found a number"
    );
    assert_eq!(registry_error(b"{}"), "missing field `events`");
    assert_eq!(
        registry_error(br#"{"events":{}}"#),
        "wrong type of `events`: expected an array, found an object"
    );
    assert_eq!(
        registry_error(br#"{"events":[7]}"#),
        "wrong type of `events[0]`: expected an object, found a number"
    );
    assert_eq!(
        hub_error(br#"{"push_data":"v","repository":{}}"#),
        "wrong type of `push_data`: expected an object, found a string"
    );
}

#[test]
fn each_source_reads_its_own_format() {
    let hub = parse(DeliverySource::DockerHub, HUB_FIXTURE).expect("hub body parses");
    assert_eq!(hub, vec![parse_docker_hub(HUB_FIXTURE).expect("parses")]);
    let registry = parse(DeliverySource::Registry, REGISTRY_FIXTURE).expect("envelope parses");
    assert_eq!(
        registry,
        parse_registry_envelope(REGISTRY_FIXTURE).expect("parses")
    );
    // A body sent to the other receiver is refused, not guessed at.
    assert!(parse(DeliverySource::Registry, HUB_FIXTURE).is_err());
    assert!(parse(DeliverySource::DockerHub, REGISTRY_FIXTURE).is_err());
}

#[test]
fn each_fixture_is_detected_as_its_source() {
    for (fixture, source, pushes) in [
        (REGISTRY_FIXTURE, DeliverySource::Registry, 1),
        (GITLAB_FIXTURE, DeliverySource::Gitlab, 1),
        (HARBOR_FIXTURE, DeliverySource::Harbor, 1),
        (HARBOR_PULL_FIXTURE, DeliverySource::Harbor, 0),
        (HARBOR_CLOUDEVENTS_FIXTURE, DeliverySource::Harbor, 1),
        (GHCR_FIXTURE, DeliverySource::Ghcr, 1),
        (QUAY_FIXTURE, DeliverySource::Quay, 2),
        (ACR_FIXTURE, DeliverySource::Acr, 1),
        (ACR_DELETE_FIXTURE, DeliverySource::Acr, 0),
        (ECR_FIXTURE, DeliverySource::Ecr, 1),
        (GAR_FIXTURE, DeliverySource::Gar, 1),
        (GAR_DELETE_FIXTURE, DeliverySource::Gar, 0),
        (JFROG_FIXTURE, DeliverySource::Jfrog, 1),
    ] {
        let read = delivery(fixture);
        assert_eq!(read.source, source, "{read:?}");
        assert_eq!(read.pushes.len(), pushes, "{read:?}");
        assert_eq!(read.not_pushes.len(), 1 - pushes.min(1), "{read:?}");
        for push in &read.pushes {
            assert!(
                push.dedupe_key
                    .starts_with(&format!("{}|", source.as_str())),
                "{push:?}"
            );
        }
        // The same body sent to `parse` with its source reads the same pushes.
        if source != DeliverySource::Registry {
            assert_eq!(parse(source, fixture).expect("parses"), read.pushes);
        }
    }
}

#[test]
fn parse_by_source_refuses_another_format() {
    assert_eq!(
        parse(DeliverySource::Quay, HARBOR_FIXTURE)
            .unwrap_err()
            .to_string(),
        "quay: the body is not in this format (it reads as harbor)"
    );
    assert_eq!(
        parse(DeliverySource::Gitlab, REGISTRY_FIXTURE)
            .unwrap_err()
            .to_string(),
        "gitlab: the body is not in this format (it reads as registry)"
    );
    // The registry receiver's own parse keeps reading only the envelope.
    assert!(parse(DeliverySource::Registry, HARBOR_FIXTURE).is_err());
}

#[test]
fn unknown_bodies_are_refused_with_the_formats_known() {
    let unknown = "not a registry webhook Slipway knows (Docker distribution, Harbor, GitHub, Quay, ACR, ECR, Artifact Registry, JFrog)";
    assert_eq!(UNKNOWN_REGISTRY_FORMAT, unknown);
    for body in [
        &b"{}"[..],
        b"[]",
        b"42",
        b"\"text\"",
        br#"{"specversion":"1.0","type":"com.example.build","id":"1"}"#,
        HUB_FIXTURE,
    ] {
        assert_eq!(
            delivery_error(body),
            unknown,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let message = delivery_error(b"{\"events\": [");
    assert!(message.starts_with("malformed JSON: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn envelope_not_pushes_say_what_they_were_and_layer_pushes_stay_silent() {
    let push = fixture_event();
    let mut pull = fixture_event();
    pull["action"] = "pull".into();
    let mut delete = fixture_event();
    delete["action"] = "delete".into();
    delete["target"]
        .as_object_mut()
        .expect("object")
        .remove("tag");
    let mut mount = fixture_event();
    mount["action"] = "mount".into();
    mount["target"] = serde_json::json!({"repository": 7});
    let mut odd = fixture_event();
    odd["action"] = "pu ll\n#x".into();
    let mut layer = fixture_event();
    layer["target"]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    let mut untagged = fixture_event();
    untagged["target"]
        .as_object_mut()
        .expect("object")
        .remove("tag");
    let read = delivery(&envelope_of(vec![
        push, pull, delete, mount, odd, layer, untagged,
    ]));
    assert_eq!(read.source, DeliverySource::Registry);
    assert_eq!(read.pushes.len(), 1);
    assert_eq!(
        read.pushes[0].dedupe_key,
        "registry|event|3ffc5ce2-1c3e-4a06-ae26-abd3d8951a1c"
    );
    let said: Vec<(&str, &str, &str)> = read
        .not_pushes
        .iter()
        .map(|entry| {
            (
                entry.what.as_str(),
                entry.repository.as_str(),
                entry.tag.as_str(),
            )
        })
        .collect();
    assert_eq!(
        said,
        vec![
            ("Registry pull of demo/app:v1", "demo/app", "v1"),
            (
                "Registry delete of demo/app@sha256:ce8818d7fba34efd8ec25180c1a0c1b9f9bed890e6d24f7c13d71f009e3b8b0b",
                "demo/app",
                ""
            ),
            ("Registry mount", "", ""),
            ("Registry \"pu ll\\n#x\" of demo/app:v1", "demo/app", "v1"),
        ]
    );
    // The envelope's own parser still returns the pushes alone.
    assert_eq!(
        parse_registry_envelope(&envelope_of(vec![fixture_event()])).expect("parses"),
        vec![parse_registry_envelope(REGISTRY_FIXTURE).expect("parses")[0].clone()]
    );
}

#[test]
fn errors_of_a_detected_format_start_with_its_name() {
    let mut event = fixture_event();
    event["target"]["tag"] = 5.into();
    assert_eq!(
        delivery_error(&envelope_of(vec![event])),
        "registry: wrong type of `events[0].target.tag`: expected a string, found a number"
    );
    let mut gitlab = fixture_json(GITLAB_FIXTURE);
    gitlab["events"][0]["target"]["digest"] = "sha256:12".into();
    assert_eq!(
        delivery_error(&body_of(&gitlab)),
        r#"gitlab: `events[0].target.digest` is not a valid digest (algorithm:hex): "sha256:12""#
    );
}

//! Fixtures and helpers of the payload tests, and the tests that hold for
//! every format.

use serde_json::Value;

use super::*;
use app::pipeline::DOCKER_PARAMETERS;

pub(super) const HUB_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/docker-hub-push.json");
pub(super) const REGISTRY_FIXTURE: &[u8] =
    include_bytes!("../../../tests/fixtures/registry-push-event.json");

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

//! Property tests for the push payload parsers, the short run of the
//! `payload` fuzz target (`server/fuzz`) that every `cargo test` does, over
//! the same entry ([`server::fuzz_entry::payload`]): whatever bytes arrive,
//! the parsers never panic, they either parse or return a one-line
//! `PayloadError`, and every event they return satisfies the grammars
//! written again there as regexes. The strategies here come close to valid
//! bodies, which random bytes rarely do: every registry format's fixture is
//! mutated, its fields set to tricky values, its bytes damaged (and the
//! Artifact Registry message inside its base64 `message.data` too).

use base64::Engine;
use proptest::prelude::*;
use serde_json::{Map, Value};
use server::fuzz_entry::{assert_event_is_safe, assert_not_push_is_safe, payload};
use server::receive::payload::{
    parse_docker_hub, parse_registry_delivery, parse_registry_envelope, RegistryHeaders,
};

const HUB_FIXTURE: &[u8] = include_bytes!("fixtures/docker-hub-push.json");
const REGISTRY_FIXTURE: &[u8] = include_bytes!("fixtures/registry-push-event.json");
const GAR_FIXTURE: &[u8] = include_bytes!("fixtures/gar-pubsub-insert.json");

/// A field's path of keys and indexes (`["events", "0", "target", "tag"]`).
type FieldPath = &'static [&'static str];

/// Every registry format's fixtures (name, body), with the fields its
/// parser reads.
const FORMATS: &[(&str, &[u8], &[FieldPath])] = &[
    ("registry", REGISTRY_FIXTURE, REGISTRY_FIELDS),
    (
        "gitlab",
        include_bytes!("fixtures/gitlab-registry-push.json"),
        GITLAB_FIELDS,
    ),
    (
        "harbor",
        include_bytes!("fixtures/harbor-push.json"),
        HARBOR_FIELDS,
    ),
    (
        "harbor pull",
        include_bytes!("fixtures/harbor-pull.json"),
        HARBOR_FIELDS,
    ),
    (
        "harbor cloudevents",
        include_bytes!("fixtures/harbor-cloudevents-push.json"),
        HARBOR_CLOUDEVENTS_FIELDS,
    ),
    (
        "ghcr",
        include_bytes!("fixtures/ghcr-package-published.json"),
        GHCR_FIELDS,
    ),
    (
        "quay",
        include_bytes!("fixtures/quay-repo-push.json"),
        QUAY_FIELDS,
    ),
    ("acr", include_bytes!("fixtures/acr-push.json"), ACR_FIELDS),
    (
        "acr delete",
        include_bytes!("fixtures/acr-delete.json"),
        ACR_FIELDS,
    ),
    (
        "ecr",
        include_bytes!("fixtures/ecr-image-action-push.json"),
        ECR_FIELDS,
    ),
    ("gar", GAR_FIXTURE, GAR_FIELDS),
    (
        "gar delete",
        include_bytes!("fixtures/gar-pubsub-delete.json"),
        GAR_FIELDS,
    ),
    (
        "jfrog",
        include_bytes!("fixtures/jfrog-docker-pushed.json"),
        JFROG_FIELDS,
    ),
];

// ---- Strategies ----

/// Strings with the characters that matter: valid name characters, the
/// separators in odd places, upper case, YAML indicators, quotes, spaces,
/// line breaks, and some non-ASCII; plus fully arbitrary text.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => near_valid_string(),
        3 => "[a-z0-9._/-]{0,16}",
        2 => "[A-Za-z0-9._:/@+\\[\\]-]{0,16}",
        2 => "[a-z0-9 :#\"'\n\r\t{}\\[\\]&*!|>%@`,?-]{0,12}",
        1 => "(?s).{0,24}",
        1 => Just(String::new()),
        1 => Just("a".repeat(300)),
        1 => Just("sha256:".to_string() + &"ab".repeat(32)),
        1 => Just("2014-12-03T00:22:41Z".to_string()),
        1 => Just("https://hub.example.com/hook".to_string()),
    ]
}

/// A value that would pass every grammar but for one character or one
/// separator in the middle: random text rarely comes this close, and these
/// are what a check that is slightly too loose lets through.
fn near_valid_string() -> impl Strategy<Value = String> {
    let intruder = prop_oneof![
        prop::sample::select(vec![
            " ", "\n", "\r", "\t", ":", ": ", "#", " #", "\"", "'", "{", "}", "[", "]", "&", "*",
            "!", "|", ">", "%", "@", "`", ",", "?", "\\", "//", "__", "___", "-.", "._", "..", "A",
            "é", "\u{0}", "\u{2028}", "/", "-", ".", "_", "+", "=",
        ])
        .prop_map(str::to_string),
        "(?s).",
    ];
    ("[a-z0-9]{1,6}", intruder, "[a-z0-9]{1,6}", prop::bool::ANY).prop_map(
        |(head, intruder, tail, intruder_first)| {
            if intruder_first {
                format!("{intruder}{head}{tail}")
            } else {
                format!("{head}{intruder}{tail}")
            }
        },
    )
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // serde_json turns the non-finite ones into null.
        any::<f64>().prop_map(Value::from),
        (0.0f64..3e11).prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Put a value at the chosen place.
    Replace(Value),
    /// Take the chosen place out of its object or array.
    Remove,
    /// Add a key to the chosen object (replaces a non-object).
    Insert(String, Value),
}

fn mutation() -> impl Strategy<Value = (usize, Mutation)> {
    let kind = prop_oneof![
        3 => json_value().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
        1 => (tricky_string(), json_value()).prop_map(|(key, value)| Mutation::Insert(key, value)),
    ];
    (any::<usize>(), kind)
}

/// Every place in a document, as a path of keys and indexes.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn places(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(Step::Key(key.clone()));
                places(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(Step::Index(index));
                places(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |current, step| match step {
        Step::Key(key) => current.get_mut(key.as_str()),
        Step::Index(index) => current.get_mut(*index),
    })
}

fn apply(document: &mut Value, (choice, mutation): &(usize, Mutation)) {
    let mut all = Vec::new();
    places(document, &mut Vec::new(), &mut all);
    let path = &all[choice % all.len()];
    match mutation {
        Mutation::Replace(value) => {
            if let Some(place) = at_mut(document, path) {
                *place = value.clone();
            }
        }
        Mutation::Remove => {
            let Some((last, parent_path)) = path.split_last() else {
                *document = Value::Null;
                return;
            };
            match (at_mut(document, parent_path), last) {
                (Some(Value::Object(map)), Step::Key(key)) => {
                    map.remove(key);
                }
                (Some(Value::Array(items)), Step::Index(index)) if *index < items.len() => {
                    items.remove(*index);
                }
                _ => {}
            }
        }
        Mutation::Insert(key, value) => {
            if let Some(place) = at_mut(document, path) {
                if !place.is_object() {
                    *place = Value::Object(Map::new());
                }
                if let Value::Object(map) = place {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

fn mutated(fixture: &[u8], mutations: &[(usize, Mutation)]) -> Vec<u8> {
    let mut document: Value = serde_json::from_slice(fixture).unwrap_or(Value::Null);
    for one in mutations {
        apply(&mut document, one);
    }
    serde_json::to_vec(&document).unwrap_or_default()
}

/// Sets one of the fields the parsers read, by its path, to a tricky string
/// (or other value), so near-valid values meet the validation often.
fn with_field(fixture: &[u8], path: &[&str], value: Value) -> Vec<u8> {
    let mut document: Value = serde_json::from_slice(fixture).unwrap_or(Value::Null);
    let steps: Vec<Step> = path
        .iter()
        .map(|part| match part.parse::<usize>() {
            Ok(index) => Step::Index(index),
            Err(_) => Step::Key((*part).to_string()),
        })
        .collect();
    if let Some(place) = at_mut(&mut document, &steps) {
        *place = value;
    } else if let Some((last, parent)) = steps.split_last() {
        if let (Some(Value::Object(map)), Step::Key(key)) = (at_mut(&mut document, parent), last) {
            map.insert(key.clone(), value);
        }
    }
    serde_json::to_vec(&document).unwrap_or_default()
}

const HUB_FIELDS: &[&[&str]] = &[
    &["push_data", "tag"],
    &["push_data", "pusher"],
    &["push_data", "pushed_at"],
    &["repository", "repo_name"],
    &["repository", "namespace"],
    &["repository", "name"],
    &["repository", "owner"],
    &["callback_url"],
];

const REGISTRY_FIELDS: &[&[&str]] = &[
    &["events", "0", "action"],
    &["events", "0", "id"],
    &["events", "0", "timestamp"],
    &["events", "0", "target", "mediaType"],
    &["events", "0", "target", "tag"],
    &["events", "0", "target", "repository"],
    &["events", "0", "target", "digest"],
    &["events", "0", "target", "url"],
    &["events", "0", "request", "host"],
    &["events", "0", "actor", "name"],
];

const GITLAB_FIELDS: &[&[&str]] = &[
    &["events", "0", "action"],
    &["events", "0", "target", "tag"],
    &["events", "0", "target", "repository"],
    &["events", "0", "target", "url"],
    &["events", "0", "request", "host"],
    &["events", "0", "actor", "name"],
    &["events", "0", "actor", "user_type"],
];

const HARBOR_FIELDS: &[&[&str]] = &[
    &["type"],
    &["occur_at"],
    &["operator"],
    &["event_data", "resources", "0", "digest"],
    &["event_data", "resources", "0", "tag"],
    &["event_data", "resources", "0", "resource_url"],
    &["event_data", "resources", "1"],
    &["event_data", "repository", "repo_full_name"],
    &["event_data", "repository", "namespace"],
    &["event_data", "repository", "name"],
];

const HARBOR_CLOUDEVENTS_FIELDS: &[&[&str]] = &[
    &["specversion"],
    &["id"],
    &["type"],
    &["time"],
    &["operator"],
    &["data", "resources", "0", "digest"],
    &["data", "resources", "0", "tag"],
    &["data", "resources", "0", "resource_url"],
    &["data", "repository", "repo_full_name"],
];

const GHCR_FIELDS: &[&[&str]] = &[
    &["action"],
    &["package", "name"],
    &["package", "namespace"],
    &["package", "package_type"],
    &["package", "owner", "login"],
    &["package", "package_version", "name"],
    &["package", "package_version", "created_at"],
    &["package", "package_version", "updated_at"],
    &[
        "package",
        "package_version",
        "container_metadata",
        "tag",
        "name",
    ],
    &[
        "package",
        "package_version",
        "container_metadata",
        "tag",
        "digest",
    ],
    &["sender", "login"],
];

const QUAY_FIELDS: &[&[&str]] = &[
    &["repository"],
    &["namespace"],
    &["docker_url"],
    &["updated_tags"],
    &["updated_tags", "0"],
    &["updated_tags", "1"],
    &["build_id"],
];

const ACR_FIELDS: &[&[&str]] = &[
    &["id"],
    &["timestamp"],
    &["action"],
    &["target", "mediaType"],
    &["target", "digest"],
    &["target", "repository"],
    &["target", "tag"],
    &["request", "host"],
];

const ECR_FIELDS: &[&[&str]] = &[
    &["id"],
    &["detail-type"],
    &["source"],
    &["account"],
    &["time"],
    &["region"],
    &["detail", "result"],
    &["detail", "repository-name"],
    &["detail", "image-digest"],
    &["detail", "action-type"],
    &["detail", "image-tag"],
];

const GAR_FIELDS: &[&[&str]] = &[
    &["message", "data"],
    &["message", "messageId"],
    &["message", "message_id"],
    &["message", "publishTime"],
    &["message", "publish_time"],
    &["subscription"],
];

/// The fields of the Artifact Registry message inside `message.data`.
const GAR_MESSAGE_FIELDS: &[&[&str]] = &[&["action"], &["digest"], &["tag"]];

const JFROG_FIELDS: &[&[&str]] = &[
    &["domain"],
    &["event_type"],
    &["jpd_origin"],
    &["data", "repo_key"],
    &["data", "image_name"],
    &["data", "tag"],
    &["data", "sha256"],
];

/// The Artifact Registry fixture with its decoded message changed by
/// `change`, encoded again.
fn with_gar_message(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut document: Value = serde_json::from_slice(GAR_FIXTURE).unwrap_or(Value::Null);
    let engine = base64::engine::general_purpose::STANDARD;
    let mut message: Value = document["message"]["data"]
        .as_str()
        .and_then(|data| engine.decode(data).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    change(&mut message);
    document["message"]["data"] = Value::from(engine.encode(message.to_string()));
    serde_json::to_vec(&document).unwrap_or_default()
}

/// Near-valid full image references for the message's `tag` and `digest`.
fn tricky_reference() -> impl Strategy<Value = String> {
    prop_oneof![
        (tricky_string(), "[a-z0-9/-]{1,12}", tricky_string())
            .prop_map(|(host, path, tag)| format!("{host}/{path}:{tag}")),
        ("[a-z0-9.-]{1,12}", tricky_string(), "[a-z0-9.-]{1,8}")
            .prop_map(|(host, path, tag)| format!("{host}/{path}:{tag}")),
        ("[a-z0-9.:-]{1,12}", "[a-z0-9/._-]{1,16}", tricky_string())
            .prop_map(|(host, path, digest)| format!("{host}/{path}@{digest}")),
        tricky_string(),
    ]
}

/// Byte-level damage to a text: overwrite, insert or delete at positions.
fn damaged(text: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for (position, operation, byte) in edits {
        let position = position % (bytes.len() + 1);
        match operation % 3 {
            0 if position < bytes.len() => bytes[position] = *byte,
            1 => bytes.insert(position, *byte),
            _ if position < bytes.len() => {
                bytes.remove(position);
            }
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(server::fuzz_entry::cases(1024)))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        payload(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(document in json_value()) {
        let body = serde_json::to_vec(&document).unwrap_or_default();
        payload(&body);
    }

    #[test]
    fn structural_mutations_of_the_hub_fixture(mutations in prop::collection::vec(mutation(), 1..4)) {
        payload(&mutated(HUB_FIXTURE, &mutations));
    }

    #[test]
    fn structural_mutations_of_every_registry_fixture(
        format in 0..FORMATS.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        payload(&mutated(FORMATS[format].1, &mutations));
    }

    #[test]
    fn hub_fields_set_to_tricky_values(
        fields in prop::collection::vec((0..HUB_FIELDS.len(), prop_oneof![4 => tricky_string().prop_map(Value::String), 1 => json_value()]), 1..4)
    ) {
        let mut body = HUB_FIXTURE.to_vec();
        for (field, value) in fields {
            body = with_field(&body, HUB_FIELDS[field], value);
        }
        payload(&body);
    }

    #[test]
    fn registry_fields_set_to_tricky_values(
        format in 0..FORMATS.len(),
        fields in prop::collection::vec((any::<usize>(), prop_oneof![4 => tricky_string().prop_map(Value::String), 1 => json_value()]), 1..4)
    ) {
        let (_, fixture, paths) = FORMATS[format];
        let mut body = fixture.to_vec();
        for (field, value) in fields {
            body = with_field(&body, paths[field % paths.len()], value);
        }
        payload(&body);
    }

    #[test]
    fn artifact_registry_messages_set_to_tricky_values(
        fields in prop::collection::vec((0..GAR_MESSAGE_FIELDS.len(), prop_oneof![
            3 => tricky_reference().prop_map(Value::String),
            1 => prop::sample::select(vec!["INSERT", "DELETE", "insert", ""]).prop_map(Value::from),
            1 => json_value(),
        ]), 1..4),
        mutations in prop::collection::vec(mutation(), 0..2),
    ) {
        let body = with_gar_message(|message| {
            for (field, value) in fields {
                if let (Some(object), [key]) = (message.as_object_mut(), GAR_MESSAGE_FIELDS[field]) {
                    object.insert((*key).to_string(), value);
                }
            }
            for one in &mutations {
                apply(message, one);
            }
        });
        payload(&body);
    }

    #[test]
    fn byte_damage_to_the_fixtures(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        payload(&damaged(HUB_FIXTURE, &edits));
        for (_, fixture, _) in FORMATS {
            payload(&damaged(fixture, &edits));
        }
    }
}

/// The fixtures themselves pass the same checks (and parse), so the
/// properties above start from valid bodies.
#[test]
fn fixtures_satisfy_the_grammars() {
    let hub = parse_docker_hub(HUB_FIXTURE).expect("hub fixture parses");
    assert_event_is_safe(&hub);
    let events = parse_registry_envelope(REGISTRY_FIXTURE).expect("registry fixture parses");
    assert_eq!(events.len(), 1);
    events.iter().for_each(assert_event_is_safe);
    for (name, fixture, _) in FORMATS {
        let delivery = parse_registry_delivery(&RegistryHeaders::default(), fixture)
            .unwrap_or_else(|error| panic!("{name} fixture: {error}"));
        assert!(
            !delivery.pushes.is_empty() || !delivery.not_pushes.is_empty(),
            "{name}"
        );
        delivery.pushes.iter().for_each(assert_event_is_safe);
        delivery.not_pushes.iter().for_each(assert_not_push_is_safe);
    }
}

/// Tricky values that pass validation are reported unchanged, so a check
/// that passes them is not silently rewriting them.
#[test]
fn valid_edge_values_pass_through() {
    let body = with_field(HUB_FIXTURE, &["push_data", "tag"], Value::from("_A.b-9"));
    let body = with_field(
        &body,
        &["repository", "repo_name"],
        Value::from("a__b/c---d.e"),
    );
    let event = parse_docker_hub(&body).expect("edge values parse");
    assert_eq!(event.tag, "_A.b-9");
    assert_eq!(event.image, "a__b/c---d.e");
    assert_event_is_safe(&event);
}

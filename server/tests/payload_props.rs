//! Property tests for the push payload parsers, the short run of the
//! `payload` fuzz target (`server/fuzz`) that every `cargo test` does, over
//! the same entry ([`server::fuzz_entry::payload`]): whatever bytes arrive,
//! the parsers never panic, they either parse or return a one-line
//! `PayloadError`, and every event they return satisfies the grammars
//! written again there as regexes. The strategies here come close to valid
//! bodies, which random bytes rarely do.

use proptest::prelude::*;
use serde_json::{Map, Value};
use server::fuzz_entry::{assert_event_is_safe, payload};
use server::receive::payload::{parse_docker_hub, parse_registry_envelope};

const HUB_FIXTURE: &[u8] = include_bytes!("fixtures/docker-hub-push.json");
const REGISTRY_FIXTURE: &[u8] = include_bytes!("fixtures/registry-push-event.json");

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
    fn structural_mutations_of_the_registry_fixture(mutations in prop::collection::vec(mutation(), 1..4)) {
        payload(&mutated(REGISTRY_FIXTURE, &mutations));
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
        fields in prop::collection::vec((0..REGISTRY_FIELDS.len(), prop_oneof![4 => tricky_string().prop_map(Value::String), 1 => json_value()]), 1..4)
    ) {
        let mut body = REGISTRY_FIXTURE.to_vec();
        for (field, value) in fields {
            body = with_field(&body, REGISTRY_FIELDS[field], value);
        }
        payload(&body);
    }

    #[test]
    fn byte_damage_to_the_fixtures(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        payload(&damaged(HUB_FIXTURE, &edits));
        payload(&damaged(REGISTRY_FIXTURE, &edits));
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

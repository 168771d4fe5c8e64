//! The YAML guard and the parser behind it must read a text alike.
//!
//! [`crate::yaml_guard`] reads YAML with saphyr (YAML 1.2) to refuse
//! aliases; values are then built by serde_yaml (libyaml, YAML 1.1). Where
//! the two read a text differently, an alias the guard never saw can reach
//! serde_yaml, which expands it: the "billion laughs" the guard exists for.

use saphyr_parser::{Event, Parser};
use serde::Deserialize;
use serde_json::Value;

use crate::yaml_guard::{self, YamlLimits};

/// How much a YAML text holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Size {
    /// Scalars (mapping keys included), sequences and mappings.
    nodes: usize,
    /// The bytes of the text scalars (mapping keys included).
    text_bytes: usize,
}

/// When the guard accepts `text` under `limits`, serde_yaml builds no more
/// nodes and no more text from it than the guard's own reading holds: an
/// alias the guard missed expands into copies and breaks this, as does any
/// other place where the two read the text differently (a character one of
/// them takes for a line break, say).
pub(super) fn assert_guard_agrees_with_serde_yaml(text: &str, limits: YamlLimits) {
    if yaml_guard::check(text, limits).is_err() {
        return;
    }
    // What serde_yaml refuses builds nothing.
    let Some(built) = serde_yaml_size(text) else {
        return;
    };
    let seen = guard_size(text);
    assert!(
        built.nodes <= seen.nodes && built.text_bytes <= seen.text_bytes,
        "the YAML guard read {seen:?} but serde_yaml built {built:?} from {text:?}: \
         the two parsers read this text differently, so the guard can miss an alias"
    );
}

/// Every document of `text` as serde_yaml builds it (the way
/// `deploy::definition` reads Kubernetes YAML), or `None` if it refuses any.
pub(super) fn serde_yaml_documents(text: &str) -> Option<Vec<Value>> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).ok())
        .collect()
}

fn serde_yaml_size(text: &str) -> Option<Size> {
    let mut size = Size::default();
    for document in serde_yaml_documents(text)? {
        // An empty document is null here and no node at all to the guard.
        if !document.is_null() {
            add_value(&document, &mut size);
        }
    }
    Some(size)
}

fn add_value(value: &Value, size: &mut Size) {
    size.nodes += 1;
    match value {
        Value::String(text) => size.text_bytes += text.len(),
        Value::Array(items) => items.iter().for_each(|item| add_value(item, size)),
        Value::Object(fields) => {
            for (key, field) in fields {
                size.nodes += 1;
                size.text_bytes += key.len();
                add_value(field, size);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The guard's reading: it accepted the text, so every event is there.
fn guard_size(text: &str) -> Size {
    let mut size = Size::default();
    for (event, _span) in Parser::new_from_str(text).flatten() {
        match event {
            Event::Scalar(value, ..) => {
                size.nodes += 1;
                size.text_bytes += value.len();
            }
            Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_) => size.nodes += 1,
            _ => {}
        }
    }
    size
}

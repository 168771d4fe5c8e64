//! The `${…}` bindings of task texts ([`app::pipeline::substitute_in`]) and
//! where their values land ([`Placement`]).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use app::pipeline::{bindings_in, substitute_in, Binding, Placement};
use serde_json::Value;

use super::yaml::serde_yaml_documents;
use super::{fields, MAX_VALUES};
use crate::yaml_guard::{self, YamlLimits, YamlRefusal};

/// Kubernetes YAML templates with one binding where values commonly go.
const YAML_TEMPLATES: &[&str] = &[
    "key: ${input.V}\n",
    "list:\n- ${input.V}\n- other\n",
    "outer:\n  inner: ${input.V}\n  next: x\n",
    "image: registry.example.com/app:${input.V}\n",
    "args: [${input.V}, other]\n",
    "flow: {key: ${input.V}, other: x}\n",
    "script: |\n  ${input.V}\n  more\n",
    "double: \"${input.V}\"\n",
    "single: '${input.V}'\n",
    "- name: ${input.V}\n  value: x\n---\nnext: document\n",
];

/// Input: a template, then (after NUL bytes) binding values. Properties:
/// substitution never panics in any [`Placement`]; every binding found
/// writes back as itself. For each value (the first [`MAX_VALUES`]): bound
/// into any of the
/// [`YAML_TEMPLATES`], it either is refused or leaves the YAML's structure
/// as it was (one scalar where the binding was, no anchor or alias, no new document);
/// a header value it is accepted as is a valid HTTP header value; placed in
/// a URL's path it is percent-encoded so that decoding gives it back.
pub fn bindings(data: &[u8]) {
    let fields = fields(data);
    let template = fields[0].as_str();
    let values = &fields[1..];

    for binding in bindings_in(template) {
        assert_eq!(bindings_in(&binding.to_string()), vec![binding]);
    }
    let resolve = |binding: &Binding| {
        let mut hasher = DefaultHasher::new();
        binding.hash(&mut hasher);
        let index = hasher.finish() % values.len().max(1) as u64;
        values.get(index as usize).cloned()
    };
    for placement in [
        Placement::Text,
        Placement::Yaml,
        Placement::Header,
        Placement::Url,
    ] {
        let _ = substitute_in(template, placement, resolve);
    }

    for value in values.iter().take(MAX_VALUES) {
        for (template, expected) in YAML_TEMPLATES.iter().zip(TEMPLATE_SHAPES.iter()) {
            assert_value_stays_one_scalar(template, expected, value);
        }
        if Placement::Header.place(value, "").is_ok() {
            assert!(
                http::HeaderValue::from_str(value).is_ok(),
                "accepted as a header value but not one: {value:?}"
            );
        }
        let encoded = Placement::Url
            .place(value, "https://example.com/path/")
            .expect("a URL path takes any value, encoded");
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "{encoded:?}"
        );
        assert_eq!(percent_decoded(&encoded), value.as_bytes());
    }
}

/// The structure of each of the [`YAML_TEMPLATES`] with a plain value bound.
static TEMPLATE_SHAPES: LazyLock<Vec<Vec<Value>>> = LazyLock::new(|| {
    YAML_TEMPLATES
        .iter()
        .map(|template| {
            let text = bind(template, "x").expect("a plain value binds");
            shapes(&serde_yaml_documents(&text).expect("the template is YAML"))
        })
        .collect()
});

fn bind(template: &str, value: &str) -> Option<String> {
    substitute_in(template, Placement::Yaml, |_| Some(value.to_string())).ok()
}

fn assert_value_stays_one_scalar(template: &str, expected: &[Value], value: &str) {
    let Some(text) = bind(template, value) else {
        return;
    };
    let refusal = yaml_guard::check(&text, YamlLimits::DEFINITION).err();
    assert!(
        !matches!(
            refusal,
            Some(YamlRefusal::AnchorOrAlias { .. } | YamlRefusal::TooManyDocuments { .. })
        ),
        "the value {value:?} adds an anchor, an alias or documents: {refusal:?}\n{text}"
    );
    if let Some(documents) = serde_yaml_documents(&text) {
        assert_eq!(
            shapes(&documents),
            expected,
            "the value {value:?} changes the YAML's structure:\n{text}"
        );
    }
}

fn shapes(documents: &[Value]) -> Vec<Value> {
    documents.iter().map(shape).collect()
}

/// The value with every scalar made null: what is left is its structure.
fn shape(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, field)| (key.clone(), shape(field)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3).expect("two digits after %");
            decoded.push(u8::from_str_radix(hex, 16).expect("two hex digits after %"));
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    decoded
}

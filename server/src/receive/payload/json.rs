//! Reading a payload's JSON: navigation with errors that name the field, and
//! the one way offending values are quoted in them.

use serde_json::{Map, Value};

use super::PayloadError;

/// Longest excerpt of an offending value quoted in an error message.
const MAX_QUOTED_CHARS: usize = 64;

pub(super) fn parse_json(body: &[u8]) -> Result<Value, PayloadError> {
    // serde_json's message ends with "at line L column C"; it bounds nesting
    // depth itself, so a deep body is an error rather than a stack overflow.
    serde_json::from_slice(body)
        .map_err(|error| PayloadError(one_line(&format!("malformed JSON: {error}"))))
}

pub(super) fn as_object<'a>(
    value: &'a Value,
    place: &str,
) -> Result<&'a Map<String, Value>, PayloadError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(place, "an object", value))
}

pub(super) fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<&'a Value, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(PayloadError(format!("missing field `{place}`"))),
        Some(value) => Ok(value),
    }
}

pub(super) fn required_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<&'a str, PayloadError> {
    let value = required(object, key, place)?;
    value
        .as_str()
        .ok_or_else(|| wrong_type(place, "a string", value))
}

/// A string field that may be absent or null.
pub(super) fn optional_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<&'a str>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(wrong_type(place, "a string", other)),
    }
}

pub(super) fn wrong_type(place: &str, expected: &str, found: &Value) -> PayloadError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let place = if place.starts_with("the ") {
        place.to_string()
    } else {
        format!("`{place}`")
    };
    PayloadError(format!(
        "wrong type of {place}: expected {expected}, found {found}"
    ))
}

pub(super) fn invalid(place: &str, problem: &str, value: &str) -> PayloadError {
    PayloadError(format!("`{place}` {problem}: {}", quote(value)))
}

/// The value as an escaped, shortened Rust string literal: no newline or
/// control character of the payload reaches a log line or an answer.
pub(super) fn quote(value: &str) -> String {
    let mut excerpt: String = value.chars().take(MAX_QUOTED_CHARS).collect();
    if excerpt.len() < value.len() {
        excerpt.push('…');
    }
    format!("{excerpt:?}")
}

pub(super) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn required_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<&'a Map<String, Value>, PayloadError> {
    as_object(required(object, key, place)?, place)
}

/// An object field that may be absent or null.
pub(super) fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<&'a Map<String, Value>>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => as_object(value, place).map(Some),
    }
}

pub(super) fn required_array<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<&'a [Value], PayloadError> {
    match required(object, key, place)? {
        Value::Array(items) => Ok(items),
        other => Err(wrong_type(place, "an array", other)),
    }
}

/// A string field that may be absent, null or empty: `None` for all three.
pub(super) fn nonempty_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<&'a str>, PayloadError> {
    Ok(optional_string(object, key, place)?.filter(|text| !text.is_empty()))
}

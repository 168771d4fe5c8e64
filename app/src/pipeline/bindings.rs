//! Bindings (`${input.NAME}`, `${STAGE.TASK.output.KEY}`): finding them in
//! texts and replacing them with values.

use std::fmt;

use serde_json::Value;

/// A reference to a value, written `${…}` in task texts and expressions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binding {
    /// `${input.NAME}`
    Input(String),
    /// `${STAGE.TASK.output.KEY}`; `key` may be a dotted path into the task's
    /// JSON output (`objects.0.image`), see [`lookup_json`].
    Output {
        stage: String,
        task: String,
        key: String,
    },
}

const BINDING_FORMS: &str = "expected ${input.NAME} or ${STAGE.TASK.output.KEY}";

impl Binding {
    /// Reads what stands between `${` and `}`; the error says what is wrong.
    pub(crate) fn parse_inner(inner: &str) -> Result<Binding, String> {
        let inner = inner.trim();
        if let Some(name) = inner.strip_prefix("input.") {
            if name.is_empty() {
                return Err(format!("the input name is missing: {BINDING_FORMS}"));
            }
            return Ok(Binding::Input(name.to_string()));
        }
        let mut parts = inner.splitn(4, '.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(stage), Some(task), Some("output"), Some(key))
                if !stage.is_empty() && !task.is_empty() && !key.split('.').any(str::is_empty) =>
            {
                Ok(Binding::Output {
                    stage: stage.to_string(),
                    task: task.to_string(),
                    key: key.to_string(),
                })
            }
            _ => Err(BINDING_FORMS.to_string()),
        }
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Input(name) => write!(formatter, "${{input.{name}}}"),
            Binding::Output { stage, task, key } => {
                write!(formatter, "${{{stage}.{task}.output.{key}}}")
            }
        }
    }
}

/// A text cut at its bindings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Literal(&'a str),
    Binding { binding: Binding, written: &'a str },
    Malformed { written: &'a str, reason: String },
}

pub(crate) fn pieces(text: &str) -> Vec<Piece<'_>> {
    fn push_literal<'a>(pieces: &mut Vec<Piece<'a>>, literal: &'a str) {
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
    }
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut cursor = 0;
    // Slicing at these offsets is safe: `$`, `{` and `}` are single bytes.
    while let Some(offset) = text[cursor..].find('$') {
        let dollar = cursor + offset;
        let rest = &text[dollar..];
        if rest.starts_with("$${") {
            push_literal(&mut pieces, &text[literal_start..dollar]);
            push_literal(&mut pieces, &text[dollar + 1..dollar + 3]);
            cursor = dollar + 3;
            literal_start = cursor;
        } else if rest.starts_with("${") {
            push_literal(&mut pieces, &text[literal_start..dollar]);
            match rest.find('}') {
                Some(close) => {
                    let written = &rest[..=close];
                    pieces.push(match Binding::parse_inner(&rest[2..close]) {
                        Ok(binding) => Piece::Binding { binding, written },
                        Err(reason) => Piece::Malformed { written, reason },
                    });
                    cursor = dollar + close + 1;
                }
                None => {
                    pieces.push(Piece::Malformed {
                        written: rest,
                        reason: "it is not closed with `}`".to_string(),
                    });
                    cursor = text.len();
                }
            }
            literal_start = cursor;
        } else {
            cursor = dollar + 1;
        }
    }
    push_literal(&mut pieces, &text[literal_start..]);
    pieces
}

/// The well-formed bindings of a text, in order (malformed ones are skipped;
/// [`validate`](super::validate) and [`substitute`] report them).
pub fn bindings_in(text: &str) -> Vec<Binding> {
    pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Binding { binding, .. } => Some(binding),
            Piece::Literal(_) | Piece::Malformed { .. } => None,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnresolvedBinding {
    #[error("unknown binding {0}")]
    Unknown(String),
    #[error("malformed binding {written}: {reason}")]
    Malformed { written: String, reason: String },
}

/// Replaces each `${…}` with what `resolve` gives for it, and `$${` with `${`.
/// The values are inserted as they are: they are not read again for bindings.
pub fn substitute(
    text: &str,
    resolve: impl Fn(&Binding) -> Option<String>,
) -> Result<String, UnresolvedBinding> {
    let mut result = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Literal(literal) => result.push_str(literal),
            Piece::Binding { binding, written } => match resolve(&binding) {
                Some(value) => result.push_str(&value),
                None => return Err(UnresolvedBinding::Unknown(written.to_string())),
            },
            Piece::Malformed { written, reason } => {
                return Err(UnresolvedBinding::Malformed {
                    written: written.to_string(),
                    reason,
                })
            }
        }
    }
    Ok(result)
}

/// Follows a path of keys into JSON: object fields by name, array items by
/// index (`["objects", "0", "image"]`). Used for output keys
/// (`lookup_json(output, key.split('.'))`) and `$.…` in Poll conditions.
pub fn lookup_json<S: AsRef<str>>(
    value: &Value,
    path: impl IntoIterator<Item = S>,
) -> Option<&Value> {
    path.into_iter()
        .try_fold(value, |current, step| match current {
            Value::Object(fields) => fields.get(step.as_ref()),
            Value::Array(items) => step
                .as_ref()
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get(index)),
            _ => None,
        })
}

/// How a JSON value reads when a binding puts it into a text: strings as
/// they are (no quotes), null as nothing, everything else as compact JSON.
pub fn binding_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

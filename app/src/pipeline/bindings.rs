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
    #[error("the value of {written} {reason}")]
    Refused { written: String, reason: String },
}

/// Where a substituted value lands, and so how it is inserted (see
/// [`Placement::place`]). The one table of the rules; the README's Security
/// notes repeat them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Inserted as it is (request bodies, endpoint names).
    Text,
    /// Kubernetes YAML: a value that could start new YAML structure (a line
    /// break, U+2028 or U+2029 included, a quote, `#`, `{`, `[`, `,`, `: `, a
    /// leading `- `, `?`, `:`, `&`, `*`, `!`, `|`, `>`, …) is refused, so it
    /// can only ever be one scalar.
    Yaml,
    /// An HTTP header value: control characters (CR, LF, …) are refused.
    Header,
    /// A URL: percent-encoded for the path or query position it lands in;
    /// before the path (scheme, host, port) it is inserted as it is.
    Url,
}

impl Placement {
    /// The value as it goes after `before` (what the text holds so far), or
    /// why it may not go there.
    pub fn place(self, value: &str, before: &str) -> Result<String, String> {
        match self {
            Placement::Text => Ok(value.to_string()),
            Placement::Yaml => yaml_scalar(value).map(|()| value.to_string()),
            Placement::Header => match value.chars().find(|c| c.is_control() && *c != '\t') {
                Some(c) => Err(format!(
                    "contains the control character {c:?} (a line break could add headers); \
                     give a one-line value"
                )),
                None => Ok(value.to_string()),
            },
            Placement::Url => {
                let after_scheme = before.split_once("://").map_or(before, |(_, rest)| rest);
                if before.contains(['?', '#']) || after_scheme.contains('/') {
                    Ok(percent_encoded(value))
                } else {
                    Ok(value.to_string())
                }
            }
        }
    }
}

/// Refuses what could make a YAML value more than one plain scalar.
fn yaml_scalar(value: &str) -> Result<(), String> {
    const FIX: &str = "which could change the YAML's structure; give a plain one-line value";
    // U+2028 and U+2029 are line breaks to YAML 1.1, which reads the YAML.
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(format!(
            "contains the control character or line break {c:?}, {FIX}"
        ));
    }
    if let Some(c) = value.chars().find(|c| "\"'\\{}[],#`".contains(*c)) {
        return Err(format!("contains the YAML indicator '{c}', {FIX}"));
    }
    if value.contains(": ") || value.ends_with(':') {
        return Err(format!("contains the YAML indicator ': ', {FIX}"));
    }
    let mut chars = value.chars();
    let first = chars.next();
    let second = chars.next();
    // `?` and `:` start a key or a value inside `[…]` and `{…}` whatever follows.
    let leading = match first {
        Some(c @ ('&' | '*' | '!' | '|' | '>' | '%' | '@' | '?' | ':')) => Some(c),
        Some(c @ '-') if second.is_none_or(char::is_whitespace) => Some(c),
        _ => None,
    };
    if let Some(c) = leading {
        return Err(format!("starts with the YAML indicator '{c}', {FIX}"));
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(format!("starts or ends with a space, {FIX}"));
    }
    Ok(())
}

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`, so
/// the value stays one path segment or one query value.
pub(crate) fn percent_encoded(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Replaces each `${…}` with what `resolve` gives for it, and `$${` with `${`.
/// The values are inserted as they are: they are not read again for bindings.
pub fn substitute(
    text: &str,
    resolve: impl Fn(&Binding) -> Option<String>,
) -> Result<String, UnresolvedBinding> {
    substitute_in(text, Placement::Text, resolve)
}

/// [`substitute`] for a text where values land as `placement` says.
pub fn substitute_in(
    text: &str,
    placement: Placement,
    resolve: impl Fn(&Binding) -> Option<String>,
) -> Result<String, UnresolvedBinding> {
    let mut result = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Literal(literal) => result.push_str(literal),
            Piece::Binding { binding, written } => match resolve(&binding) {
                Some(value) => {
                    let placed = placement.place(&value, &result).map_err(|reason| {
                        UnresolvedBinding::Refused {
                            written: written.to_string(),
                            reason,
                        }
                    })?;
                    result.push_str(&placed);
                }
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

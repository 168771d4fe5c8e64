//! Label selectors (query-string and `LabelSelector` object forms) and the two
//! field selectors every resource supports.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value_of = |key: &str| labels.get(key).and_then(Value::as_str);
        match self {
            Self::Equals(key, value) => value_of(key) == Some(value.as_str()),
            // Like Kubernetes: `a!=b` also matches objects without label `a`.
            Self::NotEquals(key, value) => value_of(key) != Some(value.as_str()),
            Self::In(key, values) => {
                value_of(key).is_some_and(|v| values.iter().any(|wanted| wanted == v))
            }
            Self::NotIn(key, values) => {
                value_of(key).is_none_or(|v| values.iter().all(|unwanted| unwanted != v))
            }
            Self::Exists(key) => labels.contains_key(key),
            Self::DoesNotExist(key) => !labels.contains_key(key),
        }
    }
}

/// A set of requirements that must all hold; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the `labelSelector` query form: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(text: &str) -> Result<Self, String> {
        split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(parse_requirement)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Reads a `LabelSelector` object (`matchLabels` + `matchExpressions`), as in
    /// `spec.selector` of a Deployment.
    pub fn from_object(selector: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if let Some(match_labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in match_labels {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("matchLabels value of {key} is not a string"))?;
                requirements.push(Requirement::Equals(key.clone(), value.to_string()));
            }
        }
        for expression in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expression
                .get("key")
                .and_then(Value::as_str)
                .ok_or("matchExpressions entry without key")?;
            let values: Vec<String> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|value| value.as_str().map(str::to_string))
                .collect();
            let requirement = match expression.get("operator").and_then(Value::as_str) {
                Some("In") => Requirement::In(key.to_string(), values),
                Some("NotIn") => Requirement::NotIn(key.to_string(), values),
                Some("Exists") => Requirement::Exists(key.to_string()),
                Some("DoesNotExist") => Requirement::DoesNotExist(key.to_string()),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches_object(&self, object: &Value) -> bool {
        let no_labels = Map::new();
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or(&no_labels);
        self.matches_labels(labels)
    }

    pub fn matches_labels(&self, labels: &Map<String, Value>) -> bool {
        self.0.iter().all(|requirement| requirement.matches(labels))
    }
}

/// Splits on commas that are not inside `( )`, so `a in (x,y),b` is two terms.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key.trim().to_string()));
    }
    for (operator, is_in) in [(" notin ", false), (" in ", true)] {
        if let Some((key, values)) = term.split_once(operator) {
            let values = values
                .trim()
                .strip_prefix('(')
                .and_then(|values| values.strip_suffix(')'))
                .ok_or_else(|| {
                    format!(
                        "unable to parse requirement: values of {term:?} must be in parentheses"
                    )
                })?;
            let values: Vec<String> = values
                .split(',')
                .map(|value| value.trim().to_string())
                .collect();
            let key = key.trim().to_string();
            return Ok(if is_in {
                Requirement::In(key, values)
            } else {
                Requirement::NotIn(key, values)
            });
        }
    }
    if term.contains(char::is_whitespace) || term.contains(['(', ')']) {
        return Err(format!("unable to parse requirement: {term:?}"));
    }
    Ok(Requirement::Exists(term.to_string()))
}

/// `fieldSelector`: only `metadata.name` and `metadata.namespace` with `=`, `==`
/// or `!=`, which every real resource supports (kube's `await_condition` uses the first).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text
            .split(',')
            .map(str::trim)
            .filter(|term| !term.is_empty())
        {
            let (field, equal, value) = if let Some((field, value)) = term.split_once("!=") {
                (field, false, value)
            } else if let Some((field, value)) =
                term.split_once("==").or_else(|| term.split_once('='))
            {
                (field, true, value)
            } else {
                return Err(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self(terms))
    }

    pub fn matches_object(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, wanted)| {
            let pointer = if field == "metadata.name" {
                "/metadata/name"
            } else {
                "/metadata/namespace"
            };
            let actual = object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("");
            (actual == wanted) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn query_selectors_follow_kubernetes_semantics() {
        let object = labels(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app=api", false),
            ("app!=api", true),
            ("missing!=x", true),
            ("tier in (front, back),app", true),
            ("tier notin (front)", false),
            ("!missing", true),
            ("!app", false),
            ("", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).expect("selector parses");
            assert_eq!(parsed.matches_labels(&object), expected, "{selector}");
        }
    }

    #[test]
    fn object_selectors_combine_labels_and_expressions() {
        let selector = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]});
        let parsed = LabelSelector::from_object(&selector).expect("selector parses");
        assert!(parsed.matches_labels(&labels(json!({"app": "web", "tier": "front"}))));
        assert!(!parsed.matches_labels(&labels(json!({"app": "web"}))));
    }

    #[test]
    fn unsupported_field_selectors_are_rejected() {
        assert!(FieldSelector::parse("spec.nodeName=x").is_err());
        let selector = FieldSelector::parse("metadata.name=web").expect("selector parses");
        assert!(selector.matches_object(&json!({"metadata": {"name": "web"}})));
        assert!(!selector.matches_object(&json!({"metadata": {"name": "api"}})));
    }
}

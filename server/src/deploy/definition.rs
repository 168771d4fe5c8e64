//! Reading the task's multi-document YAML into Kubernetes objects.

use kube::api::DynamicObject;
use serde::Deserialize;
use serde_json::Value;

use super::DeployError;
use crate::yaml_guard::{self, YamlLimits, YamlRefusal};

/// One object of the definition, checked to have apiVersion, kind and metadata.name.
#[derive(Debug, Clone)]
pub(crate) struct Definition {
    /// Position of its YAML document, counting from 1 (empty documents count too,
    /// so the number matches what a person counts in the file).
    pub document: usize,
    pub api_version: String,
    pub kind: String,
    pub object: DynamicObject,
}

/// Parses every document of `yaml`, skipping empty ones. Anchors, aliases, and texts
/// past [`YamlLimits::DEFINITION`], are refused before any value is built.
pub(crate) fn parse(yaml: &str) -> Result<Vec<Definition>, DeployError> {
    yaml_guard::check(yaml, YamlLimits::DEFINITION).map_err(refused)?;
    let mut definitions = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
        let number = index + 1;
        let value =
            Value::deserialize(document).map_err(|error| invalid(number, yaml_problem(&error)))?;
        if !value.is_null() {
            definitions.push(definition(number, value)?);
        }
    }
    if definitions.is_empty() {
        return Err(DeployError::EmptyDefinition);
    }
    Ok(definitions)
}

fn definition(document: usize, value: Value) -> Result<Definition, DeployError> {
    if !value.is_object() {
        return Err(invalid(
            document,
            format!(
                "expected a Kubernetes object (a mapping), found {}",
                json_type(&value)
            ),
        ));
    }
    let required = |pointer: &str, field: &str| match value.pointer(pointer) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(invalid(document, format!("missing {field}")))
        }
        Some(other) => Err(invalid(
            document,
            format!("{field} must be a string, found {}", json_type(other)),
        )),
    };
    let api_version = required("/apiVersion", "apiVersion")?;
    let kind = required("/kind", "kind")?;
    required("/metadata/name", "metadata.name")?;
    // Only metadata is typed in a DynamicObject, so this names metadata mistakes
    // (e.g. a number as a label value) and never quotes the object's data.
    let object = serde_json::from_value::<DynamicObject>(value)
        .map_err(|error| invalid(document, format!("invalid metadata of {kind}: {error}")))?;
    Ok(Definition {
        document,
        api_version,
        kind,
        object,
    })
}

fn refused(refusal: YamlRefusal) -> DeployError {
    match refusal {
        YamlRefusal::TooLarge { .. } | YamlRefusal::TooManyDocuments { .. } => {
            DeployError::DefinitionTooLarge {
                problem: refusal.to_string(),
            }
        }
        YamlRefusal::AnchorOrAlias { document, .. } => invalid(document, refusal.to_string()),
        // Worded as serde_yaml words its own mistakes (see yaml_problem).
        YamlRefusal::Syntax {
            document,
            line,
            column,
            message,
        } => invalid(
            document,
            format!("invalid YAML: {message} at line {line} column {column}"),
        ),
    }
}

fn invalid(document: usize, problem: String) -> DeployError {
    DeployError::InvalidDefinition { document, problem }
}

/// serde_yaml's own wording ends with "at line L column C" (lines of the whole
/// text, counting from 1), which is what a person needs to find the mistake.
fn yaml_problem(error: &serde_yaml::Error) -> String {
    match error.location() {
        Some(_) => format!("invalid YAML: {error}"),
        None => format!("invalid YAML (position unknown): {error}"),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

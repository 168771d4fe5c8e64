//! The subset of API server validation Slipway's error paths need (422 Invalid).

use serde_json::Value;

use super::resources::{NameRule, ResourceType};
use super::selectors::LabelSelector;
use super::status::{quoted, ApiError, FieldError};

/// Checks an object about to be stored; every problem found is reported at once.
pub(crate) fn validate(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut errors = Vec::new();
    if let Some(problem) = name_problem(resource.name_rule, name) {
        errors.push(FieldError::invalid("metadata.name", quoted(name), problem));
    }
    match (resource.group, resource.kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            validate_selected_template(object, &mut errors);
        }
        ("batch", "Job") => {
            validate_pod_spec(
                object.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut errors,
            );
        }
        ("batch", "CronJob") => {
            if object
                .pointer("/spec/schedule")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(FieldError::required("spec.schedule"));
            }
            validate_pod_spec(
                object.pointer("/spec/jobTemplate/spec/template/spec"),
                "spec.jobTemplate.spec.template.spec",
                &mut errors,
            );
        }
        ("", "Pod") => validate_pod_spec(object.pointer("/spec"), "spec", &mut errors),
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource, name, &errors))
    }
}

/// Why `name` breaks `rule`, worded like apimachinery's validation messages.
pub(crate) fn name_problem(rule: NameRule, name: &str) -> Option<String> {
    let (valid, max_length, description, example, regex) = match rule {
        NameRule::Subdomain => (
            is_dns_subdomain(name),
            253,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "'example.com'",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
        ),
        NameRule::Label => (
            is_dns_label(name),
            63,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            "'my-name',  or '123-abc'",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        ),
        NameRule::Dns1035Label => (
            is_dns_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase()),
            63,
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            "'my-name',  or 'abc-123'",
            "[a-z]([-a-z0-9]*[a-z0-9])?",
        ),
    };
    if name.len() > max_length {
        return Some(format!("must be no more than {max_length} characters"));
    }
    if valid {
        None
    } else {
        Some(format!(
            "{description} (e.g. {example}, regex used for validation is '{regex}')"
        ))
    }
}

fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

fn is_dns_subdomain(text: &str) -> bool {
    !text.is_empty() && text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// Workload controllers: a selector is required and must select the pod template.
fn validate_selected_template(object: &Value, errors: &mut Vec<FieldError>) {
    match object.pointer("/spec/selector") {
        None | Some(Value::Null) => errors.push(FieldError::required("spec.selector")),
        Some(selector) => match LabelSelector::from_object(selector) {
            Err(problem) => errors.push(FieldError::invalid(
                "spec.selector",
                selector.to_string(),
                problem,
            )),
            Ok(parsed) if parsed.is_empty() => errors.push(FieldError::invalid(
                "spec.selector",
                selector.to_string(),
                "empty selector is invalid for deployment",
            )),
            Ok(parsed) => {
                let labels = object
                    .pointer("/spec/template/metadata/labels")
                    .and_then(Value::as_object);
                let selects_template = labels.is_some_and(|labels| parsed.matches_labels(labels));
                if !selects_template {
                    errors.push(FieldError::invalid(
                        "spec.template.metadata.labels",
                        go_string_map(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        },
    }
    validate_pod_spec(
        object.pointer("/spec/template/spec"),
        "spec.template.spec",
        errors,
    );
}

/// Renders labels like Go's `%#v` of a `map[string]string`, as the real message does.
fn go_string_map(labels: Option<&serde_json::Map<String, Value>>) -> String {
    let entries: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(key, value)| {
            format!(
                "{}:{}",
                quoted(key),
                quoted(value.as_str().unwrap_or_default())
            )
        })
        .collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, errors: &mut Vec<FieldError>) {
    let containers = spec
        .and_then(|spec| spec.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|containers| !containers.is_empty()) else {
        errors.push(FieldError::required(format!("{path}.containers")));
        return;
    };
    for (index, container) in containers.iter().enumerate() {
        let field = |name: &str| format!("{path}.containers[{index}].{name}");
        match container.get("name").and_then(Value::as_str) {
            None | Some("") => errors.push(FieldError::required(field("name"))),
            Some(name) => {
                if let Some(problem) = name_problem(NameRule::Label, name) {
                    errors.push(FieldError::invalid(field("name"), quoted(name), problem));
                }
            }
        }
        if container
            .get("image")
            .and_then(Value::as_str)
            .is_none_or(|image| image.trim().is_empty())
        {
            errors.push(FieldError::required(field("image")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources;
    use serde_json::json;

    fn deployments() -> &'static ResourceType {
        resources::find("apps", "v1", "deployments").expect("deployments are served")
    }

    #[test]
    fn names_follow_rfc_1123() {
        assert!(name_problem(NameRule::Subdomain, "web.example-1").is_none());
        assert!(name_problem(NameRule::Subdomain, "Web").is_some());
        assert!(name_problem(NameRule::Label, "a.b").is_some());
        assert!(name_problem(NameRule::Dns1035Label, "1abc").is_some());
    }

    #[test]
    fn a_deployment_needs_a_matching_selector_and_images() {
        let object = json!({
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "web"}]}},
            },
        });
        let error = validate(deployments(), &object)
            .expect_err("invalid deployment")
            .to_status();
        assert_eq!(error["code"], 422);
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Deployment.apps \"web\" is invalid: ["),
            "{message}"
        );
        assert!(
            message.contains("spec.template.spec.containers[0].image: Required value"),
            "{message}"
        );
        assert!(
            message.contains("`selector` does not match template `labels`"),
            "{message}"
        );
    }
}

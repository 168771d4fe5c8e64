//! Kubernetes `Status` objects: how the API server reports errors (and some successes).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::resources::ResourceType;

/// A failed request, answered as a `Status` object with the same `reason`,
/// `code`, message wording and `details` as the real API server, so client code
/// that matches on them (`kube::Error::Api(status) if status.is_not_found()`) works.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

/// One `details.causes` entry of an `Invalid` error: which field and why.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub field: String,
    pub problem: FieldProblem,
}

#[derive(Debug, Clone)]
pub(crate) enum FieldProblem {
    /// `Required value`, optionally with a detail (`name or generateName is required`).
    Required(Option<String>),
    /// `Invalid value: <value>: <detail>`; the value is pre-rendered like Go's `%#v`.
    Invalid { value: String, detail: String },
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: FieldProblem::Required(None),
        }
    }

    pub fn required_because(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: FieldProblem::Required(Some(detail.into())),
        }
    }

    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: FieldProblem::Invalid {
                value: value.into(),
                detail: detail.into(),
            },
        }
    }

    fn reason(&self) -> &'static str {
        match self.problem {
            FieldProblem::Required(_) => "FieldValueRequired",
            FieldProblem::Invalid { .. } => "FieldValueInvalid",
        }
    }

    /// The part after `field: `, e.g. `Required value` or `Invalid value: "x": why`.
    fn description(&self) -> String {
        match &self.problem {
            FieldProblem::Required(None) => "Required value".to_string(),
            FieldProblem::Required(Some(detail)) => format!("Required value: {detail}"),
            FieldProblem::Invalid { value, detail } => format!("Invalid value: {value}: {detail}"),
        }
    }
}

/// Renders a string the way Go's `%q` does in API server messages.
pub(crate) fn quoted(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

/// `"x"` with a leading space, or nothing: messages about unnamed requests skip the name.
fn quoted_name(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" {}", quoted(name))
    }
}

fn resource_details(resource: &ResourceType, name: &str) -> Value {
    json!({"name": name, "group": resource.group, "kind": resource.plural})
}

impl ApiError {
    fn new(
        code: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details,
        }
    }

    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} {} not found", resource.group_resource(), quoted(name));
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            message,
            Some(resource_details(resource, name)),
        )
    }

    /// A path that names no served resource (or a subresource we do not serve).
    pub fn unknown_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        )
    }

    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        let message = format!(
            "{} {} already exists",
            resource.group_resource(),
            quoted(name)
        );
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            message,
            Some(resource_details(resource, name)),
        )
    }

    /// The optimistic-concurrency failure: the client sent a stale `resourceVersion`.
    pub fn modified_since_read(resource: &ResourceType, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} {}: the object has been modified; please apply your changes to the latest version and try again",
            resource.group_resource(),
            quoted(name)
        );
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            message,
            Some(resource_details(resource, name)),
        )
    }

    /// Server-side apply found fields owned by other managers with other values.
    /// `conflicts` holds `(manager, .dotted.field.path)` pairs.
    pub fn apply_conflicts(
        resource: &ResourceType,
        name: &str,
        api_version: &str,
        conflicts: &[(String, String)],
    ) -> Self {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(manager, field)| {
                format!(
                    "conflict with {} using {api_version}: {field}",
                    quoted(manager)
                )
            })
            .collect();
        let message = if lines.len() == 1 {
            format!("Apply failed with 1 conflict: {}", lines[0])
        } else {
            format!(
                "Apply failed with {} conflicts: {}",
                lines.len(),
                lines.join("\n")
            )
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(manager, field)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", quoted(manager)), "field": field})
            })
            .collect();
        let mut details = resource_details(resource, name);
        details["causes"] = json!(causes);
        Self::new(StatusCode::CONFLICT, "Conflict", message, Some(details))
    }

    /// 422 Invalid. `kind` and `group` name the object the way the real server does
    /// (`Deployment`/`apps`), which is not always a served resource (`PatchOptions`).
    pub fn invalid_object(
        group_kind: &str,
        group: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> Self {
        let descriptions: Vec<String> = errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.description()))
            .collect();
        let summary = if descriptions.len() == 1 {
            descriptions[0].clone()
        } else {
            format!("[{}]", descriptions.join(", "))
        };
        let message = format!("{group_kind} {} is invalid: {summary}", quoted(name));
        let causes: Vec<Value> = errors
            .iter()
            .map(|error| json!({"reason": error.reason(), "message": error.description(), "field": error.field}))
            .collect();
        let details = json!({"name": name, "group": group, "kind": kind, "causes": causes});
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            message,
            Some(details),
        )
    }

    pub fn invalid(resource: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_object(
            &resource.group_kind(),
            resource.group,
            resource.kind,
            name,
            errors,
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message, None)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            None,
        )
    }

    /// The RBAC denial, worded like the real authorizer. `name` is empty for
    /// verbs that have no object name (create, list, deletecollection).
    pub fn forbidden(
        user: &str,
        verb: &str,
        resource: &ResourceType,
        subresource: Option<&str>,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        let resource_name = match subresource {
            Some(subresource) => format!("{}/{subresource}", resource.plural),
            None => resource.plural.to_string(),
        };
        let scope = match namespace {
            Some(namespace) => format!("in the namespace {}", quoted(namespace)),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{}{} is forbidden: User {} cannot {verb} resource {} in API group {} {scope}",
            resource.group_resource(),
            quoted_name(name),
            quoted(user),
            quoted(&resource_name),
            quoted(resource.group),
        );
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            message,
            Some(resource_details(resource, name)),
        )
    }

    /// A refusal that is not about RBAC, e.g. deleting the `default` namespace.
    pub fn forbidden_message(resource: &ResourceType, name: &str, why: &str) -> Self {
        let message = format!(
            "{} {} is forbidden: {why}",
            resource.group_resource(),
            quoted(name)
        );
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            message,
            Some(resource_details(resource, name)),
        )
    }

    /// 422 without field causes, e.g. a JSON patch whose operations cannot apply.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message, None)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        let message = format!(
            "the body of the request was in an unknown format ({content_type}) - accepted media types include: {}",
            accepted.join(", ")
        );
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
            None,
        )
    }

    /// 410 for a watch that starts from a resourceVersion older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message, None)
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.to_status())
    }
}

/// The `Status` a successful delete answers with.
pub(crate) fn deleted_status(resource: &ResourceType, name: &str, uid: &str) -> Value {
    let mut details = resource_details(resource, name);
    details["uid"] = json!(uid);
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// A JSON response with the plain `application/json` type the API server uses.
pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

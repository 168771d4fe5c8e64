//! Docker Hub's webhook pipelines: what is stored per repository, and how request
//! bodies are checked, with Django REST framework's error shapes
//! (`{"field": ["message"]}`), which is what Docker Hub's API is built on.

use serde::Serialize;
use serde_json::{json, Map, Value};

/// One webhook (a target URL) inside a pipeline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Webhook {
    pub id: u64,
    pub name: String,
    pub hook_url: String,
    pub active: bool,
    pub creator: String,
    pub created: String,
    pub last_updater: String,
    pub last_updated: String,
}

/// A named group of webhooks on one repository, addressed by its `slug`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WebhookPipeline {
    pub id: u64,
    pub name: String,
    pub slug: String,
    pub expect_final_callback: bool,
    pub active: bool,
    pub webhooks: Vec<Webhook>,
    pub creator: String,
    pub created: String,
    pub last_updater: String,
    pub last_updated: String,
}

/// A checked request body; `None` fields were absent (allowed for PATCH only).
#[derive(Debug, Default)]
pub(crate) struct PipelineInput {
    pub name: Option<String>,
    pub expect_final_callback: Option<bool>,
    pub webhooks: Option<Vec<WebhookInput>>,
}

#[derive(Debug)]
pub(crate) struct WebhookInput {
    pub name: String,
    pub hook_url: String,
}

const REQUIRED: &str = "This field is required.";

/// Checks a create (`partial == false`) or PATCH body. The error is the 400 body.
pub(crate) fn parse_input(body: &Value, partial: bool) -> Result<PipelineInput, Value> {
    let Some(body) = body.as_object() else {
        return Err(
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got a different type."]}),
        );
    };
    let mut errors = Map::new();
    let mut input = PipelineInput::default();

    match body.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            input.name = Some(name.trim().to_string())
        }
        Some(Value::String(_)) => {
            errors.insert("name".into(), json!(["This field may not be blank."]));
        }
        Some(_) => {
            errors.insert("name".into(), json!(["Not a valid string."]));
        }
        None if !partial => {
            errors.insert("name".into(), json!([REQUIRED]));
        }
        None => {}
    }
    match body.get("expect_final_callback") {
        Some(Value::Bool(flag)) => input.expect_final_callback = Some(*flag),
        Some(Value::Null) | None => {}
        Some(_) => {
            errors.insert(
                "expect_final_callback".into(),
                json!(["Must be a valid boolean."]),
            );
        }
    }
    match body.get("webhooks") {
        Some(Value::Array(webhooks)) if !webhooks.is_empty() => match parse_webhooks(webhooks) {
            Ok(webhooks) => input.webhooks = Some(webhooks),
            Err(item_errors) => {
                errors.insert("webhooks".into(), item_errors);
            }
        },
        Some(Value::Array(_)) => {
            errors.insert(
                "webhooks".into(),
                json!({"non_field_errors": ["This list may not be empty."]}),
            );
        }
        Some(_) => {
            errors.insert(
                "webhooks".into(),
                json!({"non_field_errors": ["Expected a list of items but got a different type."]}),
            );
        }
        None if !partial => {
            errors.insert("webhooks".into(), json!([REQUIRED]));
        }
        None => {}
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(Value::Object(errors))
    }
}

/// Per-item errors, `{}` for good items, as DRF reports nested lists.
fn parse_webhooks(items: &[Value]) -> Result<Vec<WebhookInput>, Value> {
    let mut webhooks = Vec::new();
    let mut item_errors = Vec::new();
    for item in items {
        let mut errors = Map::new();
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if name.is_empty() {
            errors.insert("name".into(), json!([REQUIRED]));
        }
        let hook_url = item
            .get("hook_url")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if hook_url.is_empty() {
            errors.insert("hook_url".into(), json!([REQUIRED]));
        } else if !is_valid_url(hook_url) {
            errors.insert("hook_url".into(), json!(["Enter a valid URL."]));
        }
        if errors.is_empty() {
            webhooks.push(WebhookInput {
                name: name.to_string(),
                hook_url: hook_url.to_string(),
            });
        }
        item_errors.push(Value::Object(errors));
    }
    if webhooks.len() == items.len() {
        Ok(webhooks)
    } else {
        Err(Value::Array(item_errors))
    }
}

fn is_valid_url(text: &str) -> bool {
    reqwest::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// Django's `slugify`: lower-case, drop what is not a word character, space or
/// hyphen, turn runs of spaces and hyphens into one hyphen, trim `-` and `_`.
pub(crate) fn slugify(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || c.is_whitespace())
        .collect();
    let mut slug = String::new();
    let mut in_separator_run = false;
    for c in kept.trim().chars() {
        if c == '-' || c.is_whitespace() {
            if !in_separator_run {
                slug.push('-');
            }
            in_separator_run = true;
        } else {
            slug.push(c);
            in_separator_run = false;
        }
    }
    slug.trim_matches(|c| c == '-' || c == '_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_django() {
        assert_eq!(slugify("demo_webhook"), "demo_webhook");
        assert_eq!(slugify("  Deploy to Dev!  "), "deploy-to-dev");
        assert_eq!(slugify("a - b"), "a-b");
    }

    #[test]
    fn create_bodies_need_a_name_and_valid_webhooks() {
        let errors = parse_input(
            &json!({"webhooks": [{"name": "x", "hook_url": "not a url"}]}),
            false,
        )
        .expect_err("invalid");
        assert_eq!(
            errors,
            json!({"name": [REQUIRED], "webhooks": [{"hook_url": ["Enter a valid URL."]}]})
        );
        assert!(parse_input(&json!({"expect_final_callback": true}), true).is_ok());
    }
}

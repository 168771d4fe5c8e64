//! What a dry run would change: each object as the API server would write it,
//! compared field by field with the live one, noise left out, the fields a
//! person checks first (images, replicas, env) first, and every part bounded.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

/// The most fields listed per object; the rest are counted in `omitted_fields`.
pub const MAX_FIELDS_PER_OBJECT: usize = 20;
/// The most characters of a value shown in `before` / `after`.
pub const MAX_VALUE_CHARS: usize = 200;
/// The most characters of the one-line `summary`.
pub const MAX_SUMMARY_CHARS: usize = 1000;

/// Fields the server (or kubectl) maintains: they differ between any two
/// reads and say nothing about what the definition changes.
const NOISE_METADATA: [&str; 7] = [
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
    "deletionGracePeriodSeconds",
];
const NOISE_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Create,
    Update,
    Delete,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// Dotted path; list items with a `name` are addressed by it,
    /// e.g. `spec.template.spec.containers[web].image`.
    pub path: String,
    /// `None` when the field is absent on that side.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectDiff {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub change: Change,
    pub fields: Vec<FieldChange>,
    /// Changed fields left out past [`MAX_FIELDS_PER_OBJECT`].
    pub omitted_fields: usize,
}

/// Compares the live object (`None`: absent) with what the write would make of
/// it (`None`: deleted).
pub fn object_diff(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    live: Option<&Value>,
    would_be: Option<&Value>,
) -> ObjectDiff {
    let before = live
        .map(without_noise)
        .map(|v| leaves(&v))
        .unwrap_or_default();
    let after = would_be
        .map(without_noise)
        .map(|v| leaves(&v))
        .unwrap_or_default();
    let mut fields: Vec<FieldChange> = before
        .keys()
        .chain(after.keys().filter(|path| !before.contains_key(*path)))
        .filter(|path| before.get(*path) != after.get(*path))
        .map(|path| FieldChange {
            path: path.clone(),
            before: before.get(path).map(render),
            after: after.get(path).map(render),
        })
        .collect();
    // Stable: within a rank, paths stay in alphabetical order.
    fields.sort_by_key(|field| (importance(&field.path), field.path.clone()));
    let change = match (live, would_be) {
        (None, Some(_)) => Change::Create,
        (Some(_), None) => Change::Delete,
        (None, None) => Change::None,
        (Some(_), Some(_)) if fields.is_empty() => Change::None,
        (Some(_), Some(_)) => Change::Update,
    };
    let omitted_fields = fields.len().saturating_sub(MAX_FIELDS_PER_OBJECT);
    fields.truncate(MAX_FIELDS_PER_OBJECT);
    ObjectDiff {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
        change,
        fields,
        omitted_fields,
    }
}

/// The task output's `diff`: `{"changed", "summary", "objects"}`, so a later
/// Condition can test `${stage.task.output.diff.changed}`.
pub fn output(diffs: &[ObjectDiff]) -> Value {
    let changed = diffs.iter().any(|diff| diff.change != Change::None);
    let summary = match changed {
        true => bounded(
            &diffs
                .iter()
                .filter(|diff| diff.change != Change::None)
                .map(summary_of)
                .collect::<Vec<_>>()
                .join("; "),
            MAX_SUMMARY_CHARS,
        ),
        false => "no changes".to_string(),
    };
    json!({ "changed": changed, "summary": summary, "objects": diffs })
}

/// One object's line, e.g. `Deployment/web: image nginx:1 → nginx:2, 2 other fields`.
pub fn summary_of(diff: &ObjectDiff) -> String {
    let what = match diff.change {
        Change::Create => return format!("{}/{}: create", diff.kind, diff.name),
        Change::Delete => return format!("{}/{}: delete", diff.kind, diff.name),
        Change::None => return format!("{}/{}: no change", diff.kind, diff.name),
        Change::Update => {
            let mut named = Vec::new();
            let mut others = diff.omitted_fields;
            for field in &diff.fields {
                match label(&field.path) {
                    Some(label) => named.push(format!(
                        "{label} {} → {}",
                        field.before.as_deref().unwrap_or("(none)"),
                        field.after.as_deref().unwrap_or("(none)")
                    )),
                    None => others += 1,
                }
            }
            if others > 0 {
                named.push(format!(
                    "{others} other field{}",
                    if others == 1 { "" } else { "s" }
                ));
            }
            named.join(", ")
        }
    };
    format!("{}/{}: {what}", diff.kind, diff.name)
}

/// How the summary names an important field; `None` for the others.
fn label(path: &str) -> Option<String> {
    match importance(path) {
        0 => Some("image".into()),
        1 => Some("replicas".into()),
        2 => Some(format!(
            "env {}",
            path.rsplit_once(".env[")
                .map(|(_, rest)| rest.split(']').next().unwrap_or(rest))
                .unwrap_or(path)
        )),
        _ => None,
    }
}

/// 0 images, 1 replicas, 2 env, 3 everything else.
fn importance(path: &str) -> u8 {
    if path.ends_with(".image") {
        0
    } else if path == "spec.replicas" {
        1
    } else if path.contains(".env[") {
        2
    } else {
        3
    }
}

fn without_noise(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(fields) = object.as_object_mut() {
        fields.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for noise in NOISE_METADATA {
            metadata.remove(noise);
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            for noise in NOISE_ANNOTATIONS {
                annotations.remove(noise);
            }
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
    }
    object
}

/// Every leaf of `value` by dotted path. List items that all carry a string
/// `name` are addressed by it, so reordering containers or env is no change
/// of their fields; empty objects and lists are leaves of their own.
fn leaves(value: &Value) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    collect_leaves(value, String::new(), &mut found);
    found
}

fn collect_leaves(value: &Value, path: String, found: &mut BTreeMap<String, Value>) {
    let join = |key: &str| match path.is_empty() {
        true => key.to_string(),
        false => format!("{path}.{key}"),
    };
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, field) in fields {
                collect_leaves(field, join(key), found);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let names: Option<Vec<&str>> = items
                .iter()
                .map(|item| item.get("name").and_then(Value::as_str))
                .collect();
            for (index, item) in items.iter().enumerate() {
                let key = match &names {
                    Some(names) => names[index].to_string(),
                    None => index.to_string(),
                };
                collect_leaves(item, format!("{path}[{key}]"), found);
            }
        }
        leaf => {
            found.insert(path, leaf.clone());
        }
    }
}

fn render(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    bounded(&text, MAX_VALUE_CHARS)
}

/// `text` cut to `limit` characters, an ellipsis marking the cut.
fn bounded(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(image: &str, replicas: i64, resource_version: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u-1",
                "resourceVersion": resource_version, "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "slipway"}],
                "annotations": {"deployment.kubernetes.io/revision": resource_version},
            },
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "web", "image": image, "env": [{"name": "MODE", "value": "a"}]},
            ]}}},
            "status": {"availableReplicas": replicas, "observedGeneration": 3},
        })
    }

    #[test]
    fn server_noise_is_no_change() {
        let live = deployment("nginx:1", 2, "10");
        let would_be = deployment("nginx:1", 2, "11");
        let diff = object_diff(
            "Deployment",
            "web",
            Some("default"),
            Some(&live),
            Some(&would_be),
        );
        assert_eq!(diff.change, Change::None);
        assert!(diff.fields.is_empty(), "{:?}", diff.fields);
        assert_eq!(output(&[diff])["changed"], json!(false));
    }

    #[test]
    fn an_image_change_comes_first_as_old_to_new() {
        let live = deployment("nginx:1", 2, "10");
        let mut would_be = deployment("nginx:2", 3, "11");
        would_be["metadata"]["labels"] = json!({"tier": "front"});
        would_be["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("b");

        let diff = object_diff(
            "Deployment",
            "web",
            Some("default"),
            Some(&live),
            Some(&would_be),
        );

        assert_eq!(diff.change, Change::Update);
        let paths: Vec<&str> = diff.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.containers[web].image",
                "spec.replicas",
                "spec.template.spec.containers[web].env[MODE].value",
                "metadata.labels.tier",
            ]
        );
        assert_eq!(diff.fields[0].before.as_deref(), Some("nginx:1"));
        assert_eq!(diff.fields[0].after.as_deref(), Some("nginx:2"));
        assert_eq!(diff.fields[3].before, None);
        let out = output(&[diff]);
        assert_eq!(out["changed"], json!(true));
        assert_eq!(
            out["summary"],
            "Deployment/web: image nginx:1 → nginx:2, replicas 2 → 3, env MODE a → b, 1 other field"
        );
    }

    #[test]
    fn creates_and_deletes_are_named_and_everything_is_bounded() {
        let mut big = deployment("nginx:1", 1, "1");
        big["data"] = json!((0..50)
            .map(|i| (format!("key{i:02}"), json!("x".repeat(500))))
            .collect::<serde_json::Map<_, _>>());

        let created = object_diff("Deployment", "web", None, None, Some(&big));
        assert_eq!(created.change, Change::Create);
        assert_eq!(created.fields.len(), MAX_FIELDS_PER_OBJECT);
        assert!(created.omitted_fields > 0);
        assert_eq!(
            created.fields[0].path,
            "spec.template.spec.containers[web].image"
        );
        let longest = created.fields.iter().filter_map(|f| f.after.as_ref());
        assert!(longest.map(|v| v.chars().count()).max() <= Some(MAX_VALUE_CHARS + 1));

        let deleted = object_diff("Deployment", "web", None, Some(&big), None);
        assert_eq!(deleted.change, Change::Delete);
        assert_eq!(summary_of(&deleted), "Deployment/web: delete");
        let many: Vec<ObjectDiff> = (0..200).map(|_| deleted.clone()).collect();
        let summary = output(&many)["summary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(summary.chars().count() <= MAX_SUMMARY_CHARS + 1);
    }
}

//! Field ownership for server-side apply, kept deliberately simpler than the
//! real structured-merge-diff:
//!
//! - A field path is the chain of object keys down to a leaf. Lists are leaves
//!   (atomic): the real server merges `containers` by `name`, here a manager
//!   that sets `containers` owns the whole list.
//! - A manager conflicts with another one when it applies a value to a path the
//!   other owns and the values differ. Equal values are shared ownership.
//! - Paths a manager applied before and leaves out now are removed from the
//!   object unless another manager still owns them.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// Object keys from the root to a leaf, e.g. `["spec", "replicas"]`.
pub(crate) type FieldPath = Vec<String>;

/// Which part of an object a write may touch: the main resource ignores
/// `status` (for resources with a status subresource), `/status` touches only it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Main { status_is_separate: bool },
    Status,
}

/// Fields the server owns; no manager can own them.
const SERVER_OWNED_METADATA: [&str; 9] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "selfLink",
];

/// The leaf paths of `value` that a manager can own in `scope`.
pub(crate) fn owned_paths(value: &Value, scope: Scope) -> BTreeSet<FieldPath> {
    let mut paths = BTreeSet::new();
    let Some(root) = value.as_object() else {
        return paths;
    };
    for (key, child) in root {
        let in_scope = match scope {
            Scope::Status => key == "status",
            Scope::Main { status_is_separate } => {
                key != "apiVersion" && key != "kind" && !(status_is_separate && key == "status")
            }
        };
        if !in_scope {
            continue;
        }
        let mut path = vec![key.clone()];
        if key == "metadata" {
            if let Some(metadata) = child.as_object() {
                for (field, value) in metadata
                    .iter()
                    .filter(|(field, _)| !SERVER_OWNED_METADATA.contains(&field.as_str()))
                {
                    path.push(field.clone());
                    collect_leaves(value, &mut path, &mut paths);
                    path.pop();
                }
            }
        } else {
            collect_leaves(child, &mut path, &mut paths);
        }
    }
    paths
}

fn collect_leaves(value: &Value, path: &mut FieldPath, paths: &mut BTreeSet<FieldPath>) {
    match value.as_object() {
        Some(object) if !object.is_empty() => {
            for (key, child) in object {
                path.push(key.clone());
                collect_leaves(child, path, paths);
                path.pop();
            }
        }
        _ => {
            paths.insert(path.clone());
        }
    }
}

pub(crate) fn value_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |current, key| current.get(key))
}

/// Removes the leaf at `path`, then any parent object that became empty.
pub(crate) fn remove_at(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if parents.is_empty() {
        if let Some(object) = value.as_object_mut() {
            object.remove(last);
        }
        return;
    }
    let Some(parent) = value.get_mut(&parents[0]) else {
        return;
    };
    remove_at(parent, &path[1..]);
    let parent_is_empty = parent.as_object().is_some_and(Map::is_empty);
    if parent_is_empty {
        if let Some(object) = value.as_object_mut() {
            object.remove(&parents[0]);
        }
    }
}

/// Sets every leaf of `applied` into `target`, recursing into objects. Unlike a
/// JSON merge patch, `null` is a value here, not a deletion.
pub(crate) fn merge_applied(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(target_object), Some(applied_object)) => {
            for (key, applied_child) in applied_object {
                match target_object.get_mut(key) {
                    Some(target_child) => merge_applied(target_child, applied_child),
                    None => {
                        target_object.insert(key.clone(), applied_child.clone());
                    }
                }
            }
        }
        _ => *target = applied.clone(),
    }
}

/// Leaf paths whose value differs between `before` and `after`, including removed ones.
pub(crate) fn changed_paths(before: &Value, after: &Value, scope: Scope) -> BTreeSet<FieldPath> {
    let before_paths = owned_paths(before, scope);
    let after_paths = owned_paths(after, scope);
    before_paths
        .union(&after_paths)
        .filter(|path| value_at(before, path) != value_at(after, path))
        .cloned()
        .collect()
}

fn dotted(path: &[String]) -> String {
    path.iter().map(|key| format!(".{key}")).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Apply,
    Update,
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct ManagerEntry {
    manager: String,
    operation: Operation,
    subresource: Option<&'static str>,
    api_version: String,
    time: String,
    fields: BTreeSet<FieldPath>,
}

/// Who owns which fields of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ManagedFields {
    entries: Vec<ManagerEntry>,
}

/// Identifies a manager entry the way the real server does: by manager name,
/// operation and subresource.
pub(crate) struct Manager<'a> {
    pub name: &'a str,
    pub operation: Operation,
    pub subresource: Option<&'static str>,
    pub api_version: String,
}

impl Manager<'_> {
    fn is(&self, entry: &ManagerEntry) -> bool {
        entry.manager == self.name
            && entry.operation == self.operation
            && entry.subresource == self.subresource
    }
}

/// What applying a configuration would do, computed before anything changes.
pub(crate) struct ApplyOutcome {
    pub object: Value,
    pub managed_fields: ManagedFields,
}

impl ManagedFields {
    /// Gives `manager` (an Update) the fields that changed and takes them from
    /// every other manager, as a PUT or a non-apply PATCH does.
    pub fn record_update(
        &mut self,
        manager: &Manager<'_>,
        changed: &BTreeSet<FieldPath>,
        after: &Value,
        now: &str,
    ) {
        if changed.is_empty() {
            return;
        }
        for entry in &mut self.entries {
            entry.fields.retain(|path| !changed.contains(path));
        }
        let still_present: BTreeSet<FieldPath> = changed
            .iter()
            .filter(|path| value_at(after, path).is_some())
            .cloned()
            .collect();
        self.entry_for(manager, now).fields.extend(still_present);
        self.drop_empty_entries();
    }

    /// Server-side apply of `applied` onto `live` by `manager`. Returns the
    /// conflicting `(manager, .field.path)` pairs when `force` is off and other
    /// managers own fields that would change.
    pub fn apply(
        &self,
        manager: &Manager<'_>,
        live: &Value,
        applied: &Value,
        scope: Scope,
        force: bool,
        now: &str,
    ) -> Result<ApplyOutcome, Vec<(String, String)>> {
        let applied_paths = owned_paths(applied, scope);
        let mut conflicts = Vec::new();
        for entry in self.entries.iter().filter(|entry| !manager.is(entry)) {
            for path in entry.fields.intersection(&applied_paths) {
                if value_at(live, path) != value_at(applied, path) {
                    conflicts.push((entry.manager.clone(), dotted(path)));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflicts);
        }

        let mut managed_fields = self.clone();
        // Forced fields change hands; fields applied with the same value stay shared.
        for entry in managed_fields
            .entries
            .iter_mut()
            .filter(|entry| !manager.is(entry))
        {
            entry.fields.retain(|path| {
                !applied_paths.contains(path) || value_at(live, path) == value_at(applied, path)
            });
        }
        let previously_applied = managed_fields
            .entries
            .iter()
            .find(|entry| manager.is(entry))
            .map(|entry| entry.fields.clone())
            .unwrap_or_default();

        let mut object = live.clone();
        for dropped in previously_applied.difference(&applied_paths) {
            let owned_by_someone_else = managed_fields
                .entries
                .iter()
                .any(|entry| !manager.is(entry) && entry.fields.contains(dropped));
            if !owned_by_someone_else {
                remove_at(&mut object, dropped);
            }
        }
        merge_applied(&mut object, applied);

        if previously_applied != applied_paths {
            managed_fields.entry_for(manager, now).fields = applied_paths;
        } else if managed_fields
            .entries
            .iter()
            .all(|entry| !manager.is(entry))
        {
            managed_fields.entry_for(manager, now);
        }
        managed_fields.drop_empty_entries();
        Ok(ApplyOutcome {
            object,
            managed_fields,
        })
    }

    fn entry_for(&mut self, manager: &Manager<'_>, now: &str) -> &mut ManagerEntry {
        let index = match self.entries.iter().position(|entry| manager.is(entry)) {
            Some(index) => index,
            None => {
                self.entries.push(ManagerEntry {
                    manager: manager.name.to_string(),
                    operation: manager.operation,
                    subresource: manager.subresource,
                    api_version: manager.api_version.clone(),
                    time: now.to_string(),
                    fields: BTreeSet::new(),
                });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        entry.time = now.to_string();
        entry
    }

    fn drop_empty_entries(&mut self) {
        // An applier with no fields keeps its entry (it applied an empty config);
        // an updater whose fields were all taken over disappears, as in Kubernetes.
        self.entries
            .retain(|entry| entry.operation == Operation::Apply || !entry.fields.is_empty());
    }

    /// The `metadata.managedFields` list, in `FieldsV1` form (`{"f:spec":{"f:replicas":{}}}`).
    pub fn to_json(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|entry| {
                let mut rendered = json!({
                    "manager": entry.manager,
                    "operation": match entry.operation { Operation::Apply => "Apply", Operation::Update => "Update" },
                    "apiVersion": entry.api_version,
                    "time": entry.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields_v1(&entry.fields),
                });
                if let Some(subresource) = entry.subresource {
                    rendered["subresource"] = json!(subresource);
                }
                rendered
            })
            .collect();
        Value::Array(entries)
    }
}

fn fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for key in path {
            node = node
                .entry(format!("f:{key}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are always objects");
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_is_separate: true,
    };

    fn manager(name: &str) -> Manager<'_> {
        Manager {
            name,
            operation: Operation::Apply,
            subresource: None,
            api_version: "apps/v1".to_string(),
        }
    }

    #[test]
    fn lists_are_leaves_and_server_fields_are_not_owned() {
        let object = json!({"apiVersion": "v1", "metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"list": [1, 2], "n": 1}, "status": {"x": 1}});
        let paths: Vec<String> = owned_paths(&object, MAIN)
            .iter()
            .map(|path| dotted(path))
            .collect();
        assert_eq!(paths, vec![".metadata.labels.a", ".spec.list", ".spec.n"]);
    }

    #[test]
    fn a_second_manager_conflicts_unless_forced() {
        let applied = json!({"spec": {"replicas": 2}});
        let first = ManagedFields::default()
            .apply(&manager("one"), &json!({}), &applied, MAIN, false, "t")
            .expect("first apply");
        let change = json!({"spec": {"replicas": 3}});
        let conflicts = first
            .managed_fields
            .apply(&manager("two"), &first.object, &change, MAIN, false, "t")
            .err();
        assert_eq!(
            conflicts,
            Some(vec![("one".to_string(), ".spec.replicas".to_string())])
        );
        let forced = first
            .managed_fields
            .apply(&manager("two"), &first.object, &change, MAIN, true, "t")
            .expect("forced apply");
        assert_eq!(forced.object, json!({"spec": {"replicas": 3}}));
    }

    #[test]
    fn fields_left_out_of_a_new_apply_are_removed() {
        let first = ManagedFields::default()
            .apply(
                &manager("one"),
                &json!({}),
                &json!({"spec": {"a": 1, "b": 2}}),
                MAIN,
                false,
                "t",
            )
            .expect("first apply");
        let second = first
            .managed_fields
            .apply(
                &manager("one"),
                &first.object,
                &json!({"spec": {"a": 1}}),
                MAIN,
                false,
                "t",
            )
            .expect("second apply");
        assert_eq!(second.object, json!({"spec": {"a": 1}}));
    }
}

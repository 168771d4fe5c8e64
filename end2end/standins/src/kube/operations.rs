//! What each API verb does to the store. Everything here runs with the store
//! locked, so a request sees and leaves a consistent state; the HTTP layer
//! (`http.rs`) only decodes requests and encodes answers.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use super::deployments::{self, RolloutTimer};
use super::fields::{changed_paths, owned_paths, ManagedFields, Manager, Operation, Scope};
use super::resources::{self, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{deleted_status, quoted, ApiError, FieldError};
use super::store::{Cluster, ObjectKey, StoredObject};
use super::validation;

/// Namespaces the real API server refuses to delete.
const UNDELETABLE_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// The request-independent parts of a write: who writes, and whether to store.
pub(crate) struct WriteOptions {
    /// `fieldManager` from the query, or a name derived from the User-Agent.
    pub field_manager: String,
    /// `dryRun=All`: run every check and answer as if stored, but store nothing.
    pub dry_run: bool,
    /// `force=true` on server-side apply: take over conflicting fields.
    pub force: bool,
    /// The Deployment rollout delay when no annotation overrides it.
    pub rollout_delay: Duration,
}

/// Which object, or collection, a request is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub resource: &'static ResourceType,
    pub namespace: Option<&'a str>,
    /// `true` for `.../{name}/status`.
    pub status: bool,
}

impl Target<'_> {
    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey::new(self.resource, self.namespace, name)
    }

    fn scope(&self) -> Scope {
        if self.status {
            Scope::Status
        } else {
            Scope::Main {
                status_is_separate: self.resource.has_status,
            }
        }
    }

    fn subresource(&self) -> Option<&'static str> {
        self.status.then_some("status")
    }
}

/// A successful write: the object to answer with, and work for later.
pub(crate) struct Written {
    pub object: Value,
    pub created: bool,
    pub timers: Vec<RolloutTimer>,
}

/// The body of a PATCH, decoded according to its content type.
pub(crate) enum PatchBody {
    /// `application/merge-patch+json`, and strategic merge patch treated the same way.
    Merge(Value),
    /// `application/json-patch+json` (RFC 6902).
    Json(json_patch::Patch),
    /// `application/apply-patch+yaml`: server-side apply.
    Apply(Value),
}

/// Everything a write operation needs, bundled so the helpers below stay short.
pub(crate) struct Writer<'a> {
    pub cluster: &'a mut Cluster,
    pub target: Target<'a>,
    pub options: &'a WriteOptions,
    pub now: String,
}

pub(crate) fn get(cluster: &Cluster, target: Target<'_>, name: &str) -> Result<Value, ApiError> {
    cluster
        .get(&target.key(name))
        .map(|stored| stored.object.clone())
        .ok_or_else(|| ApiError::not_found(target.resource, name))
}

pub(crate) struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches_object(object) && self.fields.matches_object(object)
    }
}

/// `GET` on a collection: a `<Kind>List` with the store's current resourceVersion.
/// `limit`/`continue` are ignored: everything comes in one page.
pub(crate) fn list(cluster: &Cluster, target: Target<'_>, selectors: &Selectors) -> Value {
    let items: Vec<Value> = cluster
        .list(target.resource, target.namespace)
        .map(|(_, stored)| &stored.object)
        .filter(|object| selectors.matches(object))
        .cloned()
        .collect();
    list_document(target.resource, cluster.resource_version(), items)
}

fn list_document(resource: &ResourceType, resource_version: u64, items: Vec<Value>) -> Value {
    json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": resource_version.to_string()},
        "items": items,
    })
}

impl Writer<'_> {
    fn resource(&self) -> &'static ResourceType {
        self.target.resource
    }

    fn manager(&self, operation: Operation) -> Manager<'_> {
        Manager {
            name: &self.options.field_manager,
            operation,
            subresource: self.target.subresource(),
            api_version: self.resource().api_version(),
        }
    }

    /// `POST` on a collection.
    pub fn create(&mut self, mut object: Value) -> Result<Written, ApiError> {
        ensure_object(&object)?;
        let name = self.settle_identity(&mut object, None)?;
        check_type_meta(self.resource(), &mut object, &name, false)?;
        let mut managed_fields = ManagedFields::default();
        let all_fields = owned_paths(&object, self.target.scope());
        managed_fields.record_update(
            &self.manager(Operation::Update),
            &all_fields,
            &object,
            &self.now,
        );
        self.store_new(name, object, managed_fields)
    }

    /// `PUT` on an object or its status.
    pub fn replace(&mut self, name: &str, mut object: Value) -> Result<Written, ApiError> {
        ensure_object(&object)?;
        self.settle_identity(&mut object, Some(name))?;
        check_type_meta(self.resource(), &mut object, name, false)?;
        let previous = self.existing(name)?;
        check_resource_version_precondition(self.resource(), name, &object, &previous)?;
        let mut managed_fields = previous.managed_fields.clone();
        let changed = changed_paths(&previous.object, &object, self.target.scope());
        managed_fields.record_update(
            &self.manager(Operation::Update),
            &changed,
            &object,
            &self.now,
        );
        self.store_update(name, &previous, object, managed_fields)
    }

    /// `PATCH` on an object or its status; server-side apply creates missing objects.
    pub fn patch(&mut self, name: &str, patch: PatchBody) -> Result<Written, ApiError> {
        match patch {
            PatchBody::Apply(applied) => self.apply(name, applied),
            PatchBody::Merge(merge) => {
                let previous = self.existing(name)?;
                let mut object = previous.object.clone();
                json_patch::merge(&mut object, &merge);
                self.finish_patch(name, previous, object)
            }
            PatchBody::Json(operations) => {
                let previous = self.existing(name)?;
                let mut object = previous.object.clone();
                json_patch::patch(&mut object, &operations).map_err(|error| {
                    ApiError::unprocessable(format!(
                        "the server rejected our request due to an error in our request: {error}"
                    ))
                })?;
                self.finish_patch(name, previous, object)
            }
        }
    }

    fn finish_patch(
        &mut self,
        name: &str,
        previous: StoredObject,
        mut object: Value,
    ) -> Result<Written, ApiError> {
        ensure_object(&object)?;
        self.settle_identity(&mut object, Some(name))?;
        check_type_meta(self.resource(), &mut object, name, false)?;
        check_resource_version_precondition(self.resource(), name, &object, &previous)?;
        let mut managed_fields = previous.managed_fields.clone();
        let changed = changed_paths(&previous.object, &object, self.target.scope());
        managed_fields.record_update(
            &self.manager(Operation::Update),
            &changed,
            &object,
            &self.now,
        );
        self.store_update(name, &previous, object, managed_fields)
    }

    fn apply(&mut self, name: &str, mut applied: Value) -> Result<Written, ApiError> {
        ensure_object(&applied)?;
        if self.options.field_manager.is_empty() {
            let errors = [FieldError::required_because(
                "fieldManager",
                "is required for apply patch",
            )];
            return Err(ApiError::invalid_object(
                "PatchOptions.meta.k8s.io",
                "meta.k8s.io",
                "PatchOptions",
                "",
                &errors,
            ));
        }
        self.settle_identity(&mut applied, Some(name))?;
        check_type_meta(self.resource(), &mut applied, name, true)?;
        let previous = self.cluster.get(&self.target.key(name)).cloned();
        match &previous {
            None if self.target.status => return Err(ApiError::not_found(self.resource(), name)),
            None => {}
            Some(previous) => {
                check_resource_version_precondition(self.resource(), name, &applied, previous)?
            }
        }
        strip_server_fields(&mut applied);
        let nothing = (json!({}), ManagedFields::default());
        let (live, managed_fields) = previous
            .as_ref()
            .map_or((&nothing.0, &nothing.1), |previous| {
                (&previous.object, &previous.managed_fields)
            });
        let manager = self.manager(Operation::Apply);
        let outcome = managed_fields
            .apply(
                &manager,
                live,
                &applied,
                self.target.scope(),
                self.options.force,
                &self.now,
            )
            .map_err(|conflicts| {
                ApiError::apply_conflicts(self.resource(), name, &manager.api_version, &conflicts)
            })?;
        match previous {
            None => self.store_new(name.to_string(), outcome.object, outcome.managed_fields),
            Some(previous) => {
                self.store_update(name, &previous, outcome.object, outcome.managed_fields)
            }
        }
    }

    /// `DELETE` on an object: removes it and, unless orphaned, what it owns.
    pub fn delete(&mut self, name: &str, orphan_dependents: bool) -> Result<Value, ApiError> {
        let resource = self.resource();
        let key = self.target.key(name);
        let previous = self.existing(name)?;
        if resource.is("", "namespaces") && UNDELETABLE_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden_message(
                resource,
                name,
                "this namespace may not be deleted",
            ));
        }
        let status = deleted_status(resource, name, previous.uid());
        if self.options.dry_run {
            return Ok(status);
        }
        self.remove_with_dependents(&key, orphan_dependents);
        Ok(status)
    }

    /// `DELETE` on a collection: deletes every matching object, answers with them.
    pub fn delete_collection(&mut self, selectors: &Selectors) -> Result<Value, ApiError> {
        let doomed: Vec<(ObjectKey, Value)> = self
            .cluster
            .list(self.target.resource, self.target.namespace)
            .filter(|(_, stored)| selectors.matches(&stored.object))
            .map(|(key, stored)| (key.clone(), stored.object.clone()))
            .collect();
        if !self.options.dry_run {
            for (key, _) in &doomed {
                if !(self.resource().is("", "namespaces")
                    && UNDELETABLE_NAMESPACES.contains(&key.name.as_str()))
                {
                    self.remove_with_dependents(key, false);
                }
            }
        }
        let items = doomed.into_iter().map(|(_, object)| object).collect();
        Ok(list_document(
            self.resource(),
            self.cluster.resource_version(),
            items,
        ))
    }

    /// Removes an object, everything in it (for a namespace), and everything it
    /// owns, like the garbage collector with background propagation, but at once.
    fn remove_with_dependents(&mut self, key: &ObjectKey, orphan_dependents: bool) {
        let Some(removed) = self.cluster.remove(key) else {
            return;
        };
        if key.is(resources::namespaces()) {
            for contained in self.cluster.keys_in_namespace(&key.name) {
                self.cluster.remove(&contained);
            }
        }
        let uid = removed.uid().to_string();
        for dependent in self.cluster.dependents_of(&uid) {
            if orphan_dependents {
                self.release_dependent(&dependent, &uid);
            } else {
                self.remove_with_dependents(&dependent, false);
            }
        }
    }

    fn release_dependent(&mut self, key: &ObjectKey, owner_uid: &str) {
        let Some(mut stored) = self.cluster.get(key).cloned() else {
            return;
        };
        if let Some(references) = stored
            .object
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            references.retain(|reference| {
                reference.get("uid").and_then(Value::as_str) != Some(owner_uid)
            });
        }
        self.cluster.put(key.clone(), stored);
    }

    fn existing(&self, name: &str) -> Result<StoredObject, ApiError> {
        self.cluster
            .get(&self.target.key(name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(self.resource(), name))
    }

    /// Makes `metadata.name` and `metadata.namespace` agree with the URL, the way
    /// the real server does, and returns the name (generated from `generateName`
    /// on create when needed).
    fn settle_identity(
        &mut self,
        object: &mut Value,
        url_name: Option<&str>,
    ) -> Result<String, ApiError> {
        if !object.get("metadata").is_some_and(Value::is_object) {
            if object
                .get("metadata")
                .is_some_and(|metadata| !metadata.is_null())
            {
                return Err(ApiError::bad_request("metadata must be an object"));
            }
            object["metadata"] = json!({});
        }
        let metadata = &mut object["metadata"];
        match (self.resource().namespaced, self.target.namespace) {
            (true, Some(url_namespace)) => {
                match metadata.get("namespace").and_then(Value::as_str) {
                    Some(body_namespace)
                        if !body_namespace.is_empty() && body_namespace != url_namespace =>
                    {
                        return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                    }
                    _ => metadata["namespace"] = json!(url_namespace),
                }
            }
            _ => {
                if let Some(metadata) = metadata.as_object_mut() {
                    metadata.remove("namespace");
                }
            }
        }
        let body_name = metadata
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_string);
        let name = match (url_name, body_name) {
            (Some(url_name), Some(body_name)) if url_name != body_name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
                )));
            }
            (Some(url_name), _) => url_name.to_string(),
            (None, Some(body_name)) => body_name,
            (None, None) => self.generate_name(metadata)?,
        };
        metadata["name"] = json!(name);
        Ok(name)
    }

    fn generate_name(&self, metadata: &Value) -> Result<String, ApiError> {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let Some(prefix) = metadata
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|prefix| !prefix.is_empty())
        else {
            let errors = [FieldError::required_because(
                "metadata.name",
                "name or generateName is required",
            )];
            return Err(ApiError::invalid(self.resource(), "", &errors));
        };
        let mut random = rand::rng();
        loop {
            let suffix: String = (0..5)
                .map(|_| ALPHABET[random.random_range(0..ALPHABET.len())] as char)
                .collect();
            let name = format!("{prefix}{suffix}");
            if !self.cluster.contains(&self.target.key(&name)) {
                return Ok(name);
            }
        }
    }

    fn store_new(
        &mut self,
        name: String,
        mut object: Value,
        managed_fields: ManagedFields,
    ) -> Result<Written, ApiError> {
        let resource = self.resource();
        if let Some(namespace) = self.target.namespace.filter(|_| resource.namespaced) {
            if !self.cluster.namespace_exists(namespace) {
                return Err(ApiError::not_found(resources::namespaces(), namespace));
            }
        }
        let key = self.target.key(&name);
        if self.cluster.contains(&key) {
            return Err(ApiError::already_exists(resource, &name));
        }
        strip_server_fields(&mut object);
        object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        object["metadata"]["creationTimestamp"] = json!(self.now);
        object["metadata"]["generation"] = json!(1);
        if resource.has_status {
            // The status subresource owns status; create starts without one.
            if let Some(object) = object.as_object_mut() {
                object.remove("status");
            }
        }
        apply_defaults(resource, &mut object, self.cluster.resource_version());
        validation::validate(resource, &object)?;
        let stored = StoredObject {
            object,
            managed_fields,
        };
        if self.options.dry_run {
            return Ok(Written {
                object: stored.object,
                created: true,
                timers: Vec::new(),
            });
        }
        let object = self.cluster.put(key.clone(), stored);
        let (object, timers) = self.run_controllers(&key, object);
        Ok(Written {
            object,
            created: true,
            timers,
        })
    }

    fn store_update(
        &mut self,
        name: &str,
        previous: &StoredObject,
        object: Value,
        managed_fields: ManagedFields,
    ) -> Result<Written, ApiError> {
        let resource = self.resource();
        let mut object = match self.target.status {
            // Writes to /status change only the status.
            true => {
                let mut kept = previous.object.clone();
                kept["status"] = object.get("status").cloned().unwrap_or(Value::Null);
                kept
            }
            false => object,
        };
        for server_field in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
            object["metadata"][server_field] = previous.object["metadata"][server_field].clone();
        }
        if resource.has_status && !self.target.status {
            // The main resource cannot change status when a status subresource exists.
            match previous.object.get("status") {
                Some(status) => object["status"] = status.clone(),
                None => {
                    if let Some(object) = object.as_object_mut() {
                        object.remove("status");
                    }
                }
            }
        }
        apply_defaults(resource, &mut object, self.cluster.resource_version());
        validation::validate(resource, &object)?;
        if spec_changed(&previous.object, &object) {
            object["metadata"]["generation"] = json!(previous.generation() + 1);
        }
        let stored = StoredObject {
            object,
            managed_fields,
        };
        if is_unchanged(previous, &stored) {
            // Like the real server: a no-op write keeps the resourceVersion.
            return Ok(Written {
                object: previous.object.clone(),
                created: false,
                timers: Vec::new(),
            });
        }
        if self.options.dry_run {
            return Ok(Written {
                object: stored.object,
                created: false,
                timers: Vec::new(),
            });
        }
        let key = self.target.key(name);
        let object = self.cluster.put(key.clone(), stored);
        let (object, timers) = if self.target.status {
            (object, Vec::new())
        } else {
            self.run_controllers(&key, object)
        };
        Ok(Written {
            object,
            created: false,
            timers,
        })
    }

    /// Lets the Deployment controller react to a write, and answers with the
    /// object as it stands afterwards.
    fn run_controllers(&mut self, key: &ObjectKey, object: Value) -> (Value, Vec<RolloutTimer>) {
        if !deployments::is_deployment(key) {
            return (object, Vec::new());
        }
        let timers =
            deployments::reconcile(self.cluster, key, self.options.rollout_delay, &self.now);
        let object = self
            .cluster
            .get(key)
            .map_or(object, |stored| stored.object.clone());
        (object, timers)
    }
}

fn ensure_object(body: &Value) -> Result<(), ApiError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ))
    }
}

/// Fills in `apiVersion`/`kind` when left out and rejects values that do not
/// match the URL. Server-side apply bodies must carry both, as with the real server.
fn check_type_meta(
    resource: &ResourceType,
    object: &mut Value,
    name: &str,
    required: bool,
) -> Result<(), ApiError> {
    let expected_api_version = resource.api_version();
    let mut errors = Vec::new();
    for (field, expected) in [
        ("apiVersion", expected_api_version.as_str()),
        ("kind", resource.kind),
    ] {
        match object
            .get(field)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
        {
            Some(given) if given != expected => {
                errors.push(FieldError::invalid(
                    field,
                    quoted(given),
                    format!("must be {expected} for {}", resource.group_resource()),
                ));
            }
            Some(_) => {}
            None if required => {
                return Err(ApiError::bad_request(format!(
                    "Object '{}' is missing in '{}'",
                    if field == "kind" {
                        "Kind"
                    } else {
                        "apiVersion"
                    },
                    object
                )));
            }
            None => object[field] = json!(expected),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource, name, &errors))
    }
}

/// A `metadata.resourceVersion` in the body is a precondition: it must be current.
fn check_resource_version_precondition(
    resource: &ResourceType,
    name: &str,
    body: &Value,
    previous: &StoredObject,
) -> Result<(), ApiError> {
    let sent = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|version| !version.is_empty());
    let current = previous
        .object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    match sent {
        Some(sent) if Some(sent) != current => Err(ApiError::modified_since_read(resource, name)),
        _ => Ok(()),
    }
}

/// Removes metadata only the server sets, so a client cannot smuggle it in.
fn strip_server_fields(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "deletionTimestamp",
            "selfLink",
        ] {
            metadata.remove(field);
        }
    }
}

/// Whether anything besides metadata and status differs: what bumps `generation`.
fn spec_changed(before: &Value, after: &Value) -> bool {
    let spec_fields = |object: &Value| -> Vec<(String, Value)> {
        object
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| {
                !matches!(key.as_str(), "metadata" | "status" | "apiVersion" | "kind")
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    let before_fields = spec_fields(before);
    before_fields.len() != spec_fields(after).len()
        || before_fields
            .iter()
            .any(|(key, value)| after.get(key) != Some(value))
}

fn is_unchanged(previous: &StoredObject, next: &StoredObject) -> bool {
    if previous.managed_fields != next.managed_fields {
        return false;
    }
    let mut next_object = next.object.clone();
    next_object["metadata"]["resourceVersion"] =
        previous.object["metadata"]["resourceVersion"].clone();
    next_object["metadata"]["managedFields"] = previous.object["metadata"]["managedFields"].clone();
    if previous.object["metadata"].get("managedFields").is_none() {
        if let Some(metadata) = next_object["metadata"].as_object_mut() {
            metadata.remove("managedFields");
        }
    }
    next_object == previous.object
}

/// Server-side defaults for fields clients usually leave out.
fn apply_defaults(resource: &ResourceType, object: &mut Value, resource_version: u64) {
    match (resource.group, resource.kind) {
        ("", "Namespace") => {
            object["spec"]["finalizers"] = object
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| json!(["kubernetes"]));
            object["status"]["phase"] = json!("Active");
        }
        ("", "Service") => {
            if object.pointer("/spec/type").is_none() {
                object["spec"]["type"] = json!("ClusterIP");
            }
            if object.pointer("/spec/clusterIP").is_none() {
                // A stable-looking address; nothing routes to it.
                let address = format!(
                    "10.96.{}.{}",
                    (resource_version / 250) % 250,
                    resource_version % 250 + 2
                );
                object["spec"]["clusterIP"] = json!(address);
                object["spec"]["clusterIPs"] = json!([address]);
            }
        }
        _ => deployments::apply_workload_defaults(resource, object),
    }
}

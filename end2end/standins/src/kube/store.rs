//! The in-memory object store: every object of every served resource, one global
//! resourceVersion counter, and the event history that watch streams replay.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::fields::ManagedFields;
use super::resources::{self, ResourceType};

/// Where an object lives: its resource type, namespace ("" when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: &'static ResourceType, namespace: Option<&str>, name: &str) -> Self {
        Self {
            group: resource.group,
            version: resource.version,
            plural: resource.plural,
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }

    pub fn is(&self, resource: &ResourceType) -> bool {
        self.group == resource.group
            && self.version == resource.version
            && self.plural == resource.plural
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StoredObject {
    /// The object as served, including `metadata.managedFields` rendered from `managed_fields`.
    pub object: Value,
    pub managed_fields: ManagedFields,
}

impl StoredObject {
    pub fn uid(&self) -> &str {
        self.object
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn generation(&self) -> i64 {
        self.object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch stream reports it.
#[derive(Debug, Clone)]
pub(crate) struct ChangeEvent {
    pub resource_version: u64,
    pub event_type: EventType,
    pub key: ObjectKey,
    pub object: Value,
}

/// How many past events a watch with an old `resourceVersion` can replay; older
/// ones get 410 Expired and must re-list, as with the real API server.
const HISTORY_LENGTH: usize = 4096;

pub(crate) struct Cluster {
    objects: BTreeMap<ObjectKey, StoredObject>,
    last_resource_version: u64,
    history: VecDeque<ChangeEvent>,
    changes: broadcast::Sender<ChangeEvent>,
}

impl Cluster {
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(HISTORY_LENGTH);
        Self {
            objects: BTreeMap::new(),
            last_resource_version: 0,
            history: VecDeque::new(),
            changes,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.last_resource_version
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&StoredObject> {
        self.objects.get(key)
    }

    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
    }

    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.contains(&ObjectKey::new(resources::namespaces(), None, namespace))
    }

    /// Objects of one resource type, in one namespace or all of them, in key order.
    pub fn list<'a>(
        &'a self,
        resource: &'a ResourceType,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a StoredObject)> + 'a {
        self.objects.iter().filter(move |(key, _)| {
            key.is(resource) && namespace.is_none_or(|namespace| key.namespace == namespace)
        })
    }

    pub fn all_objects(&self) -> impl Iterator<Item = &Value> {
        self.objects.values().map(|stored| &stored.object)
    }

    /// Keys of the objects whose `ownerReferences` name `owner_uid`.
    pub fn dependents_of(&self, owner_uid: &str) -> Vec<ObjectKey> {
        self.objects
            .iter()
            .filter(|(_, stored)| owner_uids(&stored.object).any(|uid| uid == owner_uid))
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<ObjectKey> {
        self.objects
            .keys()
            .filter(|key| key.namespace == namespace)
            .cloned()
            .collect()
    }

    /// Stores an object under a new resourceVersion and tells watchers.
    /// Returns the object as stored.
    pub fn put(&mut self, key: ObjectKey, mut stored: StoredObject) -> Value {
        let event_type = if self.objects.contains_key(&key) {
            EventType::Modified
        } else {
            EventType::Added
        };
        let resource_version = self.next_resource_version();
        stored.object["metadata"]["resourceVersion"] = json!(resource_version.to_string());
        stored.object["metadata"]["managedFields"] = stored.managed_fields.to_json();
        if stored.object["metadata"]["managedFields"]
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            if let Some(metadata) = stored.object["metadata"].as_object_mut() {
                metadata.remove("managedFields");
            }
        }
        let object = stored.object.clone();
        self.objects.insert(key.clone(), stored);
        self.publish(ChangeEvent {
            resource_version,
            event_type,
            key,
            object: object.clone(),
        });
        object
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<StoredObject> {
        let mut stored = self.objects.remove(key)?;
        let resource_version = self.next_resource_version();
        stored.object["metadata"]["resourceVersion"] = json!(resource_version.to_string());
        self.publish(ChangeEvent {
            resource_version,
            event_type: EventType::Deleted,
            key: key.clone(),
            object: stored.object.clone(),
        });
        Some(stored)
    }

    fn next_resource_version(&mut self) -> u64 {
        self.last_resource_version += 1;
        self.last_resource_version
    }

    fn publish(&mut self, event: ChangeEvent) {
        if self.history.len() == HISTORY_LENGTH {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // No receivers is the normal case when nobody watches.
        let _ = self.changes.send(event);
    }

    /// Starts following changes. Call it with the store locked, right when taking
    /// the snapshot the watcher starts from, so no change falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
    }

    /// Events after `resource_version`, or `None` when some of them were dropped from history.
    pub fn events_since(&self, resource_version: u64) -> Option<Vec<ChangeEvent>> {
        let oldest_kept = self
            .history
            .front()
            .map_or(self.last_resource_version + 1, |event| {
                event.resource_version
            });
        if resource_version + 1 < oldest_kept {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|event| event.resource_version > resource_version)
                .cloned()
                .collect(),
        )
    }
}

pub(crate) fn owner_uids(object: &Value) -> impl Iterator<Item = &str> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|reference| reference.get("uid").and_then(Value::as_str))
}

//! The resource types the stand-in serves, and the discovery documents built from them.

use serde_json::{json, Value};

/// How `metadata.name` is validated, as the real API server does per resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain: lower-case alphanumerics, '-' and '.', up to 253 characters.
    Subdomain,
    /// RFC 1123 label: lower-case alphanumerics and '-', up to 63 characters.
    Label,
    /// RFC 1035 label: like a 1123 label but must start with a letter (Services).
    Dns1035Label,
}

/// One served resource, e.g. `deployments` in `apps/v1`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Whether `.../{name}/status` is served; such resources also ignore `status`
    /// in writes to the main resource, as the real API server does.
    pub has_status: bool,
    pub name_rule: NameRule,
}

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: [&str; 3] = ["get", "patch", "update"];

macro_rules! resource {
    ($group:literal, $plural:literal, $singular:literal, $kind:literal, namespaced: $ns:literal,
     short: [$($short:literal),*], status: $status:literal, names: $rule:ident) => {
        ResourceType {
            group: $group,
            version: "v1",
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: &[$($short),*],
            has_status: $status,
            name_rule: NameRule::$rule,
        }
    };
}

/// Every resource the stand-in serves. Storage is generic, so adding a line here
/// is enough to serve another built-in type.
pub(crate) static RESOURCES: &[ResourceType] = &[
    resource!("", "namespaces", "namespace", "Namespace", namespaced: false, short: ["ns"], status: true, names: Label),
    resource!("", "configmaps", "configmap", "ConfigMap", namespaced: true, short: ["cm"], status: false, names: Subdomain),
    resource!("", "secrets", "secret", "Secret", namespaced: true, short: [], status: false, names: Subdomain),
    resource!("", "services", "service", "Service", namespaced: true, short: ["svc"], status: true, names: Dns1035Label),
    resource!("", "pods", "pod", "Pod", namespaced: true, short: ["po"], status: true, names: Subdomain),
    resource!("", "serviceaccounts", "serviceaccount", "ServiceAccount", namespaced: true, short: ["sa"], status: false, names: Subdomain),
    resource!("apps", "deployments", "deployment", "Deployment", namespaced: true, short: ["deploy"], status: true, names: Subdomain),
    resource!("apps", "replicasets", "replicaset", "ReplicaSet", namespaced: true, short: ["rs"], status: true, names: Subdomain),
    resource!("apps", "statefulsets", "statefulset", "StatefulSet", namespaced: true, short: ["sts"], status: true, names: Subdomain),
    resource!("apps", "daemonsets", "daemonset", "DaemonSet", namespaced: true, short: ["ds"], status: true, names: Subdomain),
    resource!("batch", "jobs", "job", "Job", namespaced: true, short: [], status: true, names: Subdomain),
    resource!("batch", "cronjobs", "cronjob", "CronJob", namespaced: true, short: ["cj"], status: true, names: Subdomain),
    resource!("policy", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", namespaced: true, short: ["pdb"], status: true, names: Subdomain),
    resource!("networking.k8s.io", "ingresses", "ingress", "Ingress", namespaced: true, short: ["ing"], status: true, names: Subdomain),
    resource!("rbac.authorization.k8s.io", "roles", "role", "Role", namespaced: true, short: [], status: false, names: Subdomain),
    resource!("rbac.authorization.k8s.io", "rolebindings", "rolebinding", "RoleBinding", namespaced: true, short: [], status: false, names: Subdomain),
];

impl ResourceType {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps` or `configmaps`: how error messages name a resource.
    pub fn group_resource(&self) -> String {
        qualified(self.plural, self.group)
    }

    /// `Deployment.apps` or `ConfigMap`: how "is invalid" messages name a kind.
    pub fn group_kind(&self) -> String {
        qualified(self.kind, self.group)
    }

    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }
}

fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|resource| {
        resource.group == group && resource.version == version && resource.plural == plural
    })
}

/// The namespaces resource, which namespaced creates check against.
pub(crate) fn namespaces() -> &'static ResourceType {
    &RESOURCES[0]
}

/// Named API groups (not the core group) in first-seen order, each with its versions.
fn named_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for resource in RESOURCES
        .iter()
        .filter(|resource| !resource.group.is_empty())
    {
        match groups
            .iter_mut()
            .find(|(group, _)| *group == resource.group)
        {
            Some((_, versions)) if versions.contains(&resource.version) => {}
            Some((_, versions)) => versions.push(resource.version),
            None => groups.push((resource.group, vec![resource.version])),
        }
    }
    groups
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `GET /api`: the legacy `APIVersions` document.
pub(crate) fn core_api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| json!({"groupVersion": group_version(group, version), "version": version}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
}

/// `GET /apis`: the legacy `APIGroupList` document.
pub(crate) fn api_group_list() -> Value {
    let groups: Vec<Value> = named_groups()
        .iter()
        .map(|(group, versions)| api_group(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`: one `APIGroup`, or `None` when the group is not served.
pub(crate) fn api_group_document(group: &str) -> Option<Value> {
    let (name, versions) = named_groups()
        .into_iter()
        .find(|(name, _)| *name == group)?;
    let mut document = api_group(name, &versions);
    document["kind"] = json!("APIGroup");
    document["apiVersion"] = json!("v1");
    Some(document)
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`: the `APIResourceList`, or
/// `None` when that group version is not served.
pub(crate) fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for resource in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": ALL_VERBS,
            "shortNames": resource.short_names,
        }));
        if resource.has_status {
            resources.push(json!({
                "name": format!("{}/status", resource.plural),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": STATUS_VERBS,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

/// The media type clients ask for to get aggregated discovery (Kubernetes 1.30+).
pub(crate) const AGGREGATED_DISCOVERY_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery v2. Clients list it
/// beside plain JSON; the older v2beta1 form is answered with legacy JSON.
pub(crate) fn wants_aggregated_discovery(accept: &str) -> bool {
    accept.split(',').any(|media_type| {
        let parameters: Vec<&str> = media_type.split(';').map(str::trim).collect();
        parameters.contains(&"g=apidiscovery.k8s.io")
            && parameters.contains(&"v=v2")
            && parameters.contains(&"as=APIGroupDiscoveryList")
    })
}

/// `GET /api` or `GET /apis` with the aggregated Accept header: an
/// `APIGroupDiscoveryList` for the core group (`core == true`) or the named groups.
pub(crate) fn aggregated_discovery(core: bool) -> Value {
    let groups: Vec<(&str, Vec<&str>)> = if core {
        vec![("", vec!["v1"])]
    } else {
        named_groups()
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = RESOURCES
                        .iter()
                        .filter(|r| r.group == *group && r.version == *version)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn aggregated_resource(resource: &ResourceType) -> Value {
    let response_kind =
        json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let subresources: Vec<Value> = if resource.has_status {
        vec![json!({"subresource": "status", "responseKind": response_kind, "verbs": STATUS_VERBS})]
    } else {
        Vec::new()
    };
    json!({
        "resource": resource.plural,
        "responseKind": response_kind,
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular,
        "verbs": ALL_VERBS,
        "shortNames": resource.short_names,
        "subresources": subresources,
    })
}

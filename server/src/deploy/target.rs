//! Resolving each defined object to the API resource that serves it and the
//! namespace it lives in.

use std::collections::HashMap;

use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersion;
use kube::discovery::{self, Scope};
use kube::Client;

use super::definition::Definition;
use super::{DeployError, Run};

/// A defined object, ready to be sent: its resource is known and, when the kind
/// is namespaced, its namespace is filled in.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub document: usize,
    pub object: DynamicObject,
    pub resource: ApiResource,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
}

impl Target {
    pub fn name(&self) -> &str {
        // Checked to be present when the definition was parsed.
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn api(&self, client: &Client) -> Api<DynamicObject> {
        match &self.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }

    /// How errors name the object, e.g. `deployments/web in default`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{} in {namespace}", self.resource.plural, self.name()),
            None => format!("{}/{}", self.resource.plural, self.name()),
        }
    }

    /// How log lines name the object, e.g. `apps/v1 Deployment default/web`.
    pub fn title(&self) -> String {
        let place = match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name()),
            None => self.name().to_string(),
        };
        format!(
            "{} {} {place}",
            self.resource.api_version, self.resource.kind
        )
    }

    pub fn is_deployment(&self) -> bool {
        self.resource.group == "apps" && self.resource.kind == "Deployment"
    }
}

/// Resolves every definition, asking discovery once per distinct apiVersion and kind.
pub(crate) async fn resolve_all(
    run: &Run<'_>,
    definitions: Vec<Definition>,
    default_namespace: &str,
) -> Result<Vec<Target>, DeployError> {
    let mut known: HashMap<(String, String), (ApiResource, Scope)> = HashMap::new();
    let mut targets = Vec::with_capacity(definitions.len());
    for definition in definitions {
        let key = (definition.api_version.clone(), definition.kind.clone());
        let (resource, scope) = match known.get(&key) {
            Some(found) => found.clone(),
            None => {
                let found = discover(run, &definition).await?;
                known.insert(key, found.clone());
                found
            }
        };
        let mut object = definition.object;
        let namespace = match scope {
            Scope::Namespaced => {
                let namespace = object
                    .metadata
                    .namespace
                    .clone()
                    .filter(|namespace| !namespace.trim().is_empty())
                    .unwrap_or_else(|| default_namespace.to_string());
                object.metadata.namespace = Some(namespace.clone());
                Some(namespace)
            }
            Scope::Cluster => None,
        };
        targets.push(Target {
            document: definition.document,
            object,
            resource,
            namespace,
        });
    }
    Ok(targets)
}

async fn discover(
    run: &Run<'_>,
    definition: &Definition,
) -> Result<(ApiResource, Scope), DeployError> {
    let unknown_kind = || DeployError::UnknownKind {
        document: definition.document,
        api_version: definition.api_version.clone(),
        kind: definition.kind.clone(),
    };
    let group_version: GroupVersion = definition.api_version.parse().map_err(|_| unknown_kind())?;
    let kind = group_version.with_kind(&definition.kind);
    let discovered = run
        .unless_canceled(discovery::pinned_kind(&run.client, &kind))
        .await?;
    match discovered {
        Ok((resource, capabilities)) => Ok((resource, capabilities.scope)),
        // An API group or version the cluster does not serve answers 404; a
        // served group without the kind is a discovery error.
        Err(kube::Error::Api(status)) if status.code == 404 => Err(unknown_kind()),
        Err(kube::Error::Discovery(_)) => Err(unknown_kind()),
        Err(other) => Err(DeployError::from_kube(
            &format!(
                "discovery of {} in {}",
                definition.kind, definition.api_version
            ),
            other,
        )),
    }
}

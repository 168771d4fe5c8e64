//! Stored endpoints as the request side and the engine both read them: the
//! page/API view (secrets reduced to their names), the secrets unsealed, and
//! the endpoint a task names in its project. Only the store and the secret
//! box are needed, so the engine does not depend on the whole service.

use app::endpoint::{Endpoint, EndpointKind, EndpointSecrets, EndpointSettings};
use app::error::AppError;

use crate::crypto::SecretBox;
use crate::errors::{internal, Refusal};
use crate::store::{EndpointRecord, SharedStore};

/// The page/API view of a stored endpoint: settings parsed, secrets reduced to their names.
pub fn view(secret_box: &SecretBox, record: EndpointRecord) -> Result<Endpoint, AppError> {
    let settings: EndpointSettings = serde_json::from_str(&record.settings).map_err(internal)?;
    let stored_secrets = secrets(secret_box, &record)?.names();
    let last_validation = record
        .last_validation
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(internal)?;
    Ok(Endpoint {
        id: record.id,
        project: record.project_name,
        project_id: record.project_id,
        name: record.name,
        description: record.description,
        kind: record.kind,
        url: record.url,
        settings,
        stored_secrets,
        last_validation,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// The endpoint's secrets, unsealed (none stored: all empty).
pub fn secrets(
    secret_box: &SecretBox,
    record: &EndpointRecord,
) -> Result<EndpointSecrets, AppError> {
    match &record.sealed_secrets {
        None => Ok(EndpointSecrets::default()),
        Some(sealed) => {
            let json = secret_box.open(sealed).map_err(internal)?;
            serde_json::from_str(&json).map_err(internal)
        }
    }
}

/// An endpoint of the project by id or name, with its secrets, for a task
/// or a webhook. No such endpoint of that kind is a [`Refusal::Reason`]; a
/// failure to read or unseal it is [`Refusal::Internal`] (its cause logged).
pub async fn in_project(
    store: &SharedStore,
    secret_box: &SecretBox,
    project_id: i64,
    reference: &str,
    kind: EndpointKind,
) -> Result<(Endpoint, EndpointSecrets), Refusal> {
    let candidates = match reference.parse::<i64>() {
        Ok(id) => store.endpoint_by_id(id).await.map(Vec::from_iter),
        Err(_) => store.endpoints_by_name(reference).await,
    }
    .map_err(|error| Refusal::from(internal(error)))?;
    let record = candidates
        .into_iter()
        .find(|record| record.project_id == project_id && record.kind == kind)
        .ok_or_else(|| {
            Refusal::Reason(format!(
                "the project has no {} endpoint '{reference}'",
                kind.label()
            ))
        })?;
    let secrets = secrets(secret_box, &record)?;
    let endpoint = view(secret_box, record)?;
    Ok((endpoint, secrets))
}

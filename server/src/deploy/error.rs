//! Why a Kubernetes task failed, worded for the person reading the task's error.

use std::time::Duration;

/// A failed Kubernetes task. Messages name the object (`deployments/web in
/// default`) and quote what the cluster said; they never carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// A YAML document is not valid YAML or not a Kubernetes object.
    /// `document` counts from 1, in the order the documents are written.
    #[error("YAML document {document}: {problem}")]
    InvalidDefinition { document: usize, problem: String },

    /// The definition (after `${…}` substitution) is past its size or
    /// document limit ([`crate::yaml_guard::YamlLimits::DEFINITION`]).
    #[error("the YAML definition is refused: {problem}")]
    DefinitionTooLarge { problem: String },

    /// The definition holds no object at all.
    #[error("the YAML definition holds no Kubernetes object")]
    EmptyDefinition,

    /// API discovery found no such kind on the cluster.
    #[error("YAML document {document}: the cluster does not serve kind {kind} in {api_version}")]
    UnknownKind {
        document: usize,
        api_version: String,
        kind: String,
    },

    /// The API refused a request (`code` is its HTTP status), or could not be
    /// reached or understood (`code` is `None`, `reason` says which).
    #[error("{object}: {}", describe_api_failure(*.code, .reason, .message))]
    Api {
        object: String,
        code: Option<u16>,
        reason: String,
        message: String,
    },

    /// ROLLBACK cannot proceed (no earlier revision, paused deployment, …).
    #[error("cannot roll back {object}: {problem}")]
    Rollback { object: String, problem: String },

    /// A Deployment did not finish its rollout before the deadline.
    #[error(
        "{object} did not finish its rollout within {}: {waiting_for}",
        describe_duration(*.timeout)
    )]
    RolloutTimeout {
        object: String,
        timeout: Duration,
        /// What was still missing at the deadline, as `kubectl rollout status` says it.
        waiting_for: String,
    },

    /// The cluster gave up on a rollout (its progress deadline passed).
    #[error("{object}: the rollout failed: {message}")]
    RolloutFailed { object: String, message: String },

    /// A rollout failed and the task rolled back what it had changed
    /// (`rollback_on_failure`); says the failure, what was rolled back, and
    /// what could not be.
    #[error(
        "{failure}; {}",
        describe_rollback(.rolled_back, .not_rolled_back)
    )]
    RolledBack {
        failure: Box<DeployError>,
        rolled_back: Vec<RolledBackWorkload>,
        /// Why a workload could not be rolled back, one sentence each.
        not_rolled_back: Vec<String>,
    },

    /// The run was canceled.
    #[error("canceled")]
    Canceled,
}

/// A workload put back on an earlier revision after a failed rollout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RolledBackWorkload {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The revision whose template it runs again.
    pub revision: i64,
    /// Its first container's image after the rollback.
    pub image: Option<String>,
}

impl std::fmt::Display for RolledBackWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rolled back {}/{} to revision {}",
            self.kind, self.name, self.revision
        )?;
        match &self.image {
            Some(image) => write!(f, " (image {image})"),
            None => Ok(()),
        }
    }
}

fn describe_rollback(rolled_back: &[RolledBackWorkload], not_rolled_back: &[String]) -> String {
    let mut parts: Vec<String> = rolled_back.iter().map(ToString::to_string).collect();
    if !not_rolled_back.is_empty() {
        parts.push(format!(
            "the rollback failed too: {}",
            not_rolled_back.join("; ")
        ));
    }
    if parts.is_empty() {
        parts.push("nothing to roll back: the task moved no Deployment to a new revision".into());
    }
    parts.join("; ")
}

impl DeployError {
    /// Wraps a kube client error about `object`.
    pub(crate) fn from_kube(object: &str, error: kube::Error) -> Self {
        let object = object.to_string();
        match error {
            kube::Error::Api(status) => Self::Api {
                object,
                code: Some(status.code),
                reason: status.reason,
                message: status.message,
            },
            other => {
                let reason = match &other {
                    kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => "UnexpectedResponse",
                    kube::Error::Auth(_) => "AuthenticationFailed",
                    _ => "Unreachable",
                };
                Self::Api {
                    object,
                    code: None,
                    reason: reason.to_string(),
                    message: other.to_string(),
                }
            }
        }
    }

    /// `{"rolled_back": [{kind, name, namespace, revision, image}]}` when the
    /// task rolled back after a failed rollout: what a failed task's output
    /// would hold.
    pub fn rolled_back_output(&self) -> Option<serde_json::Value> {
        match self {
            Self::RolledBack { rolled_back, .. } => {
                Some(serde_json::json!({ "rolled_back": rolled_back }))
            }
            _ => None,
        }
    }

    /// The HTTP status the API answered with, when the failure is an API answer.
    pub fn api_code(&self) -> Option<u16> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }
}

fn describe_api_failure(code: Option<u16>, reason: &str, message: &str) -> String {
    match code {
        Some(code) => format!("the Kubernetes API answered {code} {reason}: {message}"),
        None => format!("no usable answer from the Kubernetes API ({reason}): {message}"),
    }
}

fn describe_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

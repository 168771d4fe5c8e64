//! Approval tasks as people see them: the request a waiting task makes, the
//! decision they send, and the list of approvals waiting for someone.

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// Longest comment an approver may leave.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// What an approver decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

/// The body of `POST /api/v1/executions/{id}/approve` and `/reject`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DecisionRequest {
    /// `<stage>.<task>`; may be left out when one approval task waits.
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// An approval task's request, on its task in a run's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalView {
    /// The summary with its bindings resolved.
    pub summary: String,
    pub approvers: Vec<String>,
    pub approver_roles: Vec<String>,
    pub allow_self_approval: bool,
    /// When it expires (while it waits).
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub expires_at: Option<Millis>,
    /// What the next stage's Kubernetes tasks would change (server-side dry
    /// runs when the approval started): `[{"task", "diff"} | {"task", "error"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<serde_json::Value>,
    /// Whether the reader may approve or reject it now.
    pub can_decide: bool,
    /// Why not, when the reader may not (and it waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// An approval waiting for the reader: what the navigation counts and lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WaitingApproval {
    pub execution_id: i64,
    pub project: String,
    pub pipeline: String,
    pub run_number: i64,
    /// `<stage>.<task>`.
    pub task: String,
    pub summary: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub expires_at: Option<Millis>,
}

/// Who may decide, in words: "alice, bob or project administrators".
pub fn who_decides(approvers: &[String], roles: &[String]) -> String {
    let mut names: Vec<String> = approvers.to_vec();
    names.extend(roles.iter().map(|role| format!("project {role}s")));
    match names.len() {
        0 => "nobody".to_string(),
        1 => names.remove(0),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {last}", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_decides_reads_as_a_sentence() {
        let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        assert_eq!(who_decides(&names(&["alice"]), &[]), "alice");
        assert_eq!(
            who_decides(&names(&["alice", "bob"]), &names(&["administrator"])),
            "alice, bob or project administrators"
        );
        assert_eq!(
            who_decides(&[], &names(&["developer"])),
            "project developers"
        );
    }

    #[test]
    fn a_decision_request_needs_no_task_when_one_waits() {
        let request: DecisionRequest = serde_json::from_str(r#"{"comment":"ok"}"#).unwrap();
        assert_eq!(request.task, None);
        assert!(serde_json::from_str::<DecisionRequest>(r#"{"tsk":"a.b"}"#).is_err());
    }
}

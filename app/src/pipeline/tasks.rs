//! The task types, and the accessors the editor reads and writes them with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{substitute_in, Binding, Placement, SpecError};

// No `deny_unknown_fields` here: serde does not support it next to `flatten`.
// Unknown fields still fail, in the task type's struct, which denies them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Task {
    pub name: String,
    /// When set, a failure of this task does not fail the stage.
    #[serde(default)]
    pub continue_on_failure: bool,
    /// An expression (see [`crate::expression`]); when false the task is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<String>,
    #[serde(flatten)]
    pub spec: TaskSpec,
}

/// What a task does, chosen by its `"type"` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum TaskSpec {
    Kubernetes(KubernetesTask),
    Rest(RestTask),
    Poll(PollTask),
    Condition(ConditionTask),
    Approval(ApprovalTask),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KubernetesTask {
    /// Name or id of a Kubernetes endpoint of the project (checked by the server).
    pub endpoint: String,
    /// `GET`, `CREATE`, `APPLY`, `DELETE` or `ROLLBACK`, in any case. (Read
    /// from any text, an unknown action named by validation: its schema is text.)
    #[cfg_attr(
        feature = "ssr",
        schema(value_type = String, example = "APPLY")
    )]
    pub action: KubernetesAction,
    /// One or more YAML documents (separated by `---`) naming the objects.
    pub yaml: String,
    /// For CREATE: an object that already exists is not a failure.
    #[serde(default)]
    pub continue_on_conflict: bool,
    /// Waits until Deployments (and the like) have rolled out.
    #[serde(default)]
    pub wait_for_rollout: bool,
    #[serde(default = "default_rollout_timeout")]
    pub rollout_timeout_seconds: u64,
    /// For ROLLBACK: the revision to go back to (0 or absent: the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<i64>,
    /// When a rollout fails (timeout, `ProgressDeadlineExceeded`, pods that
    /// cannot pull or keep crashing), each workload the task changed goes
    /// back to its previous revision and the task fails saying so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback_on_failure: bool,
    /// A server-side dry run: nothing changes; the task's output `diff`
    /// shows what would, against the live objects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

fn default_rollout_timeout() -> u64 {
    300
}

/// The Kubernetes actions, written in upper case. An unknown action is kept
/// as [`KubernetesAction::Unknown`] rather than refused while reading, so
/// that [`validate`](super::validate) names it with its place like every other mistake.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum KubernetesAction {
    Get,
    Create,
    Apply,
    Delete,
    Rollback,
    Unknown(String),
}

impl KubernetesAction {
    pub const KNOWN: [KubernetesAction; 5] = [
        KubernetesAction::Get,
        KubernetesAction::Create,
        KubernetesAction::Apply,
        KubernetesAction::Delete,
        KubernetesAction::Rollback,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            KubernetesAction::Get => "GET",
            KubernetesAction::Create => "CREATE",
            KubernetesAction::Apply => "APPLY",
            KubernetesAction::Delete => "DELETE",
            KubernetesAction::Rollback => "ROLLBACK",
            KubernetesAction::Unknown(text) => text,
        }
    }
}

impl From<String> for KubernetesAction {
    /// Case-insensitive: `create` is CREATE.
    fn from(text: String) -> Self {
        KubernetesAction::KNOWN
            .into_iter()
            .find(|action| action.as_str().eq_ignore_ascii_case(&text))
            .unwrap_or(KubernetesAction::Unknown(text))
    }
}

impl From<KubernetesAction> for String {
    fn from(action: KubernetesAction) -> Self {
        action.as_str().to_string()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RestTask {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Statuses that count as success; empty means any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_status: Vec<u16>,
}

impl RestTask {
    pub fn accepts_status(&self, status: u16) -> bool {
        if self.expected_status.is_empty() {
            (200..=299).contains(&status)
        } else {
            self.expected_status.contains(&status)
        }
    }
}

/// Repeats a request until its condition holds, the timeout passes or the
/// attempts run out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PollTask {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// An expression; `$` in it is the response body read as JSON
    /// (e.g. `$.status.readyReplicas >= 1`).
    pub condition: String,
    #[serde(default = "default_poll_interval")]
    pub interval_seconds: u64,
    #[serde(default = "default_poll_timeout")]
    pub timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_poll_interval() -> u64 {
    5
}

fn default_poll_timeout() -> u64 {
    300
}

/// Waits for a person to approve or reject the run (the run is WAITING
/// meanwhile); a rejection or the expiry fails the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalTask {
    /// User names who may decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Project roles whose members may decide (`admin`, `member`, `viewer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approver_roles: Vec<String>,
    /// What the approver is asked, with bindings (e.g. the digest).
    #[serde(default)]
    pub summary: String,
    #[serde(default = "default_approval_expiry")]
    pub expires_after_seconds: i64,
    /// Whether the user who started the run (or it runs as) may approve it.
    #[serde(default)]
    pub allow_self_approval: bool,
}

fn default_approval_expiry() -> i64 {
    86_400
}

/// Succeeds when its expression is true, fails the task otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConditionTask {
    pub expression: String,
}

impl TaskSpec {
    /// The `type` as written in JSON and YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskSpec::Kubernetes(_) => "kubernetes",
            TaskSpec::Rest(_) => "rest",
            TaskSpec::Poll(_) => "poll",
            TaskSpec::Condition(_) => "condition",
            TaskSpec::Approval(_) => "approval",
        }
    }

    /// The text fields the engine substitutes bindings into before running
    /// the task, with their field names (`yaml`, `headers.Authorization`).
    /// Expressions are not among them: they read bindings as values, so a
    /// value can never change an expression's meaning.
    pub fn templates(&self) -> Vec<(String, &str)> {
        match self {
            TaskSpec::Kubernetes(task) => vec![
                ("endpoint".to_string(), task.endpoint.as_str()),
                ("yaml".to_string(), task.yaml.as_str()),
            ],
            TaskSpec::Rest(RestTask {
                url, headers, body, ..
            })
            | TaskSpec::Poll(PollTask {
                url, headers, body, ..
            }) => request_templates(url, headers, body.as_deref()).collect(),
            TaskSpec::Approval(task) => vec![("summary".to_string(), task.summary.as_str())],
            TaskSpec::Condition(_) => Vec::new(),
        }
    }

    /// The expressions of the task itself (not its precondition), by field name.
    pub fn expressions(&self) -> Vec<(&'static str, &str)> {
        match self {
            TaskSpec::Poll(task) => vec![("condition", task.condition.as_str())],
            TaskSpec::Condition(task) => vec![("expression", task.expression.as_str())],
            TaskSpec::Kubernetes(_) | TaskSpec::Rest(_) | TaskSpec::Approval(_) => Vec::new(),
        }
    }

    /// A copy with every binding in [`TaskSpec::templates`] replaced; the
    /// error's path is the field name.
    pub fn resolved(
        &self,
        resolve: impl Fn(&Binding) -> Option<String>,
    ) -> Result<TaskSpec, SpecError> {
        let mut copy = self.clone();
        let fields: Vec<(String, Placement, &mut String)> = match &mut copy {
            TaskSpec::Kubernetes(task) => vec![
                ("endpoint".to_string(), Placement::Text, &mut task.endpoint),
                ("yaml".to_string(), Placement::Yaml, &mut task.yaml),
            ],
            TaskSpec::Rest(RestTask {
                url, headers, body, ..
            })
            | TaskSpec::Poll(PollTask {
                url, headers, body, ..
            }) => std::iter::once(("url".to_string(), Placement::Url, url))
                .chain(
                    headers
                        .iter_mut()
                        .map(|(name, value)| (format!("headers.{name}"), Placement::Header, value)),
                )
                .chain(
                    body.as_mut()
                        .map(|body| ("body".to_string(), Placement::Text, body)),
                )
                .collect(),
            TaskSpec::Approval(task) => {
                vec![("summary".to_string(), Placement::Text, &mut task.summary)]
            }
            TaskSpec::Condition(_) => Vec::new(),
        };
        for (field, placement, text) in fields {
            *text = substitute_in(text, placement, &resolve).map_err(|error| SpecError {
                path: field,
                message: error.to_string(),
            })?;
        }
        Ok(copy)
    }
}

fn request_templates<'a>(
    url: &'a str,
    headers: &'a BTreeMap<String, String>,
    body: Option<&'a str>,
) -> impl Iterator<Item = (String, &'a str)> {
    std::iter::once(("url".to_string(), url))
        .chain(
            headers
                .iter()
                .map(|(name, value)| (format!("headers.{name}"), value.as_str())),
        )
        .chain(body.map(|body| ("body".to_string(), body)))
}

impl TaskSpec {
    /// Every `type`, in the order the editor offers them.
    pub const KINDS: [&'static str; 5] = ["kubernetes", "rest", "poll", "condition", "approval"];

    /// How pages name a `type` ([`TaskSpec::kind`]).
    pub fn kind_label(kind: &str) -> &'static str {
        match kind {
            "kubernetes" => "Kubernetes",
            "rest" => "REST",
            "poll" => "Poll",
            "condition" => "Condition",
            "approval" => "Approval",
            _ => "Task",
        }
    }
}

/// The accessors of the part of a task that its type has: `None` when the
/// task is of another type.
macro_rules! task_part {
    ($variant:ident, $part:ty, $read:ident, $write:ident) => {
        #[doc = concat!("The ", stringify!($variant), " part of the task, if it is of that type.")]
        pub fn $read(&self) -> Option<&$part> {
            match &self.spec {
                TaskSpec::$variant(part) => Some(part),
                _ => None,
            }
        }

        #[doc = concat!("The ", stringify!($variant), " part of the task to change, if it is of that type.")]
        pub fn $write(&mut self) -> Option<&mut $part> {
            match &mut self.spec {
                TaskSpec::$variant(part) => Some(part),
                _ => None,
            }
        }
    };
}

/// The request REST and Poll tasks both send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    pub body: Option<&'a str>,
}

/// The request REST and Poll tasks both send, to change in place.
#[derive(Debug, PartialEq, Eq)]
pub struct TaskRequestMut<'a> {
    pub method: &'a mut String,
    pub url: &'a mut String,
    pub headers: &'a mut BTreeMap<String, String>,
    pub body: &'a mut Option<String>,
}

impl Task {
    /// A task of `kind` (one of [`TaskSpec::KINDS`]; anything else gives a
    /// Kubernetes task) with the values a new task starts from in the
    /// editor: requests GET, polls every 5 seconds for up to 300, and
    /// Kubernetes tasks APPLY on `kubernetes_endpoint`.
    pub fn new_of_kind(kind: &str, name: String, kubernetes_endpoint: String) -> Task {
        let spec = match kind {
            "rest" => TaskSpec::Rest(RestTask {
                method: default_method(),
                url: String::new(),
                headers: BTreeMap::new(),
                body: None,
                expected_status: Vec::new(),
            }),
            "poll" => TaskSpec::Poll(PollTask {
                method: default_method(),
                url: String::new(),
                headers: BTreeMap::new(),
                body: None,
                condition: String::new(),
                interval_seconds: default_poll_interval(),
                timeout_seconds: default_poll_timeout(),
                max_attempts: None,
            }),
            "condition" => TaskSpec::Condition(ConditionTask {
                expression: String::new(),
            }),
            "approval" => TaskSpec::Approval(ApprovalTask {
                approvers: Vec::new(),
                approver_roles: Vec::new(),
                summary: String::new(),
                expires_after_seconds: default_approval_expiry(),
                allow_self_approval: false,
            }),
            _ => TaskSpec::Kubernetes(KubernetesTask {
                endpoint: kubernetes_endpoint,
                action: KubernetesAction::Apply,
                yaml: String::new(),
                continue_on_conflict: false,
                wait_for_rollout: false,
                rollout_timeout_seconds: default_rollout_timeout(),
                to_revision: None,
                rollback_on_failure: false,
                dry_run: false,
            }),
        };
        Task {
            name,
            continue_on_failure: false,
            precondition: None,
            spec,
        }
    }

    task_part!(Kubernetes, KubernetesTask, kubernetes, kubernetes_mut);
    task_part!(Rest, RestTask, rest, rest_mut);
    task_part!(Poll, PollTask, poll, poll_mut);
    task_part!(Condition, ConditionTask, condition, condition_mut);
    task_part!(Approval, ApprovalTask, approval, approval_mut);

    /// The request of a REST or Poll task.
    pub fn request(&self) -> Option<TaskRequest<'_>> {
        let (method, url, headers, body) = match &self.spec {
            TaskSpec::Rest(rest) => (&rest.method, &rest.url, &rest.headers, &rest.body),
            TaskSpec::Poll(poll) => (&poll.method, &poll.url, &poll.headers, &poll.body),
            TaskSpec::Kubernetes(_) | TaskSpec::Condition(_) | TaskSpec::Approval(_) => {
                return None
            }
        };
        Some(TaskRequest {
            method,
            url,
            headers,
            body: body.as_deref(),
        })
    }

    /// The request of a REST or Poll task, to change in place.
    pub fn request_mut(&mut self) -> Option<TaskRequestMut<'_>> {
        let (method, url, headers, body) = match &mut self.spec {
            TaskSpec::Rest(rest) => (
                &mut rest.method,
                &mut rest.url,
                &mut rest.headers,
                &mut rest.body,
            ),
            TaskSpec::Poll(poll) => (
                &mut poll.method,
                &mut poll.url,
                &mut poll.headers,
                &mut poll.body,
            ),
            TaskSpec::Kubernetes(_) | TaskSpec::Condition(_) | TaskSpec::Approval(_) => {
                return None
            }
        };
        Some(TaskRequestMut {
            method,
            url,
            headers,
            body,
        })
    }
}

// The editor shows headers and expected statuses as one text each.

/// Headers as `Name: value` lines, the form [`parse_headers`] reads.
pub fn headers_text(headers: &BTreeMap<String, String>) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Name: value` lines; lines without a colon or a name are left out (they
/// are being typed), and the value is what follows the first colon.
pub fn parse_headers(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// Statuses as `200, 201`, the form [`parse_statuses`] reads.
pub fn statuses_text(statuses: &[u16]) -> String {
    statuses
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Statuses separated by commas or spaces; what is not a number is left out.
pub fn parse_statuses(text: &str) -> Vec<u16> {
    text.split([',', ' '])
        .filter_map(|part| part.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_task(kind: &str) -> Task {
        Task::new_of_kind(kind, format!("{kind}-task"), "dev-cluster".to_string())
    }

    #[test]
    fn new_tasks_have_their_kind_and_the_defaults_of_a_read_task() {
        for kind in TaskSpec::KINDS {
            let task = new_task(kind);
            assert_eq!(task.spec.kind(), kind);
            assert_eq!(task.name, format!("{kind}-task"));
            assert!(!task.continue_on_failure && task.precondition.is_none());
            assert_ne!(TaskSpec::kind_label(kind), "Task", "{kind} has a label");
        }
        // A new task reads back as it is written: its starting values are the
        // defaults a definition that leaves them out gets.
        let rest: RestTask = serde_json::from_value(serde_json::json!({"url": ""})).unwrap();
        assert_eq!(new_task("rest").rest(), Some(&rest));
        let poll: PollTask =
            serde_json::from_value(serde_json::json!({"url": "", "condition": ""})).unwrap();
        assert_eq!(new_task("poll").poll(), Some(&poll));

        let kubernetes = new_task("kubernetes");
        let kubernetes = kubernetes.kubernetes().unwrap();
        assert_eq!(kubernetes.endpoint, "dev-cluster");
        assert_eq!(kubernetes.action, KubernetesAction::Apply);
        assert_eq!(kubernetes.rollout_timeout_seconds, 300);
        assert_eq!(new_task("no such kind").spec.kind(), "kubernetes");
        assert_eq!(TaskSpec::kind_label("no such kind"), "Task");
    }

    #[test]
    fn each_part_is_there_for_its_own_kind_only() {
        for kind in TaskSpec::KINDS {
            let task = new_task(kind);
            assert_eq!(task.kubernetes().is_some(), kind == "kubernetes", "{kind}");
            assert_eq!(task.rest().is_some(), kind == "rest", "{kind}");
            assert_eq!(task.poll().is_some(), kind == "poll", "{kind}");
            assert_eq!(task.condition().is_some(), kind == "condition", "{kind}");
            assert_eq!(
                task.request().is_some(),
                kind == "rest" || kind == "poll",
                "{kind}"
            );
            let mut task = task;
            assert_eq!(task.kubernetes_mut().is_some(), kind == "kubernetes");
            assert_eq!(task.rest_mut().is_some(), kind == "rest");
            assert_eq!(task.poll_mut().is_some(), kind == "poll");
            assert_eq!(task.condition_mut().is_some(), kind == "condition");
            assert_eq!(
                task.request_mut().is_some(),
                kind == "rest" || kind == "poll"
            );
        }
    }

    #[test]
    fn parts_change_the_task_in_place() {
        let mut task = new_task("kubernetes");
        task.kubernetes_mut().unwrap().yaml = "kind: Service".to_string();
        let TaskSpec::Kubernetes(kubernetes) = &task.spec else {
            panic!("kubernetes")
        };
        assert_eq!(kubernetes.yaml, "kind: Service");

        let mut task = new_task("condition");
        task.condition_mut().unwrap().expression = "true".to_string();
        assert_eq!(task.condition().unwrap().expression, "true");

        let mut task = new_task("poll");
        task.poll_mut().unwrap().max_attempts = Some(3);
        let TaskSpec::Poll(poll) = &task.spec else {
            panic!("poll")
        };
        assert_eq!(poll.max_attempts, Some(3));
    }

    #[test]
    fn the_request_is_the_rest_or_poll_tasks_own() {
        for kind in ["rest", "poll"] {
            let mut task = new_task(kind);
            let request = task.request_mut().unwrap();
            *request.method = "POST".to_string();
            *request.url = "https://x.test".to_string();
            request.headers.insert("A".to_string(), "1".to_string());
            *request.body = Some("{}".to_string());

            let (method, url, headers, body) = match &task.spec {
                TaskSpec::Rest(rest) => (&rest.method, &rest.url, &rest.headers, &rest.body),
                TaskSpec::Poll(poll) => (&poll.method, &poll.url, &poll.headers, &poll.body),
                other => panic!("{other:?}"),
            };
            assert_eq!((method.as_str(), url.as_str()), ("POST", "https://x.test"));
            assert_eq!(headers.get("A").map(String::as_str), Some("1"));
            assert_eq!(body.as_deref(), Some("{}"));
            assert_eq!(
                task.request(),
                Some(TaskRequest {
                    method: "POST",
                    url: "https://x.test",
                    headers,
                    body: Some("{}"),
                })
            );
        }
    }

    #[test]
    fn headers_read_as_written_and_skip_lines_being_typed() {
        let headers =
            parse_headers("Accept: json\n  X-Url : https://a.test:8443 \nhalf\n: nameless\n");
        assert_eq!(
            headers,
            BTreeMap::from([
                ("Accept".to_string(), "json".to_string()),
                ("X-Url".to_string(), "https://a.test:8443".to_string()),
            ])
        );
        assert_eq!(
            headers_text(&headers),
            "Accept: json\nX-Url: https://a.test:8443"
        );
        assert_eq!(parse_headers(&headers_text(&headers)), headers);
        assert_eq!(headers_text(&BTreeMap::new()), "");
    }

    #[test]
    fn statuses_read_with_commas_or_spaces() {
        assert_eq!(parse_statuses("200, 201 204,,x,99999"), [200, 201, 204]);
        assert_eq!(statuses_text(&[200, 201]), "200, 201");
        assert_eq!(parse_statuses(&statuses_text(&[204, 404])), [204, 404]);
        assert!(parse_statuses("").is_empty());
    }
}

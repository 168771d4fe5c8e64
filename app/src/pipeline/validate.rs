//! The checks of a definition that need no database.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{
    is_docker_parameter, pieces, ApprovalTask, Binding, KubernetesAction, KubernetesTask,
    NotificationTarget, Piece, PipelineSpec, Task, TaskSpec,
};
use crate::expression::Expression;
use crate::model::ProjectRole;

/// Longest stage, task or input name: they appear in bindings and in pages.
const MAX_NAME_CHARS: usize = 64;
/// Longest wait a task may ask for (a Poll task's interval and timeout, a
/// Kubernetes task's rollout timeout): one day, in seconds.
pub const MAX_DURATION_SECONDS: u64 = 24 * 60 * 60;
/// Most attempts of a Poll task: one a second for [`MAX_DURATION_SECONDS`].
pub const MAX_POLL_ATTEMPTS: u32 = 86_400;
/// Longest an approval may wait: 30 days.
pub const MAX_APPROVAL_SECONDS: i64 = 30 * 24 * 60 * 60;
/// Longest approval summary.
const MAX_SUMMARY_CHARS: usize = 4_000;
/// Most notifications of one pipeline, and addresses of one email.
const MAX_NOTIFICATIONS: usize = 20;
const MAX_EMAIL_RECIPIENTS: usize = 50;
/// Most runs of one pipeline active at once.
pub const MAX_CONCURRENCY: u32 = 100;

/// One mistake in a pipeline. `path` names its place the way the JSON is
/// nested, by position: `stages[1].tasks[0].yaml`, `inputs[2].name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    pub path: String,
    pub message: String,
}

/// Checks everything that can be checked without the database (whether
/// endpoints exist is the server's part). All mistakes are returned, in the
/// order they appear in the pipeline.
pub fn validate(spec: &PipelineSpec) -> Result<(), Vec<SpecError>> {
    let mut validator = Validator {
        spec,
        input_names: spec
            .effective_inputs()
            .into_iter()
            .map(|input| input.name)
            .collect(),
        errors: Vec::new(),
    };
    validator.check_pipeline();
    validator.check_inputs();
    validator.check_stages();
    validator.check_notifications();
    if validator.errors.is_empty() {
        Ok(())
    } else {
        Err(validator.errors)
    }
}

struct Validator<'a> {
    spec: &'a PipelineSpec,
    input_names: HashSet<String>,
    errors: Vec<SpecError>,
}

impl Validator<'_> {
    fn report(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SpecError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn report_app_error(&mut self, result: Result<(), crate::error::AppError>) {
        match result {
            Ok(()) => {}
            Err(crate::error::AppError::Invalid { field, message }) => self.report(field, message),
            Err(other) => self.report("", other.to_string()),
        }
    }

    fn check_pipeline(&mut self) {
        let spec = self.spec;
        if spec.project.trim().is_empty() {
            self.report("project", "is required: the name or id of a project");
        }
        // Pipelines are named like projects and every other object.
        self.report_app_error(crate::model::validate_name("name", &spec.name));
        self.report_app_error(crate::model::validate_description(
            "description",
            &spec.description,
        ));
        if spec.concurrency < 1 {
            self.report(
                "concurrency",
                "must be at least 1 (the number of runs active at once)",
            );
        } else if spec.concurrency > MAX_CONCURRENCY {
            self.report(
                "concurrency",
                format!("must be at most {MAX_CONCURRENCY} (the number of runs active at once)"),
            );
        }
    }

    fn check_inputs(&mut self) {
        let spec = self.spec;
        let inputs = &spec.inputs;
        for (index, input) in inputs.iter().enumerate() {
            self.check_binding_name(format!("inputs[{index}].name"), &input.name);
        }
        self.check_unique(
            "input",
            inputs
                .iter()
                .enumerate()
                .map(|(index, input)| (format!("inputs[{index}].name"), input.name.as_str())),
        );
    }

    fn check_stages(&mut self) {
        let spec = self.spec;
        let stages = &spec.stages;
        if stages.is_empty() {
            self.report("stages", "a pipeline needs at least one stage");
        }
        for (stage_index, stage) in stages.iter().enumerate() {
            let stage_path = format!("stages[{stage_index}]");
            self.check_binding_name(format!("{stage_path}.name"), &stage.name);
            if stage.name == "input" {
                self.report(
                    format!("{stage_path}.name"),
                    "`input` is reserved: ${input.…} refers to input parameters",
                );
            }
            if stage.tasks.is_empty() {
                self.report(
                    format!("{stage_path}.tasks"),
                    "a stage needs at least one task",
                );
            }
            for (task_index, task) in stage.tasks.iter().enumerate() {
                self.check_task(
                    stage_index,
                    &format!("{stage_path}.tasks[{task_index}]"),
                    task,
                );
            }
            self.check_unique(
                "task of this stage",
                stage.tasks.iter().enumerate().map(|(task_index, task)| {
                    (
                        format!("{stage_path}.tasks[{task_index}].name"),
                        task.name.as_str(),
                    )
                }),
            );
        }
        self.check_unique(
            "stage",
            stages
                .iter()
                .enumerate()
                .map(|(index, stage)| (format!("stages[{index}].name"), stage.name.as_str())),
        );
    }

    fn check_task(&mut self, stage_index: usize, task_path: &str, task: &Task) {
        self.check_binding_name(format!("{task_path}.name"), &task.name);
        if let Some(precondition) = &task.precondition {
            self.check_expression(
                stage_index,
                &format!("{task_path}.precondition"),
                precondition,
                false,
            );
        }
        let field = |name: &str| format!("{task_path}.{name}");
        match &task.spec {
            TaskSpec::Kubernetes(kubernetes) => self.check_kubernetes(task_path, kubernetes),
            TaskSpec::Rest(rest) => {
                self.check_request(task_path, &rest.method, &rest.url, &rest.headers);
                for status in &rest.expected_status {
                    if !(100..=599).contains(status) {
                        self.report(
                            field("expected_status"),
                            format!("{status} is not an HTTP status (100 to 599)"),
                        );
                    }
                }
            }
            TaskSpec::Poll(poll) => {
                self.check_request(task_path, &poll.method, &poll.url, &poll.headers);
                if poll.interval_seconds < 1 {
                    self.report(field("interval_seconds"), "must be at least 1");
                }
                self.check_duration(field("interval_seconds"), poll.interval_seconds);
                self.check_duration(field("timeout_seconds"), poll.timeout_seconds);
                if poll.timeout_seconds < poll.interval_seconds {
                    self.report(
                        field("timeout_seconds"),
                        format!(
                            "must be at least interval_seconds ({})",
                            poll.interval_seconds
                        ),
                    );
                }
                match poll.max_attempts {
                    Some(0) => self.report(
                        field("max_attempts"),
                        "must be at least 1 (or left out: no limit)",
                    ),
                    Some(attempts) if attempts > MAX_POLL_ATTEMPTS => self.report(
                        field("max_attempts"),
                        format!("must be at most {MAX_POLL_ATTEMPTS} (or left out: no limit)"),
                    ),
                    _ => {}
                }
            }
            TaskSpec::Condition(_) => {}
            TaskSpec::Approval(approval) => self.check_approval(task_path, approval),
        }
        for (name, expression) in task.spec.expressions() {
            let allows_response = matches!(task.spec, TaskSpec::Poll(_));
            self.check_expression(stage_index, &field(name), expression, allows_response);
        }
        for (name, text) in task.spec.templates() {
            self.check_template(stage_index, &field(&name), text);
        }
    }

    fn check_approval(&mut self, task_path: &str, task: &ApprovalTask) {
        let field = |name: &str| format!("{task_path}.{name}");
        if task.approvers.iter().all(|name| name.trim().is_empty())
            && task.approver_roles.is_empty()
        {
            self.report(
                field("approvers"),
                "name at least one approver (a user name) or an approver role",
            );
        }
        for (index, name) in task.approvers.iter().enumerate() {
            if name.trim().is_empty() {
                self.report(
                    format!("{task_path}.approvers[{index}]"),
                    "is empty: write a user name",
                );
            }
        }
        for (index, role) in task.approver_roles.iter().enumerate() {
            if ProjectRole::parse(role).is_none() {
                let known: Vec<&str> = ProjectRole::ALL.iter().map(|role| role.as_str()).collect();
                self.report(
                    format!("{task_path}.approver_roles[{index}]"),
                    format!(
                        "unknown role `{role}`: expected one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
        if task.expires_after_seconds < 1 {
            self.report(
                field("expires_after_seconds"),
                "must be at least 1 (the default is 86400, a day)",
            );
        } else if task.expires_after_seconds > MAX_APPROVAL_SECONDS {
            self.report(
                field("expires_after_seconds"),
                format!("must be at most {MAX_APPROVAL_SECONDS} (30 days)"),
            );
        }
        if task.summary.chars().count() > MAX_SUMMARY_CHARS {
            self.report(
                field("summary"),
                format!("must be at most {MAX_SUMMARY_CHARS} characters"),
            );
        }
    }

    fn check_notifications(&mut self) {
        if self.spec.notifications.len() > MAX_NOTIFICATIONS {
            self.report(
                "notifications".to_string(),
                format!("at most {MAX_NOTIFICATIONS} notifications per pipeline"),
            );
        }
        for (index, notification) in self.spec.notifications.iter().enumerate() {
            let path = format!("notifications[{index}]");
            if notification.on.is_empty() {
                self.report(
                    format!("{path}.on"),
                    "name at least one of started, waiting, completed, failed, canceled",
                );
            }
            match &notification.target {
                NotificationTarget::Webhook(webhook) => {
                    let url = webhook.url.trim();
                    let scheme_ok = url.split_once("://").is_some_and(|(scheme, rest)| {
                        matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
                            && !rest.is_empty()
                    });
                    if !scheme_ok {
                        self.report(
                            format!("{path}.webhook.url"),
                            "must be an http:// or https:// URL",
                        );
                    }
                }
                NotificationTarget::Email(email) => {
                    if email.to.is_empty() {
                        self.report(format!("{path}.email.to"), "name at least one address");
                    }
                    if email.to.len() > MAX_EMAIL_RECIPIENTS {
                        self.report(
                            format!("{path}.email.to"),
                            format!("at most {MAX_EMAIL_RECIPIENTS} addresses"),
                        );
                    }
                    for (address_index, address) in email.to.iter().enumerate() {
                        if !looks_like_an_address(address) {
                            self.report(
                                format!("{path}.email.to[{address_index}]"),
                                format!("`{address}` is not an email address"),
                            );
                        }
                    }
                }
            }
        }
    }

    fn check_kubernetes(&mut self, task_path: &str, task: &KubernetesTask) {
        let field = |name: &str| format!("{task_path}.{name}");
        if task.endpoint.trim().is_empty() {
            self.report(
                field("endpoint"),
                "is required: the name or id of a Kubernetes endpoint",
            );
        }
        if let KubernetesAction::Unknown(action) = &task.action {
            let known: Vec<&str> = KubernetesAction::KNOWN.iter().map(|a| a.as_str()).collect();
            self.report(
                field("action"),
                format!(
                    "unknown action `{action}`: expected one of {}",
                    known.join(", ")
                ),
            );
        }
        if task.yaml.trim().is_empty() {
            self.report(
                field("yaml"),
                "is required: the Kubernetes objects to act on",
            );
        }
        if task.wait_for_rollout && task.rollout_timeout_seconds < 1 {
            self.report(field("rollout_timeout_seconds"), "must be at least 1");
        }
        self.check_duration(
            field("rollout_timeout_seconds"),
            task.rollout_timeout_seconds,
        );
        self.check_safe_rollout(&field, task);
        if let Some(revision) = task.to_revision {
            if task.action != KubernetesAction::Rollback {
                self.report(field("to_revision"), "applies only to the ROLLBACK action");
            } else if revision < 0 {
                self.report(
                    field("to_revision"),
                    "must be a revision number, or 0 for the previous revision",
                );
            }
        }
    }

    /// `rollback_on_failure` acts on the rollout a CREATE or APPLY starts and
    /// waits for; `dry_run` changes nothing, so it has nothing to roll back
    /// and no sense for GET or ROLLBACK.
    fn check_safe_rollout(&mut self, field: &dyn Fn(&str) -> String, task: &KubernetesTask) {
        let writes = matches!(
            task.action,
            KubernetesAction::Create | KubernetesAction::Apply
        );
        if task.rollback_on_failure {
            if !writes {
                self.report(
                    field("rollback_on_failure"),
                    "applies only to the CREATE and APPLY actions",
                );
            } else if !task.wait_for_rollout {
                self.report(
                    field("rollback_on_failure"),
                    "needs wait_for_rollout: a failed rollout is only seen while waiting for it",
                );
            } else if task.dry_run {
                self.report(
                    field("rollback_on_failure"),
                    "cannot go with dry_run: a dry run changes nothing to roll back",
                );
            }
        }
        if task.dry_run && !(writes || task.action == KubernetesAction::Delete) {
            self.report(
                field("dry_run"),
                "applies only to the CREATE, APPLY and DELETE actions",
            );
        }
    }

    /// Waits past [`MAX_DURATION_SECONDS`] are refused: nobody means them,
    /// and the largest ones do not fit the clock's arithmetic.
    fn check_duration(&mut self, path: String, seconds: u64) {
        if seconds > MAX_DURATION_SECONDS {
            self.report(
                path,
                format!("must be at most {MAX_DURATION_SECONDS} seconds (24 hours)"),
            );
        }
    }

    fn check_request(
        &mut self,
        task_path: &str,
        method: &str,
        url: &str,
        headers: &BTreeMap<String, String>,
    ) {
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_alphabetic()) {
            self.report(
                format!("{task_path}.method"),
                format!("`{method}` is not an HTTP method (GET, POST, …)"),
            );
        }
        let url = url.trim();
        if url.is_empty() {
            self.report(format!("{task_path}.url"), "is required");
        } else if !(url.starts_with("http://")
            || url.starts_with("https://")
            || url.starts_with("${"))
        {
            self.report(
                format!("{task_path}.url"),
                "must start with http:// or https://",
            );
        }
        for name in headers.keys() {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == ':') {
                self.report(
                    format!("{task_path}.headers"),
                    format!("`{name}` is not a header name"),
                );
            }
        }
    }

    /// Stage, task and input names appear inside bindings
    /// (`${deploy.web.output.key}`), so they cannot hold the `.` that separates
    /// a binding's parts, nor spaces or braces.
    fn check_binding_name(&mut self, path: String, name: &str) {
        let problem = if name.is_empty() {
            "is required"
        } else if name.chars().count() > MAX_NAME_CHARS {
            "must be at most 64 characters long"
        } else if !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            "may contain only letters, digits, '-' and '_' (it is used in bindings)"
        } else {
            return;
        };
        self.report(path, problem);
    }

    fn check_unique<'n>(&mut self, what: &str, names: impl Iterator<Item = (String, &'n str)>) {
        let mut first_places: HashMap<&str, String> = HashMap::new();
        for (path, name) in names {
            if name.is_empty() {
                continue; // already reported as missing
            }
            match first_places.get(name) {
                Some(first) => {
                    let message = format!("another {what} is already named `{name}` ({first})");
                    self.report(path, message);
                }
                None => {
                    first_places.insert(name, path);
                }
            }
        }
    }

    fn check_template(&mut self, stage_index: usize, path: &str, text: &str) {
        for piece in pieces(text) {
            match piece {
                Piece::Literal(_) => {}
                Piece::Binding { binding, .. } => self.check_binding(stage_index, path, &binding),
                Piece::Malformed { written, reason } => self.report(
                    path,
                    format!(
                        "`{written}` is not a binding: {reason} (write $${{ for a literal ${{)"
                    ),
                ),
            }
        }
    }

    fn check_expression(
        &mut self,
        stage_index: usize,
        path: &str,
        text: &str,
        allows_response: bool,
    ) {
        match Expression::parse(text) {
            Err(error) => self.report(path, error.to_string()),
            Ok(expression) => {
                if !allows_response && expression.uses_response() {
                    self.report(
                        path,
                        "`$` refers to a response, and only Poll conditions have one",
                    );
                }
                for binding in expression.bindings() {
                    self.check_binding(stage_index, path, &binding);
                }
            }
        }
    }

    /// Inputs must exist; outputs must come from a task of an earlier stage,
    /// because the tasks of a stage run in parallel.
    fn check_binding(&mut self, stage_index: usize, path: &str, binding: &Binding) {
        let problem = match binding {
            Binding::Input(name) if self.input_names.contains(name) => return,
            Binding::Input(name) => {
                if is_docker_parameter(name) {
                    format!("there is no input `{name}`: turn on inject_docker_parameters or declare it")
                } else {
                    format!("there is no input `{name}`")
                }
            }
            Binding::Output { stage, task, .. } => {
                let stages = &self.spec.stages;
                match stages.iter().position(|candidate| candidate.name == *stage) {
                    None => format!("there is no stage `{stage}`"),
                    Some(index) if index == stage_index => format!(
                        "task `{task}` is in this same stage `{stage}`: tasks of a stage run in parallel, so only outputs of earlier stages can be used"
                    ),
                    Some(index) if index > stage_index => {
                        format!("stage `{stage}` runs after this one: only outputs of earlier stages can be used")
                    }
                    Some(index) if stages[index].tasks.iter().any(|t| t.name == *task) => return,
                    Some(_) => format!("stage `{stage}` has no task `{task}`"),
                }
            }
        };
        self.report(path, format!("{binding}: {problem}"));
    }
}

/// One `@` with something on both sides, no spaces or line breaks: the rest
/// is the mail server's to judge.
fn looks_like_an_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
                && address.len() <= 254
        }
        None => false,
    }
}

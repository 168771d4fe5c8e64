//! Pipeline definitions as data: what the API accepts (as JSON or YAML, read by
//! the server), what the editor in the browser shows and checks, and what the
//! engine runs. Pure logic on serde only, because this module is also compiled
//! to wasm.
//!
//! A pipeline has input parameters and stages that run in order; the tasks of
//! a stage run in parallel. Task texts refer to values through bindings:
//! `${input.NAME}` (an input parameter) and `${STAGE.TASK.output.KEY}` (the
//! output of a task in an earlier stage). `$${` writes a literal `${`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::expression::Expression;

/// The input parameters a Docker trigger fills from the push event, when a
/// pipeline asks for them with `inject_docker_parameters`. The one table of
/// them: the trigger, the editor and the validation all read it.
pub const DOCKER_PARAMETERS: &[(&str, &str)] = &[
    (
        "DOCKER_OWNER_NAME",
        "Owner of the repository the image was pushed to (Docker Hub user or organization)",
    ),
    (
        "DOCKER_IMAGE",
        "Image repository without the tag, e.g. svendowideit/testhook",
    ),
    (
        "DOCKER_REPO_NAME",
        "Repository name without its namespace, e.g. testhook",
    ),
    (
        "DOCKER_REPO_NAMESPACE",
        "Repository namespace, e.g. svendowideit",
    ),
    ("DOCKER_TAG", "The pushed tag, e.g. latest"),
    (
        "DOCKER_DIGEST",
        "Manifest digest (sha256:…) when the registry sends one, empty otherwise",
    ),
    (
        "DOCKER_REGISTRY",
        "Registry the image was pushed to, e.g. docker.io",
    ),
    (
        "DOCKER_PUSHED_AT",
        "When the image was pushed, as reported by the registry",
    ),
    (
        "DOCKER_EVENT_ID",
        "Id of the push event as the registry sent it (registry notifications; empty for Docker Hub)",
    ),
];

/// Longest stage, task or input name: they appear in bindings and in pages.
const MAX_NAME_CHARS: usize = 64;

/// A pipeline as written by its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Name or id of the project the pipeline belongs to.
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A disabled pipeline is kept but starts no runs.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// How many runs of this pipeline may be active at once; later ones queue.
    #[serde(default = "one_run_at_a_time")]
    pub concurrency: u32,
    #[serde(default)]
    pub inputs: Vec<InputParameter>,
    /// Adds the [`DOCKER_PARAMETERS`] to the inputs, filled by Docker triggers.
    #[serde(default)]
    pub inject_docker_parameters: bool,
    #[serde(default)]
    pub stages: Vec<Stage>,
}

fn enabled_by_default() -> bool {
    true
}

fn one_run_at_a_time() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputParameter {
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_as_text"
    )]
    pub default: Option<String>,
    #[serde(default)]
    pub description: String,
    /// A run cannot start without a value (given, or the default).
    #[serde(default)]
    pub required: bool,
}

/// Input defaults are text, but YAML authors write `default: 3` or
/// `default: true` unquoted; those are read as their text. Decimal numbers
/// are refused because YAML has already turned `1.10` into `1.1`.
fn scalar_as_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(Value::Number(number)) if !number.is_f64() => Ok(Some(number.to_string())),
        Some(Value::Number(number)) => Err(D::Error::custom(format!(
            "write the decimal number {number} in quotes: unquoted, YAML reads it as a number and may drop digits"
        ))),
        Some(_) => Err(D::Error::custom(
            "expected a text, a whole number or true/false as default",
        )),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    /// Run in parallel; the stage ends when all of them have ended.
    #[serde(default)]
    pub tasks: Vec<Task>,
}

// No `deny_unknown_fields` here: serde does not support it next to `flatten`.
// Unknown fields still fail, in the task type's struct, which denies them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub enum TaskSpec {
    Kubernetes(KubernetesTask),
    Rest(RestTask),
    Poll(PollTask),
    Condition(ConditionTask),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTask {
    /// Name or id of a Kubernetes endpoint of the project (checked by the server).
    pub endpoint: String,
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
}

fn default_rollout_timeout() -> u64 {
    300
}

/// The Kubernetes actions, written in upper case. An unknown action is kept
/// as [`KubernetesAction::Unknown`] rather than refused while reading, so
/// that [`validate`] names it with its place like every other mistake.
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

/// Succeeds when its expression is true, fails the task otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
            TaskSpec::Condition(_) => Vec::new(),
        }
    }

    /// The expressions of the task itself (not its precondition), by field name.
    pub fn expressions(&self) -> Vec<(&'static str, &str)> {
        match self {
            TaskSpec::Poll(task) => vec![("condition", task.condition.as_str())],
            TaskSpec::Condition(task) => vec![("expression", task.expression.as_str())],
            TaskSpec::Kubernetes(_) | TaskSpec::Rest(_) => Vec::new(),
        }
    }

    /// A copy with every binding in [`TaskSpec::templates`] replaced; the
    /// error's path is the field name.
    pub fn resolved(
        &self,
        resolve: impl Fn(&Binding) -> Option<String>,
    ) -> Result<TaskSpec, SpecError> {
        let mut copy = self.clone();
        let fields: Vec<(String, &mut String)> = match &mut copy {
            TaskSpec::Kubernetes(task) => vec![
                ("endpoint".to_string(), &mut task.endpoint),
                ("yaml".to_string(), &mut task.yaml),
            ],
            TaskSpec::Rest(RestTask {
                url, headers, body, ..
            })
            | TaskSpec::Poll(PollTask {
                url, headers, body, ..
            }) => std::iter::once(("url".to_string(), url))
                .chain(
                    headers
                        .iter_mut()
                        .map(|(name, value)| (format!("headers.{name}"), value)),
                )
                .chain(body.as_mut().map(|body| ("body".to_string(), body)))
                .collect(),
            TaskSpec::Condition(_) => Vec::new(),
        };
        for (field, text) in fields {
            *text = substitute(text, &resolve).map_err(|error| SpecError {
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

impl PipelineSpec {
    /// The declared inputs, then (with `inject_docker_parameters`) the Docker
    /// ones not declared already: declaring one is how an author gives it a
    /// default or a description of their own.
    pub fn effective_inputs(&self) -> Vec<InputParameter> {
        let mut inputs = self.inputs.clone();
        if self.inject_docker_parameters {
            let injected = DOCKER_PARAMETERS
                .iter()
                .filter(|(name, _)| !self.inputs.iter().any(|input| input.name == *name))
                .map(|(name, description)| InputParameter {
                    name: name.to_string(),
                    default: None,
                    description: description.to_string(),
                    required: false,
                });
            inputs.extend(injected);
        }
        inputs
    }
}

/// A reference to a value, written `${…}` in task texts and expressions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binding {
    /// `${input.NAME}`
    Input(String),
    /// `${STAGE.TASK.output.KEY}`; `key` may be a dotted path into the task's
    /// JSON output (`objects.0.image`), see [`lookup_json`].
    Output {
        stage: String,
        task: String,
        key: String,
    },
}

const BINDING_FORMS: &str = "expected ${input.NAME} or ${STAGE.TASK.output.KEY}";

impl Binding {
    /// Reads what stands between `${` and `}`; the error says what is wrong.
    pub(crate) fn parse_inner(inner: &str) -> Result<Binding, String> {
        let inner = inner.trim();
        if let Some(name) = inner.strip_prefix("input.") {
            if name.is_empty() {
                return Err(format!("the input name is missing: {BINDING_FORMS}"));
            }
            return Ok(Binding::Input(name.to_string()));
        }
        let mut parts = inner.splitn(4, '.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(stage), Some(task), Some("output"), Some(key))
                if !stage.is_empty() && !task.is_empty() && !key.split('.').any(str::is_empty) =>
            {
                Ok(Binding::Output {
                    stage: stage.to_string(),
                    task: task.to_string(),
                    key: key.to_string(),
                })
            }
            _ => Err(BINDING_FORMS.to_string()),
        }
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Input(name) => write!(formatter, "${{input.{name}}}"),
            Binding::Output { stage, task, key } => {
                write!(formatter, "${{{stage}.{task}.output.{key}}}")
            }
        }
    }
}

/// A text cut at its bindings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Literal(&'a str),
    Binding { binding: Binding, written: &'a str },
    Malformed { written: &'a str, reason: String },
}

pub(crate) fn pieces(text: &str) -> Vec<Piece<'_>> {
    fn push_literal<'a>(pieces: &mut Vec<Piece<'a>>, literal: &'a str) {
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
    }
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut cursor = 0;
    // Slicing at these offsets is safe: `$`, `{` and `}` are single bytes.
    while let Some(offset) = text[cursor..].find('$') {
        let dollar = cursor + offset;
        let rest = &text[dollar..];
        if rest.starts_with("$${") {
            push_literal(&mut pieces, &text[literal_start..dollar]);
            push_literal(&mut pieces, &text[dollar + 1..dollar + 3]);
            cursor = dollar + 3;
            literal_start = cursor;
        } else if rest.starts_with("${") {
            push_literal(&mut pieces, &text[literal_start..dollar]);
            match rest.find('}') {
                Some(close) => {
                    let written = &rest[..=close];
                    pieces.push(match Binding::parse_inner(&rest[2..close]) {
                        Ok(binding) => Piece::Binding { binding, written },
                        Err(reason) => Piece::Malformed { written, reason },
                    });
                    cursor = dollar + close + 1;
                }
                None => {
                    pieces.push(Piece::Malformed {
                        written: rest,
                        reason: "it is not closed with `}`".to_string(),
                    });
                    cursor = text.len();
                }
            }
            literal_start = cursor;
        } else {
            cursor = dollar + 1;
        }
    }
    push_literal(&mut pieces, &text[literal_start..]);
    pieces
}

/// The well-formed bindings of a text, in order (malformed ones are skipped;
/// [`validate`] and [`substitute`] report them).
pub fn bindings_in(text: &str) -> Vec<Binding> {
    pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Binding { binding, .. } => Some(binding),
            Piece::Literal(_) | Piece::Malformed { .. } => None,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnresolvedBinding {
    #[error("unknown binding {0}")]
    Unknown(String),
    #[error("malformed binding {written}: {reason}")]
    Malformed { written: String, reason: String },
}

/// Replaces each `${…}` with what `resolve` gives for it, and `$${` with `${`.
/// The values are inserted as they are: they are not read again for bindings.
pub fn substitute(
    text: &str,
    resolve: impl Fn(&Binding) -> Option<String>,
) -> Result<String, UnresolvedBinding> {
    let mut result = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Literal(literal) => result.push_str(literal),
            Piece::Binding { binding, written } => match resolve(&binding) {
                Some(value) => result.push_str(&value),
                None => return Err(UnresolvedBinding::Unknown(written.to_string())),
            },
            Piece::Malformed { written, reason } => {
                return Err(UnresolvedBinding::Malformed {
                    written: written.to_string(),
                    reason,
                })
            }
        }
    }
    Ok(result)
}

/// Follows a path of keys into JSON: object fields by name, array items by
/// index (`["objects", "0", "image"]`). Used for output keys
/// (`lookup_json(output, key.split('.'))`) and `$.…` in Poll conditions.
pub fn lookup_json<S: AsRef<str>>(
    value: &Value,
    path: impl IntoIterator<Item = S>,
) -> Option<&Value> {
    path.into_iter()
        .try_fold(value, |current, step| match current {
            Value::Object(fields) => fields.get(step.as_ref()),
            Value::Array(items) => step
                .as_ref()
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get(index)),
            _ => None,
        })
}

/// How a JSON value reads when a binding puts it into a text: strings as
/// they are (no quotes), null as nothing, everything else as compact JSON.
pub fn binding_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

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
                if poll.timeout_seconds < poll.interval_seconds {
                    self.report(
                        field("timeout_seconds"),
                        format!(
                            "must be at least interval_seconds ({})",
                            poll.interval_seconds
                        ),
                    );
                }
                if poll.max_attempts == Some(0) {
                    self.report(
                        field("max_attempts"),
                        "must be at least 1 (or left out: no limit)",
                    );
                }
            }
            TaskSpec::Condition(_) => {}
        }
        for (name, expression) in task.spec.expressions() {
            let allows_response = matches!(task.spec, TaskSpec::Poll(_));
            self.check_expression(stage_index, &field(name), expression, allows_response);
        }
        for (name, text) in task.spec.templates() {
            self.check_template(stage_index, &field(&name), text);
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
                let is_docker_parameter =
                    DOCKER_PARAMETERS.iter().any(|(docker, _)| docker == name);
                if is_docker_parameter {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kubernetes_task(name: &str, yaml: &str) -> Task {
        Task {
            name: name.to_string(),
            continue_on_failure: false,
            precondition: None,
            spec: TaskSpec::Kubernetes(KubernetesTask {
                endpoint: "dev-cluster".to_string(),
                action: KubernetesAction::Create,
                yaml: yaml.to_string(),
                continue_on_conflict: false,
                wait_for_rollout: false,
                rollout_timeout_seconds: 300,
                to_revision: None,
            }),
        }
    }

    fn rest_task(name: &str, url: &str) -> Task {
        Task {
            name: name.to_string(),
            continue_on_failure: false,
            precondition: None,
            spec: TaskSpec::Rest(RestTask {
                method: "GET".to_string(),
                url: url.to_string(),
                headers: BTreeMap::new(),
                body: None,
                expected_status: Vec::new(),
            }),
        }
    }

    fn stage(name: &str, tasks: Vec<Task>) -> Stage {
        Stage {
            name: name.to_string(),
            tasks,
        }
    }

    /// A valid pipeline: build → deploy, using an input, Docker parameters
    /// and an output of the first stage.
    fn valid_spec() -> PipelineSpec {
        PipelineSpec {
            project: "demo".to_string(),
            name: "deploy testhook".to_string(),
            description: String::new(),
            enabled: true,
            concurrency: 1,
            inputs: vec![InputParameter {
                name: "NAMESPACE".to_string(),
                default: Some("dev".to_string()),
                description: String::new(),
                required: false,
            }],
            inject_docker_parameters: true,
            stages: vec![
                stage(
                    "check",
                    vec![rest_task("lookup", "https://example.test/${input.DOCKER_TAG}")],
                ),
                stage(
                    "deploy",
                    vec![kubernetes_task(
                        "web",
                        "image: ${input.DOCKER_IMAGE}:${check.lookup.output.tag}\nnamespace: ${input.NAMESPACE}",
                    )],
                ),
            ],
        }
    }

    fn errors_of(spec: &PipelineSpec) -> Vec<(String, String)> {
        validate(spec)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|error| (error.path, error.message))
            .collect()
    }

    /// The one error a change causes, at `path`; its message must contain `needle`.
    fn assert_single_error(spec: &PipelineSpec, path: &str, needle: &str) {
        let errors = errors_of(spec);
        assert_eq!(
            errors.len(),
            1,
            "expected one error at {path}, got {errors:?}"
        );
        assert_eq!(errors[0].0, path, "{errors:?}");
        assert!(
            errors[0].1.contains(needle),
            "message {:?} should contain {needle:?}",
            errors[0].1
        );
    }

    fn first_task(spec: &mut PipelineSpec, stage: usize) -> &mut Task {
        &mut spec.stages[stage].tasks[0]
    }

    #[test]
    fn the_valid_pipeline_passes() {
        assert_eq!(validate(&valid_spec()), Ok(()));
    }

    #[test]
    fn the_json_shape_of_the_design_is_read() {
        let spec: PipelineSpec = serde_json::from_value(json!({
            "project": "demo",
            "name": "deploy",
            "inputs": [{"name": "NAMESPACE", "default": "dev"}],
            "inject_docker_parameters": true,
            "stages": [{"name": "deploy", "tasks": [{
                "name": "web", "type": "kubernetes", "endpoint": "dev-cluster",
                "action": "CREATE", "yaml": "kind: Deployment"
            }]}]
        }))
        .unwrap();
        assert!(spec.enabled);
        assert_eq!(spec.concurrency, 1);
        assert_eq!(spec.inputs[0].default.as_deref(), Some("dev"));
        let TaskSpec::Kubernetes(task) = &spec.stages[0].tasks[0].spec else {
            panic!("expected a kubernetes task");
        };
        assert_eq!(task.action, KubernetesAction::Create);
        assert_eq!(task.rollout_timeout_seconds, 300);
        assert_eq!(validate(&spec), Ok(()));
        // And it is written back with the same shape.
        let written = serde_json::to_value(&spec).unwrap();
        assert_eq!(written["stages"][0]["tasks"][0]["type"], "kubernetes");
        assert_eq!(written["stages"][0]["tasks"][0]["action"], "CREATE");
        assert_eq!(
            serde_json::from_value::<PipelineSpec>(written).unwrap(),
            spec
        );
    }

    #[test]
    fn every_task_type_reads_with_its_defaults() {
        let stage: Stage = serde_json::from_value(json!({"name": "s", "tasks": [
            {"name": "r", "type": "rest", "url": "https://x.test"},
            {"name": "p", "type": "poll", "url": "https://x.test", "condition": "$.ready == true"},
            {"name": "c", "type": "condition", "expression": "true", "precondition": "true",
             "continue_on_failure": true}
        ]}))
        .unwrap();
        let TaskSpec::Rest(rest) = &stage.tasks[0].spec else {
            panic!("rest")
        };
        assert_eq!(rest.method, "GET");
        assert!(rest.accepts_status(204) && !rest.accepts_status(404));
        let TaskSpec::Poll(poll) = &stage.tasks[1].spec else {
            panic!("poll")
        };
        assert_eq!((poll.interval_seconds, poll.timeout_seconds), (5, 300));
        assert!(stage.tasks[2].continue_on_failure);
        assert_eq!(stage.tasks[2].spec.kind(), "condition");
    }

    #[test]
    fn unknown_fields_are_refused_even_beside_the_flattened_type() {
        let typo = json!({"name": "web", "type": "rest", "url": "https://x.test", "metod": "POST"});
        let error = serde_json::from_value::<Task>(typo)
            .unwrap_err()
            .to_string();
        assert!(error.contains("metod"), "{error}");
        let top = json!({"project": "p", "name": "n", "stagez": []});
        assert!(serde_json::from_value::<PipelineSpec>(top).is_err());
        let no_type = json!({"name": "web", "url": "https://x.test"});
        assert!(serde_json::from_value::<Task>(no_type).is_err());
    }

    #[test]
    fn input_defaults_accept_whole_numbers_and_flags_but_not_decimals() {
        let read = |default: Value| {
            serde_json::from_value::<InputParameter>(json!({"name": "X", "default": default}))
                .map(|input| input.default)
        };
        assert_eq!(read(json!(3)).unwrap().as_deref(), Some("3"));
        assert_eq!(read(json!(true)).unwrap().as_deref(), Some("true"));
        assert_eq!(read(json!(null)).unwrap(), None);
        assert!(read(json!(1.1)).unwrap_err().to_string().contains("quotes"));
        assert!(read(json!(["a"])).is_err());
    }

    #[test]
    fn kubernetes_actions_read_case_insensitively_and_keep_unknown_ones() {
        assert_eq!(
            KubernetesAction::from("apply".to_string()),
            KubernetesAction::Apply
        );
        assert_eq!(
            KubernetesAction::from("PATCH".to_string()),
            KubernetesAction::Unknown("PATCH".to_string())
        );
        assert_eq!(String::from(KubernetesAction::Rollback), "ROLLBACK");
    }

    #[test]
    fn effective_inputs_add_docker_parameters_once() {
        let mut spec = valid_spec();
        spec.inputs.push(InputParameter {
            name: "DOCKER_TAG".to_string(),
            default: Some("latest".to_string()),
            description: "mine".to_string(),
            required: false,
        });
        let inputs = spec.effective_inputs();
        assert_eq!(inputs.len(), 2 + DOCKER_PARAMETERS.len() - 1);
        let tags: Vec<_> = inputs.iter().filter(|i| i.name == "DOCKER_TAG").collect();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].description, "mine");
        assert!(inputs.iter().any(|i| i.name == "DOCKER_IMAGE"));

        spec.inject_docker_parameters = false;
        let names: Vec<_> = spec
            .effective_inputs()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["NAMESPACE", "DOCKER_TAG"]);
    }

    #[test]
    fn pipeline_fields_are_checked() {
        let mut spec = valid_spec();
        spec.project = " ".to_string();
        assert_single_error(&spec, "project", "required");

        let mut spec = valid_spec();
        spec.name = "a/b".to_string();
        assert_single_error(&spec, "name", "may contain only");

        let mut spec = valid_spec();
        spec.concurrency = 0;
        assert_single_error(&spec, "concurrency", "at least 1");

        let mut spec = valid_spec();
        spec.description = "x".repeat(1001);
        assert_single_error(&spec, "description", "1000");
    }

    #[test]
    fn names_used_in_bindings_are_checked() {
        let mut spec = valid_spec();
        spec.stages[1].name = "de ploy".to_string();
        assert_single_error(&spec, "stages[1].name", "letters, digits");

        let mut spec = valid_spec();
        first_task(&mut spec, 1).name = "a.b".to_string();
        assert_single_error(&spec, "stages[1].tasks[0].name", "letters, digits");

        let mut spec = valid_spec();
        first_task(&mut spec, 1).name = "x".repeat(65);
        assert_single_error(&spec, "stages[1].tasks[0].name", "64");

        let mut spec = valid_spec();
        spec.inputs[0].name = String::new();
        // The bindings to it now fail too.
        let errors = errors_of(&spec);
        assert_eq!(
            errors[0],
            ("inputs[0].name".to_string(), "is required".to_string())
        );

        let mut spec = valid_spec();
        spec.stages[0].name = "input".to_string();
        let errors = errors_of(&spec);
        assert!(errors
            .iter()
            .any(|(path, message)| path == "stages[0].name" && message.contains("reserved")));
    }

    #[test]
    fn duplicates_are_named_with_the_first_place() {
        let mut spec = valid_spec();
        spec.stages
            .push(stage("deploy", vec![rest_task("again", "https://x.test")]));
        assert_single_error(&spec, "stages[2].name", "(stages[1].name)");

        let mut spec = valid_spec();
        spec.stages[1]
            .tasks
            .push(kubernetes_task("web", "kind: Service"));
        assert_single_error(&spec, "stages[1].tasks[1].name", "already named `web`");

        // The same task name in different stages is fine.
        let mut spec = valid_spec();
        first_task(&mut spec, 1).name = "lookup".to_string();
        assert_eq!(validate(&spec), Ok(()));

        let mut spec = valid_spec();
        spec.inputs.push(spec.inputs[0].clone());
        assert_single_error(&spec, "inputs[1].name", "already named `NAMESPACE`");
    }

    #[test]
    fn stages_and_tasks_must_not_be_empty() {
        let mut spec = valid_spec();
        spec.stages.clear();
        assert_single_error(&spec, "stages", "at least one stage");

        let mut spec = valid_spec();
        spec.stages.push(stage("empty", vec![]));
        assert_single_error(&spec, "stages[2].tasks", "at least one task");
    }

    fn kubernetes_of(task: &mut Task) -> &mut KubernetesTask {
        match &mut task.spec {
            TaskSpec::Kubernetes(kubernetes) => kubernetes,
            other => panic!("not kubernetes: {other:?}"),
        }
    }

    #[test]
    fn kubernetes_tasks_are_checked() {
        let mut spec = valid_spec();
        kubernetes_of(first_task(&mut spec, 1)).action = KubernetesAction::Unknown("PATCH".into());
        assert_single_error(&spec, "stages[1].tasks[0].action", "unknown action `PATCH`");

        let mut spec = valid_spec();
        kubernetes_of(first_task(&mut spec, 1)).yaml = " \n".to_string();
        assert_single_error(&spec, "stages[1].tasks[0].yaml", "required");

        let mut spec = valid_spec();
        kubernetes_of(first_task(&mut spec, 1)).endpoint = String::new();
        assert_single_error(&spec, "stages[1].tasks[0].endpoint", "required");

        let mut spec = valid_spec();
        kubernetes_of(first_task(&mut spec, 1)).to_revision = Some(3);
        assert_single_error(&spec, "stages[1].tasks[0].to_revision", "ROLLBACK");

        let mut spec = valid_spec();
        let task = kubernetes_of(first_task(&mut spec, 1));
        task.wait_for_rollout = true;
        task.rollout_timeout_seconds = 0;
        assert_single_error(
            &spec,
            "stages[1].tasks[0].rollout_timeout_seconds",
            "at least 1",
        );
    }

    fn poll_task(condition: &str, interval: u64, timeout: u64) -> Task {
        Task {
            name: "wait".to_string(),
            continue_on_failure: false,
            precondition: None,
            spec: TaskSpec::Poll(PollTask {
                method: "GET".to_string(),
                url: "https://x.test/status".to_string(),
                headers: BTreeMap::new(),
                body: None,
                condition: condition.to_string(),
                interval_seconds: interval,
                timeout_seconds: timeout,
                max_attempts: None,
            }),
        }
    }

    #[test]
    fn requests_and_polls_are_checked() {
        let mut spec = valid_spec();
        *first_task(&mut spec, 0) = rest_task("lookup", "");
        assert_single_error(&spec, "stages[0].tasks[0].url", "required");

        let mut spec = valid_spec();
        *first_task(&mut spec, 0) = rest_task("lookup", "ftp://x.test");
        assert_single_error(&spec, "stages[0].tasks[0].url", "http://");

        let mut spec = valid_spec();
        if let TaskSpec::Rest(rest) = &mut first_task(&mut spec, 0).spec {
            rest.method = "GE T".to_string();
            rest.expected_status = vec![200, 700];
        }
        let paths: Vec<_> = errors_of(&spec).into_iter().map(|(path, _)| path).collect();
        assert_eq!(
            paths,
            [
                "stages[0].tasks[0].method",
                "stages[0].tasks[0].expected_status"
            ]
        );

        let mut spec = valid_spec();
        spec.stages[0]
            .tasks
            .push(poll_task("$.ready == true", 0, 10));
        assert_single_error(&spec, "stages[0].tasks[1].interval_seconds", "at least 1");

        let mut spec = valid_spec();
        spec.stages[0]
            .tasks
            .push(poll_task("$.ready == true", 10, 5));
        assert_single_error(
            &spec,
            "stages[0].tasks[1].timeout_seconds",
            "interval_seconds (10)",
        );

        let mut spec = valid_spec();
        spec.stages[0].tasks.push(poll_task("$.ready ==", 5, 60));
        assert_single_error(&spec, "stages[0].tasks[1].condition", "column");
    }

    #[test]
    fn conditions_and_preconditions_are_checked() {
        let condition = |expression: &str| Task {
            name: "gate".to_string(),
            continue_on_failure: false,
            precondition: None,
            spec: TaskSpec::Condition(ConditionTask {
                expression: expression.to_string(),
            }),
        };
        let mut spec = valid_spec();
        spec.stages[1]
            .tasks
            .push(condition("${input.DOCKER_TAG} != 'broken' &&"));
        assert_single_error(&spec, "stages[1].tasks[1].expression", "column");

        let mut spec = valid_spec();
        spec.stages[1].tasks.push(condition("$.ready == true"));
        assert_single_error(&spec, "stages[1].tasks[1].expression", "only Poll");

        let mut spec = valid_spec();
        spec.stages[1]
            .tasks
            .push(condition("'${input.NOPE}' == 'x'"));
        assert_single_error(&spec, "stages[1].tasks[1].expression", "${input.NOPE}");

        let mut spec = valid_spec();
        first_task(&mut spec, 1).precondition = Some("${deploy.web.output.ok} == true".into());
        assert_single_error(&spec, "stages[1].tasks[0].precondition", "same stage");

        let mut spec = valid_spec();
        first_task(&mut spec, 1).precondition = Some("${check.lookup.output.ok} == true".into());
        assert_eq!(validate(&spec), Ok(()));
    }

    #[test]
    fn bindings_must_name_inputs_and_earlier_tasks() {
        let yaml_path = "stages[1].tasks[0].yaml";
        let with_yaml = |yaml: &str| {
            let mut spec = valid_spec();
            kubernetes_of(first_task(&mut spec, 1)).yaml = yaml.to_string();
            spec
        };
        assert_single_error(
            &with_yaml("${input.NOPE}"),
            yaml_path,
            "${input.NOPE}: there is no input `NOPE`",
        );
        assert_single_error(
            &with_yaml("${deploy.web.output.x}"),
            yaml_path,
            "same stage `deploy`",
        );
        assert_single_error(
            &with_yaml("${later.t.output.x}"),
            yaml_path,
            "no stage `later`",
        );
        assert_single_error(
            &with_yaml("${check.nope.output.x}"),
            yaml_path,
            "no task `nope`",
        );
        assert_single_error(
            &with_yaml("${check.lookup.outputs.x}"),
            yaml_path,
            "is not a binding",
        );
        assert_single_error(
            &with_yaml("image: ${input.DOCKER_TAG"),
            yaml_path,
            "not closed",
        );
        // Escaped: a literal `${`, not a binding.
        assert_eq!(validate(&with_yaml("echo $${HOME}")), Ok(()));

        let mut spec = valid_spec();
        spec.stages
            .push(stage("verify", vec![rest_task("ping", "https://x.test")]));
        if let TaskSpec::Rest(rest) = &mut first_task(&mut spec, 0).spec {
            rest.headers
                .insert("X-Image".to_string(), "${verify.ping.output.x}".to_string());
        }
        assert_single_error(
            &spec,
            "stages[0].tasks[0].headers.X-Image",
            "runs after this one",
        );

        let mut spec = valid_spec();
        spec.inject_docker_parameters = false;
        let errors = errors_of(&spec);
        assert!(
            errors[0].1.contains("turn on inject_docker_parameters"),
            "{errors:?}"
        );
    }

    #[test]
    fn bindings_are_found_in_order() {
        let text = "a ${input.X} b ${s.t.output.objects.0.image} $${input.Y} ${bad} ${ input.Z }";
        assert_eq!(
            bindings_in(text),
            [
                Binding::Input("X".to_string()),
                Binding::Output {
                    stage: "s".to_string(),
                    task: "t".to_string(),
                    key: "objects.0.image".to_string()
                },
                Binding::Input("Z".to_string()),
            ]
        );
        assert_eq!(Binding::Input("X".into()).to_string(), "${input.X}");
        for malformed in [
            "${}",
            "${input.}",
            "${s.t.output.}",
            "${s.t.output.a..b}",
            "${s..output.k}",
        ] {
            assert_eq!(bindings_in(malformed), [], "{malformed}");
        }
    }

    fn resolver(binding: &Binding) -> Option<String> {
        match binding {
            Binding::Input(name) if name == "DOCKER_TAG" => Some("1.2".to_string()),
            Binding::Output { key, .. } if key == "image" => {
                Some("${input.DOCKER_TAG}".to_string())
            }
            _ => None,
        }
    }

    #[test]
    fn substitute_replaces_escapes_and_fails_by_name() {
        assert_eq!(
            substitute(
                "tag=${input.DOCKER_TAG}, again ${input.DOCKER_TAG}.",
                resolver
            )
            .unwrap(),
            "tag=1.2, again 1.2."
        );
        // Values are inserted verbatim, never read again for bindings.
        assert_eq!(
            substitute("${a.b.output.image}", resolver).unwrap(),
            "${input.DOCKER_TAG}"
        );
        assert_eq!(
            substitute("$${input.X} costs $5 $$", resolver).unwrap(),
            "${input.X} costs $5 $$"
        );
        let error = substitute("x ${input.X} y", resolver).unwrap_err();
        assert_eq!(error.to_string(), "unknown binding ${input.X}");
        assert!(matches!(
            substitute("${nope}", resolver),
            Err(UnresolvedBinding::Malformed { .. })
        ));
        assert!(matches!(
            substitute("tail ${input.X", resolver),
            Err(UnresolvedBinding::Malformed { .. })
        ));
        assert_eq!(substitute("", resolver).unwrap(), "");
        assert_eq!(
            substitute("日本 ${input.DOCKER_TAG}語", resolver).unwrap(),
            "日本 1.2語"
        );
    }

    #[test]
    fn tasks_resolve_their_templates_but_not_their_expressions() {
        let mut task = rest_task("r", "https://x.test/${input.DOCKER_TAG}");
        if let TaskSpec::Rest(rest) = &mut task.spec {
            rest.headers
                .insert("X-Tag".into(), "${input.DOCKER_TAG}".into());
            rest.body = Some("{\"tag\":\"${input.DOCKER_TAG}\"}".into());
        }
        let TaskSpec::Rest(resolved) = task.spec.resolved(resolver).unwrap() else {
            panic!("rest")
        };
        assert_eq!(resolved.url, "https://x.test/1.2");
        assert_eq!(resolved.headers["X-Tag"], "1.2");
        assert_eq!(resolved.body.as_deref(), Some("{\"tag\":\"1.2\"}"));

        let error = kubernetes_task("k", "${input.MISSING}")
            .spec
            .resolved(resolver)
            .unwrap_err();
        assert_eq!(error.path, "yaml");
        assert_eq!(error.message, "unknown binding ${input.MISSING}");

        let gate = TaskSpec::Condition(ConditionTask {
            expression: "${input.MISSING} == 'x'".into(),
        });
        assert_eq!(gate.resolved(resolver).unwrap(), gate);
    }

    #[test]
    fn json_lookup_follows_fields_and_indexes() {
        let output = json!({"objects": [{"image": "nginx:1"}], "count": 2});
        assert_eq!(
            lookup_json(&output, "objects.0.image".split('.')),
            Some(&json!("nginx:1"))
        );
        assert_eq!(lookup_json(&output, ["count"]), Some(&json!(2)));
        assert_eq!(lookup_json(&output, ["objects", "1"]), None);
        assert_eq!(lookup_json(&output, ["count", "x"]), None);
        assert_eq!(lookup_json(&output, Vec::<&str>::new()), Some(&output));
        assert_eq!(binding_text(&json!("a")), "a");
        assert_eq!(binding_text(&json!(null)), "");
        assert_eq!(binding_text(&json!({"a": 1})), "{\"a\":1}");
    }

    #[test]
    fn garbage_templates_never_panic() {
        let fragments = [
            "$", "$$", "{", "}", "${", "input.", ".", "output", "日", "é", "a", " ",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..5000 {
            let mut text = String::new();
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(fragments[(state % fragments.len() as u64) as usize]);
            }
            let _ = bindings_in(&text);
            let _ = substitute(&text, |_| Some("v".to_string()));
        }
    }
}

use super::*;
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeMap;

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
            rollback_on_failure: false,
            dry_run: false,
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
        notifications: Vec::new(),
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
fn docker_parameters_are_known_by_name() {
    assert!(is_docker_parameter("DOCKER_TAG"));
    assert!(is_docker_parameter("DOCKER_EVENT_ID"));
    assert!(!is_docker_parameter("docker_tag"));
    assert!(!is_docker_parameter("NAMESPACE"));
}

#[test]
fn new_stages_and_tasks_get_the_first_unused_number() {
    let mut spec = valid_spec();
    assert_eq!(spec.unused_stage_name(), "stage-1");
    spec.stages[0].name = "stage-1".to_string();
    spec.stages[1].name = "stage-3".to_string();
    assert_eq!(spec.unused_stage_name(), "stage-2");

    let mut tasks = stage("s", vec![]);
    assert_eq!(tasks.unused_task_name(), "task-1");
    tasks.tasks.push(rest_task("task-1", "https://x.test"));
    tasks.tasks.push(rest_task("task-2", "https://x.test"));
    assert_eq!(tasks.unused_task_name(), "task-3");
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
    task.kubernetes_mut().expect("a kubernetes task")
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

#[test]
fn rollback_on_failure_needs_a_waited_write_and_dry_run_a_write() {
    let with = |change: &dyn Fn(&mut KubernetesTask)| {
        let mut spec = valid_spec();
        let task = kubernetes_of(first_task(&mut spec, 1));
        task.action = KubernetesAction::Apply;
        task.wait_for_rollout = true;
        change(task);
        spec
    };
    assert_eq!(
        validate(&with(&|task| task.rollback_on_failure = true)),
        Ok(())
    );
    assert_eq!(validate(&with(&|task| task.dry_run = true)), Ok(()));
    let field = "stages[1].tasks[0].rollback_on_failure";
    assert_single_error(
        &with(&|task| {
            task.rollback_on_failure = true;
            task.wait_for_rollout = false;
        }),
        field,
        "needs wait_for_rollout",
    );
    assert_single_error(
        &with(&|task| {
            task.rollback_on_failure = true;
            task.action = KubernetesAction::Delete;
        }),
        field,
        "CREATE and APPLY",
    );
    assert_single_error(
        &with(&|task| {
            task.rollback_on_failure = true;
            task.dry_run = true;
        }),
        field,
        "dry_run",
    );
    assert_single_error(
        &with(&|task| {
            task.dry_run = true;
            task.action = KubernetesAction::Get;
        }),
        "stages[1].tasks[0].dry_run",
        "CREATE, APPLY and DELETE",
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
        Binding::Output { key, .. } if key == "image" => Some("${input.DOCKER_TAG}".to_string()),
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

#[test]
fn durations_and_counts_have_upper_limits() {
    use crate::pipeline::{MAX_CONCURRENCY, MAX_DURATION_SECONDS, MAX_POLL_ATTEMPTS};
    let day = MAX_DURATION_SECONDS;

    let mut spec = valid_spec();
    spec.stages[0]
        .tasks
        .push(poll_task("$.ready == true", 10, day));
    assert!(
        errors_of(&spec).is_empty(),
        "the limits themselves are accepted"
    );

    let mut spec = valid_spec();
    spec.stages[0]
        .tasks
        .push(poll_task("$.ready == true", 10, day + 1));
    assert_single_error(&spec, "stages[0].tasks[1].timeout_seconds", "at most 86400");

    let mut spec = valid_spec();
    spec.stages[0]
        .tasks
        .push(poll_task("$.ready == true", u64::MAX, u64::MAX));
    let paths: Vec<_> = errors_of(&spec).into_iter().map(|(path, _)| path).collect();
    assert_eq!(
        paths,
        [
            "stages[0].tasks[1].interval_seconds",
            "stages[0].tasks[1].timeout_seconds"
        ]
    );

    let mut spec = valid_spec();
    let mut poll = poll_task("$.ready == true", 1, 60);
    if let TaskSpec::Poll(task) = &mut poll.spec {
        task.max_attempts = Some(MAX_POLL_ATTEMPTS + 1);
    }
    spec.stages[0].tasks.push(poll);
    assert_single_error(&spec, "stages[0].tasks[1].max_attempts", "at most 86400");

    let mut spec = valid_spec();
    kubernetes_of(first_task(&mut spec, 1)).rollout_timeout_seconds = day + 1;
    assert_single_error(
        &spec,
        "stages[1].tasks[0].rollout_timeout_seconds",
        "at most 86400",
    );

    let mut spec = valid_spec();
    spec.concurrency = MAX_CONCURRENCY + 1;
    assert_single_error(&spec, "concurrency", "at most 100");
}

#[test]
fn values_are_placed_for_where_they_land() {
    let value = |text: &'static str| move |_: &Binding| Some(text.to_string());
    // YAML: images, quoted or not, keep working; new structure is refused.
    for template in [
        "image: ${input.A}",
        "image: \"${input.A}\"",
        "image: ${input.A}:${input.A}",
    ] {
        assert!(substitute_in(template, Placement::Yaml, value("svendowideit/testhook")).is_ok());
        assert!(substitute_in(template, Placement::Yaml, value("-1")).is_ok());
    }
    for smuggled in [
        "x\n  hostPath: /etc",
        "a: b",
        "{privileged: true}",
        "[1]",
        "x # note",
        "- item",
        "&anchor",
        "*alias",
        "!!binary",
        "| block",
        "> folded",
        "\"quoted",
        "it's",
        // YAML 1.1 breaks lines at U+2028/U+2029, and reads a leading `?`
        // in `[…]` as a key (`args: [?q=]`, found by the `bindings` property run).
        "x\u{2028}- item",
        "x\u{2029}privileged:\u{2029}true",
        "?key",
        ":value",
    ] {
        let error =
            substitute_in("key: ${input.A}", Placement::Yaml, value(smuggled)).expect_err(smuggled);
        assert!(error.to_string().contains("${input.A}"), "{error}");
    }
    // Headers: no line breaks.
    let error =
        substitute_in("${input.A}", Placement::Header, value("ok\r\nX-More: 1")).unwrap_err();
    assert!(error.to_string().contains("line break"), "{error}");
    // URLs: the address as written; path segments and query values encoded.
    assert_eq!(
        substitute_in(
            "${input.A}/v2/${input.A}?q=${input.A}",
            Placement::Url,
            value("a/b c&d")
        )
        .unwrap(),
        "a/b c&d/v2/a%2Fb%20c%26d?q=a%2Fb%20c%26d"
    );
    assert_eq!(
        substitute_in("http://host/echo/${input.A}", Placement::Url, value("v7")).unwrap(),
        "http://host/echo/v7"
    );
}

fn approval_task(approval: serde_json::Value) -> Task {
    let mut task = serde_json::json!({"name": "gate", "type": "approval"});
    task.as_object_mut()
        .unwrap()
        .extend(approval.as_object().unwrap().clone());
    serde_json::from_value(task).unwrap()
}

#[test]
fn an_approval_task_reads_with_its_defaults_and_round_trips() {
    let task = approval_task(
        serde_json::json!({"approvers": ["alice"], "summary": "Deploy ${input.DOCKER_DIGEST}?"}),
    );
    let approval = task.approval().unwrap();
    assert_eq!(approval.expires_after_seconds, 86_400);
    assert!(!approval.allow_self_approval);
    assert!(approval.approver_roles.is_empty());
    let text = serde_json::to_string(&task).unwrap();
    assert_eq!(serde_json::from_str::<Task>(&text).unwrap(), task);
    // The summary takes bindings like any text of a task.
    assert_eq!(
        task.spec.templates(),
        [("summary".to_string(), "Deploy ${input.DOCKER_DIGEST}?")]
    );
}

#[test]
fn an_approval_task_names_who_decides_and_a_positive_expiry() {
    let mut spec = valid_spec();
    spec.stages.push(stage(
        "gate",
        vec![approval_task(serde_json::json!({
            "approvers": [" "], "approver_roles": ["boss"], "expires_after_seconds": 0
        }))],
    ));
    let errors = errors_of(&spec);
    let paths: Vec<&str> = errors.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "stages[2].tasks[0].approvers[0]",
            "stages[2].tasks[0].approver_roles[0]",
            "stages[2].tasks[0].expires_after_seconds",
        ],
        "{errors:?}"
    );
    spec.stages[2].tasks[0] = approval_task(serde_json::json!({}));
    let errors = errors_of(&spec);
    assert_eq!(errors[0].0, "stages[2].tasks[0].approvers", "{errors:?}");
    assert!(errors[0].1.contains("at least one approver"), "{errors:?}");
    spec.stages[2].tasks[0] =
        approval_task(serde_json::json!({"approver_roles": ["administrator"]}));
    assert_eq!(errors_of(&spec), []);
}

#[test]
fn notifications_read_as_the_contract_writes_them() {
    let mut spec = valid_spec();
    spec.notifications = serde_json::from_value(serde_json::json!([
        {"on": ["started", "failed"], "webhook": {"url": "https://hooks.example.test/x", "format": "slack"}},
        {"on": ["waiting"], "webhook": {"url": "http://127.0.0.1:9/x"}},
        {"on": ["completed"], "email": {"to": ["ops@example.test"]}}
    ]))
    .unwrap();
    assert_eq!(errors_of(&spec), []);
    let NotificationTarget::Webhook(webhook) = &spec.notifications[1].target else {
        panic!("a webhook")
    };
    assert_eq!(
        webhook.format,
        WebhookFormat::Json,
        "json is the default format"
    );
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<PipelineSpec>(&text).unwrap(), spec);

    // A target of another kind, or none, does not read.
    for wrong in [
        serde_json::json!({"on": ["started"], "pager": {"to": "x"}}),
        serde_json::json!({"on": ["started"]}),
        serde_json::json!({"on": ["sometimes"], "email": {"to": ["a@b"]}}),
    ] {
        assert!(
            serde_json::from_value::<Notification>(wrong.clone()).is_err(),
            "{wrong}"
        );
    }
}

#[test]
fn notifications_need_events_an_http_url_and_addresses() {
    let mut spec = valid_spec();
    spec.notifications = serde_json::from_value(serde_json::json!([
        {"on": [], "webhook": {"url": "ftp://x.test/"}},
        {"on": ["failed"], "email": {"to": ["not an address", "ok@x.test"]}},
        {"on": ["failed"], "email": {"to": []}}
    ]))
    .unwrap();
    let errors = errors_of(&spec);
    let paths: Vec<&str> = errors.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "notifications[0].on",
            "notifications[0].webhook.url",
            "notifications[1].email.to[0]",
            "notifications[2].email.to",
        ],
        "{errors:?}"
    );
}

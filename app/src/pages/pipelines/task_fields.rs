//! The fields of each type of task, in its card on the Workspace tab:
//! Kubernetes, REST and Poll (which share the request), and Condition.

use leptos::prelude::*;

use super::places::{optional_text, set_number, set_optional_number, TaskAt};
use crate::endpoint::Endpoint;
use crate::error::AppError;
use crate::pages::widgets::{static_options, CheckInput, SelectInput, TextInput};
use crate::pipeline::{
    headers_text, parse_headers, parse_statuses, statuses_text, KubernetesAction,
};

#[component]
pub fn KubernetesFields(
    at: TaskAt,
    id: String,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let spec = at.spec;
    let prefix = at.path();
    let field = move |name: &str| format!("{prefix}.{name}");
    let endpoint = at.kubernetes(|k| k.endpoint.clone(), |k, endpoint| k.endpoint = endpoint);
    let endpoint_options = Memo::new(move |_| {
        let project = spec.with(|spec| spec.project.clone());
        let current = endpoint.value.get();
        let mut options: Vec<(String, String)> = clusters.with_value(|clusters| {
            clusters
                .iter()
                .filter(|endpoint| endpoint.belongs_to(&project))
                .map(|endpoint| (endpoint.name.clone(), endpoint.name.clone()))
                .collect()
        });
        let none = options.is_empty();
        if current.is_empty() {
            let prompt = if none {
                "No Kubernetes endpoint in this project"
            } else {
                "Choose a Kubernetes endpoint"
            };
            options.insert(0, (String::new(), prompt.to_string()));
        } else if !options.iter().any(|(name, _)| *name == current) {
            options.insert(
                0,
                (current.clone(), format!("{current} (not in this project)")),
            );
        }
        options
    });
    let has_clusters = Memo::new(move |_| {
        endpoint_options.with(|options| options.iter().any(|(name, _)| !name.is_empty()))
    });
    let action = at.kubernetes(
        |k| k.action.as_str().to_string(),
        |k, action| k.action = KubernetesAction::from(action),
    );
    let wait_for_rollout = at.kubernetes(|k| k.wait_for_rollout, |k, on| k.wait_for_rollout = on);
    let rollback_id = format!("{id}-rollback-on-failure");
    let revision_id = format!("{id}-to-revision");
    let revision_path = field("to_revision");
    let actions: Vec<&str> = KubernetesAction::KNOWN
        .iter()
        .map(KubernetesAction::as_str)
        .collect();
    view! {
        <div>
            <SelectInput
                id=format!("{id}-endpoint")
                label="Endpoint"
                bind=endpoint
                options=endpoint_options
                error
                field=field("endpoint")
            />
            <Show when=move || !has_clusters.get()>
                <p class="mt-1 text-xs text-slate-600">
                    <a class="font-medium text-sky-700 underline" href="/endpoints">"Add a Kubernetes endpoint"</a>
                    " to this pipeline's project first."
                </p>
            </Show>
        </div>
        <SelectInput
            id=format!("{id}-action")
            label="Action"
            bind=action
            options=static_options(&actions)
            error
            field=field("action")
            hint="CREATE fails on existing objects; APPLY is server-side apply."
        />
        <div class="md:col-span-2">
            <TextInput
                id=format!("{id}-yaml")
                label="YAML"
                bind=at.kubernetes(|k| k.yaml.clone(), |k, yaml| k.yaml = yaml)
                error
                field=field("yaml")
                rows=14
                mono=true
                placeholder="apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  …\n      containers:\n        - name: web\n          image: nginx:${input.DOCKER_TAG}"
                hint="One or more documents separated by ---. Bindings such as ${input.DOCKER_TAG} are filled in when the task runs."
            />
        </div>
        <Show when=move || action.value.get() == KubernetesAction::Rollback.as_str()>
            <TextInput
                id=revision_id.clone()
                label="Revision to roll back to"
                bind=at.kubernetes(
                    |k| k.to_revision.map(|revision| revision.to_string()).unwrap_or_default(),
                    |k, text: String| set_optional_number(&mut k.to_revision, &text),
                )
                error
                field=revision_path.clone()
                number=true
                placeholder="previous"
            />
        </Show>
        <div class="space-y-3">
            <CheckInput
                id=format!("{id}-continue-on-conflict")
                label="Continue on conflict"
                bind=at.kubernetes(|k| k.continue_on_conflict, |k, on| k.continue_on_conflict = on)
                hint="For CREATE: an object that already exists is not a failure."
            />
            <CheckInput
                id=format!("{id}-wait-for-rollout")
                label="Wait for rollout"
                bind=at.kubernetes(
                    |k| k.wait_for_rollout,
                    |k, on| {
                        k.wait_for_rollout = on;
                        // A failed rollout is only seen while waiting for it.
                        k.rollback_on_failure &= on;
                    },
                )
                hint="Waits until Deployments and the like have rolled out."
            />
            <Show when=move || wait_for_rollout.value.get()>
                <CheckInput
                    id=rollback_id.clone()
                    label="Roll back if the rollout fails"
                    bind=at.kubernetes(|k| k.rollback_on_failure, |k, on| k.rollback_on_failure = on)
                    hint="For CREATE and APPLY: a rollout that times out, exceeds its progress deadline or has pods stuck in ImagePullBackOff or CrashLoopBackOff puts each Deployment back on its previous revision."
                />
            </Show>
            <CheckInput
                id=format!("{id}-dry-run")
                label="Dry run (show the diff, change nothing)"
                bind=at.kubernetes(|k| k.dry_run, |k, on| k.dry_run = on)
                hint="For CREATE, APPLY and DELETE: the API server checks the writes without storing them; the output's diff shows what would change."
            />
        </div>
        <TextInput
            id=format!("{id}-rollout-timeout")
            label="Rollout timeout (seconds)"
            bind=at.kubernetes(
                |k| k.rollout_timeout_seconds.to_string(),
                |k, text: String| set_number(&mut k.rollout_timeout_seconds, &text),
            )
            error
            field=field("rollout_timeout_seconds")
            number=true
        />
    }
}

/// The request of a REST or Poll task, then the fields only one of them has.
#[component]
pub fn RequestFields(
    at: TaskAt,
    id: String,
    error: Signal<Option<AppError>>,
    polling: bool,
) -> impl IntoView {
    let prefix = at.path();
    let field = move |name: &str| format!("{prefix}.{name}");
    let methods = static_options(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]);
    let specific = if polling {
        view! {
            <div class="md:col-span-2">
                <TextInput
                    id=format!("{id}-condition")
                    label="Condition"
                    bind=at.poll(|p| p.condition.clone(), |p, condition| p.condition = condition)
                    error
                    field=field("condition")
                    mono=true
                    placeholder="$.status == 'ready'"
                    hint="Polling stops when this is true; $ is the response body read as JSON."
                />
            </div>
            <TextInput
                id=format!("{id}-interval")
                label="Interval (seconds)"
                bind=at.poll(
                    |p| p.interval_seconds.to_string(),
                    |p, text: String| set_number(&mut p.interval_seconds, &text),
                )
                error
                field=field("interval_seconds")
                number=true
            />
            <TextInput
                id=format!("{id}-timeout")
                label="Timeout (seconds)"
                bind=at.poll(
                    |p| p.timeout_seconds.to_string(),
                    |p, text: String| set_number(&mut p.timeout_seconds, &text),
                )
                error
                field=field("timeout_seconds")
                number=true
            />
            <TextInput
                id=format!("{id}-max-attempts")
                label="Max attempts"
                bind=at.poll(
                    |p| p.max_attempts.map(|n| n.to_string()).unwrap_or_default(),
                    |p, text: String| set_optional_number(&mut p.max_attempts, &text),
                )
                error
                field=field("max_attempts")
                number=true
                placeholder="no limit"
            />
        }
        .into_any()
    } else {
        view! {
            <TextInput
                id=format!("{id}-expected-status")
                label="Expected statuses"
                bind=at.rest(
                    |r| statuses_text(&r.expected_status),
                    |r, text: String| r.expected_status = parse_statuses(&text),
                )
                error
                field=field("expected_status")
                placeholder="any 2xx"
                hint="Comma-separated, e.g. 200, 201. Empty: any 2xx."
            />
        }
        .into_any()
    };
    view! {
        <SelectInput
            id=format!("{id}-method")
            label="Method"
            bind=at.request(|r| r.method.to_ascii_uppercase(), |r, method| *r.method = method)
            options=methods
            error
            field=field("method")
        />
        <TextInput
            id=format!("{id}-url")
            label="URL"
            bind=at.request(|r| r.url.to_string(), |r, url| *r.url = url)
            error
            field=field("url")
            mono=true
            placeholder="https://…"
        />
        <TextInput
            id=format!("{id}-headers")
            label="Headers"
            bind=at.request(|r| headers_text(r.headers), |r, text: String| *r.headers = parse_headers(&text))
            error
            rows=3
            mono=true
            placeholder="Authorization: Bearer ${input.TOKEN}"
            hint="One Name: value per line."
        />
        <TextInput
            id=format!("{id}-body")
            label="Body"
            bind=at.request(|r| r.body.unwrap_or_default().to_string(), |r, body| *r.body = optional_text(body))
            error
            field=field("body")
            rows=3
            mono=true
        />
        {specific}
    }
}

#[component]
pub fn ConditionFields(at: TaskAt, id: String, error: Signal<Option<AppError>>) -> impl IntoView {
    view! {
        <TextInput
            id=format!("{id}-expression")
            label="Expression"
            bind=at.condition(|c| c.expression.clone(), |c, expression| c.expression = expression)
            error
            field=format!("{}.expression", at.path())
            mono=true
            placeholder="'${input.ENV}' == 'dev'"
            hint="The task succeeds when this is true and fails the stage otherwise."
        />
    }
}

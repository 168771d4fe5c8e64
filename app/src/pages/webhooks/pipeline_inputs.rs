//! The input parameters of the pipeline a webhook runs: values for its own
//! inputs, typed in the webhook form (or sent empty on purpose), and the
//! Docker ones, which the event fills.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;

use crate::error::AppError;
use crate::execution::Pipeline;
use crate::pages::widgets::FieldError;
use crate::pipeline::{is_docker_parameter, InputParameter};

/// Whether a pipeline input is filled from the Docker event rather than by the webhook.
fn from_event(pipeline: &Pipeline, name: &str) -> bool {
    pipeline.spec.inject_docker_parameters && is_docker_parameter(name)
}

/// A webhook's stored input values as the form edits them: the values typed,
/// and the inputs sent empty on purpose (instead of their default).
pub(super) fn typed_and_blank(
    inputs: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let typed = inputs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let blank = inputs
        .iter()
        .filter(|(_, value)| value.is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    (typed, blank)
}

/// The input values a webhook stores for `chosen`: its own inputs with a
/// value typed, and those sent empty on purpose (as empty texts); an input
/// left empty keeps its default, and the Docker ones come from the event.
pub(super) fn webhook_inputs(
    chosen: &Pipeline,
    typed: &BTreeMap<String, String>,
    blank: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let mut inputs = BTreeMap::new();
    for parameter in &chosen.spec.inputs {
        if from_event(chosen, &parameter.name) {
            continue;
        }
        let value = typed.get(&parameter.name).cloned().unwrap_or_default();
        if blank.contains(&parameter.name) {
            inputs.insert(parameter.name.clone(), String::new());
        } else if !value.is_empty() {
            inputs.insert(parameter.name.clone(), value);
        }
    }
    inputs
}

/// The chosen pipeline's input parameters: the own ones with editable values,
/// the Docker ones read-only because the event fills them.
#[component]
pub(super) fn PipelineInputs(
    chosen: Pipeline,
    values: RwSignal<BTreeMap<String, String>>,
    blanks: RwSignal<BTreeSet<String>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let own: Vec<_> = chosen
        .spec
        .inputs
        .iter()
        .filter(|parameter| !from_event(&chosen, &parameter.name))
        .cloned()
        .collect();
    let injected: Vec<(String, String)> = if chosen.spec.inject_docker_parameters {
        chosen
            .spec
            .effective_inputs()
            .into_iter()
            .filter(|parameter| from_event(&chosen, &parameter.name))
            .map(|parameter| (parameter.name, parameter.description))
            .collect()
    } else {
        Vec::new()
    };
    let nothing = own.is_empty() && injected.is_empty();
    let own_rows = own
        .into_iter()
        .map(|parameter| view! { <OwnInput parameter values blanks error /> })
        .collect_view();
    let injected_rows = injected
        .into_iter()
        .map(|(name, description)| {
            let id = format!("webhook-docker-{name}");
            view! {
                <div>
                    <label class="label font-mono" for=id.clone()>{name.clone()}</label>
                    <input class="input bg-slate-50 text-slate-500" id=id readonly=true value="from the Docker event" title=description />
                </div>
            }
        })
        .collect_view();
    let injected_section = (!injected_rows.is_empty()).then(|| {
        view! {
            <div class="mt-4" data-testid="injected-parameters">
                <p class="text-sm font-medium text-slate-700">"Filled from the Docker event"</p>
                <div class="mt-2 grid gap-3 md:grid-cols-3">{injected_rows}</div>
            </div>
        }
    });
    view! {
        <fieldset class="mt-3 rounded-md border border-slate-200 p-4" data-testid="pipeline-inputs">
            <legend class="px-1 text-sm font-medium text-slate-700">"Input parameters"</legend>
            {nothing.then(|| view! { <p class="text-sm text-slate-500">"This pipeline has no input parameters."</p> })}
            <p class="text-xs text-slate-500">
                "Fill in a value, or leave it empty to keep the default shown in the field."
            </p>
            <div class="mt-2 grid gap-3 md:grid-cols-2">{own_rows}</div>
            {injected_section}
        </fieldset>
    }
}

/// One of the pipeline's own inputs: its value, and (when it has a default)
/// a box to send it empty instead.
#[component]
fn OwnInput(
    parameter: InputParameter,
    values: RwSignal<BTreeMap<String, String>>,
    blanks: RwSignal<BTreeSet<String>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let field = format!("inputs.{}", parameter.name);
    let id = format!("webhook-input-{}", parameter.name);
    let key = parameter.name.clone();
    let key_for_input = key.clone();
    let key_for_blank = key.clone();
    let key_for_check = key.clone();
    let key_for_disabled = key.clone();
    let has_default = parameter.default.is_some();
    let placeholder = match &parameter.default {
        Some(default) if !default.is_empty() => format!("default: {default}"),
        Some(_) => "default: (empty)".to_string(),
        None if parameter.required => "required: no default".to_string(),
        None => "no default".to_string(),
    };
    let blank_id = format!("{id}-blank");
    view! {
        <div data-input=parameter.name.clone()>
            <label class="label font-mono" for=id.clone()>
                {parameter.name.clone()}
                {parameter.required.then(|| view! { <span class="ml-1 text-xs font-normal text-slate-500">"(required)"</span> })}
            </label>
            <input class="input" id=id autocomplete="off" placeholder=placeholder
                disabled=move || blanks.with(|blanks| blanks.contains(&key_for_disabled))
                prop:value=move || values.with(|values| values.get(&key).cloned().unwrap_or_default())
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    values.update(|values| {
                        values.insert(key_for_input.clone(), text);
                    });
                } />
            {has_default.then(|| view! {
                <label class="mt-1 flex items-center gap-2 text-xs text-slate-600">
                    <input type="checkbox" id=blank_id
                        prop:checked=move || blanks.with(|blanks| blanks.contains(&key_for_check))
                        on:change=move |ev| {
                            let checked = event_target_checked(&ev);
                            blanks.update(|blanks| {
                                if checked {
                                    blanks.insert(key_for_blank.clone());
                                } else {
                                    blanks.remove(&key_for_blank);
                                }
                            });
                        } />
                    "Send it empty instead of the default"
                </label>
            })}
            {(!parameter.description.is_empty()).then(|| view! {
                <p class="mt-1 text-xs text-slate-500">{parameter.description.clone()}</p>
            })}
            <FieldError error field />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(inject_docker_parameters: bool) -> Pipeline {
        serde_json::from_value(serde_json::json!({
            "id": 1,
            "project_id": 1,
            "created_at": 0,
            "updated_at": 0,
            "project": "demo",
            "name": "deploy",
            "inject_docker_parameters": inject_docker_parameters,
            "inputs": [
                { "name": "ENV", "default": "staging" },
                { "name": "NOTE", "default": "hello" },
                { "name": "REPLICAS" },
                { "name": "DOCKER_TAG", "default": "latest" },
            ],
        }))
        .expect("a pipeline")
    }

    fn texts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn stored_inputs_split_into_typed_and_blank() {
        let (typed, blank) = typed_and_blank(&texts(&[("ENV", "prod"), ("NOTE", "")]));
        assert_eq!(typed, texts(&[("ENV", "prod")]));
        assert_eq!(blank, BTreeSet::from(["NOTE".to_string()]));
    }

    #[test]
    fn a_webhook_stores_typed_and_blank_inputs_but_not_the_docker_ones() {
        let typed = texts(&[
            ("ENV", "prod"),
            ("NOTE", "typed, then blanked"),
            ("DOCKER_TAG", "v1"),
        ]);
        let blank = BTreeSet::from(["NOTE".to_string()]);
        assert_eq!(
            webhook_inputs(&pipeline(true), &typed, &blank),
            texts(&[("ENV", "prod"), ("NOTE", "")])
        );
        // Without injection, DOCKER_TAG is an input like any other.
        assert_eq!(
            webhook_inputs(&pipeline(false), &typed, &blank),
            texts(&[("DOCKER_TAG", "v1"), ("ENV", "prod"), ("NOTE", "")])
        );
    }

    #[test]
    fn what_the_form_loads_it_saves_again() {
        let stored = texts(&[("ENV", "prod"), ("NOTE", "")]);
        let (typed, blank) = typed_and_blank(&stored);
        assert_eq!(webhook_inputs(&pipeline(true), &typed, &blank), stored);
    }
}

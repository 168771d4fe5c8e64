//! The Input tab: the input parameters, and the Docker parameters switch.

use leptos::prelude::*;

use super::places::{input_field, optional_text, remove_item};
use crate::error::AppError;
use crate::pages::widgets::{FieldError, TextInput};
use crate::pipeline::{InputParameter, PipelineSpec, DOCKER_PARAMETERS};

#[component]
pub fn InputTab(spec: RwSignal<PipelineSpec>, error: Signal<Option<AppError>>) -> impl IntoView {
    let count = Memo::new(move |_| spec.with(|spec| spec.inputs.len()));
    let inject = Memo::new(move |_| spec.with(|spec| spec.inject_docker_parameters));
    let declared = Memo::new(move |_| {
        spec.with(|spec| {
            spec.inputs
                .iter()
                .map(|input| input.name.clone())
                .collect::<Vec<_>>()
        })
    });
    let add = move |_| {
        spec.update(|spec| {
            spec.inputs.push(InputParameter {
                name: String::new(),
                default: None,
                description: String::new(),
                required: false,
            })
        })
    };
    view! {
        <div class="card">
            <h2 class="text-base font-semibold">"Input parameters"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "Values each run starts with. Tasks read them as "
                <code class="rounded bg-slate-100 px-1 font-mono text-xs">"${input.NAME}"</code>
                "; a run cannot start without a value for a required one."
            </p>
            <FieldError error field="inputs" />
            <Show
                when=move || { count.get() > 0 }
                fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"No input parameters yet."</p> }
            >
                <div class="mt-4 overflow-x-auto rounded-md border border-slate-200">
                    <table class="table" data-testid="inputs-table">
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Default"</th>
                                <th scope="col">"Description"</th>
                                <th scope="col">"Required"</th>
                                <th scope="col"><span class="sr-only">"Remove"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=move || 0..count.get() key=|index| *index children=move |index| view! { <InputRow spec index error /> } />
                        </tbody>
                    </table>
                </div>
            </Show>
            <button type="button" class="btn-secondary mt-4" on:click=add>"Add input"</button>
        </div>
        <div class="card mt-6">
            <div class="flex flex-wrap items-center justify-between gap-4">
                <div>
                    <h2 class="text-base font-semibold">"Docker parameters"</h2>
                    <p class="mt-1 text-sm text-slate-600">
                        "When a Docker trigger starts this pipeline, it fills these inputs from the push event. Declaring one above gives it your own default or description."
                    </p>
                </div>
                <button
                    type="button"
                    role="switch"
                    id="inject-docker"
                    aria-checked=move || if inject.get() { "true" } else { "false" }
                    class="flex items-center gap-3 rounded-md px-1 py-1 text-sm font-medium text-slate-800 focus-visible:outline-2 focus-visible:outline-sky-700"
                    on:click=move |_| spec.update(|spec| spec.inject_docker_parameters = !spec.inject_docker_parameters)
                >
                    <span
                        aria-hidden="true"
                        class=move || {
                            if inject.get() {
                                "relative inline-flex h-6 w-11 shrink-0 items-center rounded-full bg-sky-700 transition"
                            } else {
                                "relative inline-flex h-6 w-11 shrink-0 items-center rounded-full bg-slate-300 transition"
                            }
                        }
                    >
                        <span class=move || {
                            if inject.get() {
                                "inline-block h-5 w-5 translate-x-5 rounded-full bg-white shadow transition"
                            } else {
                                "inline-block h-5 w-5 translate-x-0.5 rounded-full bg-white shadow transition"
                            }
                        }></span>
                    </span>
                    <span>"Inject Docker parameters"</span>
                    <span class="text-xs font-normal text-slate-500">{move || if inject.get() { "on" } else { "off" }}</span>
                </button>
            </div>
            <Show when=move || inject.get()>
                <ul class="mt-4 divide-y divide-slate-100 rounded-md border border-slate-200" data-testid="injected-parameters">
                    {DOCKER_PARAMETERS
                        .iter()
                        .map(|(name, description)| {
                            let overridden = move || declared.with(|declared| declared.iter().any(|declared| declared == name));
                            view! {
                                <li class="flex flex-wrap items-baseline gap-x-3 gap-y-1 px-4 py-2 text-sm">
                                    <code class="font-mono font-medium text-slate-900">{*name}</code>
                                    <span class="badge bg-sky-100 text-sky-800">"from the Docker event"</span>
                                    <Show when=overridden>
                                        <span class="badge">"declared above"</span>
                                    </Show>
                                    <span class="basis-full text-xs text-slate-500 md:basis-auto">{*description}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </Show>
        </div>
    }
}

#[component]
fn InputRow(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let number = index + 1;
    let required = input_field(
        spec,
        index,
        |input| input.required,
        |input, required| input.required = required,
    );
    view! {
        <tr data-input-row=index>
            <td class="min-w-40 align-top">
                <TextInput
                    id=format!("input-{index}-name")
                    label=format!("Input {number} name")
                    hidden_label=true
                    mono=true
                    bind=input_field(spec, index, |input| input.name.clone(), |input, name| input.name = name)
                    error
                    field=format!("inputs[{index}].name")
                    placeholder="NAME"
                />
            </td>
            <td class="min-w-32 align-top">
                <TextInput
                    id=format!("input-{index}-default")
                    label=format!("Input {number} default")
                    hidden_label=true
                    bind=input_field(
                        spec,
                        index,
                        |input| input.default.clone().unwrap_or_default(),
                        |input, default| input.default = optional_text(default),
                    )
                    error
                    field=format!("inputs[{index}].default")
                    placeholder="none"
                />
            </td>
            <td class="min-w-48 align-top">
                <TextInput
                    id=format!("input-{index}-description")
                    label=format!("Input {number} description")
                    hidden_label=true
                    bind=input_field(spec, index, |input| input.description.clone(), |input, text| input.description = text)
                    error
                    field=format!("inputs[{index}].description")
                />
            </td>
            <td class="align-top">
                <input
                    type="checkbox"
                    class="mt-2.5 h-4 w-4 accent-sky-700"
                    id=format!("input-{index}-required")
                    aria-label=format!("Input {number} required")
                    checked=required.value.get_untracked()
                    prop:checked=move || required.value.get()
                    on:change=move |ev| required.set.run(event_target_checked(&ev))
                />
            </td>
            <td class="align-top text-right">
                <button
                    type="button"
                    class="btn-link mt-1 text-red-700"
                    aria-label=format!("Remove input {number}")
                    on:click=move |_| spec.update(|spec| remove_item(&mut spec.inputs, index))
                >
                    "Remove"
                </button>
            </td>
        </tr>
    }
}

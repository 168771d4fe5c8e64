//! The YAML tab: the definition as the API takes it, to read and to apply.

use leptos::prelude::*;

use crate::functions::{PipelineFromYaml, PipelineToYaml};
use crate::pipeline::PipelineSpec;

#[component]
pub fn YamlTab(
    spec: RwSignal<PipelineSpec>,
    to_yaml: ServerAction<PipelineToYaml>,
    text: RwSignal<String>,
) -> impl IntoView {
    let from_yaml = ServerAction::<PipelineFromYaml>::new();
    let applied = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(parsed)) = from_yaml.value().get() {
            spec.set(parsed);
            applied.set(true);
        }
    });
    let generate_error = move || match to_yaml.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let parse_error = move || match from_yaml.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    view! {
        <div class="card">
            <div class="flex flex-wrap items-start justify-between gap-4">
                <div>
                    <label class="text-base font-semibold" for="pipeline-yaml">"Pipeline YAML"</label>
                    <p class="mt-1 text-sm text-slate-600">
                        "The definition as the API takes it. Edit it and Apply YAML to load it into the editor; Save stores the editor's state."
                    </p>
                </div>
                <div class="flex gap-2">
                    <button
                        type="button"
                        class="btn-secondary"
                        on:click=move |_| {
                            applied.set(false);
                            to_yaml.dispatch(PipelineToYaml { spec: spec.get_untracked() });
                        }
                    >
                        "Reset from editor"
                    </button>
                    <button
                        type="button"
                        class="btn-primary"
                        disabled=move || from_yaml.pending().get() || to_yaml.pending().get()
                        on:click=move |_| {
                            applied.set(false);
                            from_yaml.dispatch(PipelineFromYaml { text: text.get_untracked() });
                        }
                    >
                        "Apply YAML"
                    </button>
                </div>
            </div>
            {move || to_yaml.pending().get().then(|| view! { <p class="mt-3 text-sm text-slate-500">"Writing the YAML…"</p> })}
            <textarea
                id="pipeline-yaml"
                class="input mt-4 font-mono text-xs leading-5"
                rows="28"
                spellcheck="false"
                prop:value=move || text.get()
                on:input=move |ev| {
                    applied.set(false);
                    text.set(event_target_value(&ev));
                }
            ></textarea>
            {move || generate_error().map(|message| view! {
                <div class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">{message}</div>
            })}
            {move || parse_error().map(|message| view! {
                <div class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert" data-testid="yaml-error">
                    {format!("The YAML was not applied: {message}")}
                </div>
            })}
            <Show when=move || applied.get()>
                <p class="mt-3 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900" role="status">
                    "Applied: the editor now holds this definition. Save to store it."
                </p>
            </Show>
        </div>
    }
}

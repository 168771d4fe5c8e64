//! The Run dialog: the inputs of a run of a saved pipeline, and Start run.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::execution::Pipeline;
use crate::functions::{get_pipeline, RunPipeline};
use crate::pages::widgets::{last_error, FieldError};
use crate::pipeline::{is_docker_parameter, InputParameter};

/// Tab from the dialog's last control goes to its first, Shift+Tab from its first
/// (or from the dialog itself) to its last: a modal dialog keeps keyboard focus, as it
/// keeps the pointer, away from the page behind it. Browser only.
fn keep_focus_inside(ev: &leptos::ev::KeyboardEvent, dialog: NodeRef<leptos::html::Div>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;

        let Some(dialog) = dialog.get_untracked() else {
            return;
        };
        let Ok(found) = dialog.query_selector_all(
            "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex='0']",
        ) else {
            return;
        };
        let controls: Vec<web_sys::HtmlElement> = (0..found.length())
            .filter_map(|index| found.item(index))
            .filter_map(|node| node.dyn_into().ok())
            .collect();
        let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
            return;
        };
        let active = document().active_element();
        let is = |element: &web_sys::Element| active.as_ref() == Some(element);
        if ev.shift_key() && (is(&**first) || is(&**dialog)) {
            ev.prevent_default();
            let _ = last.focus();
        } else if !ev.shift_key() && is(&**last) {
            ev.prevent_default();
            let _ = first.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (ev, dialog);
    }
}

/// Asks for the inputs of a run of a saved pipeline and starts it; on success
/// goes to the new execution. `initial` prefills values (Run again).
#[component]
pub fn RunDialog(
    pipeline_id: i64,
    initial: Option<BTreeMap<String, String>>,
    on_close: Callback<()>,
) -> impl IntoView {
    let pipeline = Resource::new(move || pipeline_id, get_pipeline);
    let initial = StoredValue::new(initial);
    // Keyboard focus moves into the dialog, so Escape and Tab work at once.
    let dialog = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if let Some(element) = dialog.get() {
            let _ = element.focus();
        }
    });
    view! {
        <div
            class="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-slate-900/50 p-4 sm:pt-16"
            on:click=move |_| on_close.run(())
        >
            <div
                role="dialog"
                aria-modal="true"
                tabindex="-1"
                node_ref=dialog
                aria-labelledby="run-dialog-title"
                class="w-full max-w-xl rounded-lg bg-white p-6 shadow-xl focus:outline-none"
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        on_close.run(());
                    } else if ev.key() == "Tab" {
                        keep_focus_inside(&ev, dialog);
                    }
                }
            >
                <Suspense fallback=|| {
                    view! {
                        <h2 id="run-dialog-title" class="text-lg font-semibold">"Run pipeline"</h2>
                        <p class="mt-2 text-sm text-slate-500">"Loading its inputs…"</p>
                    }
                }>
                    {move || {
                        pipeline
                            .get()
                            .map(|answer| match answer {
                                Ok(pipeline) => {
                                    view! { <RunForm pipeline initial=initial.get_value() on_close /> }.into_any()
                                }
                                Err(error) => {
                                    view! {
                                        <h2 id="run-dialog-title" class="text-lg font-semibold">"Run pipeline"</h2>
                                        <p class="mt-2 text-red-700" role="alert">{error.to_string()}</p>
                                        <button type="button" class="btn-secondary mt-4" on:click=move |_| on_close.run(())>"Close"</button>
                                    }
                                        .into_any()
                                }
                            })
                    }}
                </Suspense>
            </div>
        </div>
    }
}

#[component]
fn RunForm(
    pipeline: Pipeline,
    initial: Option<BTreeMap<String, String>>,
    on_close: Callback<()>,
) -> impl IntoView {
    let run = ServerAction::<RunPipeline>::new();
    let error = last_error(move || run.value().get());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(summary)) = run.value().get() {
            navigate(&format!("/executions/{}", summary.id), Default::default());
        }
    });
    let id = pipeline.id;
    let spec = pipeline.spec;
    let declared: Vec<String> = spec.inputs.iter().map(|input| input.name.clone()).collect();
    let fields: Vec<(InputParameter, bool, RwSignal<String>)> = spec
        .effective_inputs()
        .into_iter()
        .map(|input| {
            let injected = !declared.contains(&input.name) && is_docker_parameter(&input.name);
            let value = initial
                .as_ref()
                .and_then(|values| values.get(&input.name).cloned())
                .or_else(|| input.default.clone())
                .unwrap_or_default();
            (input, injected, RwSignal::new(value))
        })
        .collect();
    let values: Vec<(String, RwSignal<String>)> = fields
        .iter()
        .map(|(input, _, value)| (input.name.clone(), *value))
        .collect();
    let values = StoredValue::new(values);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // An empty field takes the default (or stays empty when there is none).
        let inputs = values.with_value(|values| {
            values
                .iter()
                .filter_map(|(name, value)| {
                    let value = value.get_untracked();
                    (!value.is_empty()).then(|| (name.clone(), value))
                })
                .collect()
        });
        run.dispatch(RunPipeline { id, inputs });
    };
    let has_fields = !fields.is_empty();
    let rows = fields
        .into_iter()
        .enumerate()
        .map(|(index, (input, injected, value))| {
            let field_id = format!("run-input-{index}");
            let path = format!("inputs.{}", input.name);
            let marker = if injected {
                view! { <span class="badge ml-2 font-normal">"optional · from the Docker event"</span> }.into_any()
            } else if input.required {
                view! { <span class="badge ml-2 bg-amber-100 font-normal text-amber-900">"required"</span> }.into_any()
            } else {
                ().into_any()
            };
            let default_hint = input
                .default
                .as_ref()
                .map(|default| format!("Default: {default}"));
            view! {
                <div>
                    <label class="label" for=field_id.clone()>
                        <span class="font-mono">{input.name.clone()}</span>
                        {marker}
                    </label>
                    <input
                        class="input font-mono"
                        id=field_id
                        autocomplete="off"
                        autofocus=index == 0
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))
                    />
                    <p class="mt-1 text-xs text-slate-500">
                        {input.description.clone()}
                        {default_hint.map(|hint| view! { <span class="ml-1 text-slate-400">{hint}</span> })}
                    </p>
                    <FieldError error field=path />
                </div>
            }
        })
        .collect_view();
    view! {
        <h2 id="run-dialog-title" class="text-lg font-semibold">{format!("Run {}", spec.name)}</h2>
        <p class="mt-1 text-sm text-slate-600">
            {if has_fields {
                "The inputs of this run. Empty fields take their default, if there is one."
            } else {
                "This pipeline has no input parameters."
            }}
        </p>
        {(!spec.enabled).then(|| view! {
            <p class="mt-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                "This pipeline is disabled: enable it in the editor to run it."
            </p>
        })}
        <form class="mt-4 space-y-4" on:submit=submit>
            {rows}
            <div class="flex flex-wrap items-center gap-3 pt-2">
                <button type="submit" class="btn-primary" disabled=move || run.pending().get()>
                    {move || if run.pending().get() { "Starting…" } else { "Start run" }}
                </button>
                <button type="button" class="btn-secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </form>
        {move || error.get().map(|error| view! {
            <div class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">
                {format!("Not started: {error}")}
            </div>
        })}
    }
}

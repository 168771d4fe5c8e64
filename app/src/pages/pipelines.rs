//! Pipelines: the list, the editor (General, Input, Workspace and YAML tabs)
//! and the Run dialog that starts an execution.
//!
//! The editor keeps the whole definition in one `RwSignal<PipelineSpec>`.
//! Lists (inputs, stages, tasks) are rendered with `<For>` keyed by position,
//! and every field reads and writes its place in the definition, so typing
//! never re-creates an input (focus and caret stay where they are).

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::widgets::{last_error, EmptyState, FormError, PageHeader};
use crate::endpoint::{Endpoint, EndpointKind};
use crate::error::AppError;
use crate::execution::Pipeline;
use crate::functions::{
    get_pipeline, list_endpoints, list_pipelines, list_projects, DeletePipeline, PipelineFromYaml,
    PipelineToYaml, RunPipeline, SavePipeline,
};
use crate::model::{Project, ProjectRole, User};
use crate::pipeline::{
    ConditionTask, InputParameter, KubernetesAction, KubernetesTask, PipelineSpec, PollTask,
    RestTask, Stage, Task, TaskSpec, DOCKER_PARAMETERS,
};

/// The project a definition names (by name, or by id as the API allows).
fn find_project<'p>(projects: &'p [Project], reference: &str) -> Option<&'p Project> {
    projects
        .iter()
        .find(|project| project.name == reference || project.id.to_string() == reference)
}

/// Whether the signed-in user has at least `role` in a project.
fn has_role(project: Option<&Project>, is_admin: bool, role: ProjectRole) -> bool {
    is_admin || project.and_then(|project| project.my_role) >= Some(role)
}

fn signed_in_admin() -> bool {
    use_context::<User>().is_some_and(|user| user.is_admin)
}

fn is_docker_parameter(name: &str) -> bool {
    DOCKER_PARAMETERS.iter().any(|(docker, _)| *docker == name)
}

fn task_type_label(kind: &str) -> &'static str {
    match kind {
        "kubernetes" => "Kubernetes",
        "rest" => "REST",
        "poll" => "Poll",
        "condition" => "Condition",
        _ => "Task",
    }
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

#[component]
pub fn PipelinesPage() -> impl IntoView {
    let delete = ServerAction::<DeletePipeline>::new();
    let pipelines = Resource::new(move || delete.version().get(), |_| list_pipelines());
    let projects = Resource::new(|| (), |_| list_projects());
    let endpoints = Resource::new(|| (), |_| list_endpoints());
    let is_admin = signed_in_admin();
    let delete_error = last_error(move || delete.value().get());
    // The pipeline whose Run dialog is open.
    let running = RwSignal::new(None::<i64>);

    view! {
        <div class="flex flex-wrap items-start justify-between gap-4">
            <PageHeader
                title="Pipelines"
                subtitle="Stages of Kubernetes, REST, Poll and Condition tasks, started by hand or by a Docker push."
            />
            <a href="/pipelines/new" class="btn-primary">"New pipeline"</a>
        </div>
        <FormError error=delete_error />
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading pipelines…"</p> }>
            {move || {
                let projects = projects.get().and_then(Result::ok).unwrap_or_default();
                let has_cluster = endpoints
                    .get()
                    .and_then(Result::ok)
                    .is_some_and(|list| list.iter().any(|endpoint| endpoint.kind == EndpointKind::Kubernetes));
                pipelines
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() => {
                            view! { <NoPipelines has_project=!projects.is_empty() has_cluster /> }.into_any()
                        }
                        Ok(list) => {
                            let rows = list
                                .into_iter()
                                .map(|pipeline| {
                                    let project = find_project(&projects, &pipeline.spec.project);
                                    let editable = has_role(project, is_admin, ProjectRole::Developer);
                                    let runnable = has_role(project, is_admin, ProjectRole::Executor);
                                    view! { <PipelineRow pipeline editable runnable delete running /> }
                                })
                                .collect_view();
                            view! {
                                <div class="overflow-x-auto rounded-lg border border-slate-200 bg-white">
                                    <table class="table" data-testid="pipelines-table">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Project"</th>
                                                <th scope="col">"Stages"</th>
                                                <th scope="col">"State"</th>
                                                <th scope="col">"Docker"</th>
                                                <th scope="col"><span class="sr-only">"Actions"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>{rows}</tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
        {move || {
            running
                .get()
                .map(|pipeline_id| {
                    view! { <RunDialog pipeline_id initial=None on_close=Callback::new(move |_| running.set(None)) /> }
                })
        }}
    }
}

/// The empty list: what a pipeline needs, in the order to create it.
#[component]
fn NoPipelines(has_project: bool, has_cluster: bool) -> impl IntoView {
    let link = "font-medium text-sky-700 underline";
    view! {
        <EmptyState title="No pipelines yet">
            <ol class="mx-auto mt-2 max-w-xl list-decimal space-y-1 pl-5 text-left">
                <li class=if has_project { "text-slate-400 line-through" } else { "" }>
                    <a class=link href="/projects">"Create a project"</a>
                    " to hold the pipeline."
                </li>
                <li class=if has_cluster { "text-slate-400 line-through" } else { "" }>
                    "Add a Kubernetes endpoint (the cluster to deploy to) on the "
                    <a class=link href="/endpoints">"Endpoints"</a>
                    " page, and a Docker registry endpoint if pushes should start runs."
                </li>
                <li>
                    "Choose New pipeline above: give it input parameters, stages and tasks, save it and run it."
                </li>
            </ol>
        </EmptyState>
    }
}

#[component]
fn PipelineRow(
    pipeline: Pipeline,
    editable: bool,
    runnable: bool,
    delete: ServerAction<DeletePipeline>,
    running: RwSignal<Option<i64>>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let id = pipeline.id;
    let spec = pipeline.spec;
    let task_count: usize = spec.stages.iter().map(|stage| stage.tasks.len()).sum();
    let stages = format!(
        "{} {} · {} {}",
        spec.stages.len(),
        if spec.stages.len() == 1 {
            "stage"
        } else {
            "stages"
        },
        task_count,
        if task_count == 1 { "task" } else { "tasks" }
    );
    let delete_question = StoredValue::new(format!("Delete {}?", spec.name));
    view! {
        <tr data-pipeline=spec.name.clone()>
            <td>
                <a class="font-medium text-sky-800 hover:underline" href=format!("/pipelines/{id}")>{spec.name.clone()}</a>
                {(!spec.description.is_empty()).then(|| view! { <p class="max-w-md truncate text-xs text-slate-500">{spec.description.clone()}</p> })}
            </td>
            <td class="text-slate-600">{spec.project.clone()}</td>
            <td class="whitespace-nowrap">{stages}</td>
            <td>
                {if spec.enabled {
                    view! { <span class="badge badge-green whitespace-nowrap">"✓ enabled"</span> }.into_any()
                } else {
                    view! { <span class="badge whitespace-nowrap">"⏸ disabled"</span> }.into_any()
                }}
            </td>
            <td>
                {if spec.inject_docker_parameters {
                    view! { <span class="badge whitespace-nowrap bg-sky-100 text-sky-800" title="Docker triggers fill the DOCKER_* inputs">"injects Docker parameters"</span> }.into_any()
                } else {
                    view! { <span class="text-xs text-slate-400">"—"</span> }.into_any()
                }}
            </td>
            <td class="whitespace-nowrap text-right">
                <Show
                    when=move || confirming.get()
                    fallback=move || {
                        view! {
                            <a class="btn-link" href=format!("/pipelines/{id}")>{if editable { "Edit" } else { "View" }}</a>
                            {runnable.then(|| view! {
                                <button type="button" class="btn-link" on:click=move |_| running.set(Some(id))>"Run"</button>
                            })}
                            <a class="btn-link" href=format!("/executions?pipeline={id}")>"Runs"</a>
                            {editable.then(|| view! {
                                <button type="button" class="btn-link text-red-700" on:click=move |_| confirming.set(true)>"Delete"</button>
                            })}
                        }
                    }
                >
                    <span class="mr-2 text-sm">{delete_question.get_value()}</span>
                    <button
                        type="button"
                        class="btn-danger"
                        on:click=move |_| {
                            delete.dispatch(DeletePipeline { id });
                            confirming.set(false);
                        }
                    >
                        "Confirm delete"
                    </button>
                    <button type="button" class="btn-link" on:click=move |_| confirming.set(false)>"Keep"</button>
                </Show>
            </td>
        </tr>
    }
}

// ---------------------------------------------------------------------------
// The Run dialog
// ---------------------------------------------------------------------------

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
                    <PathError error path />
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

// ---------------------------------------------------------------------------
// Form fields bound to a place in the definition
// ---------------------------------------------------------------------------

/// The error of the last save, under the input it is about.
#[component]
fn PathError(error: Signal<Option<AppError>>, #[prop(into)] path: String) -> impl IntoView {
    move || {
        if path.is_empty() {
            return None;
        }
        error
            .get()
            .and_then(|error| error.for_field(&path))
            .map(|message| {
                view! {
                    <p class="mt-1 text-sm text-red-700" data-field-error=path.clone()>
                        {message}
                    </p>
                }
            })
    }
}

fn hint_view(hint: &'static str) -> Option<impl IntoView> {
    (!hint.is_empty()).then(|| view! { <p class="mt-1 text-xs text-slate-500">{hint}</p> })
}

/// A labelled text input (or textarea with `rows`) showing `value` and
/// reporting typing to `set`. What is typed stays as typed even when `set`
/// cannot store it (a number being written, a header without its colon);
/// when the definition changes elsewhere (moved rows, applied YAML) the field
/// shows the new value.
#[component]
fn TextInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: Signal<String>,
    set: Callback<String>,
    error: Signal<Option<AppError>>,
    #[prop(into, optional)] path: String,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] rows: u32,
    #[prop(optional)] mono: bool,
    #[prop(optional)] number: bool,
    #[prop(optional)] hidden_label: bool,
) -> impl IntoView {
    let canonical = Memo::new(move |_| value.get());
    let initial = canonical.get_untracked();
    let text = RwSignal::new(initial.clone());
    let written = StoredValue::new(initial.clone());
    Effect::new(move |_| {
        let current = canonical.get();
        if written.get_value() != current {
            written.set_value(current.clone());
            text.set(current);
        }
    });
    let on_input = move |ev| {
        let typed = event_target_value(&ev);
        text.set(typed.clone());
        set.run(typed);
        written.set_value(canonical.get_untracked());
    };
    let class = match (mono, rows > 0) {
        (true, true) => "input font-mono text-xs leading-5",
        (true, false) => "input font-mono",
        (false, _) => "input",
    };
    let input = if rows > 0 {
        view! {
            <textarea class=class id=id.clone() rows=rows placeholder=placeholder spellcheck="false"
                prop:value=move || text.get() on:input=on_input></textarea>
        }
        .into_any()
    } else {
        view! {
            <input class=class id=id.clone() type=if number { "number" } else { "text" } min=number.then_some("0")
                autocomplete="off" placeholder=placeholder value=initial
                prop:value=move || text.get() on:input=on_input />
        }
        .into_any()
    };
    view! {
        <div>
            <label class=if hidden_label { "sr-only" } else { "label" } for=id>{label}</label>
            {input}
            {hint_view(hint)}
            <PathError error path />
        </div>
    }
}

#[component]
fn SelectInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: Signal<String>,
    set: Callback<String>,
    #[prop(into)] options: Signal<Vec<(String, String)>>,
    error: Signal<Option<AppError>>,
    #[prop(into, optional)] path: String,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    view! {
        <div>
            <label class="label" for=id.clone()>{label}</label>
            <select class="input" id=id on:change=move |ev| set.run(event_target_value(&ev))>
                {move || {
                    options
                        .get()
                        .into_iter()
                        .map(|(option, text)| {
                            let initially = value.with_untracked(|current| *current == option);
                            let chosen = option.clone();
                            view! {
                                <option value=option selected=initially prop:selected=move || value.with(|current| *current == chosen)>
                                    {text}
                                </option>
                            }
                        })
                        .collect_view()
                }}
            </select>
            {hint_view(hint)}
            <PathError error path />
        </div>
    }
}

#[component]
fn CheckInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    checked: Signal<bool>,
    set: Callback<bool>,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    view! {
        <div class="flex items-start gap-2">
            <input
                type="checkbox"
                class="mt-0.5 h-4 w-4 rounded border-slate-300 accent-sky-700"
                id=id.clone()
                checked=checked.get_untracked()
                prop:checked=move || checked.get()
                on:change=move |ev| set.run(event_target_checked(&ev))
            />
            <div>
                <label class="text-sm font-medium text-slate-700" for=id>{label}</label>
                {(!hint.is_empty()).then(|| view! { <p class="text-xs text-slate-500">{hint}</p> })}
            </div>
        </div>
    }
}

fn static_options(values: &[&str]) -> Signal<Vec<(String, String)>> {
    let options: Vec<(String, String)> = values
        .iter()
        .map(|value| (value.to_string(), value.to_string()))
        .collect();
    Signal::stored(options)
}

// Accessors: one field of one row of the definition, by position. A row
// that just disappeared reads as the default until `<For>` removes it.

fn spec_value<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    read: fn(&PipelineSpec) -> T,
) -> Signal<T> {
    Signal::derive(move || spec.with(read))
}

fn spec_setter<T: Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    write: fn(&mut PipelineSpec, T),
) -> Callback<T> {
    Callback::new(move |value: T| spec.update(|spec| write(spec, value)))
}

fn input_value<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    read: fn(&InputParameter) -> T,
) -> Signal<T> {
    Signal::derive(move || {
        spec.with(|spec| spec.inputs.get(index).map(read))
            .unwrap_or_default()
    })
}

fn input_setter<T: Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    write: fn(&mut InputParameter, T),
) -> Callback<T> {
    Callback::new(move |value: T| {
        spec.update(|spec| {
            if let Some(input) = spec.inputs.get_mut(index) {
                write(input, value);
            }
        })
    })
}

fn task_value<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    stage: usize,
    task: usize,
    read: fn(&Task) -> Option<T>,
) -> Signal<T> {
    Signal::derive(move || {
        spec.with(|spec| {
            spec.stages
                .get(stage)
                .and_then(|stage| stage.tasks.get(task))
                .and_then(read)
        })
        .unwrap_or_default()
    })
}

fn task_setter<T: Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    stage: usize,
    task: usize,
    write: fn(&mut Task, T),
) -> Callback<T> {
    Callback::new(move |value: T| {
        spec.update(|spec| {
            if let Some(found) = spec
                .stages
                .get_mut(stage)
                .and_then(|stage| stage.tasks.get_mut(task))
            {
                write(found, value);
            }
        })
    })
}

fn kube(task: &Task) -> Option<&KubernetesTask> {
    match &task.spec {
        TaskSpec::Kubernetes(kubernetes) => Some(kubernetes),
        _ => None,
    }
}

fn kube_mut(task: &mut Task) -> Option<&mut KubernetesTask> {
    match &mut task.spec {
        TaskSpec::Kubernetes(kubernetes) => Some(kubernetes),
        _ => None,
    }
}

fn poll(task: &Task) -> Option<&PollTask> {
    match &task.spec {
        TaskSpec::Poll(poll) => Some(poll),
        _ => None,
    }
}

fn poll_mut(task: &mut Task) -> Option<&mut PollTask> {
    match &mut task.spec {
        TaskSpec::Poll(poll) => Some(poll),
        _ => None,
    }
}

fn rest(task: &Task) -> Option<&RestTask> {
    match &task.spec {
        TaskSpec::Rest(rest) => Some(rest),
        _ => None,
    }
}

fn rest_mut(task: &mut Task) -> Option<&mut RestTask> {
    match &mut task.spec {
        TaskSpec::Rest(rest) => Some(rest),
        _ => None,
    }
}

/// The request fields REST and Poll tasks share: method, URL, headers, body.
type RequestRef<'a> = (
    &'a String,
    &'a String,
    &'a BTreeMap<String, String>,
    &'a Option<String>,
);
type RequestMut<'a> = (
    &'a mut String,
    &'a mut String,
    &'a mut BTreeMap<String, String>,
    &'a mut Option<String>,
);

fn request(task: &Task) -> Option<RequestRef<'_>> {
    match &task.spec {
        TaskSpec::Rest(RestTask {
            method,
            url,
            headers,
            body,
            ..
        })
        | TaskSpec::Poll(PollTask {
            method,
            url,
            headers,
            body,
            ..
        }) => Some((method, url, headers, body)),
        _ => None,
    }
}

fn request_mut(task: &mut Task) -> Option<RequestMut<'_>> {
    match &mut task.spec {
        TaskSpec::Rest(RestTask {
            method,
            url,
            headers,
            body,
            ..
        })
        | TaskSpec::Poll(PollTask {
            method,
            url,
            headers,
            body,
            ..
        }) => Some((method, url, headers, body)),
        _ => None,
    }
}

fn optional_text(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn headers_text(headers: &BTreeMap<String, String>) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Name: value` lines; lines without a name are left out.
fn parse_headers(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

fn parse_statuses(text: &str) -> Vec<u16> {
    text.split([',', ' '])
        .filter_map(|part| part.trim().parse().ok())
        .collect()
}

/// A name `prefix-N` that none of `taken` has.
fn fresh_name<'n>(prefix: &str, taken: impl Iterator<Item = &'n str> + Clone) -> String {
    (1..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|name| !taken.clone().any(|taken| taken == name))
        .unwrap_or_else(|| prefix.to_string())
}

fn new_task(kind: &str, name: String, endpoint: String) -> Task {
    let spec = match kind {
        "rest" => TaskSpec::Rest(RestTask {
            method: "GET".into(),
            url: String::new(),
            headers: BTreeMap::new(),
            body: None,
            expected_status: Vec::new(),
        }),
        "poll" => TaskSpec::Poll(PollTask {
            method: "GET".into(),
            url: String::new(),
            headers: BTreeMap::new(),
            body: None,
            condition: String::new(),
            interval_seconds: 5,
            timeout_seconds: 300,
            max_attempts: None,
        }),
        "condition" => TaskSpec::Condition(ConditionTask {
            expression: String::new(),
        }),
        _ => TaskSpec::Kubernetes(KubernetesTask {
            endpoint,
            action: KubernetesAction::Apply,
            yaml: String::new(),
            continue_on_conflict: false,
            wait_for_rollout: false,
            rollout_timeout_seconds: 300,
            to_revision: None,
        }),
    };
    Task {
        name,
        continue_on_failure: false,
        precondition: None,
        spec,
    }
}

// ---------------------------------------------------------------------------
// The editor
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tab {
    General,
    Input,
    Workspace,
    Yaml,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::General, Tab::Input, Tab::Workspace, Tab::Yaml];

    fn label(self) -> &'static str {
        match self {
            Tab::General => "General",
            Tab::Input => "Input",
            Tab::Workspace => "Workspace",
            Tab::Yaml => "YAML",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Tab::General => "general",
            Tab::Input => "input",
            Tab::Workspace => "workspace",
            Tab::Yaml => "yaml",
        }
    }

    /// The tab that shows the field an error path names.
    fn of_path(path: &str) -> Tab {
        if path.starts_with("inputs") || path == "inject_docker_parameters" {
            Tab::Input
        } else if path.starts_with("stages") {
            Tab::Workspace
        } else {
            Tab::General
        }
    }
}

/// `/pipelines/new` and `/pipelines/:id`.
#[component]
pub fn PipelineEditorPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
    });
    let existing = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_pipeline(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let projects = Resource::new(|| (), |_| list_projects());
    let endpoints = Resource::new(|| (), |_| list_endpoints());
    view! {
        <div class="mb-4 text-sm">
            <a class="text-sky-700 hover:underline" href="/pipelines">"← All pipelines"</a>
        </div>
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading the pipeline…"</p> }>
            {move || {
                let (Some(existing), Some(projects), Some(endpoints)) = (existing.get(), projects.get(), endpoints.get()) else {
                    return None;
                };
                Some(match (existing, projects) {
                    (Ok(existing), Ok(projects)) => {
                        let endpoints = endpoints.unwrap_or_default();
                        view! { <PipelineEditor existing projects endpoints /> }.into_any()
                    }
                    (Err(error), _) | (_, Err(error)) => {
                        view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any()
                    }
                })
            }}
        </Suspense>
    }
}

fn blank_spec(projects: &[Project], is_admin: bool) -> PipelineSpec {
    let project = projects
        .iter()
        .find(|project| has_role(Some(project), is_admin, ProjectRole::Developer))
        .map(|project| project.name.clone())
        .unwrap_or_default();
    PipelineSpec {
        project,
        name: String::new(),
        description: String::new(),
        enabled: true,
        concurrency: 1,
        inputs: Vec::new(),
        inject_docker_parameters: false,
        stages: Vec::new(),
    }
}

#[component]
fn PipelineEditor(
    existing: Option<Pipeline>,
    projects: Vec<Project>,
    endpoints: Vec<Endpoint>,
) -> impl IntoView {
    let is_admin = signed_in_admin();
    let spec = RwSignal::new(
        existing
            .as_ref()
            .map(|pipeline| pipeline.spec.clone())
            .unwrap_or_else(|| blank_spec(&projects, is_admin)),
    );
    // The version last loaded or saved: Run starts that one.
    let saved = RwSignal::new(existing);
    let projects = StoredValue::new(projects);
    let clusters = StoredValue::new(
        endpoints
            .into_iter()
            .filter(|endpoint| endpoint.kind == EndpointKind::Kubernetes)
            .collect::<Vec<_>>(),
    );
    let tab = RwSignal::new(Tab::General);
    let save = ServerAction::<SavePipeline>::new();
    let save_error = last_error(move || save.value().get());
    let to_yaml = ServerAction::<PipelineToYaml>::new();
    let yaml_text = RwSignal::new(String::new());
    let run_open = RwSignal::new(false);
    let navigate = use_navigate();

    Effect::new(move |_| match save.value().get() {
        Some(Ok(pipeline)) => {
            if saved.get_untracked().is_none() {
                navigate(&format!("/pipelines/{}", pipeline.id), Default::default());
            } else {
                spec.set(pipeline.spec.clone());
                saved.set(Some(pipeline));
            }
        }
        // Show the tab holding the field the error is about.
        Some(Err(AppError::Invalid { field, .. })) => tab.set(Tab::of_path(&field)),
        _ => {}
    });
    Effect::new(move |_| {
        if let Some(Ok(text)) = to_yaml.value().get() {
            yaml_text.set(text);
        }
    });

    let can_edit = Memo::new(move |_| {
        let project = spec.with(|spec| spec.project.clone());
        projects.with_value(|projects| {
            has_role(
                find_project(projects, &project),
                is_admin,
                ProjectRole::Developer,
            )
        })
    });
    let dirty = Memo::new(move |_| {
        spec.with(|current| {
            saved.with(|saved| {
                saved
                    .as_ref()
                    .is_none_or(|pipeline| pipeline.spec != *current)
            })
        })
    });
    let title = move || {
        let name = spec.with(|spec| spec.name.clone());
        match (name.is_empty(), saved.with(Option::is_some)) {
            (true, false) => "New pipeline".to_string(),
            (true, true) => "Unnamed pipeline".to_string(),
            (false, _) => name,
        }
    };
    let state = move || match (saved.with(Option::is_some), dirty.get()) {
        (false, _) => "Not saved yet",
        (true, true) => "Unsaved changes",
        (true, false) => "All changes saved",
    };
    let select_tab = move |next: Tab| {
        if next == Tab::Yaml {
            to_yaml.dispatch(PipelineToYaml {
                spec: spec.get_untracked(),
            });
        }
        tab.set(next);
    };
    let on_save = move |_| {
        save.dispatch(SavePipeline {
            id: saved.with_untracked(|saved| saved.as_ref().map(|pipeline| pipeline.id)),
            spec: spec.get_untracked(),
        });
    };

    view! {
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <header>
                <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
                <p class="mt-1 text-sm text-slate-600" role="status" data-testid="editor-state">{state}</p>
            </header>
            <div class="flex flex-wrap items-center gap-2">
                {move || {
                    saved
                        .get()
                        .map(|pipeline| {
                            view! {
                                <a class="btn-link" href=format!("/executions?pipeline={}", pipeline.id)>"Runs"</a>
                                <button
                                    type="button"
                                    class="btn-secondary"
                                    title=move || if dirty.get() { "Runs start the saved version; save first to run your changes" } else { "" }
                                    on:click=move |_| run_open.set(true)
                                >
                                    "Run"
                                </button>
                            }
                        })
                }}
                <button type="button" class="btn-primary" disabled=move || save.pending().get() || !can_edit.get() on:click=on_save>
                    {move || if save.pending().get() { "Saving…" } else { "Save" }}
                </button>
            </div>
        </div>
        <Show when=move || !can_edit.get()>
            <p class="mb-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                "You may read this pipeline; saving needs the developer role in its project."
            </p>
        </Show>
        {move || save_error.get().map(|error| {
            let place = match &error {
                AppError::Invalid { field, .. } => format!(" (on the {} tab)", Tab::of_path(field).label()),
                _ => String::new(),
            };
            view! {
                <div class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert" data-testid="save-error">
                    {format!("Not saved: {error}{place}")}
                </div>
            }
        })}
        <div role="tablist" aria-label="Pipeline editor" class="mb-6 flex gap-1 overflow-x-auto border-b border-slate-200">
            {Tab::ALL
                .into_iter()
                .map(|each| {
                    let selected = move || tab.get() == each;
                    view! {
                        <button
                            type="button"
                            role="tab"
                            id=format!("tab-{}", each.key())
                            aria-controls=format!("panel-{}", each.key())
                            aria-selected=move || if selected() { "true" } else { "false" }
                            class=move || {
                                if selected() {
                                    "-mb-px border-b-2 border-sky-700 px-4 py-2 text-sm font-semibold text-sky-800 focus-visible:outline-2 focus-visible:outline-sky-700"
                                } else {
                                    "-mb-px border-b-2 border-transparent px-4 py-2 text-sm font-medium text-slate-600 hover:border-slate-300 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-sky-700"
                                }
                            }
                            on:click=move |_| select_tab(each)
                        >
                            {each.label()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
        {move || {
            let current = tab.get();
            let panel = match current {
                Tab::General => view! { <GeneralTab spec projects is_admin error=save_error /> }.into_any(),
                Tab::Input => view! { <InputTab spec error=save_error /> }.into_any(),
                Tab::Workspace => view! { <WorkspaceTab spec clusters error=save_error /> }.into_any(),
                Tab::Yaml => view! { <YamlTab spec to_yaml text=yaml_text /> }.into_any(),
            };
            view! {
                <section role="tabpanel" id=format!("panel-{}", current.key()) aria-labelledby=format!("tab-{}", current.key())>
                    {panel}
                </section>
            }
        }}
        {move || {
            (run_open.get())
                .then(|| saved.get_untracked())
                .flatten()
                .map(|pipeline| {
                    view! { <RunDialog pipeline_id=pipeline.id initial=None on_close=Callback::new(move |_| run_open.set(false)) /> }
                })
        }}
    }
}

#[component]
fn GeneralTab(
    spec: RwSignal<PipelineSpec>,
    projects: StoredValue<Vec<Project>>,
    is_admin: bool,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let project_options = Memo::new(move |_| {
        let current = spec.with(|spec| spec.project.clone());
        let mut options: Vec<(String, String)> = projects.with_value(|projects| {
            projects
                .iter()
                .filter(|project| {
                    project.name == current
                        || has_role(Some(project), is_admin, ProjectRole::Developer)
                })
                .map(|project| (project.name.clone(), project.name.clone()))
                .collect()
        });
        if current.is_empty() {
            options.insert(0, (String::new(), "Choose a project".to_string()));
        } else if !options.iter().any(|(name, _)| *name == current) {
            options.insert(0, (current.clone(), current));
        }
        options
    });
    view! {
        <div class="card grid gap-5 md:grid-cols-2">
            <SelectInput
                id="pipeline-project"
                label="Project"
                value=spec_value(spec, |spec| spec.project.clone())
                set=spec_setter(spec, |spec, value| spec.project = value)
                options=project_options
                error
                path="project"
                hint="Endpoints and runs of the pipeline belong to this project."
            />
            <TextInput
                id="pipeline-name"
                label="Name"
                value=spec_value(spec, |spec| spec.name.clone())
                set=spec_setter(spec, |spec, value| spec.name = value)
                error
                path="name"
                placeholder="e.g. deploy-web"
            />
            <div class="md:col-span-2">
                <TextInput
                    id="pipeline-description"
                    label="Description"
                    value=spec_value(spec, |spec| spec.description.clone())
                    set=spec_setter(spec, |spec, value| spec.description = value)
                    error
                    path="description"
                    rows=2
                    placeholder="What this pipeline deploys, and where"
                />
            </div>
            <TextInput
                id="pipeline-concurrency"
                label="Concurrent runs"
                value=spec_value(spec, |spec| spec.concurrency.to_string())
                set=spec_setter(spec, |spec, value: String| {
                    if let Ok(concurrency) = value.trim().parse() {
                        spec.concurrency = concurrency;
                    }
                })
                error
                path="concurrency"
                number=true
                hint="How many runs may be active at once; later ones wait in the queue."
            />
            <div class="md:pt-7">
                <CheckInput
                    id="pipeline-enabled"
                    label="Enabled"
                    checked=spec_value(spec, |spec| spec.enabled)
                    set=spec_setter(spec, |spec, value| spec.enabled = value)
                    hint="A disabled pipeline is kept but starts no runs, by hand or from a trigger."
                />
            </div>
        </div>
    }
}

#[component]
fn InputTab(spec: RwSignal<PipelineSpec>, error: Signal<Option<AppError>>) -> impl IntoView {
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
            <PathError error path="inputs" />
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
    let required = input_value(spec, index, |input| input.required);
    let set_required = input_setter(spec, index, |input, value| input.required = value);
    view! {
        <tr data-input-row=index>
            <td class="min-w-40 align-top">
                <TextInput
                    id=format!("input-{index}-name")
                    label=format!("Input {number} name")
                    hidden_label=true
                    mono=true
                    value=input_value(spec, index, |input| input.name.clone())
                    set=input_setter(spec, index, |input, value| input.name = value)
                    error
                    path=format!("inputs[{index}].name")
                    placeholder="NAME"
                />
            </td>
            <td class="min-w-32 align-top">
                <TextInput
                    id=format!("input-{index}-default")
                    label=format!("Input {number} default")
                    hidden_label=true
                    value=input_value(spec, index, |input| input.default.clone().unwrap_or_default())
                    set=input_setter(spec, index, |input, value| input.default = optional_text(value))
                    error
                    path=format!("inputs[{index}].default")
                    placeholder="none"
                />
            </td>
            <td class="min-w-48 align-top">
                <TextInput
                    id=format!("input-{index}-description")
                    label=format!("Input {number} description")
                    hidden_label=true
                    value=input_value(spec, index, |input| input.description.clone())
                    set=input_setter(spec, index, |input, value| input.description = value)
                    error
                    path=format!("inputs[{index}].description")
                />
            </td>
            <td class="align-top">
                <input
                    type="checkbox"
                    class="mt-2.5 h-4 w-4 accent-sky-700"
                    id=format!("input-{index}-required")
                    aria-label=format!("Input {number} required")
                    checked=required.get_untracked()
                    prop:checked=move || required.get()
                    on:change=move |ev| set_required.run(event_target_checked(&ev))
                />
            </td>
            <td class="align-top text-right">
                <button
                    type="button"
                    class="btn-link mt-1 text-red-700"
                    aria-label=format!("Remove input {number}")
                    on:click=move |_| spec.update(|spec| {
                        if index < spec.inputs.len() {
                            spec.inputs.remove(index);
                        }
                    })
                >
                    "Remove"
                </button>
            </td>
        </tr>
    }
}

#[component]
fn WorkspaceTab(
    spec: RwSignal<PipelineSpec>,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let count = Memo::new(move |_| spec.with(|spec| spec.stages.len()));
    let add_stage = move |_| {
        spec.update(|spec| {
            let name = fresh_name("stage", spec.stages.iter().map(|stage| stage.name.as_str()));
            spec.stages.push(Stage {
                name,
                tasks: Vec::new(),
            });
        })
    };
    view! {
        <div class="mb-4 rounded-lg border border-slate-200 bg-white px-5 py-3 text-sm text-slate-600">
            "Stages run one after the other; the tasks of a stage run in parallel. Tasks read inputs as "
            <code class="rounded bg-slate-100 px-1 font-mono text-xs">"${input.NAME}"</code>
            " and outputs of earlier stages as "
            <code class="rounded bg-slate-100 px-1 font-mono text-xs">"${stage.task.output.key}"</code>
            "."
        </div>
        <PathError error path="stages" />
        <Show when=move || { count.get() == 0 }>
            <p class="mb-4 text-sm text-slate-500">"No stages yet: add the first one."</p>
        </Show>
        <ol class="space-y-6">
            <For each=move || 0..count.get() key=|index| *index children=move |index| view! { <StageCard spec index count clusters error /> } />
        </ol>
        <button type="button" class="btn-secondary mt-6" on:click=add_stage>"Add stage"</button>
    }
}

#[component]
fn StageCard(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    count: Memo<usize>,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let stage = index;
    let tasks = Memo::new(move |_| {
        spec.with(|spec| spec.stages.get(stage).map_or(0, |stage| stage.tasks.len()))
    });
    let new_kind = RwSignal::new("kubernetes".to_string());
    let name = Signal::derive(move || {
        spec.with(|spec| {
            spec.stages
                .get(stage)
                .map(|stage| stage.name.clone())
                .unwrap_or_default()
        })
    });
    let rename = Callback::new(move |value: String| {
        spec.update(|spec| {
            if let Some(stage) = spec.stages.get_mut(stage) {
                stage.name = value;
            }
        })
    });
    let swap = move |other: usize| {
        spec.update(|spec| {
            if other < spec.stages.len() && stage < spec.stages.len() {
                spec.stages.swap(stage, other);
            }
        })
    };
    let add_task = move |_| {
        let kind = new_kind.get_untracked();
        spec.update(|spec| {
            let project = spec.project.clone();
            let endpoint = clusters.with_value(|clusters| {
                clusters
                    .iter()
                    .find(|endpoint| {
                        endpoint.project == project || endpoint.project_id.to_string() == project
                    })
                    .map(|endpoint| endpoint.name.clone())
                    .unwrap_or_default()
            });
            if let Some(stage) = spec.stages.get_mut(stage) {
                let name = fresh_name("task", stage.tasks.iter().map(|task| task.name.as_str()));
                stage.tasks.push(new_task(&kind, name, endpoint));
            }
        })
    };
    let heading = format!("stage-{stage}-heading");
    let heading_id = heading.clone();
    view! {
        <li class="card" aria-labelledby=heading data-stage=move || name.get()>
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div class="flex items-end gap-3">
                    <span
                        id=heading_id
                        class="mb-1 inline-flex h-8 min-w-8 items-center justify-center rounded-full bg-slate-900 px-2 text-sm font-semibold text-white"
                        title="Stages run in this order"
                    >
                        <span class="sr-only">"Stage "</span>
                        {stage + 1}
                    </span>
                    <div class="w-64">
                        <TextInput
                            id=format!("stage-{stage}-name")
                            label="Stage name"
                            value=name
                            set=rename
                            error
                            path=format!("stages[{stage}].name")
                            mono=true
                        />
                    </div>
                </div>
                <div class="flex flex-wrap gap-1">
                    <button type="button" class="btn-link" disabled=move || stage == 0 on:click=move |_| swap(stage.wrapping_sub(1))>
                        "Move up"
                    </button>
                    <button type="button" class="btn-link" disabled=move || { stage + 1 >= count.get() } on:click=move |_| swap(stage + 1)>
                        "Move down"
                    </button>
                    <button
                        type="button"
                        class="btn-link text-red-700"
                        on:click=move |_| spec.update(|spec| {
                            if stage < spec.stages.len() {
                                spec.stages.remove(stage);
                            }
                        })
                    >
                        "Remove stage"
                    </button>
                </div>
            </div>
            <PathError error path=format!("stages[{stage}].tasks") />
            <Show when=move || { tasks.get() == 0 }>
                <p class="mt-4 text-sm text-slate-500">"No tasks in this stage yet."</p>
            </Show>
            <Show when=move || { tasks.get() > 1 }>
                <p class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"These tasks run in parallel"</p>
            </Show>
            <div class="mt-4 space-y-4">
                <For
                    each=move || 0..tasks.get()
                    key=|index| *index
                    children=move |task| view! { <TaskCard spec stage task tasks clusters error /> }
                />
            </div>
            <div class="mt-4 flex flex-wrap items-end gap-3 border-t border-slate-100 pt-4">
                <div>
                    <label class="label" for=format!("stage-{stage}-new-task-type")>"New task type"</label>
                    <select
                        class="input"
                        id=format!("stage-{stage}-new-task-type")
                        on:change=move |ev| new_kind.set(event_target_value(&ev))
                    >
                        <option value="kubernetes" selected=true>"Kubernetes"</option>
                        <option value="rest">"REST"</option>
                        <option value="poll">"Poll"</option>
                        <option value="condition">"Condition"</option>
                    </select>
                </div>
                <button type="button" class="btn-secondary mb-0.5" on:click=add_task>"Add task"</button>
            </div>
        </li>
    }
}

/// Fields of a task that have an input of their own; errors about any other
/// field of the task show at the bottom of its card.
const TASK_FIELDS: &[&str] = &[
    "name",
    "precondition",
    "endpoint",
    "action",
    "yaml",
    "rollout_timeout_seconds",
    "to_revision",
    "method",
    "url",
    "body",
    "expected_status",
    "condition",
    "interval_seconds",
    "timeout_seconds",
    "max_attempts",
    "expression",
];

#[component]
fn TaskCard(
    spec: RwSignal<PipelineSpec>,
    stage: usize,
    task: usize,
    tasks: Memo<usize>,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let kind = Memo::new(move |_| {
        spec.with(|spec| {
            spec.stages
                .get(stage)
                .and_then(|stage| stage.tasks.get(task))
                .map_or("", |task| task.spec.kind())
        })
    });
    let name = task_value(spec, stage, task, |task| Some(task.name.clone()));
    let swap = move |other: usize| {
        spec.update(|spec| {
            if let Some(stage) = spec.stages.get_mut(stage) {
                if other < stage.tasks.len() && task < stage.tasks.len() {
                    stage.tasks.swap(task, other);
                }
            }
        })
    };
    let remove = move |_| {
        spec.update(|spec| {
            if let Some(stage) = spec.stages.get_mut(stage) {
                if task < stage.tasks.len() {
                    stage.tasks.remove(task);
                }
            }
        })
    };
    let prefix = format!("stages[{stage}].tasks[{task}]");
    let id = format!("task-{stage}-{task}");
    let field = {
        let prefix = prefix.clone();
        move |name: &str| format!("{prefix}.{name}")
    };
    let error_prefix = prefix.clone();
    let other_error = move || {
        error.get().and_then(|error| match error {
            AppError::Invalid { field, message } => {
                let rest = field.strip_prefix(&error_prefix)?;
                let rest = rest.strip_prefix('.').unwrap_or(rest);
                (!TASK_FIELDS.contains(&rest)).then(|| {
                    if rest.is_empty() {
                        message
                    } else {
                        format!("{rest}: {message}")
                    }
                })
            }
            _ => None,
        })
    };
    let form = {
        let id = id.clone();
        let field = field.clone();
        let prefix = prefix.clone();
        move || {
            let id = id.clone();
            let prefix = prefix.clone();
            match kind.get() {
                "kubernetes" => {
                    view! { <KubernetesFields spec stage task id prefix clusters error /> }
                        .into_any()
                }
                "rest" => view! { <RequestFields spec stage task id prefix error polling=false /> }
                    .into_any(),
                "poll" => view! { <RequestFields spec stage task id prefix error polling=true /> }
                    .into_any(),
                "condition" => view! {
                    <TextInput
                        id=format!("{id}-expression")
                        label="Expression"
                        value=task_value(spec, stage, task, |task| match &task.spec {
                            TaskSpec::Condition(condition) => Some(condition.expression.clone()),
                            _ => None,
                        })
                        set=task_setter(spec, stage, task, |task, value| {
                            if let TaskSpec::Condition(condition) = &mut task.spec {
                                condition.expression = value;
                            }
                        })
                        error
                        path=field("expression")
                        mono=true
                        placeholder="'${input.ENV}' == 'dev'"
                        hint="The task succeeds when this is true and fails the stage otherwise."
                    />
                }
                .into_any(),
                _ => ().into_any(),
            }
        }
    };
    view! {
        <article
            class="rounded-md border border-slate-200 bg-slate-50 p-4"
            data-task=move || name.get()
            aria-label=move || format!("Task {}", name.get())
        >
            <div class="mb-3 flex flex-wrap items-center justify-between gap-2">
                <span class="badge bg-slate-800 text-white">{move || task_type_label(kind.get())}</span>
                <div class="flex flex-wrap gap-1">
                    <button type="button" class="btn-link" disabled=move || task == 0 on:click=move |_| swap(task.wrapping_sub(1))>
                        "Move up"
                    </button>
                    <button type="button" class="btn-link" disabled=move || { task + 1 >= tasks.get() } on:click=move |_| swap(task + 1)>
                        "Move down"
                    </button>
                    <button type="button" class="btn-link text-red-700" on:click=remove>"Remove task"</button>
                </div>
            </div>
            <div class="grid gap-4 md:grid-cols-2">
                <TextInput
                    id=format!("{id}-name")
                    label="Task name"
                    value=name
                    set=task_setter(spec, stage, task, |task, value| task.name = value)
                    error
                    path=field("name")
                    mono=true
                />
                <TextInput
                    id=format!("{id}-precondition")
                    label="Precondition"
                    value=task_value(spec, stage, task, |task| task.precondition.clone())
                    set=task_setter(spec, stage, task, |task, value| task.precondition = optional_text(value))
                    error
                    path=field("precondition")
                    mono=true
                    placeholder="always"
                    hint="An expression; when false the task is skipped."
                />
                <div class="md:col-span-2">
                    <CheckInput
                        id=format!("{id}-continue-on-failure")
                        label="Continue on failure"
                        checked=task_value(spec, stage, task, |task| Some(task.continue_on_failure))
                        set=task_setter(spec, stage, task, |task, value| task.continue_on_failure = value)
                        hint="A failure of this task does not fail the stage."
                    />
                </div>
            </div>
            <div class="mt-4 grid gap-4 border-t border-slate-200 pt-4 md:grid-cols-2">{form}</div>
            {move || other_error().map(|message| view! {
                <p class="mt-3 text-sm text-red-700" data-field-error=format!("stages[{stage}].tasks[{task}]")>{message}</p>
            })}
        </article>
    }
}

#[component]
fn KubernetesFields(
    spec: RwSignal<PipelineSpec>,
    stage: usize,
    task: usize,
    id: String,
    prefix: String,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let field = move |name: &str| format!("{prefix}.{name}");
    let endpoint = task_value(spec, stage, task, |task| {
        kube(task).map(|k| k.endpoint.clone())
    });
    let endpoint_options = Memo::new(move |_| {
        let project = spec.with(|spec| spec.project.clone());
        let current = endpoint.get();
        let mut options: Vec<(String, String)> = clusters.with_value(|clusters| {
            clusters
                .iter()
                .filter(|endpoint| {
                    endpoint.project == project || endpoint.project_id.to_string() == project
                })
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
    let action = task_value(spec, stage, task, |task| {
        kube(task).map(|k| k.action.as_str().to_string())
    });
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
                value=endpoint
                set=task_setter(spec, stage, task, |task, value| {
                    if let Some(k) = kube_mut(task) {
                        k.endpoint = value;
                    }
                })
                options=endpoint_options
                error
                path=field("endpoint")
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
            value=action
            set=task_setter(spec, stage, task, |task, value: String| {
                if let Some(k) = kube_mut(task) {
                    k.action = KubernetesAction::from(value);
                }
            })
            options=static_options(&actions)
            error
            path=field("action")
            hint="CREATE fails on existing objects; APPLY is server-side apply."
        />
        <div class="md:col-span-2">
            <TextInput
                id=format!("{id}-yaml")
                label="YAML"
                value=task_value(spec, stage, task, |task| kube(task).map(|k| k.yaml.clone()))
                set=task_setter(spec, stage, task, |task, value| {
                    if let Some(k) = kube_mut(task) {
                        k.yaml = value;
                    }
                })
                error
                path=field("yaml")
                rows=14
                mono=true
                placeholder="apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  …\n      containers:\n        - name: web\n          image: nginx:${input.DOCKER_TAG}"
                hint="One or more documents separated by ---. Bindings such as ${input.DOCKER_TAG} are filled in when the task runs."
            />
        </div>
        <Show when=move || action.get() == "ROLLBACK">
            <TextInput
                id=revision_id.clone()
                label="Revision to roll back to"
                value=task_value(spec, stage, task, |task| {
                    kube(task).map(|k| k.to_revision.map(|revision| revision.to_string()).unwrap_or_default())
                })
                set=task_setter(spec, stage, task, |task, value: String| {
                    if let Some(k) = kube_mut(task) {
                        let value = value.trim();
                        if value.is_empty() {
                            k.to_revision = None;
                        } else if let Ok(revision) = value.parse() {
                            k.to_revision = Some(revision);
                        }
                    }
                })
                error
                path=revision_path.clone()
                number=true
                placeholder="previous"
            />
        </Show>
        <div class="space-y-3">
            <CheckInput
                id=format!("{id}-continue-on-conflict")
                label="Continue on conflict"
                checked=task_value(spec, stage, task, |task| kube(task).map(|k| k.continue_on_conflict))
                set=task_setter(spec, stage, task, |task, value| {
                    if let Some(k) = kube_mut(task) {
                        k.continue_on_conflict = value;
                    }
                })
                hint="For CREATE: an object that already exists is not a failure."
            />
            <CheckInput
                id=format!("{id}-wait-for-rollout")
                label="Wait for rollout"
                checked=task_value(spec, stage, task, |task| kube(task).map(|k| k.wait_for_rollout))
                set=task_setter(spec, stage, task, |task, value| {
                    if let Some(k) = kube_mut(task) {
                        k.wait_for_rollout = value;
                    }
                })
                hint="Waits until Deployments and the like have rolled out."
            />
        </div>
        <TextInput
            id=format!("{id}-rollout-timeout")
            label="Rollout timeout (seconds)"
            value=task_value(spec, stage, task, |task| kube(task).map(|k| k.rollout_timeout_seconds.to_string()))
            set=task_setter(spec, stage, task, |task, value: String| {
                if let (Some(k), Ok(seconds)) = (kube_mut(task), value.trim().parse()) {
                    k.rollout_timeout_seconds = seconds;
                }
            })
            error
            path=field("rollout_timeout_seconds")
            number=true
        />
    }
}

#[component]
fn RequestFields(
    spec: RwSignal<PipelineSpec>,
    stage: usize,
    task: usize,
    id: String,
    prefix: String,
    error: Signal<Option<AppError>>,
    polling: bool,
) -> impl IntoView {
    let field = move |name: &str| format!("{prefix}.{name}");
    let methods = static_options(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]);
    let specific = if polling {
        view! {
            <div class="md:col-span-2">
                <TextInput
                    id=format!("{id}-condition")
                    label="Condition"
                    value=task_value(spec, stage, task, |task| poll(task).map(|p| p.condition.clone()))
                    set=task_setter(spec, stage, task, |task, value| {
                        if let Some(p) = poll_mut(task) {
                            p.condition = value;
                        }
                    })
                    error
                    path=field("condition")
                    mono=true
                    placeholder="$.status == 'ready'"
                    hint="Polling stops when this is true; $ is the response body read as JSON."
                />
            </div>
            <TextInput
                id=format!("{id}-interval")
                label="Interval (seconds)"
                value=task_value(spec, stage, task, |task| poll(task).map(|p| p.interval_seconds.to_string()))
                set=task_setter(spec, stage, task, |task, value: String| {
                    if let (Some(p), Ok(seconds)) = (poll_mut(task), value.trim().parse()) {
                        p.interval_seconds = seconds;
                    }
                })
                error
                path=field("interval_seconds")
                number=true
            />
            <TextInput
                id=format!("{id}-timeout")
                label="Timeout (seconds)"
                value=task_value(spec, stage, task, |task| poll(task).map(|p| p.timeout_seconds.to_string()))
                set=task_setter(spec, stage, task, |task, value: String| {
                    if let (Some(p), Ok(seconds)) = (poll_mut(task), value.trim().parse()) {
                        p.timeout_seconds = seconds;
                    }
                })
                error
                path=field("timeout_seconds")
                number=true
            />
            <TextInput
                id=format!("{id}-max-attempts")
                label="Max attempts"
                value=task_value(spec, stage, task, |task| {
                    poll(task).map(|p| p.max_attempts.map(|n| n.to_string()).unwrap_or_default())
                })
                set=task_setter(spec, stage, task, |task, value: String| {
                    if let Some(p) = poll_mut(task) {
                        let value = value.trim();
                        if value.is_empty() {
                            p.max_attempts = None;
                        } else if let Ok(attempts) = value.parse() {
                            p.max_attempts = Some(attempts);
                        }
                    }
                })
                error
                path=field("max_attempts")
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
                value=task_value(spec, stage, task, |task| {
                    rest(task).map(|r| {
                        r.expected_status
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                })
                set=task_setter(spec, stage, task, |task, value: String| {
                    if let Some(r) = rest_mut(task) {
                        r.expected_status = parse_statuses(&value);
                    }
                })
                error
                path=field("expected_status")
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
            value=task_value(spec, stage, task, |task| request(task).map(|(method, ..)| method.to_ascii_uppercase()))
            set=task_setter(spec, stage, task, |task, value| {
                if let Some((method, ..)) = request_mut(task) {
                    *method = value;
                }
            })
            options=methods
            error
            path=field("method")
        />
        <TextInput
            id=format!("{id}-url")
            label="URL"
            value=task_value(spec, stage, task, |task| request(task).map(|(_, url, ..)| url.clone()))
            set=task_setter(spec, stage, task, |task, value| {
                if let Some((_, url, ..)) = request_mut(task) {
                    *url = value;
                }
            })
            error
            path=field("url")
            mono=true
            placeholder="https://…"
        />
        <TextInput
            id=format!("{id}-headers")
            label="Headers"
            value=task_value(spec, stage, task, |task| request(task).map(|(_, _, headers, _)| headers_text(headers)))
            set=task_setter(spec, stage, task, |task, value: String| {
                if let Some((_, _, headers, _)) = request_mut(task) {
                    *headers = parse_headers(&value);
                }
            })
            error
            rows=3
            mono=true
            placeholder="Authorization: Bearer ${input.TOKEN}"
            hint="One Name: value per line."
        />
        <TextInput
            id=format!("{id}-body")
            label="Body"
            value=task_value(spec, stage, task, |task| request(task).map(|(_, _, _, body)| body.clone().unwrap_or_default()))
            set=task_setter(spec, stage, task, |task, value| {
                if let Some((_, _, _, body)) = request_mut(task) {
                    *body = optional_text(value);
                }
            })
            error
            path=field("body")
            rows=3
            mono=true
        />
        {specific}
    }
}

#[component]
fn YamlTab(
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

//! Pipelines: the list, the editor (General, Input, Workspace and YAML tabs)
//! and the Run dialog that starts an execution.
//!
//! The editor keeps the whole definition in one `RwSignal<PipelineSpec>`.
//! Lists (inputs, stages, tasks) are rendered with `<For>` keyed by position,
//! and every field reads and writes its place in the definition (`places`),
//! so typing never re-creates an input (focus and caret stay where they are).

mod approval_fields;
mod editor;
mod general_tab;
mod input_tab;
mod notifications_form;
mod places;
mod run_dialog;
mod task_fields;
mod workspace_tab;
mod yaml_tab;

use leptos::prelude::*;

use super::access::{has_role, signed_in_admin};
use super::widgets::{last_error, ConfirmInPlace, EmptyState, FormError, ListTable, PageHeader};
use crate::endpoint::EndpointKind;
use crate::execution::Pipeline;
use crate::functions::{list_endpoints, list_pipelines, list_projects, DeletePipeline};
use crate::model::{Project, ProjectRole};

pub use editor::PipelineEditorPage;
pub use run_dialog::RunDialog;

/// The project a definition names (by name, or by id as the API allows).
fn find_project<'p>(projects: &'p [Project], reference: &str) -> Option<&'p Project> {
    projects
        .iter()
        .find(|project| project.name == reference || project.id.to_string() == reference)
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
                                <ListTable testid="pipelines-table" columns=&["Name", "Project", "Stages", "State", "Docker", ""]>{rows}</ListTable>
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
    // Off until the person ticks it: finished runs' history is only deleted on purpose.
    let delete_runs = RwSignal::new(false);
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
                    <label class="mr-3 inline-flex items-center gap-1 text-sm text-slate-700">
                        <input type="checkbox" prop:checked=move || delete_runs.get()
                            on:change=move |ev| delete_runs.set(event_target_checked(&ev)) />
                        "also delete its runs"
                    </label>
                    <ConfirmInPlace
                        question=delete_question.get_value()
                        confirm="Confirm delete"
                        on_confirm=move || {
                            delete.dispatch(DeletePipeline { id, delete_runs: delete_runs.get_untracked() });
                        }
                        on_close=move || {
                            confirming.set(false);
                            delete_runs.set(false);
                        }
                    />
                </Show>
            </td>
        </tr>
    }
}

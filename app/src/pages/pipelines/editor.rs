//! The editor page: the definition being edited, its tabs, Save and Run.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::find_project;
use super::general_tab::GeneralTab;
use super::input_tab::InputTab;
use super::run_dialog::RunDialog;
use super::workspace_tab::WorkspaceTab;
use super::yaml_tab::YamlTab;
use crate::endpoint::{Endpoint, EndpointKind};
use crate::error::AppError;
use crate::execution::Pipeline;
use crate::functions::{get_pipeline, list_endpoints, list_projects, PipelineToYaml, SavePipeline};
use crate::model::{Project, ProjectRole};
use crate::pages::access::{has_role, signed_in_admin};
use crate::pages::widgets::{last_error, route_id};
use crate::pipeline::PipelineSpec;

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
    let id = route_id();
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
        notifications: Vec::new(),
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

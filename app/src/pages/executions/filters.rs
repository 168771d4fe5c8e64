//! The filters of the Executions list (project, pipeline, status, trigger),
//! which live in the address so a filtered list can be bookmarked or shared.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::execution::{ExecutionFilter, ExecutionStatus, TRIGGER_KINDS};
use crate::functions::{list_pipelines, list_projects};
use crate::pages::widgets::loaded;

const FILTER_SELECT: &str = "input min-w-44";

/// What the list is filtered by, as the filter bar shows it: the status and
/// the trigger as the values of their selects.
#[derive(Clone, Copy)]
pub(super) struct Filters {
    project: RwSignal<Option<i64>>,
    pipeline: RwSignal<Option<i64>>,
    status: RwSignal<Option<&'static str>>,
    trigger: RwSignal<Option<&'static str>>,
}

impl Filters {
    /// The filters of the address the page was opened at; values it does
    /// not know are left out.
    pub(super) fn from_address() -> Self {
        let query = use_query_map();
        query.with_untracked(|query| Filters {
            project: RwSignal::new(parse_id(query.get("project"))),
            pipeline: RwSignal::new(parse_id(query.get("pipeline"))),
            status: RwSignal::new(query.get("status").and_then(|text| status_value(&text))),
            trigger: RwSignal::new(query.get("trigger").and_then(|text| trigger_value(&text))),
        })
    }

    /// The filter they make (tracked), for every page of the list.
    pub(super) fn get(self) -> ExecutionFilter {
        ExecutionFilter {
            project: self.project.get(),
            pipeline: self.pipeline.get(),
            status: self.status.get().and_then(ExecutionStatus::parse),
            trigger: self.trigger.get().map(str::to_string),
            before: None,
            limit: None,
        }
    }

    /// Keeps the address showing the filters as they change.
    pub(super) fn follow_in_address(self) {
        Effect::new(move |previous: Option<String>| {
            let address = list_address(&self.get());
            if previous
                .as_ref()
                .is_some_and(|previous| *previous != address)
            {
                replace_address(&address);
            }
            address
        });
    }
}

fn parse_id(text: Option<String>) -> Option<i64> {
    text.and_then(|text| text.parse().ok())
}

/// The status filter's value for a text: a known state, or none.
fn status_value(text: &str) -> Option<&'static str> {
    ExecutionStatus::parse(text).map(ExecutionStatus::as_str)
}

/// The trigger filter's value for a text: one of [`TRIGGER_KINDS`], or none.
fn trigger_value(text: &str) -> Option<&'static str> {
    TRIGGER_KINDS.into_iter().find(|kind| *kind == text)
}

/// `/executions` with the filters that are set, as the page reads them on load.
fn list_address(filter: &ExecutionFilter) -> String {
    let parts: Vec<String> = [
        filter.project.map(|id| format!("project={id}")),
        filter.pipeline.map(|id| format!("pipeline={id}")),
        filter
            .status
            .map(|status| format!("status={}", status.as_str())),
        filter
            .trigger
            .as_ref()
            .map(|kind| format!("trigger={kind}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "/executions".to_string()
    } else {
        format!("/executions?{}", parts.join("&"))
    }
}

/// Rewrites the address bar without a navigation (and without a history entry).
fn replace_address(address: &str) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(address));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = address;
}

/// The filter bar; `on_change` runs after any filter changed.
#[component]
pub(super) fn FilterBar(filters: Filters, on_change: Callback<()>) -> impl IntoView {
    let Filters {
        project,
        pipeline,
        status,
        trigger,
    } = filters;
    let projects = Resource::new(|| (), |_| list_projects());
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    // A pipeline belongs to one project: choosing a project clears it.
    let project_changed = Callback::new(move |_| {
        pipeline.set(None);
        on_change.run(());
    });
    view! {
        <div class="card mb-6 flex flex-wrap items-end gap-4" role="search" aria-label="Filter executions">
            <FilterSelect
                id="filter-project"
                label="Project"
                any="All projects"
                nothing_chosen=move || project.get().is_none()
                pick=move |picked| project.set(picked.parse().ok())
                on_change=project_changed
            >
                <Transition fallback=|| ()>
                    {move || {
                        loaded(projects.get())
                            .into_iter()
                            .map(|each| choice(each.id, each.name, project))
                            .collect_view()
                    }}
                </Transition>
            </FilterSelect>
            <FilterSelect
                id="filter-pipeline"
                label="Pipeline"
                any="All pipelines"
                nothing_chosen=move || pipeline.get().is_none()
                pick=move |picked| pipeline.set(picked.parse().ok())
                on_change
            >
                <Transition fallback=|| ()>
                    {move || {
                        let chosen_project = project.get();
                        loaded(pipelines.get())
                            .into_iter()
                            .filter(|each| chosen_project.is_none_or(|project| each.project_id == project))
                            .map(|each| {
                                let text = format!("{} · {}", each.spec.name, each.spec.project);
                                choice(each.id, text, pipeline)
                            })
                            .collect_view()
                    }}
                </Transition>
            </FilterSelect>
            <FilterSelect
                id="filter-status"
                label="Status"
                any="Any status"
                nothing_chosen=move || status.get().is_none()
                pick=move |picked| status.set(status_value(&picked))
                on_change
            >
                {ExecutionStatus::ALL
                    .into_iter()
                    .map(|each| choice(each.as_str(), each.as_str(), status))
                    .collect_view()}
            </FilterSelect>
            <FilterSelect
                id="filter-trigger"
                label="Trigger"
                any="Any trigger"
                nothing_chosen=move || trigger.get().is_none()
                pick=move |picked| trigger.set(trigger_value(&picked))
                on_change
            >
                {TRIGGER_KINDS
                    .into_iter()
                    .map(|kind| choice(kind, if kind == "docker" { "Docker push" } else { "Manual" }, trigger))
                    .collect_view()}
            </FilterSelect>
        </div>
    }
}

/// A labelled select of the filter bar. Its first option, value empty, is
/// `any`; `children` are the others (made by [`choice`]); `pick` stores the
/// value chosen.
#[component]
fn FilterSelect(
    id: &'static str,
    label: &'static str,
    any: &'static str,
    nothing_chosen: impl Fn() -> bool + Send + Sync + 'static,
    pick: impl Fn(String) + Send + Sync + 'static,
    on_change: Callback<()>,
    children: Children,
) -> impl IntoView {
    view! {
        <div>
            <label class="label" for=id>{label}</label>
            <select
                class=FILTER_SELECT
                id=id
                on:change=move |ev| {
                    pick(event_target_value(&ev));
                    on_change.run(());
                }
            >
                <option value="" selected=nothing_chosen>{any}</option>
                {children()}
            </select>
        </div>
    }
}

/// An option of a filter, selected while it is the one `chosen`.
fn choice<T>(value: T, text: impl IntoView + 'static, chosen: RwSignal<Option<T>>) -> impl IntoView
where
    T: Copy + PartialEq + ToString + Send + Sync + 'static,
{
    let is_chosen = move || chosen.get() == Some(value);
    view! { <option value=value.to_string() selected=is_chosen prop:selected=is_chosen>{text}</option> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_holds_the_filters_that_are_set() {
        assert_eq!(list_address(&ExecutionFilter::default()), "/executions");
        let filter = ExecutionFilter {
            project: Some(3),
            status: Some(ExecutionStatus::Failed),
            trigger: Some("docker".into()),
            ..ExecutionFilter::default()
        };
        assert_eq!(
            list_address(&filter),
            "/executions?project=3&status=FAILED&trigger=docker"
        );
    }
}

//! Executions: every run of a pipeline, and one run with its stages, tasks,
//! resolved inputs, outputs and log. Both follow the server's live stream:
//! new runs, state changes and log lines appear as they happen.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::Value;

use super::pipelines::RunDialog;
use super::widgets::{
    format_millis, last_error, route_id, ticking_clock, EmptyState, FormError, ListTable,
    LiveBadge, PageHeader,
};
use crate::execution::{
    Execution, ExecutionFilter, ExecutionStatus, ExecutionSummary, LogLine, StageRun, TaskRun,
    TaskStatus, Trigger, TRIGGER_KINDS,
};
use crate::functions::{
    get_execution, list_executions, list_pipelines, list_projects, CancelExecution,
};
use crate::live::{use_live, LiveEvent, LiveScope, Refetch};

const FILTER_SELECT: &str = "input min-w-44";

/// Rows per page of the list.
const PAGE_SIZE: u32 = 25;

/// Badge classes and a mark for each state: the state is always written out
/// too, so colour is never the only cue.
fn execution_look(status: ExecutionStatus) -> (&'static str, &'static str) {
    match status {
        ExecutionStatus::Completed => ("badge badge-green", "✓"),
        ExecutionStatus::Failed => ("badge badge-red", "✗"),
        ExecutionStatus::Running => ("badge bg-sky-100 text-sky-800", "●"),
        ExecutionStatus::Queued => ("badge bg-slate-200 text-slate-700", "◷"),
        ExecutionStatus::Waiting => ("badge bg-slate-200 text-slate-700", "⏸"),
        ExecutionStatus::Canceled => ("badge bg-amber-100 text-amber-900", "⊘"),
    }
}

fn task_look(status: Option<TaskStatus>) -> (&'static str, &'static str, &'static str) {
    match status {
        Some(TaskStatus::Completed) => ("badge badge-green", "✓", "COMPLETED"),
        Some(TaskStatus::Failed) => ("badge badge-red", "✗", "FAILED"),
        Some(TaskStatus::Running) => ("badge bg-sky-100 text-sky-800", "●", "RUNNING"),
        Some(TaskStatus::Skipped) => ("badge bg-slate-200 text-slate-700", "↷", "SKIPPED"),
        Some(TaskStatus::Canceled) => ("badge bg-amber-100 text-amber-900", "⊘", "CANCELED"),
        None => ("badge bg-slate-100 text-slate-500", "○", "PENDING"),
    }
}

#[component]
pub fn StatusBadge(status: ExecutionStatus) -> impl IntoView {
    let (class, mark) = execution_look(status);
    view! {
        <span class=class data-status=status.as_str()>
            <span aria-hidden="true" class="mr-1">{mark}</span>
            {status.as_str()}
        </span>
    }
}

#[component]
fn TaskStatusBadge(status: Option<TaskStatus>) -> impl IntoView {
    let (class, mark, word) = task_look(status);
    view! {
        <span class=class data-status=word>
            <span aria-hidden="true" class="mr-1">{mark}</span>
            {word}
        </span>
    }
}

fn trigger_text(trigger: &Trigger) -> String {
    match trigger.kind.as_str() {
        "docker" => {
            let repository = trigger.repository.as_deref().unwrap_or("?");
            match trigger.tag.as_deref() {
                Some(tag) => format!("docker {repository}:{tag}"),
                None => format!("docker {repository}"),
            }
        }
        "manual" => match trigger.user.as_deref() {
            Some(user) => format!("manual by {user}"),
            None => "manual".to_string(),
        },
        other => match trigger.user.as_deref() {
            Some(user) => format!("{other} by {user}"),
            None => other.to_string(),
        },
    }
}

/// `850 ms`, `12.4 s`, `3 m 05 s`, `1 h 02 m`.
pub fn format_duration(millis: i64) -> String {
    let millis = millis.max(0);
    if millis < 1000 {
        return format!("{millis} ms");
    }
    if millis < 60_000 {
        return format!("{:.1} s", millis as f64 / 1000.0);
    }
    let seconds = millis / 1000;
    if seconds < 3600 {
        return format!("{} m {:02} s", seconds / 60, seconds % 60);
    }
    format!("{} h {:02} m", seconds / 3600, (seconds % 3600) / 60)
}

/// How long something ran, or has been running by the clock `now`.
fn duration_text(started: Option<i64>, finished: Option<i64>, now: Option<i64>) -> String {
    match (started, finished.or(now)) {
        (Some(started), Some(end)) => format_duration(end - started),
        (Some(_), None) => "running…".to_string(),
        (None, _) => "—".to_string(),
    }
}

/// Whether a run shown needs the ticking clock.
fn any_running<'a>(mut runs: impl Iterator<Item = &'a ExecutionSummary>) -> bool {
    runs.any(|run| run.status == ExecutionStatus::Running)
}

/// The time of day of a timestamp, to the second, in UTC.
fn time_of_day(millis: i64) -> String {
    let seconds = millis.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds % 3600) / 60,
        seconds % 60
    )
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

fn parse_id(text: Option<String>) -> Option<i64> {
    text.and_then(|text| text.parse().ok())
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

/// A filter with a fixed list of choices (value, label), or any.
#[component]
fn ChoiceFilter(
    id: &'static str,
    label: &'static str,
    any: &'static str,
    choices: Vec<(&'static str, &'static str)>,
    chosen: RwSignal<Option<&'static str>>,
    on_change: Callback<()>,
) -> impl IntoView {
    let values: Vec<&'static str> = choices.iter().map(|(value, _)| *value).collect();
    view! {
        <div>
            <label class="label" for=id>{label}</label>
            <select
                class=FILTER_SELECT
                id=id
                on:change=move |ev| {
                    let picked = event_target_value(&ev);
                    chosen.set(values.iter().copied().find(|value| *value == picked));
                    on_change.run(());
                }
            >
                <option value="" selected=move || chosen.get().is_none()>{any}</option>
                {choices
                    .into_iter()
                    .map(|(value, text)| {
                        let is_chosen = move || chosen.get() == Some(value);
                        view! { <option value=value selected=is_chosen prop:selected=is_chosen>{text}</option> }
                    })
                    .collect_view()}
            </select>
        </div>
    }
}

#[component]
pub fn ExecutionsPage() -> impl IntoView {
    let query = use_query_map();
    let (project, pipeline, status, trigger) = query.with_untracked(|query| {
        (
            parse_id(query.get("project")),
            parse_id(query.get("pipeline")),
            query
                .get("status")
                .and_then(|status| ExecutionStatus::parse(&status))
                .map(ExecutionStatus::as_str),
            query.get("trigger").and_then(|trigger| {
                TRIGGER_KINDS
                    .into_iter()
                    .find(|kind| *kind == trigger.as_str())
            }),
        )
    });
    let project = RwSignal::new(project);
    let pipeline = RwSignal::new(pipeline);
    let status = RwSignal::new(status);
    let trigger = RwSignal::new(trigger);
    // `before` of the page shown, and of the pages before it (for "Newer").
    let before = RwSignal::new(None::<i64>);
    let newer_pages = RwSignal::new(Vec::<Option<i64>>::new());
    let refetch = Refetch::default();
    let filter = Memo::new(move |_| ExecutionFilter {
        project: project.get(),
        pipeline: pipeline.get(),
        status: status.get().and_then(ExecutionStatus::parse),
        trigger: trigger.get().map(str::to_string),
        before: before.get(),
        limit: Some(PAGE_SIZE),
    });
    let executions = Resource::new(
        move || (filter.get(), refetch.version()),
        |(filter, _)| list_executions(filter),
    );
    let projects = Resource::new(|| (), |_| list_projects());
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    let live = use_live(LiveScope::default, move |event| {
        if matches!(event, LiveEvent::Execution { .. } | LiveEvent::Resync) {
            refetch.request();
        }
    });
    let clock = ticking_clock(
        move || matches!(executions.get(), Some(Ok(list)) if any_running(list.iter())),
    );
    let first_page = move || {
        before.set(None);
        newer_pages.set(Vec::new());
    };
    // The filters stay in the address, so a filtered list can be bookmarked or shared.
    Effect::new(move |previous: Option<String>| {
        let address = list_address(&filter.with(|filter| ExecutionFilter {
            before: None,
            limit: None,
            ..filter.clone()
        }));
        if previous
            .as_ref()
            .is_some_and(|previous| *previous != address)
        {
            replace_address(&address);
        }
        address
    });

    view! {
        <div class="flex flex-wrap items-start justify-between gap-4">
            <PageHeader title="Executions" subtitle="Every run of a pipeline, newest first. New runs and state changes appear as they happen." />
            <LiveBadge open=live />
        </div>
        <div class="card mb-6 flex flex-wrap items-end gap-4" role="search" aria-label="Filter executions">
            <div>
                <label class="label" for="filter-project">"Project"</label>
                <select
                    class=FILTER_SELECT
                    id="filter-project"
                    on:change=move |ev| {
                        project.set(event_target_value(&ev).parse().ok());
                        pipeline.set(None);
                        first_page();
                    }
                >
                    <option value="" selected=move || project.get().is_none()>"All projects"</option>
                    <Transition fallback=|| ()>
                        {move || {
                            projects
                                .get()
                                .and_then(Result::ok)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|each| {
                                    let id = each.id;
                                    view! {
                                        <option value=id selected=move || project.get() == Some(id) prop:selected=move || project.get() == Some(id)>
                                            {each.name}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </Transition>
                </select>
            </div>
            <div>
                <label class="label" for="filter-pipeline">"Pipeline"</label>
                <select
                    class=FILTER_SELECT
                    id="filter-pipeline"
                    on:change=move |ev| {
                        pipeline.set(event_target_value(&ev).parse().ok());
                        first_page();
                    }
                >
                    <option value="" selected=move || pipeline.get().is_none()>"All pipelines"</option>
                    <Transition fallback=|| ()>
                        {move || {
                            let chosen_project = project.get();
                            pipelines
                                .get()
                                .and_then(Result::ok)
                                .unwrap_or_default()
                                .into_iter()
                                .filter(|each| chosen_project.is_none_or(|project| each.project_id == project))
                                .map(|each| {
                                    let id = each.id;
                                    view! {
                                        <option value=id selected=move || pipeline.get() == Some(id) prop:selected=move || pipeline.get() == Some(id)>
                                            {format!("{} · {}", each.spec.name, each.spec.project)}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </Transition>
                </select>
            </div>
            <ChoiceFilter
                id="filter-status"
                label="Status"
                any="Any status"
                choices=ExecutionStatus::ALL.map(|each| (each.as_str(), each.as_str())).to_vec()
                chosen=status
                on_change=Callback::new(move |_| first_page())
            />
            <ChoiceFilter
                id="filter-trigger"
                label="Trigger"
                any="Any trigger"
                choices=TRIGGER_KINDS
                    .map(|kind| (kind, if kind == "docker" { "Docker push" } else { "Manual" }))
                    .to_vec()
                chosen=trigger
                on_change=Callback::new(move |_| first_page())
            />
        </div>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading executions…"</p> }>
            {move || {
                let filtered = filter.with(|filter| {
                    filter.project.is_some()
                        || filter.pipeline.is_some()
                        || filter.status.is_some()
                        || filter.trigger.is_some()
                });
                executions
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() && before.get_untracked().is_none() => {
                            if filtered {
                                view! {
                                    <EmptyState title="No runs match these filters">
                                        "Choose other filters, or All, to see more runs."
                                    </EmptyState>
                                }
                                    .into_any()
                            } else {
                                view! {
                                    <EmptyState title="No runs yet">
                                        "Runs appear here when someone runs a pipeline from the "
                                        <a class="font-medium text-sky-700 underline" href="/pipelines">"Pipelines"</a>
                                        " page, or when a Docker push triggers one."
                                    </EmptyState>
                                }
                                    .into_any()
                            }
                        }
                        Ok(list) => {
                            let full = list.len() >= PAGE_SIZE as usize;
                            let last = list.last().map(|run| run.id);
                            view! {
                                <ExecutionTable list clock />
                                <nav class="mt-4 flex items-center justify-between" aria-label="Pages of executions">
                                    <div>
                                        <Show when=move || before.get().is_some()>
                                            <button
                                                type="button"
                                                class="btn-secondary"
                                                on:click=move |_| {
                                                    let mut pages = newer_pages.get_untracked();
                                                    before.set(pages.pop().flatten());
                                                    newer_pages.set(pages);
                                                }
                                            >
                                                "← Newer"
                                            </button>
                                        </Show>
                                    </div>
                                    <div>
                                        {(full && last.is_some()).then(|| view! {
                                            <button
                                                type="button"
                                                class="btn-secondary"
                                                on:click=move |_| {
                                                    newer_pages.update(|pages| pages.push(before.get_untracked()));
                                                    before.set(last);
                                                }
                                            >
                                                "Older →"
                                            </button>
                                        })}
                                    </div>
                                </nav>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn ExecutionTable(list: Vec<ExecutionSummary>, clock: ReadSignal<Option<i64>>) -> impl IntoView {
    let rows = list
        .into_iter()
        .map(|run| {
            let href = format!("/executions/{}", run.id);
            view! {
                <tr data-execution=run.id>
                    <td>
                        <span class="font-medium">{run.pipeline.clone()}</span>
                        <span class="block text-xs text-slate-500">{run.project.clone()}</span>
                    </td>
                    <td>
                        <a
                            class="font-mono font-medium text-sky-800 hover:underline"
                            href=href
                            aria-label=format!("Run #{} of {}", run.run_number, run.pipeline)
                        >
                            {format!("#{}", run.run_number)}
                        </a>
                    </td>
                    <td><StatusBadge status=run.status /></td>
                    <td class="max-w-64 truncate text-slate-700" title=trigger_text(&run.trigger)>{trigger_text(&run.trigger)}</td>
                    <td class="whitespace-nowrap text-slate-600">
                        {run.started_at.or(Some(run.created_at)).map(format_millis)}
                    </td>
                    <td class="whitespace-nowrap text-slate-600">
                        {move || {
                            let now = (!run.status.is_final()).then(|| clock.get()).flatten();
                            duration_text(run.started_at, run.finished_at, now)
                        }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <ListTable testid="executions-table" columns=&["Pipeline", "Run", "Status", "Trigger", "Started", "Duration"]>{rows}</ListTable>
    }
}

// ---------------------------------------------------------------------------
// One execution
// ---------------------------------------------------------------------------

#[component]
pub fn ExecutionPage() -> impl IntoView {
    let route_id = route_id();
    let id = Memo::new(move |_| route_id.get().unwrap_or_default());
    let refetch = Refetch::default();
    let execution = Resource::new(
        move || (id.get(), refetch.version()),
        |(id, _)| get_execution(id),
    );
    // Log lines streamed since the run was last fetched, by task run.
    let streamed = RwSignal::new(Vec::<(i64, LogLine)>::new());
    let live = use_live(
        move || LiveScope {
            execution: Some(id.get()),
        },
        move |event| match event {
            LiveEvent::Log {
                task_run_id, line, ..
            } => streamed.update(|lines| lines.push((task_run_id, line))),
            LiveEvent::Activity { .. } => {}
            _ => refetch.request(),
        },
    );
    // A fetched run holds every line stored so far: keep only newer streamed ones.
    Effect::new(move |_| {
        if let Some(Ok(run)) = execution.get() {
            let newest = newest_log_line(&run);
            streamed.update(|lines| lines.retain(|(_, line)| line.id > newest));
        }
    });
    let clock = ticking_clock(
        move || matches!(execution.get(), Some(Ok(run)) if run.summary.status == ExecutionStatus::Running),
    );
    let cancel = ServerAction::<CancelExecution>::new();
    let cancel_error = last_error(move || cancel.value().get());
    Effect::new(move |_| {
        if let Some(Ok(_)) = cancel.value().get() {
            refetch.request();
        }
    });
    // The task whose details are shown, by (stage, task) position.
    let selected = RwSignal::new(None::<(usize, usize)>);
    let output_open = RwSignal::new(false);
    let run_again = RwSignal::new(None::<(i64, BTreeMap<String, String>)>);

    view! {
        <div class="mb-4 flex items-center justify-between gap-4 text-sm">
            <a class="text-sky-700 hover:underline" href="/executions">"← All executions"</a>
            <LiveBadge open=live />
        </div>
        <FormError error=cancel_error />
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the run…"</p> }>
            {move || {
                execution
                    .get()
                    .map(|answer| match answer {
                        Ok(execution) => {
                            view! { <ExecutionView execution cancel selected output_open run_again streamed clock /> }.into_any()
                        }
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
        {move || {
            run_again
                .get()
                .map(|(pipeline_id, inputs)| {
                    view! {
                        <RunDialog
                            pipeline_id
                            initial=Some(inputs)
                            on_close=Callback::new(move |_| run_again.set(None))
                        />
                    }
                })
        }}
    }
}

#[component]
fn ExecutionView(
    execution: Execution,
    cancel: ServerAction<CancelExecution>,
    selected: RwSignal<Option<(usize, usize)>>,
    output_open: RwSignal<bool>,
    run_again: RwSignal<Option<(i64, BTreeMap<String, String>)>>,
    streamed: RwSignal<Vec<(i64, LogLine)>>,
    clock: ReadSignal<Option<i64>>,
) -> impl IntoView {
    let Execution {
        summary,
        inputs,
        stages,
        can_execute,
    } = execution;
    let id = summary.id;
    let pipeline_id = summary.pipeline_id;
    let is_final = summary.status.is_final();
    let again_inputs = StoredValue::new(inputs.clone());
    let default_task = default_task(&stages);
    let shown = Memo::new(move |_| selected.get().or(default_task));
    let stages = StoredValue::new(stages);
    let columns = move || {
        let shown = shown.get();
        stages.with_value(|stages| {
            stages
                .iter()
                .cloned()
                .enumerate()
                .map(|(stage_index, stage)| view! { <StageColumn stage stage_index selected shown clock /> })
                .collect_view()
        })
    };
    let detail = move || {
        let found = shown.get().and_then(|(stage_index, task_index)| {
            stages.with_value(|stages| {
                let stage = stages.get(stage_index)?;
                Some((stage.name.clone(), stage.tasks.get(task_index)?.clone()))
            })
        });
        match found {
            Some((stage, task)) => view! { <TaskDetail stage task output_open streamed clock /> }.into_any(),
            None => view! {
                <p class="mt-6 text-sm text-slate-500">"Choose a task to see its inputs, output and log."</p>
            }
                .into_any(),
        }
    };

    view! {
        <section class="card mb-6" aria-labelledby="execution-heading">
            <div class="flex flex-wrap items-start justify-between gap-4">
                <div>
                    <p class="text-sm text-slate-500">{format!("{} · execution {}", summary.project, summary.id)}</p>
                    <h1 id="execution-heading" class="text-2xl font-semibold tracking-tight">
                        <a class="hover:underline" href=format!("/pipelines/{pipeline_id}")>{summary.pipeline.clone()}</a>
                        <span class="ml-2 font-mono text-slate-500">{format!("#{}", summary.run_number)}</span>
                    </h1>
                </div>
                <div class="flex flex-wrap items-center gap-3">
                    <span class="text-base" data-testid="execution-status"><StatusBadge status=summary.status /></span>
                    {(can_execute && !is_final).then(|| view! {
                        <button
                            type="button"
                            class="btn-danger"
                            disabled=move || cancel.pending().get()
                            on:click=move |_| { cancel.dispatch(CancelExecution { id }); }
                        >
                            {move || if cancel.pending().get() { "Canceling…" } else { "Cancel run" }}
                        </button>
                    })}
                    {can_execute.then(|| view! {
                        <button
                            type="button"
                            class="btn-secondary"
                            on:click=move |_| run_again.set(Some((pipeline_id, again_inputs.get_value())))
                        >
                            "Run again"
                        </button>
                    })}
                </div>
            </div>
            <dl class="mt-4 grid gap-4 text-sm sm:grid-cols-2 lg:grid-cols-4">
                <div>
                    <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">"Trigger"</dt>
                    <dd class="mt-1" data-testid="execution-trigger">
                        {trigger_text(&summary.trigger)}
                        {summary.trigger.event_id.map(|event| view! {
                            <a class="ml-2 text-sky-700 underline" href=activity_row_address(event) data-testid="activity-link">
                                {format!("Activity event {event}")}
                            </a>
                        })}
                    </dd>
                </div>
                <div>
                    <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">"Queued"</dt>
                    <dd class="mt-1">{format_millis(summary.created_at)}</dd>
                </div>
                <div>
                    <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">"Started"</dt>
                    <dd class="mt-1">{summary.started_at.map(format_millis).unwrap_or_else(|| "not yet".to_string())}</dd>
                </div>
                <div>
                    <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">"Duration"</dt>
                    <dd class="mt-1" data-testid="execution-duration">
                        {move || duration_text(summary.started_at, summary.finished_at, clock.get())}
                    </dd>
                </div>
            </dl>
            {summary.error.clone().map(|error| view! {
                <div class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="execution-error">
                    <span class="font-semibold">"Error: "</span>
                    {error}
                </div>
            })}
            <h2 class="mt-5 text-sm font-semibold text-slate-700">"Inputs"</h2>
            <InputList inputs />
        </section>
        <h2 class="mb-3 text-base font-semibold">"Stages"</h2>
        <ol class="flex flex-col gap-4 border-l-2 border-slate-200 pl-4 md:flex-row md:overflow-x-auto md:border-l-0 md:pb-2 md:pl-0" aria-label="Stages, in order">
            {columns}
        </ol>
        {detail}
    }
}

/// The inputs of a run: those with a value as a table, the empty ones on one line.
#[component]
fn InputList(inputs: BTreeMap<String, String>) -> impl IntoView {
    if inputs.is_empty() {
        return view! { <p class="mt-1 text-sm text-slate-500">"This run has no inputs."</p> }
            .into_any();
    }
    let (given, empty): (Vec<_>, Vec<_>) =
        inputs.into_iter().partition(|(_, value)| !value.is_empty());
    let empty = empty.into_iter().map(|(name, _)| name).collect::<Vec<_>>();
    view! {
        <div data-testid="execution-inputs">
            {(!given.is_empty()).then(|| view! {
                <dl class="mt-2 grid grid-cols-[minmax(8rem,max-content)_1fr] gap-x-6 gap-y-1 rounded-md border border-slate-200 bg-slate-50 px-4 py-3 font-mono text-xs">
                    {given
                        .into_iter()
                        .map(|(name, value)| view! {
                            <dt class="text-slate-500">{name}</dt>
                            <dd class="break-all text-slate-900">{value}</dd>
                        })
                        .collect_view()}
                </dl>
            })}
            {(!empty.is_empty()).then(|| view! {
                <p class="mt-2 text-xs text-slate-500">
                    "Empty: "
                    <span class="font-mono">{empty.join(", ")}</span>
                </p>
            })}
        </div>
    }
    .into_any()
}

#[component]
fn StageColumn(
    stage: StageRun,
    stage_index: usize,
    selected: RwSignal<Option<(usize, usize)>>,
    shown: Option<(usize, usize)>,
    clock: ReadSignal<Option<i64>>,
) -> impl IntoView {
    let tasks = if stage.tasks.is_empty() {
        view! { <li class="text-sm text-slate-500">"Not started"</li> }.into_any()
    } else {
        stage
            .tasks
            .into_iter()
            .enumerate()
            .map(|(task_index, task)| {
                let position = (stage_index, task_index);
                let is_shown = shown == Some(position);
                let timing = Timing::of(&task);
                let class = if is_shown {
                    "w-full rounded-md border-2 border-sky-600 bg-sky-50 p-3 text-left focus-visible:outline-2 focus-visible:outline-sky-700"
                } else {
                    "w-full rounded-md border-2 border-slate-200 bg-white p-3 text-left hover:border-slate-300 focus-visible:outline-2 focus-visible:outline-sky-700"
                };
                view! {
                    <li>
                        <button
                            type="button"
                            class=class
                            aria-pressed=if is_shown { "true" } else { "false" }
                            data-task=task.name.clone()
                            on:click=move |_| selected.set(Some(position))
                        >
                            <span class="flex items-center justify-between gap-2">
                                <span class="truncate font-medium">{task.name.clone()}</span>
                                <TaskStatusBadge status=Some(task.status) />
                            </span>
                            <span class="mt-1 block text-xs text-slate-500">
                                {format!(
                                    "{} · {}",
                                    task.task_type,
                                    task.started_at.map(|at| format!("started {} · ", time_of_day(at))).unwrap_or_default(),
                                )}
                                {move || timing.text(clock)}
                            </span>
                        </button>
                    </li>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <li class="md:w-72 md:shrink-0" data-stage=stage.name.clone()>
            <div class="rounded-lg border border-slate-200 bg-slate-50 p-3">
                <div class="mb-3 flex items-center justify-between gap-2">
                    <h3 class="font-mono text-sm font-semibold">
                        <span class="sr-only">"Stage "</span>
                        {stage.name.clone()}
                    </h3>
                    <TaskStatusBadge status=stage.status />
                </div>
                <ul class="space-y-2">{tasks}</ul>
            </div>
        </li>
    }
}

/// Kubernetes objects of a task output: kind, name, namespace, image, result.
fn kubernetes_objects(output: &Value) -> Vec<[String; 5]> {
    let text = |object: &Value, key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    output
        .get("objects")
        .and_then(Value::as_array)
        .map(|objects| {
            objects
                .iter()
                .map(|object| {
                    [
                        text(object, "kind"),
                        text(object, "name"),
                        text(object, "namespace"),
                        text(object, "image"),
                        text(object, "result"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Resolved inputs as JSON, with multi-line texts (YAML, bodies) taken out
/// to be shown as they are rather than as one escaped line.
fn split_texts(value: &Value) -> (String, Vec<(String, String)>) {
    let mut rest = value.clone();
    let mut texts = Vec::new();
    if let Value::Object(fields) = &mut rest {
        let long: Vec<String> = fields
            .iter()
            .filter(|(_, value)| value.as_str().is_some_and(|text| text.contains('\n')))
            .map(|(key, _)| key.clone())
            .collect();
        for key in long {
            if let Some(Value::String(text)) = fields.remove(&key) {
                texts.push((key, text));
            }
        }
    }
    (pretty(&rest), texts)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// When a task ran: what its duration is made of.
#[derive(Clone, Copy)]
struct Timing {
    running: bool,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl Timing {
    fn of(task: &TaskRun) -> Self {
        Timing {
            running: task.status == TaskStatus::Running,
            started_at: task.started_at,
            finished_at: task.finished_at,
        }
    }

    /// The duration, ticking with `clock` while the task runs.
    fn text(self, clock: ReadSignal<Option<i64>>) -> String {
        let now = self.running.then(|| clock.get()).flatten();
        duration_text(self.started_at, self.finished_at, now)
    }
}

/// The task shown before anyone chooses one: the first that failed (it is why
/// the run failed), else the last one that started (where the run is now).
fn default_task(stages: &[StageRun]) -> Option<(usize, usize)> {
    let positions = || {
        stages.iter().enumerate().flat_map(|(stage_index, stage)| {
            stage
                .tasks
                .iter()
                .enumerate()
                .map(move |(task_index, task)| ((stage_index, task_index), task))
        })
    };
    positions()
        .find(|(_, task)| task.status == TaskStatus::Failed)
        .or_else(|| positions().rfind(|(_, task)| task.started_at.is_some()))
        .map(|(position, _)| position)
}

/// The id of the newest log line a fetched run holds.
fn newest_log_line(execution: &Execution) -> i64 {
    execution
        .stages
        .iter()
        .flat_map(|stage| &stage.tasks)
        .filter_map(|task| task.log.last())
        .map(|line| line.id)
        .max()
        .unwrap_or(0)
}

/// The Activity page at the row of event `id` (the newest row on that page).
fn activity_row_address(id: i64) -> String {
    format!("/triggers/docker/activity?before={}#event-{id}", id + 1)
}

#[component]
fn TaskDetail(
    stage: String,
    task: TaskRun,
    output_open: RwSignal<bool>,
    streamed: RwSignal<Vec<(i64, LogLine)>>,
    clock: ReadSignal<Option<i64>>,
) -> impl IntoView {
    let objects = if task.task_type == "kubernetes" {
        task.output
            .as_ref()
            .map(kubernetes_objects)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let objects_view = (!objects.is_empty()).then(|| {
        view! {
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Kubernetes objects"</h3>
            <div class="mt-2 overflow-x-auto rounded-md border border-slate-200">
                <table class="table" data-testid="kubernetes-objects">
                    <thead>
                        <tr>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Namespace"</th>
                            <th scope="col">"Image"</th>
                            <th scope="col">"Result"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {objects
                            .into_iter()
                            .map(|[kind, name, namespace, image, result]| {
                                view! {
                                    <tr>
                                        <td>{kind}</td>
                                        <td class="font-mono text-xs">{name}</td>
                                        <td class="font-mono text-xs">{namespace}</td>
                                        <td class="font-mono text-xs">{image}</td>
                                        <td><span class="badge">{result}</span></td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        }
    });
    let inputs = task.inputs.as_ref().map(split_texts);
    let output = task.output.as_ref().map(pretty);
    let timing = Timing::of(&task);
    view! {
        <section class="card mt-6" aria-labelledby="task-detail-heading" data-testid="task-detail">
            <div class="flex flex-wrap items-center justify-between gap-3">
                <h2 id="task-detail-heading" class="font-mono text-base font-semibold">{format!("{stage} › {}", task.name)}</h2>
                <TaskStatusBadge status=Some(task.status) />
            </div>
            <p class="mt-1 text-sm text-slate-600">
                {format!(
                    "{} task · started {} · ",
                    task.task_type,
                    task.started_at.map(|at| format!("{} UTC", time_of_day(at))).unwrap_or_else(|| "—".into()),
                )}
                {move || timing.text(clock)}
            </p>
            {task.error.clone().map(|error| view! {
                <div class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="task-error">
                    <span class="font-semibold">"Error: "</span>
                    {error}
                </div>
            })}
            {objects_view}
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Resolved inputs"</h3>
            {match inputs {
                Some((fields, texts)) => view! {
                    <div data-testid="task-inputs">
                        <pre class="mt-2 max-h-96 overflow-auto rounded-md bg-slate-100 p-3 font-mono text-xs">{fields}</pre>
                        {texts
                            .into_iter()
                            .map(|(key, text)| view! {
                                <p class="mt-3 font-mono text-xs font-semibold text-slate-600">{key}</p>
                                <pre class="mt-1 max-h-96 overflow-auto rounded-md bg-slate-100 p-3 font-mono text-xs">{text}</pre>
                            })
                            .collect_view()}
                    </div>
                }
                    .into_any(),
                None => view! { <p class="mt-1 text-sm text-slate-500">"Not resolved (the task did not start)."</p> }.into_any(),
            }}
            {match output {
                Some(text) => view! {
                    <details class="mt-5" prop:open=move || output_open.get()>
                        <summary
                            class="cursor-pointer text-sm font-semibold text-slate-700"
                            on:click=move |ev| {
                                ev.prevent_default();
                                output_open.update(|open| *open = !*open);
                            }
                        >
                            "Output (JSON)"
                        </summary>
                        <pre class="mt-2 max-h-96 overflow-auto rounded-md bg-slate-100 p-3 font-mono text-xs" data-testid="task-output">{text}</pre>
                    </details>
                }
                    .into_any(),
                None => view! { <p class="mt-5 text-sm text-slate-500">"No output."</p> }.into_any(),
            }}
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Log"</h3>
            <TaskLog task_run_id=task.id fetched=task.log streamed />
        </section>
    }
}

/// A task's log: the lines fetched with the run, then those streamed since,
/// kept scrolled to the newest line unless the reader scrolled up.
#[component]
fn TaskLog(
    task_run_id: i64,
    fetched: Vec<LogLine>,
    streamed: RwSignal<Vec<(i64, LogLine)>>,
) -> impl IntoView {
    let fetched_count = fetched.len();
    let newest_fetched = fetched.last().map_or(0, |line| line.id);
    let later = Memo::new(move |_| {
        streamed.with(|lines| {
            lines
                .iter()
                .filter(|(task, line)| *task == task_run_id && line.id > newest_fetched)
                .map(|(_, line)| line.clone())
                .collect::<Vec<_>>()
        })
    });
    let has_lines = move || fetched_count > 0 || later.with(|later| !later.is_empty());
    let log = NodeRef::<leptos::html::Ol>::new();
    let follow = RwSignal::new(true);
    Effect::new(move |_| {
        later.track();
        if follow.get_untracked() {
            if let Some(log) = log.get() {
                log.set_scroll_top(log.scroll_height());
            }
        }
    });
    let row = |line: LogLine| {
        view! {
            <li class="whitespace-pre-wrap break-words" data-line=line.id>
                <span class="mr-3 select-none text-slate-500">{time_of_day(line.at)}</span>
                {line.line}
            </li>
        }
    };
    view! {
        <p class="mt-1 text-sm text-slate-500" class:hidden=has_lines>"No log lines yet."</p>
        <ol
            node_ref=log
            role="log"
            aria-label="Task log"
            tabindex="0"
            class="mt-2 max-h-96 overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-5 text-slate-100 focus-visible:outline-2 focus-visible:outline-sky-700"
            class:hidden=move || !has_lines()
            data-testid="task-log"
            on:scroll=move |_| {
                if let Some(log) = log.get_untracked() {
                    follow.set(log.scroll_height() - log.scroll_top() - log.client_height() < 24);
                }
            }
        >
            {fetched.into_iter().map(row).collect_view()}
            {move || later.get().into_iter().map(row).collect_view()}
        </ol>
    }
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

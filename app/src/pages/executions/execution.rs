//! One run: its state, trigger, times and inputs, its stages as columns of
//! tasks, and the chosen task's details below them. Cancel and Run again are
//! offered to those who may run the pipeline.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::notifications::NotificationList;
use super::stages::{default_task, StageColumn};
use super::task::TaskDetail;
use super::{duration_text, trigger_text, FailureBox};
use crate::execution::{Execution, ExecutionStatus, LogLine};
use crate::functions::{get_execution, CancelExecution};
use crate::live::{use_live, LiveEvent, LiveScope, Refetch};
use crate::pages::pipelines::RunDialog;
use crate::pages::widgets::{
    format_millis, last_error, route_id, ticking_clock, Digest, ExecutionStatusBadge, FormError,
    LiveBadge,
};

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
    let clock = ticking_clock(move || {
        matches!(
            execution.get(),
            Some(Ok(run)) if matches!(run.summary.status, ExecutionStatus::Running | ExecutionStatus::Waiting)
        )
    });
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

/// A fetched run; `selected` is the task chosen, `streamed` the log lines
/// received since the fetch.
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
        notifications,
    } = execution;
    let id = summary.id;
    let pipeline_id = summary.pipeline_id;
    let is_final = summary.status.is_final();
    let again_inputs = StoredValue::new(inputs.clone());
    let pinned_digest = inputs
        .get("DOCKER_DIGEST")
        .filter(|digest| !digest.is_empty())
        .cloned();
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
            Some((stage, task)) => view! { <TaskDetail execution_id=id stage task output_open streamed clock /> }.into_any(),
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
                    <span class="text-base" data-testid="execution-status"><ExecutionStatusBadge status=summary.status /></span>
                    {summary.replica.clone().map(|replica| view! {
                        <span class="text-sm text-slate-500" data-testid="execution-replica">{format!("on replica {replica}")}</span>
                    })}
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
                        {pinned_digest.clone().map(|digest| view! { <span class="ml-2"><Digest digest /></span> })}
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
            {summary.error.clone().map(|error| view! { <FailureBox error testid="execution-error" /> })}
            <h2 class="mt-5 text-sm font-semibold text-slate-700">"Inputs"</h2>
            <InputList inputs />
        </section>
        <h2 class="mb-3 text-base font-semibold">"Stages"</h2>
        <ol class="flex flex-col gap-4 border-l-2 border-slate-200 pl-4 md:flex-row md:overflow-x-auto md:border-l-0 md:pb-2 md:pl-0" aria-label="Stages, in order">
            {columns}
        </ol>
        {detail}
        <NotificationList notifications />
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

//! The stages of a run as columns of task buttons, and which task is shown
//! before anyone chooses one.

use leptos::prelude::*;

use super::{time_of_day, Timing};
use crate::execution::{StageRun, TaskStatus};
use crate::pages::widgets::TaskStatusBadge;

/// A stage and its tasks; choosing a task sets `selected` to its
/// (stage, task) position, and `shown` is the one whose details are shown.
#[component]
pub(super) fn StageColumn(
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

/// The task shown before anyone chooses one: the first that failed (it is why
/// the run failed), else the last one that started (where the run is now).
pub(super) fn default_task(stages: &[StageRun]) -> Option<(usize, usize)> {
    let positions = || {
        stages.iter().enumerate().flat_map(|(stage_index, stage)| {
            stage
                .tasks
                .iter()
                .enumerate()
                .map(move |(task_index, task)| ((stage_index, task_index), task))
        })
    };
    // What needs a person first: an approval waiting, then a failure.
    positions()
        .find(|(_, task)| task.status == TaskStatus::Waiting)
        .or_else(|| positions().find(|(_, task)| task.status == TaskStatus::Failed))
        .or_else(|| positions().rfind(|(_, task)| task.started_at.is_some()))
        .map(|(position, _)| position)
}

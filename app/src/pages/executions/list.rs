//! The Executions list: every run, newest first, a page at a time, with
//! the filter bar above it.

use leptos::prelude::*;

use super::filters::{FilterBar, Filters};
use super::{duration_text, trigger_text};
use crate::execution::{ExecutionFilter, ExecutionStatus, ExecutionSummary};
use crate::functions::list_executions;
use crate::live::{use_live, LiveEvent, LiveScope, Refetch};
use crate::pages::widgets::{
    format_millis, ticking_clock, EmptyState, ExecutionStatusBadge, ListTable, LiveBadge,
    PageHeader,
};

/// Rows per page of the list.
const PAGE_SIZE: u32 = 25;

/// Whether a run shown needs the ticking clock.
fn any_running<'a>(mut runs: impl Iterator<Item = &'a ExecutionSummary>) -> bool {
    runs.any(|run| run.status == ExecutionStatus::Running)
}

#[component]
pub fn ExecutionsPage() -> impl IntoView {
    let filters = Filters::from_address();
    // `before` of the page shown, and of the pages before it (for "Newer").
    let before = RwSignal::new(None::<i64>);
    let newer_pages = RwSignal::new(Vec::<Option<i64>>::new());
    let refetch = Refetch::default();
    let filter = Memo::new(move |_| ExecutionFilter {
        before: before.get(),
        limit: Some(PAGE_SIZE),
        ..filters.get()
    });
    let executions = Resource::new(
        move || (filter.get(), refetch.version()),
        |(filter, _)| list_executions(filter),
    );
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
    filters.follow_in_address();

    view! {
        <div class="flex flex-wrap items-start justify-between gap-4">
            <PageHeader title="Executions" subtitle="Every run of a pipeline, newest first. New runs and state changes appear as they happen." />
            <LiveBadge open=live />
        </div>
        <FilterBar filters on_change=Callback::new(move |_| first_page()) />
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

/// One page of runs as a table; durations of running ones tick with `clock`.
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
                    <td><ExecutionStatusBadge status=run.status /></td>
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

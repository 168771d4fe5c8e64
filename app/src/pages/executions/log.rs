//! A task's log as it grows.

use leptos::prelude::*;

use super::time_of_day;
use crate::execution::LogLine;

/// A task's log: the lines fetched with the run, then those streamed since,
/// kept scrolled to the newest line unless the reader scrolled up.
#[component]
pub(super) fn TaskLog(
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

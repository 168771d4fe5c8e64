//! Triggers → Docker → Activity: every event the Docker webhooks received,
//! newest first, and what became of it. Filters live in the query string, so
//! a card links straight to its webhook's events. The page follows the live
//! stream: a new row appears as its push is accepted, and its run's state
//! follows the run.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::widgets::{
    format_millis, navigation_target, run_state_view, Digest, EmptyState, EventStatusBadge,
    ListTable, LiveBadge, PageHeader,
};
use crate::execution::ExecutionStatus;
use crate::functions::{list_activity, list_webhooks, RerunEvent};
use crate::live::{use_live, LiveEvent, LiveScope, Refetch};
use crate::webhook::{ActivityFilter, DeliverySource, DockerEvent};

/// Rows per page.
const PAGE_SIZE: u32 = 25;
const STATUSES: [&str; 4] = ["TRIGGERED", "IGNORED", "REJECTED", "DUPLICATE"];
const PATH: &str = "/triggers/docker/activity";

fn parse_id(text: Option<String>) -> Option<i64> {
    text.and_then(|text| text.parse().ok())
}

/// The address of the page with these filters (its `limit` is the page's own).
fn address(filter: &ActivityFilter) -> String {
    let mut parts = Vec::new();
    if let Some(webhook) = filter.webhook {
        parts.push(format!("webhook={webhook}"));
    }
    if let Some(status) = &filter.status {
        parts.push(format!("status={status}"));
    }
    if let Some(source) = &filter.source {
        parts.push(format!("source={source}"));
    }
    if let Some(before) = filter.before {
        parts.push(format!("before={before}"));
    }
    if parts.is_empty() {
        PATH.to_string()
    } else {
        format!("{PATH}?{}", parts.join("&"))
    }
}

fn can_rerun(event: &DockerEvent) -> bool {
    matches!(
        event.execution_status,
        Some(ExecutionStatus::Failed | ExecutionStatus::Canceled)
    )
}

/// A row whose run COMPLETED can deploy its image again (roll back to it).
fn can_deploy_again(event: &DockerEvent) -> bool {
    event.execution_status == Some(ExecutionStatus::Completed)
}

#[component]
pub fn ActivityPage() -> impl IntoView {
    let query = use_query_map();
    let target = navigation_target();
    let filter = Memo::new(move |_| {
        query.with(|query| ActivityFilter {
            webhook: parse_id(query.get("webhook")),
            status: query
                .get("status")
                .filter(|status| STATUSES.contains(&status.as_str())),
            source: query
                .get("source")
                .filter(|source| DeliverySource::parse(source).is_some()),
            before: parse_id(query.get("before")),
            limit: Some(PAGE_SIZE),
        })
    });
    let rerun = ServerAction::<RerunEvent>::new();
    let refetch = Refetch::default();
    let events = Resource::new(
        move || (filter.get(), refetch.version(), rerun.version().get()),
        |(filter, _, _)| list_activity(filter),
    );
    let webhooks = Resource::new(|| (), |_| list_webhooks());
    // Rows show their run's state too: a change of a run on the page refetches it.
    let shows_run = move |execution: i64| {
        events.with_untracked(|shown| {
            matches!(shown, Some(Ok(list)) if list.iter().any(|event| event.execution_id == Some(execution)))
        })
    };
    let live = use_live(LiveScope::default, move |event| match event {
        LiveEvent::Activity { .. } | LiveEvent::Resync => refetch.request(),
        LiveEvent::Execution { id, .. } if shows_run(id) => refetch.request(),
        _ => {}
    });
    // A changed filter starts again from the newest page.
    let go = move |next: ActivityFilter| {
        target.set(Some(address(&ActivityFilter {
            before: None,
            ..next
        })));
    };
    let rerun_error = move || match rerun.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let rerun_started = move || match rerun.value().get() {
        Some(Ok(event)) => event.execution_id,
        _ => None,
    };

    view! {
        <div class="flex flex-wrap items-start justify-between gap-4">
            <PageHeader
                title="Docker activity"
                subtitle="Every push the Docker webhooks received, newest first, and what became of it, as it happens."
            />
            <div class="flex items-center gap-3">
                <LiveBadge open=live />
                <a class="btn-link" href="/triggers/docker">"Webhooks"</a>
            </div>
        </div>
        <div class="card mb-6 flex flex-wrap items-end gap-4" role="search" aria-label="Filter activity">
            <div>
                <label class="label" for="activity-webhook">"Webhook"</label>
                <select class="input min-w-52" id="activity-webhook"
                    on:change=move |ev| {
                        go(ActivityFilter { webhook: event_target_value(&ev).parse().ok(), ..filter.get_untracked() });
                    }>
                    <option value="" selected=move || filter.with(|filter| filter.webhook.is_none())
                        prop:selected=move || filter.with(|filter| filter.webhook.is_none())>
                        "All webhooks"
                    </option>
                    <Transition fallback=|| ()>
                        {move || {
                            webhooks
                                .get()
                                .and_then(Result::ok)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|hook| {
                                    let id = hook.id;
                                    let chosen = move || filter.with(|filter| filter.webhook == Some(id));
                                    view! {
                                        <option value=id selected=chosen prop:selected=chosen>
                                            {format!("{} · {}", hook.name, hook.project)}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </Transition>
                </select>
            </div>
            <div>
                <label class="label" for="activity-status">"Status"</label>
                <select class="input min-w-40" id="activity-status"
                    on:change=move |ev| {
                        let status = event_target_value(&ev);
                        go(ActivityFilter { status: (!status.is_empty()).then_some(status), ..filter.get_untracked() });
                    }>
                    <option value="" selected=move || filter.with(|filter| filter.status.is_none())
                        prop:selected=move || filter.with(|filter| filter.status.is_none())>
                        "All statuses"
                    </option>
                    {STATUSES
                        .iter()
                        .map(|status| {
                            let chosen = move || filter.with(|filter| filter.status.as_deref() == Some(*status));
                            view! { <option value=*status selected=chosen prop:selected=chosen>{*status}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
            <div>
                <label class="label" for="activity-source">"Source"</label>
                <select class="input min-w-40" id="activity-source"
                    on:change=move |ev| {
                        let source = event_target_value(&ev);
                        go(ActivityFilter { source: (!source.is_empty()).then_some(source), ..filter.get_untracked() });
                    }>
                    <option value="" selected=move || filter.with(|filter| filter.source.is_none())
                        prop:selected=move || filter.with(|filter| filter.source.is_none())>
                        "All sources"
                    </option>
                    {DeliverySource::ALL
                        .iter()
                        .map(|source| {
                            let text = source.as_str();
                            let chosen = move || filter.with(|filter| filter.source.as_deref() == Some(text));
                            view! { <option value=text selected=chosen prop:selected=chosen>{source.label()}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
        </div>
        {move || rerun_error().map(|message| view! {
            <p class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">{message}</p>
        })}
        {move || rerun_started().map(|execution| view! {
            <p class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900" role="status">
                "Re-run started: "
                <a class="underline" href=format!("/executions/{execution}")>{format!("execution #{execution}")}</a>
            </p>
        })}
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading activity…"</p> }>
            {move || {
                let filtered = filter.with(|filter| {
                    filter.webhook.is_some() || filter.status.is_some() || filter.source.is_some()
                });
                let paged = filter.with(|filter| filter.before.is_some());
                events
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() && !filtered && !paged => {
                            view! {
                                <EmptyState title="No events yet">
                                    "When a registry POSTs a push to a webhook's hook URL, the event shows here with the run it started or why it was ignored. Create webhooks on "
                                    <a class="text-sky-700 underline" href="/triggers/docker">"Docker triggers"</a>
                                    "."
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState title="No events match">
                                    "Nothing here with these filters. "
                                    <a class="text-sky-700 underline" href=PATH>"Show all events"</a>
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) => view! { <ActivityTable list filter rerun /> }.into_any(),
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn ActivityTable(
    list: Vec<DockerEvent>,
    filter: Memo<ActivityFilter>,
    rerun: ServerAction<RerunEvent>,
) -> impl IntoView {
    let older = (list.len() >= PAGE_SIZE as usize)
        .then(|| list.last().map(|event| event.id))
        .flatten();
    let current = filter.get_untracked();
    let newest = current.before.is_some().then(|| {
        address(&ActivityFilter {
            before: None,
            ..current.clone()
        })
    });
    let older = older.map(|before| {
        address(&ActivityFilter {
            before: Some(before),
            ..current.clone()
        })
    });
    let rows = list
        .into_iter()
        .map(|event| {
            let id = event.id;
            let rerunnable = can_rerun(&event);
            let redeployable = can_deploy_again(&event);
            let confirming = RwSignal::new(false);
            let pinned = match &event.digest {
                Some(digest) => format!("{}@{digest}", event.repository),
                None => format!("{}:{}", event.repository, event.tag),
            };
            let run = event.execution_id.map(|execution| {
                view! {
                    <a class="text-sky-700 underline" href=format!("/executions/{execution}") data-testid="execution-link">
                        {format!("#{execution}")}
                    </a>
                }
            });
            let owner = if event.owner.is_empty() {
                "—".to_string()
            } else {
                event.owner.clone()
            };
            let image = if event.tag.is_empty() {
                event.repository.clone()
            } else {
                format!("{}:{}", event.repository, event.tag)
            };
            view! {
                <tr id=format!("event-{id}") class="target:bg-amber-50" data-event=id data-status=event.status.as_str()>
                    <td class="whitespace-nowrap text-slate-600">{format_millis(event.received_at)}</td>
                    <td>
                        <a class="text-sky-700 underline" href=address(&ActivityFilter { webhook: Some(event.webhook_id), ..ActivityFilter::default() })>{event.webhook.clone()}</a>
                        <span class="ml-1 whitespace-nowrap rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-700" data-testid="source"
                            data-source=event.source.as_str()>{event.source.label()}</span>
                    </td>
                    <td class="whitespace-nowrap font-mono text-xs">
                        {image}
                        {event.digest.clone().map(|digest| view! { <div><Digest digest /></div> })}
                    </td>
                    <td class="text-slate-600">{owner}</td>
                    <td>
                        <span class="flex flex-wrap items-center gap-1">
                            <EventStatusBadge status=event.status />
                            {run_state_view(&event)}
                        </span>
                    </td>
                    <td class="max-w-64 text-xs text-slate-600" data-testid="reason">{event.reason.clone()}</td>
                    <td class="whitespace-nowrap">{run}</td>
                    <td class="whitespace-nowrap text-right">
                        {rerunnable.then(|| view! {
                            <button type="button" class="btn-secondary" disabled=move || rerun.pending().get()
                                on:click=move |_| { rerun.dispatch(RerunEvent { id }); }>
                                "Re-run"
                            </button>
                        })}
                        {redeployable.then(|| view! {
                            <Show when=move || confirming.get() fallback=move || view! {
                                <button type="button" class="btn-secondary" on:click=move |_| confirming.set(true)>
                                    "Deploy again"
                                </button>
                            }>
                                <span class="inline-flex flex-wrap items-center justify-end gap-2 whitespace-normal text-left" role="group"
                                    aria-label="Confirm deploying again" data-testid="deploy-again-confirm">
                                    <span class="max-w-72 break-all text-xs text-slate-700">{format!("Deploy {} again?", pinned.clone())}</span>
                                    <button type="button" class="btn-primary" disabled=move || rerun.pending().get()
                                        on:click=move |_| { confirming.set(false); rerun.dispatch(RerunEvent { id }); }>
                                        "Deploy"
                                    </button>
                                    <button type="button" class="btn-link" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                </span>
                            </Show>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <ListTable testid="activity-table" columns=&["Received", "Webhook", "Repository:tag", "Owner / pusher", "Status", "Reason", "Execution", ""]>{rows}</ListTable>
        <nav class="mt-4 flex gap-3" aria-label="Pages">
            {newest.map(|href| view! { <a class="btn-secondary" href=href>"Newest"</a> })}
            {older.map(|href| view! { <a class="btn-secondary" href=href>"Older"</a> })}
        </nav>
    }
}

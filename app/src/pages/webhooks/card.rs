//! A webhook as a card: what it matches, the pipeline it runs, its last
//! event, whether Docker Hub has it, an Enable/Disable switch and (for
//! developers of its project) Edit, Regenerate URL and Delete.

use leptos::prelude::*;

use crate::functions::{DeleteWebhook, RegenerateWebhookToken, RetryWebhookSync, ToggleWebhook};
use crate::pages::widgets::{format_millis, run_state_view, ConfirmInPlace, EventStatusBadge};
use crate::webhook::{per_minute_text, DockerEvent, DockerWebhook, HubSyncState};

/// An image or tag pattern as people read it: empty matches anything.
fn pattern_text(pattern: &str) -> &str {
    if pattern.trim().is_empty() {
        "any"
    } else {
        pattern
    }
}

#[component]
pub(super) fn WebhookCard(
    hook: DockerWebhook,
    editable: bool,
    on_edit: impl Fn(Option<DockerWebhook>) + Copy + Send + Sync + 'static,
    toggle: ServerAction<ToggleWebhook>,
    delete: ServerAction<DeleteWebhook>,
    regenerate: ServerAction<RegenerateWebhookToken>,
    retry: ServerAction<RetryWebhookSync>,
) -> impl IntoView {
    let id = hook.id;
    // Shown at once; the list is fetched again after the server answered.
    let enabled = RwSignal::new(hook.enabled);
    // None, Some("delete") or Some("regenerate"): which question is asked.
    let confirming = RwSignal::new(None::<&'static str>);
    let for_edit = StoredValue::new(hook.clone());
    let heading = format!("webhook-{id}-name");
    let labelled_by = heading.clone();
    let image = format!("{}:{}", pattern_text(&hook.image), pattern_text(&hook.tag));
    let name = StoredValue::new(hook.name.clone());
    let flip = move || {
        let next = !enabled.get_untracked();
        enabled.set(next);
        toggle.dispatch(ToggleWebhook { id, enabled: next });
    };

    let last_event_view = last_event_view(hook.last_event.clone());
    let sync_view = hub_sync_view(&hook, editable, retry);

    view! {
        <article class="card flex flex-col gap-3" data-webhook=hook.name.clone() aria-labelledby=labelled_by>
            <div class="flex items-start justify-between gap-3">
                <div class="min-w-0">
                    <h2 id=heading class="truncate text-base font-semibold">{hook.name.clone()}</h2>
                    <p class="text-xs text-slate-500">{hook.project.clone()}</p>
                </div>
                <EnabledSwitch enabled name editable on_flip=flip />
            </div>
            {(!hook.description.is_empty()).then(|| view! { <p class="text-sm text-slate-600">{hook.description.clone()}</p> })}
            <dl class="grid grid-cols-[auto_1fr] gap-x-3 gap-y-2 text-sm">
                <dt class="text-slate-500">"Image"</dt>
                <dd class="font-mono text-xs leading-5 [overflow-wrap:anywhere]" data-testid="image-pattern">{image}</dd>
                <dt class="text-slate-500">"Pipeline"</dt>
                <dd>
                    <a class="text-sky-700 underline" href=format!("/pipelines/{}", hook.pipeline_id)>{hook.pipeline.clone()}</a>
                </dd>
                <dt class="text-slate-500">"Registry"</dt>
                <dd>{hook.endpoint.clone()}</dd>
                <dt class="text-slate-500">"Runs as"</dt>
                <dd>
                    {hook.run_as.clone()}
                    <span class="block text-xs text-slate-500">{format!("token {}", hook.api_token)}</span>
                </dd>
                <dt class="text-slate-500">"Limit"</dt>
                <dd data-testid="delivery-limit">{per_minute_text(hook.max_deliveries_per_minute)}</dd>
                <dt class="text-slate-500">"Last event"</dt>
                <dd>{last_event_view}</dd>
                {sync_view}
            </dl>
            <div class="mt-auto flex flex-wrap items-center gap-1 border-t border-slate-100 pt-3">
                <a class="btn-link" href=format!("/triggers/docker/activity?webhook={id}")>"Activity"</a>
                <Show when=move || editable>
                    <Show
                        when=move || confirming.get().is_some()
                        fallback=move || {
                            view! {
                                <button type="button" class="btn-link" on:click=move |_| on_edit(Some(for_edit.get_value()))>"Edit"</button>
                                <button type="button" class="btn-link" on:click=move |_| confirming.set(Some("regenerate"))>"Regenerate URL"</button>
                                <button type="button" class="btn-link text-red-700" on:click=move |_| confirming.set(Some("delete"))>"Delete"</button>
                            }
                        }
                    >
                        {move || match confirming.get() {
                            Some("delete") => view! {
                                <ConfirmInPlace
                                    question=format!("Delete {}? Its Docker Hub webhook goes too.", name.get_value())
                                    confirm="Confirm delete"
                                    on_confirm=move || { delete.dispatch(DeleteWebhook { id }); }
                                    on_close=move || confirming.set(None)
                                />
                            }
                                .into_any(),
                            _ => view! {
                                <ConfirmInPlace
                                    question="The current URL stops working at once."
                                    confirm="Regenerate"
                                    on_confirm=move || { regenerate.dispatch(RegenerateWebhookToken { id }); }
                                    on_close=move || confirming.set(None)
                                />
                            }
                                .into_any(),
                        }}
                    </Show>
                </Show>
            </div>
        </article>
    }
}

/// The Enable/Disable switch of a card, its state in words beside it.
#[component]
fn EnabledSwitch(
    enabled: RwSignal<bool>,
    name: StoredValue<String>,
    editable: bool,
    on_flip: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <button
            type="button"
            role="switch"
            class="inline-flex shrink-0 items-center gap-2 rounded-full px-1 py-1 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-700 disabled:opacity-60"
            aria-checked=move || enabled.get().to_string()
            title=move || format!("{}: click to {}", name.get_value(), if enabled.get() { "disable" } else { "enable" })
            disabled=!editable
            on:click=move |_| on_flip()
        >
            <span
                aria-hidden="true"
                class=move || {
                    if enabled.get() {
                        "relative inline-block h-5 w-9 rounded-full bg-emerald-600 transition-colors"
                    } else {
                        "relative inline-block h-5 w-9 rounded-full bg-slate-300 transition-colors"
                    }
                }
            >
                <span class=move || {
                    if enabled.get() {
                        "absolute top-0.5 left-4 h-4 w-4 rounded-full bg-white shadow transition-all"
                    } else {
                        "absolute top-0.5 left-0.5 h-4 w-4 rounded-full bg-white shadow transition-all"
                    }
                }></span>
            </span>
            <span class=move || if enabled.get() { "text-emerald-800" } else { "text-slate-600" }>
                {move || if enabled.get() { "Enabled" } else { "Disabled" }}
            </span>
        </button>
    }
}

/// The last push a webhook received, what became of it and the run it started.
fn last_event_view(last_event: Option<DockerEvent>) -> AnyView {
    match last_event {
        None => view! { <span class="text-slate-500">"No push received yet"</span> }.into_any(),
        Some(event) => {
            let run = event.execution_id.map(|execution| {
                view! {
                    <a class="text-sky-700 underline" href=format!("/executions/{execution}")>
                        {format!("Execution #{execution}")}
                    </a>
                }
            });
            view! {
                <span class="block text-xs text-slate-500">{format_millis(event.received_at)}</span>
                <span class="block font-mono text-xs [overflow-wrap:anywhere]">{format!("{}:{}", event.repository, event.tag)}</span>
                <span class="mt-1 flex flex-wrap items-center gap-1" data-testid="last-event">
                    <EventStatusBadge status=event.status />
                    {run_state_view(&event)}
                    {run}
                </span>
            }
                .into_any()
        }
    }
}

/// Whether Docker Hub has the webhook, with Retry when it could not be set
/// there; nothing for other registries.
fn hub_sync_view(
    hook: &DockerWebhook,
    editable: bool,
    retry: ServerAction<RetryWebhookSync>,
) -> Option<AnyView> {
    let id = hook.id;
    let message = hook.hub_sync.message.clone();
    match hook.hub_sync.state {
        HubSyncState::Synced => Some(
            view! {
                <dt class="text-slate-500">"Docker Hub"</dt>
                <dd data-hub-sync="synced">
                    <span class="badge badge-green"><span aria-hidden="true" class="mr-1">"✓"</span>"synced"</span>
                </dd>
            }
                .into_any(),
        ),
        HubSyncState::NotSynced => Some(
            view! {
                <dt class="text-slate-500">"Docker Hub"</dt>
                <dd data-hub-sync="not_synced">
                    <span class="badge badge-red"><span aria-hidden="true" class="mr-1">"✗"</span>"not synced"</span>
                    <span class="mt-1 block text-xs text-slate-600">{message}</span>
                    <Show when=move || editable>
                        <button type="button" class="btn-link -ml-2" disabled=move || retry.pending().get()
                            on:click=move |_| { retry.dispatch(RetryWebhookSync { id }); }>
                            {move || if retry.pending().get() { "Retrying…" } else { "Retry" }}
                        </button>
                    </Show>
                </dd>
            }
                .into_any(),
        ),
        HubSyncState::NotApplicable => None,
    }
}

//! Triggers → Docker: the webhooks that start a pipeline when an image is
//! pushed, as cards with an Enable/Disable switch, and the form that creates
//! or edits one (with a shortcut that creates the registry endpoint in place).

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;

use super::endpoints::ServerTypeSelect;
use super::widgets::{
    format_millis, last_error, project_options, Bound, EmptyState, FieldError, PageHeader,
    SelectInput, TextInput,
};
use crate::endpoint::{
    Endpoint, EndpointInput, EndpointKind, EndpointSettings, RegistryServerType,
};
use crate::error::AppError;
use crate::execution::{ExecutionStatus, Pipeline};
use crate::functions::{
    list_api_tokens, list_endpoints, list_pipelines, list_projects, list_webhooks, DeleteWebhook,
    RegenerateWebhookToken, RetryWebhookSync, SaveEndpoint, SaveWebhook, ToggleWebhook,
};
use crate::model::{Project, ProjectRole, User};
use crate::pipeline::is_docker_parameter;
use crate::webhook::{DockerEvent, DockerWebhook, DockerWebhookInput};

// ---------------------------------------------------------------------------
// Badges shared with the Activity page: the state is always written out, so
// colour is never the only cue.
// ---------------------------------------------------------------------------

fn event_look(status: &str) -> (&'static str, &'static str) {
    match status {
        "TRIGGERED" => ("badge bg-sky-100 text-sky-800", "▶"),
        "IGNORED" => ("badge bg-slate-200 text-slate-700", "–"),
        "REJECTED" => ("badge badge-red", "✗"),
        "DUPLICATE" => ("badge bg-amber-100 text-amber-900", "≡"),
        _ => ("badge", "?"),
    }
}

fn run_look(status: ExecutionStatus) -> (&'static str, &'static str) {
    match status {
        ExecutionStatus::Completed => ("badge badge-green", "✓"),
        ExecutionStatus::Failed => ("badge badge-red", "✗"),
        ExecutionStatus::Running => ("badge bg-sky-100 text-sky-800", "●"),
        ExecutionStatus::Queued => ("badge bg-slate-100 text-slate-600", "○"),
        ExecutionStatus::Waiting => ("badge bg-violet-100 text-violet-800", "⏸"),
        ExecutionStatus::Canceled => ("badge bg-amber-100 text-amber-900", "⊘"),
    }
}

/// What became of an event: TRIGGERED, IGNORED, REJECTED or DUPLICATE.
#[component]
pub fn EventStatusBadge(status: String) -> impl IntoView {
    let (class, mark) = event_look(&status);
    let marker = status.clone();
    view! {
        <span class=class data-event-status=marker>
            <span aria-hidden="true" class="mr-1">{mark}</span>
            {status}
        </span>
    }
}

/// The state of the run an event started.
#[component]
pub fn RunStatusBadge(status: ExecutionStatus) -> impl IntoView {
    let (class, mark) = run_look(status);
    view! {
        <span class=class data-execution-status=status.as_str()>
            <span aria-hidden="true" class="mr-1">{mark}</span>
            <span class="sr-only">"run "</span>
            {status.as_str()}
        </span>
    }
}

/// A run's state when the event started one; "starting" while it has none yet.
pub fn run_state_view(event: &DockerEvent) -> AnyView {
    match (event.execution_id, event.execution_status) {
        (_, Some(status)) => view! { <RunStatusBadge status /> }.into_any(),
        (Some(_), None) => {
            view! { <span class="text-xs text-slate-500">"starting…"</span> }.into_any()
        }
        (None, None) => ().into_any(),
    }
}

/// An image or tag pattern as people read it: empty matches anything.
fn pattern_text(pattern: &str) -> &str {
    if pattern.trim().is_empty() {
        "any"
    } else {
        pattern
    }
}

fn can_edit(projects: &[Project], project_id: i64, is_admin: bool) -> bool {
    is_admin
        || projects.iter().any(|project| {
            project.id == project_id
                && project
                    .my_role
                    .is_some_and(|role| role >= ProjectRole::Developer)
        })
}

/// Whether a pipeline input is filled from the Docker event rather than by the webhook.
fn from_event(pipeline: &Pipeline, name: &str) -> bool {
    pipeline.spec.inject_docker_parameters && is_docker_parameter(name)
}

/// A hook URL (with its secure token) as shown once after a create or a regeneration.
#[derive(Clone, Debug, PartialEq)]
struct Revealed {
    name: String,
    url: String,
    /// Some(true): Docker Hub has it; Some(false): it could not be set there; None: not Docker Hub.
    synced: Option<bool>,
}

/// Copies a text to the clipboard (browser only) and reports whether it worked.
fn copy_to_clipboard(text: String, copied: RwSignal<Option<bool>>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsValue;

        let clipboard = window().navigator().clipboard();
        // Missing outside secure contexts (plain http on a remote host).
        if JsValue::from(clipboard.clone()).is_undefined() {
            copied.set(Some(false));
            return;
        }
        let done = Closure::<dyn FnMut(JsValue)>::new(move |_| copied.set(Some(true)));
        let failed = Closure::<dyn FnMut(JsValue)>::new(move |_| copied.set(Some(false)));
        let _ = clipboard.write_text(&text).then2(&done, &failed);
        // Called once per click; the promise owns them from here.
        done.forget();
        failed.forget();
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (text, copied);
    }
}

// ---------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let save = ServerAction::<SaveWebhook>::new();
    let toggle = ServerAction::<ToggleWebhook>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let regenerate = ServerAction::<RegenerateWebhookToken>::new();
    let retry = ServerAction::<RetryWebhookSync>::new();
    let webhooks = Resource::new(
        move || {
            (
                save.version().get(),
                toggle.version().get(),
                delete.version().get(),
                regenerate.version().get(),
                retry.version().get(),
            )
        },
        |_| list_webhooks(),
    );
    let projects = Resource::new(|| (), |_| list_projects());
    let is_admin = use_context::<User>()
        .map(|user| user.is_admin)
        .unwrap_or(false);
    // None: no form open; Some(None): new webhook; Some(Some(w)): editing w.
    let editing = RwSignal::new(None::<Option<DockerWebhook>>);
    let revealed = RwSignal::new(None::<Revealed>);
    let reveal = move |hook: DockerWebhook| {
        if let Some(url) = hook.hook_url {
            revealed.set(Some(Revealed {
                name: hook.name,
                url,
                synced: match hook.hub_sync.state.as_str() {
                    "synced" => Some(true),
                    "not_synced" => Some(false),
                    _ => None,
                },
            }));
        }
    };
    Effect::new(move |_| {
        if let Some(Ok(hook)) = save.value().get() {
            editing.set(None);
            reveal(hook);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(hook)) = regenerate.value().get() {
            reveal(hook);
        }
    });
    let open_form = move |existing: Option<DockerWebhook>| {
        save.clear();
        editing.set(Some(existing));
    };
    // Errors of the card buttons, and what a delete could not do on Docker Hub.
    let card_error = move || {
        [
            toggle.value().get().and_then(Result::err),
            regenerate.value().get().and_then(Result::err),
            retry.value().get().and_then(Result::err),
            delete.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .map(|error| error.to_string())
        .next()
    };
    let hub_leftover = move || match delete.value().get() {
        Some(Ok(Some(reason))) => Some(reason),
        _ => None,
    };

    view! {
        <div class="flex flex-wrap items-start justify-between gap-4">
            <PageHeader
                title="Docker triggers"
                subtitle="Webhooks that run a pipeline when an image is pushed to Docker Hub or a registry. A disabled webhook records pushes without running anything."
            />
            <div class="mb-4 flex items-center gap-3">
                <a class="btn-link" href="/triggers/docker/activity">"Activity"</a>
                <button type="button" class="btn-primary" on:click=move |_| open_form(None)>
                    "New webhook for Docker"
                </button>
            </div>
        </div>
        {move || revealed.get().map(|shown| view! { <HookUrlBox shown on_close=move || revealed.set(None) /> })}
        <Transition fallback=|| ()>
            {move || {
                let projects = projects.get().and_then(Result::ok).unwrap_or_default();
                editing
                    .get()
                    .map(|existing| {
                        let editable: Vec<Project> = projects
                            .iter()
                            .filter(|project| can_edit(&projects, project.id, is_admin))
                            .cloned()
                            .collect();
                        view! {
                            <WebhookForm existing projects=editable save on_cancel=move || editing.set(None) />
                        }
                    })
            }}
        </Transition>
        {move || card_error().map(|message| view! {
            <p class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">{message}</p>
        })}
        {move || hub_leftover().map(|reason| view! {
            <p class="mb-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900" role="alert">
                {format!("The webhook is deleted, but its Docker Hub side could not be removed: {reason}. Remove it on Docker Hub by hand.")}
            </p>
        })}
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading webhooks…"</p> }>
            {move || {
                let projects = projects.get().and_then(Result::ok).unwrap_or_default();
                webhooks
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState title="No Docker webhooks yet">
                                    "First create a Docker registry endpoint on "
                                    <a class="text-sky-700 underline" href="/endpoints">"Endpoints"</a>
                                    " and a pipeline on "
                                    <a class="text-sky-700 underline" href="/pipelines">"Pipelines"</a>
                                    " (turn on “Inject Docker parameters” to get the image and tag), then choose "
                                    <strong>"New webhook for Docker"</strong>
                                    " above."
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            let cards = list
                                .into_iter()
                                .map(|hook| {
                                    let editable = can_edit(&projects, hook.project_id, is_admin);
                                    view! {
                                        <WebhookCard hook editable on_edit=open_form toggle delete regenerate retry />
                                    }
                                })
                                .collect_view();
                            view! {
                                <div class="grid gap-4 md:grid-cols-2 xl:grid-cols-3" data-testid="webhook-cards">
                                    {cards}
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// The hook URL with its secure token, shown once, with a Copy button.
#[component]
fn HookUrlBox(shown: Revealed, on_close: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let url = StoredValue::new(shown.url.clone());
    view! {
        <section class="mb-6 rounded-lg border-2 border-amber-300 bg-amber-50 p-4" aria-labelledby="hook-url-heading" data-testid="hook-url-box">
            <h2 id="hook-url-heading" class="text-base font-semibold text-amber-950">
                {format!("Hook URL of {}", shown.name)}
            </h2>
            <div class="mt-2 flex flex-wrap items-center gap-2">
                <code class="block min-w-0 flex-1 break-all rounded border border-amber-200 bg-white px-2 py-1 font-mono text-sm" data-testid="hook-url">
                    {shown.url.clone()}
                </code>
                <button type="button" class="btn-secondary" on:click=move |_| copy_to_clipboard(url.get_value(), copied)>
                    "Copy"
                </button>
                <span class="text-sm" aria-live="polite" data-testid="copy-state">
                    {move || match copied.get() {
                        Some(true) => "Copied",
                        Some(false) => "Copy failed: select the URL and copy it by hand",
                        None => "",
                    }}
                </span>
            </div>
            <p class="mt-2 text-sm text-amber-900">
                "Shown once: paste it into Docker Hub (or your registry's notification settings) if it is not synced."
            </p>
            <p class="mt-1 text-sm text-amber-900">
                {match shown.synced {
                    Some(true) => "This webhook is synced: Docker Hub already has this URL.",
                    Some(false) => "This webhook is not synced: Docker Hub refused it (see its card), so paste the URL there by hand.",
                    None => "The endpoint is not Docker Hub: add the URL to your registry's notification settings.",
                }}
            </p>
            <button type="button" class="btn-link mt-2 -ml-2" on:click=move |_| on_close()>"I have copied it"</button>
        </section>
    }
}

// ---------------------------------------------------------------------------
// A card
// ---------------------------------------------------------------------------

#[component]
fn WebhookCard(
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
    let last_event = hook.last_event.clone();
    let sync_state = hook.hub_sync.state.clone();
    let sync_message = hook.hub_sync.message.clone();
    let name = StoredValue::new(hook.name.clone());
    let flip = move |_| {
        let next = !enabled.get_untracked();
        enabled.set(next);
        toggle.dispatch(ToggleWebhook { id, enabled: next });
    };

    let last_event_view = match last_event {
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
                    <EventStatusBadge status=event.status.clone() />
                    {run_state_view(&event)}
                    {run}
                </span>
            }
                .into_any()
        }
    };

    let sync_view = match sync_state.as_str() {
        "synced" => Some(
            view! {
                <dt class="text-slate-500">"Docker Hub"</dt>
                <dd data-hub-sync="synced">
                    <span class="badge badge-green"><span aria-hidden="true" class="mr-1">"✓"</span>"synced"</span>
                </dd>
            }
                .into_any(),
        ),
        "not_synced" => Some(
            view! {
                <dt class="text-slate-500">"Docker Hub"</dt>
                <dd data-hub-sync="not_synced">
                    <span class="badge badge-red"><span aria-hidden="true" class="mr-1">"✗"</span>"not synced"</span>
                    <span class="mt-1 block text-xs text-slate-600">{sync_message}</span>
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
        _ => None,
    };

    view! {
        <article class="card flex flex-col gap-3" data-webhook=hook.name.clone() aria-labelledby=labelled_by>
            <div class="flex items-start justify-between gap-3">
                <div class="min-w-0">
                    <h2 id=heading class="truncate text-base font-semibold">{hook.name.clone()}</h2>
                    <p class="text-xs text-slate-500">{hook.project.clone()}</p>
                </div>
                <button
                    type="button"
                    role="switch"
                    class="inline-flex shrink-0 items-center gap-2 rounded-full px-1 py-1 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-700 disabled:opacity-60"
                    aria-checked=move || enabled.get().to_string()
                    title=move || format!("{}: click to {}", name.get_value(), if enabled.get() { "disable" } else { "enable" })
                    disabled=!editable
                    on:click=flip
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
                                <span class="mr-2 text-sm">{format!("Delete {}? Its Docker Hub webhook goes too.", name.get_value())}</span>
                                <button type="button" class="btn-danger" on:click=move |_| {
                                    delete.dispatch(DeleteWebhook { id });
                                    confirming.set(None);
                                }>"Confirm delete"</button>
                                <button type="button" class="btn-link" on:click=move |_| confirming.set(None)>"Keep"</button>
                            }
                                .into_any(),
                            _ => view! {
                                <span class="mr-2 text-sm">"The current URL stops working at once."</span>
                                <button type="button" class="btn-danger" on:click=move |_| {
                                    regenerate.dispatch(RegenerateWebhookToken { id });
                                    confirming.set(None);
                                }>"Regenerate"</button>
                                <button type="button" class="btn-link" on:click=move |_| confirming.set(None)>"Keep"</button>
                            }
                                .into_any(),
                        }}
                    </Show>
                </Show>
            </div>
        </article>
    }
}

// ---------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------

/// Fields the form shows an error beside; any other error goes to the banner.
fn shown_beside(field: &str) -> bool {
    matches!(
        field,
        "project"
            | "name"
            | "description"
            | "endpoint"
            | "pipeline"
            | "api_token"
            | "image"
            | "tag"
    ) || field.starts_with("inputs.")
        || field.starts_with("source_cidrs[")
}

#[component]
fn WebhookForm(
    existing: Option<DockerWebhook>,
    projects: Vec<Project>,
    save: ServerAction<SaveWebhook>,
    on_cancel: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let add_endpoint = ServerAction::<SaveEndpoint>::new();
    let endpoints = Resource::new(move || add_endpoint.version().get(), |_| list_endpoints());
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    let tokens = Resource::new(|| (), |_| list_api_tokens());

    let id = existing.as_ref().map(|hook| hook.id);
    let editing_existing = id.is_some();
    let keep_token = existing.as_ref().map(|hook| hook.api_token.clone());
    let start = existing.clone().unwrap_or_else(|| DockerWebhook {
        id: 0,
        project: String::new(),
        project_id: projects
            .first()
            .map(|project| project.id)
            .unwrap_or_default(),
        name: String::new(),
        description: String::new(),
        endpoint: String::new(),
        endpoint_id: 0,
        pipeline: String::new(),
        pipeline_id: 0,
        api_token: String::new(),
        api_token_id: 0,
        run_as: String::new(),
        image: String::new(),
        tag: String::new(),
        inputs: BTreeMap::new(),
        enabled: true,
        source_cidrs: Vec::new(),
        hub_sync: Default::default(),
        last_event: None,
        hook_url: None,
        created_at: 0,
        updated_at: 0,
    });
    let id_text = |id: i64| {
        if id == 0 {
            String::new()
        } else {
            id.to_string()
        }
    };
    let project = RwSignal::new(id_text(start.project_id));
    let name = RwSignal::new(start.name.clone());
    let description = RwSignal::new(start.description.clone());
    let endpoint = RwSignal::new(id_text(start.endpoint_id));
    let pipeline = RwSignal::new(id_text(start.pipeline_id));
    let api_token = RwSignal::new(String::new());
    let image = RwSignal::new(start.image.clone());
    let tag = RwSignal::new(start.tag.clone());
    let enabled = RwSignal::new(start.enabled);
    let cidrs = RwSignal::new(start.source_cidrs.join("\n"));
    // Values typed for the pipeline's own inputs, and those sent empty on purpose.
    let values = RwSignal::new(
        start
            .inputs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
    );
    let blanks = RwSignal::new(
        start
            .inputs
            .iter()
            .filter(|(_, value)| value.is_empty())
            .map(|(name, _)| name.clone())
            .collect::<BTreeSet<_>>(),
    );
    let creating_endpoint = RwSignal::new(false);
    // The shortcut closes; a created endpoint becomes the chosen one.
    let endpoint_done = move |created: Option<Endpoint>| {
        if let Some(created) = created {
            endpoint.set(created.id.to_string());
        }
        creating_endpoint.set(false);
    };

    let chosen_pipeline = Memo::new(move |_| {
        let wanted = pipeline.get();
        pipelines
            .get()
            .and_then(Result::ok)
            .and_then(|list| list.into_iter().find(|each| each.id.to_string() == wanted))
    });
    let input = move || {
        let mut inputs = BTreeMap::new();
        if let Some(chosen) = chosen_pipeline.get_untracked() {
            for parameter in &chosen.spec.inputs {
                if from_event(&chosen, &parameter.name) {
                    continue;
                }
                let value = values
                    .with_untracked(|values| values.get(&parameter.name).cloned())
                    .unwrap_or_default();
                if blanks.with_untracked(|blanks| blanks.contains(&parameter.name)) {
                    inputs.insert(parameter.name.clone(), String::new());
                } else if !value.is_empty() {
                    inputs.insert(parameter.name.clone(), value);
                }
            }
        }
        DockerWebhookInput {
            project: project.get_untracked(),
            name: name.get_untracked(),
            description: description.get_untracked(),
            endpoint: endpoint.get_untracked(),
            pipeline: pipeline.get_untracked(),
            api_token: api_token.get_untracked(),
            image: image.get_untracked().trim().to_string(),
            tag: tag.get_untracked().trim().to_string(),
            inputs,
            enabled: Some(enabled.get_untracked()),
            source_cidrs: cidrs
                .get_untracked()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect(),
        }
    };
    let error = last_error(move || save.value().get());
    let banner = move || {
        error
            .get()
            .filter(|error| match error {
                AppError::Invalid { field, .. } => !shown_beside(field),
                _ => true,
            })
            .map(|error| error.to_string())
    };
    let cidr_errors = move || {
        error.get().and_then(|error| match error {
            AppError::Invalid { field, message } if field.starts_with("source_cidrs[") => {
                let line = field
                    .trim_start_matches("source_cidrs[")
                    .trim_end_matches(']')
                    .parse::<usize>()
                    .map(|index| index + 1)
                    .unwrap_or(0);
                Some(format!("line {line}: {message}"))
            }
            _ => None,
        })
    };
    let cancel = on_cancel.clone();
    // Endpoints and pipelines belong to one project: choosing another clears them.
    let choose_project = Bound {
        value: project.into(),
        set: Callback::new(move |chosen| {
            project.set(chosen);
            endpoint.set(String::new());
            pipeline.set(String::new());
        }),
    };
    let no_projects = projects.is_empty();

    view! {
        <section class="card mb-8" aria-labelledby="webhook-form-heading">
            <h2 id="webhook-form-heading" class="text-base font-semibold">
                {if editing_existing { "Edit webhook for Docker" } else { "New webhook for Docker" }}
            </h2>
            <p class="mt-1 text-sm text-slate-600">
                "When the registry POSTs a push of a matching image and tag, the pipeline runs with the Docker event as input."
            </p>
            {no_projects.then(|| view! {
                <p class="mt-3 text-sm text-amber-900" role="status">
                    "You are not a developer of any project: ask for that role, or create a project on "
                    <a class="underline" href="/projects">"Projects"</a>"."
                </p>
            })}
            <form class="mt-4 grid gap-4 md:grid-cols-2" on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch(SaveWebhook { id, input: input() });
            }>
                <SelectInput id="webhook-project" label="Project" bind=choose_project
                    options=project_options(&projects) error field="project" disabled=editing_existing />
                <TextInput id="webhook-name" label="Name" bind=name error field="name" placeholder="e.g. demo_webhook" />
                <div class="md:col-span-2">
                    <TextInput id="webhook-description" label="Description" bind=description error field="description" />
                </div>

                // The registry endpoint, or a small form to create one in place.
                <div class="md:col-span-2">
                    <label class="label" for="webhook-endpoint">"Docker registry endpoint"</label>
                    <div class="flex flex-wrap items-center gap-2">
                        <select class="input max-w-md" id="webhook-endpoint"
                            on:change=move |ev| endpoint.set(event_target_value(&ev))>
                            <option value="" prop:selected=move || endpoint.get().is_empty()>"Choose an endpoint"</option>
                            <Transition fallback=|| ()>
                                {move || {
                                    let wanted = project.get();
                                    endpoints
                                        .get()
                                        .and_then(Result::ok)
                                        .unwrap_or_default()
                                        .into_iter()
                                        .filter(|each| each.kind == EndpointKind::DockerRegistry && each.project_id.to_string() == wanted)
                                        .map(|each| {
                                            let value = each.id.to_string();
                                            let current = value.clone();
                                            view! {
                                                <option value=value prop:selected=move || endpoint.get() == current>
                                                    {each.name}
                                                </option>
                                            }
                                        })
                                        .collect_view()
                                }}
                            </Transition>
                        </select>
                        <Show when=move || !creating_endpoint.get()>
                            <button type="button" class="btn-secondary" on:click=move |_| {
                                add_endpoint.clear();
                                creating_endpoint.set(true);
                            }>"Create endpoint"</button>
                        </Show>
                    </div>
                    <p class="mt-1 text-xs text-slate-500">"The registry the images are pushed to; for Docker Hub, Slipway also creates the webhook there."</p>
                    <FieldError error field="endpoint" />
                    <Show when=move || creating_endpoint.get()>
                        <EndpointShortcut
                            project
                            save=add_endpoint
                            on_done=endpoint_done
                        />
                    </Show>
                </div>

                // The pipeline and the values of its inputs.
                <div class="md:col-span-2">
                    <label class="label" for="webhook-pipeline">"Pipeline"</label>
                    <select class="input max-w-md" id="webhook-pipeline"
                        on:change=move |ev| pipeline.set(event_target_value(&ev))>
                        <option value="" prop:selected=move || pipeline.get().is_empty()>"Choose a pipeline"</option>
                        <Transition fallback=|| ()>
                            {move || {
                                let wanted = project.get();
                                pipelines
                                    .get()
                                    .and_then(Result::ok)
                                    .unwrap_or_default()
                                    .into_iter()
                                    .filter(|each| each.project_id.to_string() == wanted)
                                    .map(|each| {
                                        let value = each.id.to_string();
                                        let current = value.clone();
                                        view! {
                                            <option value=value prop:selected=move || pipeline.get() == current>
                                                {each.spec.name}
                                            </option>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </Transition>
                    </select>
                    <FieldError error field="pipeline" />
                    {move || chosen_pipeline.get().map(|chosen| view! { <PipelineInputs chosen values blanks error /> })}
                </div>

                <div class="md:col-span-2">
                    <label class="label" for="webhook-token">"API token"</label>
                    <select class="input max-w-md" id="webhook-token" aria-describedby="webhook-token-hint"
                        on:change=move |ev| api_token.set(event_target_value(&ev))>
                        <option value="" prop:selected=move || api_token.get().is_empty()>
                            {match keep_token.clone() {
                                Some(current) => format!("Keep the current token ({current})"),
                                None => "Choose a token".to_string(),
                            }}
                        </option>
                        <Transition fallback=|| ()>
                            {move || {
                                tokens
                                    .get()
                                    .and_then(Result::ok)
                                    .unwrap_or_default()
                                    .into_iter()
                                    .filter(|token| token.revoked_at.is_none())
                                    .map(|token| {
                                        let value = token.id.to_string();
                                        let current = value.clone();
                                        view! {
                                            <option value=value prop:selected=move || api_token.get() == current>
                                                {format!("{} ({}…)", token.name, token.prefix)}
                                            </option>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </Transition>
                    </select>
                    <p id="webhook-token-hint" class="mt-1 text-xs text-slate-500">
                        <Transition fallback=|| ()>
                            {move || {
                                let none = tokens
                                    .get()
                                    .and_then(Result::ok)
                                    .is_some_and(|list| list.iter().all(|token| token.revoked_at.is_some()));
                                if none {
                                    view! {
                                        <span data-testid="no-token-hint">
                                            "You have no active API token. Create one on "
                                            <a class="text-sky-700 underline" href="/settings/tokens">"API tokens"</a>
                                            ", then come back here."
                                        </span>
                                    }
                                        .into_any()
                                } else {
                                    view! { <span>"Runs started by this webhook are attributed to the token's user."</span> }.into_any()
                                }
                            }}
                        </Transition>
                    </p>
                    <FieldError error field="api_token" />
                </div>

                <TextInput id="webhook-image" label="Build image" bind=image error field="image" mono=true
                    placeholder="e.g. svendowideit/testhook"
                    hint="The repository pushed to. A glob (*) or re:regex matches several; empty matches any." />
                <TextInput id="webhook-tag" label="Tag" bind=tag error field="tag" mono=true placeholder="any tag"
                    hint="e.g. latest or v*; empty matches any tag." />
                <div>
                    // Its errors name a line, not the field: shown here, not by the input.
                    <TextInput id="webhook-cidrs" label="Allowed sources" bind=cidrs rows=3 mono=true
                        placeholder="e.g. 203.0.113.0/24"
                        hint="Addresses (CIDR) pushes may come from, one per line; empty allows any." />
                    {move || cidr_errors().map(|message| view! {
                        <p class="mt-1 text-sm text-red-700" role="alert" data-field-error="source_cidrs">{message}</p>
                    })}
                </div>
                <div class="flex items-start pt-6">
                    <label class="flex items-center gap-2 text-sm">
                        <input type="checkbox" prop:checked=move || enabled.get() on:change=move |ev| enabled.set(event_target_checked(&ev)) />
                        "Enabled (a disabled webhook records pushes without running anything)"
                    </label>
                </div>
                <div class="flex flex-wrap items-center gap-3 md:col-span-2">
                    <button type="submit" class="btn-primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                    <button type="button" class="btn-link" on:click=move |_| cancel()>"Cancel"</button>
                </div>
            </form>
            {move || banner().map(|message| view! {
                <div class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">{message}</div>
            })}
        </section>
    }
}

/// The chosen pipeline's input parameters: the own ones with editable values,
/// the Docker ones read-only because the event fills them.
#[component]
fn PipelineInputs(
    chosen: Pipeline,
    values: RwSignal<BTreeMap<String, String>>,
    blanks: RwSignal<BTreeSet<String>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let own: Vec<_> = chosen
        .spec
        .inputs
        .iter()
        .filter(|parameter| !from_event(&chosen, &parameter.name))
        .cloned()
        .collect();
    let injected: Vec<(String, String)> = if chosen.spec.inject_docker_parameters {
        chosen
            .spec
            .effective_inputs()
            .into_iter()
            .filter(|parameter| from_event(&chosen, &parameter.name))
            .map(|parameter| (parameter.name, parameter.description))
            .collect()
    } else {
        Vec::new()
    };
    let nothing = own.is_empty() && injected.is_empty();
    let own_rows = own
        .into_iter()
        .map(|parameter| {
            let field = format!("inputs.{}", parameter.name);
            let id = format!("webhook-input-{}", parameter.name);
            let key = parameter.name.clone();
            let key_for_input = key.clone();
            let key_for_blank = key.clone();
            let key_for_check = key.clone();
            let key_for_disabled = key.clone();
            let has_default = parameter.default.is_some();
            let placeholder = match &parameter.default {
                Some(default) if !default.is_empty() => format!("default: {default}"),
                Some(_) => "default: (empty)".to_string(),
                None if parameter.required => "required: no default".to_string(),
                None => "no default".to_string(),
            };
            let blank_id = format!("{id}-blank");
            view! {
                <div data-input=parameter.name.clone()>
                    <label class="label font-mono" for=id.clone()>
                        {parameter.name.clone()}
                        {parameter.required.then(|| view! { <span class="ml-1 text-xs font-normal text-slate-500">"(required)"</span> })}
                    </label>
                    <input class="input" id=id autocomplete="off" placeholder=placeholder
                        disabled=move || blanks.with(|blanks| blanks.contains(&key_for_disabled))
                        prop:value=move || values.with(|values| values.get(&key).cloned().unwrap_or_default())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            values.update(|values| {
                                values.insert(key_for_input.clone(), text);
                            });
                        } />
                    {has_default.then(|| view! {
                        <label class="mt-1 flex items-center gap-2 text-xs text-slate-600">
                            <input type="checkbox" id=blank_id
                                prop:checked=move || blanks.with(|blanks| blanks.contains(&key_for_check))
                                on:change=move |ev| {
                                    let checked = event_target_checked(&ev);
                                    blanks.update(|blanks| {
                                        if checked {
                                            blanks.insert(key_for_blank.clone());
                                        } else {
                                            blanks.remove(&key_for_blank);
                                        }
                                    });
                                } />
                            "Send it empty instead of the default"
                        </label>
                    })}
                    {(!parameter.description.is_empty()).then(|| view! {
                        <p class="mt-1 text-xs text-slate-500">{parameter.description.clone()}</p>
                    })}
                    <FieldError error field />
                </div>
            }
        })
        .collect_view();
    let injected_rows = injected
        .into_iter()
        .map(|(name, description)| {
            let id = format!("webhook-docker-{name}");
            view! {
                <div>
                    <label class="label font-mono" for=id.clone()>{name.clone()}</label>
                    <input class="input bg-slate-50 text-slate-500" id=id readonly=true value="from the Docker event" title=description />
                </div>
            }
        })
        .collect_view();
    let injected_section = (!injected_rows.is_empty()).then(|| {
        view! {
            <div class="mt-4" data-testid="injected-parameters">
                <p class="text-sm font-medium text-slate-700">"Filled from the Docker event"</p>
                <div class="mt-2 grid gap-3 md:grid-cols-3">{injected_rows}</div>
            </div>
        }
    });
    view! {
        <fieldset class="mt-3 rounded-md border border-slate-200 p-4" data-testid="pipeline-inputs">
            <legend class="px-1 text-sm font-medium text-slate-700">"Input parameters"</legend>
            {nothing.then(|| view! { <p class="text-sm text-slate-500">"This pipeline has no input parameters."</p> })}
            <p class="text-xs text-slate-500">
                "Fill in a value, or leave it empty to keep the default shown in the field."
            </p>
            <div class="mt-2 grid gap-3 md:grid-cols-2">{own_rows}</div>
            {injected_section}
        </fieldset>
    }
}

/// A small endpoint form inside the webhook form: registry fields only. It is
/// not a `<form>` (forms do not nest), so Enter is handled here.
#[component]
fn EndpointShortcut(
    project: RwSignal<String>,
    save: ServerAction<SaveEndpoint>,
    on_done: impl Fn(Option<Endpoint>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let server_type = RwSignal::new(RegistryServerType::DockerHub);
    let url = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = last_error(move || save.value().get());
    Effect::new(move |_| {
        if let Some(Ok(created)) = save.value().get() {
            save.clear();
            on_done(Some(created));
        }
    });
    let submit = move || {
        let optional = |value: String| (!value.trim().is_empty()).then_some(value);
        save.dispatch(SaveEndpoint {
            id: None,
            input: EndpointInput {
                project: project.get_untracked(),
                name: name.get_untracked(),
                description: String::new(),
                kind: Some(EndpointKind::DockerRegistry),
                url: url.get_untracked(),
                settings: EndpointSettings {
                    server_type: Some(server_type.get_untracked()),
                    username: optional(username.get_untracked()),
                    ..EndpointSettings::default()
                },
                password: optional(password.get_untracked()),
                token: None,
                client_key: None,
                kubeconfig: None,
            },
        });
    };
    let banner = move || {
        error
            .get()
            .filter(|error| {
                !matches!(error, AppError::Invalid { field, .. }
                    if matches!(field.as_str(), "name" | "url" | "username" | "password"))
            })
            .map(|error| error.to_string())
    };
    view! {
        <div
            class="mt-3 rounded-md border border-sky-200 bg-sky-50 p-4"
            role="group"
            aria-labelledby="shortcut-heading"
            data-testid="endpoint-shortcut"
            on:keydown=move |ev| {
                if ev.key() == "Enter" {
                    ev.prevent_default();
                    submit();
                }
            }
        >
            <h3 id="shortcut-heading" class="text-sm font-semibold">"New Docker registry endpoint"</h3>
            <p class="mt-1 text-xs text-slate-600">"Created in the webhook's project; the webhook form keeps what you typed."</p>
            <div class="mt-3 grid gap-3 md:grid-cols-2">
                <TextInput id="shortcut-name" label="Endpoint name" bind=name error field="name" />
                <ServerTypeSelect id="shortcut-server-type" value=server_type />
                <TextInput id="shortcut-url" label="Repository or registry URL" bind=url error field="url" />
                <TextInput id="shortcut-username" label="User name" bind=username error field="username" />
                <TextInput id="shortcut-password" label="Password" bind=password error field="password" secret=true />
            </div>
            <div class="mt-3 flex flex-wrap items-center gap-3">
                <button type="button" class="btn-primary" disabled=move || save.pending().get() on:click=move |_| submit()>
                    {move || if save.pending().get() { "Saving endpoint…" } else { "Save endpoint" }}
                </button>
                <button type="button" class="btn-link" on:click=move |_| on_done(None)>"Back to the webhook"</button>
            </div>
            {move || banner().map(|message| view! {
                <div class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">{message}</div>
            })}
        </div>
    }
}

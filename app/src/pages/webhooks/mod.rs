//! Triggers → Docker: the webhooks that start a pipeline when an image is
//! pushed, as cards with an Enable/Disable switch (`card`), and the form that
//! creates or edits one (`form`, with the pipeline's inputs and a shortcut
//! that creates the registry endpoint in place). The hook URL of a new or
//! regenerated webhook is shown once (`hook_url`).

mod card;
mod endpoint_shortcut;
mod form;
mod hook_url;
mod pipeline_inputs;
mod registry_setup;
mod tag_tester;

use leptos::prelude::*;

use super::access::{can_edit, signed_in_admin};
use super::widgets::{loaded, EmptyState, PageHeader};
use crate::functions::{
    list_projects, list_webhooks, DeleteWebhook, RegenerateWebhookToken, RetryWebhookSync,
    SaveWebhook, ToggleWebhook,
};
use crate::model::Project;
use crate::webhook::DockerWebhook;
use card::WebhookCard;
use form::WebhookForm;
use hook_url::{HookUrlBox, Revealed};

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
    let is_admin = signed_in_admin();
    // None: no form open; Some(None): new webhook; Some(Some(w)): editing w.
    let editing = RwSignal::new(None::<Option<DockerWebhook>>);
    let revealed = RwSignal::new(None::<Revealed>);
    // Only the answer to a create or a regeneration holds the URL.
    let reveal = move |hook: DockerWebhook| {
        if let Some(shown) = Revealed::of(hook) {
            revealed.set(Some(shown));
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
                let projects = loaded(projects.get());
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
                let projects = loaded(projects.get());
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

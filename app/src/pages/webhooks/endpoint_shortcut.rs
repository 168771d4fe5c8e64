//! Creating the registry endpoint from inside the webhook form, so that a
//! webhook can be set up without leaving the page.

use leptos::prelude::*;

use crate::endpoint::{
    Endpoint, EndpointInput, EndpointKind, EndpointSettings, RegistryServerType,
};
use crate::error::AppError;
use crate::functions::SaveEndpoint;
use crate::pages::endpoints::ServerTypeSelect;
use crate::pages::widgets::{last_error, ErrorBanner, TextInput};

/// A small endpoint form inside the webhook form: registry fields only. It is
/// not a `<form>` (forms do not nest), so Enter is handled here.
#[component]
pub(super) fn EndpointShortcut(
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
    // Errors about the fields shown here go beside them; any other (the
    // project, the server) goes to the banner.
    let banner = Signal::derive(move || {
        error
            .get()
            .filter(|error| {
                !matches!(error, AppError::Invalid { field, .. }
                    if matches!(field.as_str(), "name" | "url" | "username" | "password"))
            })
            .map(|error| error.to_string())
    });
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
            <ErrorBanner message=banner />
        </div>
    }
}

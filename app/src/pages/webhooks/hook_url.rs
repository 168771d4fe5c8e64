//! The hook URL of a webhook with its secure token: the server gives it
//! once, after a create or a regeneration, and the page shows it until the
//! person says they copied it.

use leptos::prelude::*;

use super::registry_setup::RegistrySetup;
use crate::pages::widgets::copy_to_clipboard;

use crate::webhook::{DockerWebhook, HubSyncState};

/// A hook URL (with its secure token) as shown once after a create or a regeneration.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Revealed {
    name: String,
    url: String,
    /// Some(true): Docker Hub has it; Some(false): it could not be set there; None: not Docker Hub.
    synced: Option<bool>,
}

impl Revealed {
    /// What to show of a saved or regenerated webhook; none when the answer
    /// holds no URL.
    pub(super) fn of(hook: DockerWebhook) -> Option<Self> {
        let url = hook.hook_url?;
        Some(Revealed {
            name: hook.name,
            url,
            synced: match hook.hub_sync.state {
                HubSyncState::Synced => Some(true),
                HubSyncState::NotSynced => Some(false),
                HubSyncState::NotApplicable => None,
            },
        })
    }
}

/// The hook URL with its secure token, shown once, with a Copy button.
#[component]
pub(super) fn HookUrlBox(
    shown: Revealed,
    on_close: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
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
                    None => "The endpoint is not Docker Hub: add the URL to your registry's notification settings, as below.",
                }}
            </p>
            {shown.synced.is_none().then(|| view! { <RegistrySetup hook_url=shown.url.clone() /> })}
            <button type="button" class="btn-link mt-2 -ml-2" on:click=move |_| on_close()>"I have copied it"</button>
        </section>
    }
}

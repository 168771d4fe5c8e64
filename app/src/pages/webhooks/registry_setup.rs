//! What to paste where, per registry, next to a freshly shown hook URL: the
//! registry receiver takes every product's own webhook, each authenticated
//! the way that product offers (the token in the URL, in an `Authorization`
//! header, or as GitHub's signing secret).

use leptos::prelude::*;

/// One value of a setup step.
#[derive(Clone, Copy)]
enum Paste {
    /// The hook URL with its `?secureToken=`.
    HookUrl,
    /// The receiver's URL without the token.
    ReceiverUrl,
    /// The secure token alone.
    Token,
    /// `Bearer ` and the token.
    BearerToken,
    /// A fixed text.
    Text(&'static str),
}

/// Where to paste what in one registry's settings.
struct Setup {
    id: &'static str,
    name: &'static str,
    /// Where in the product the webhook is made.
    place: &'static str,
    steps: &'static [(&'static str, Paste)],
}

const SETUPS: &[Setup] = &[
    Setup {
        id: "harbor",
        name: "Harbor",
        place: "Project → Webhooks → New webhook (notify type http, event \"Artifact pushed\", payload format Default or CloudEvents)",
        steps: &[("Endpoint URL", Paste::ReceiverUrl), ("Auth Header", Paste::Token)],
    },
    Setup {
        id: "ghcr",
        name: "GitHub Container Registry",
        place: "Organization or repository Settings → Webhooks → Add webhook (events: \"Packages\")",
        steps: &[
            ("Payload URL", Paste::HookUrl),
            ("Content type", Paste::Text("application/json")),
            ("Secret", Paste::Token),
        ],
    },
    Setup {
        id: "quay",
        name: "Quay",
        place: "Repository → Settings → Create Notification (when \"Push to Repository\", then \"Webhook POST\")",
        steps: &[("Webhook URL", Paste::HookUrl)],
    },
    Setup {
        id: "acr",
        name: "Azure Container Registry",
        place: "Registry → Services → Webhooks → Add (actions: push), or az acr webhook create --actions push",
        steps: &[("Service URI", Paste::HookUrl)],
    },
    Setup {
        id: "ecr",
        name: "AWS ECR (EventBridge)",
        place: "EventBridge rule {\"source\":[\"aws.ecr\"],\"detail-type\":[\"ECR Image Action\"]} → target: API destination (POST), connection with API key authorization",
        steps: &[
            ("API destination endpoint", Paste::ReceiverUrl),
            ("API key name", Paste::Text("Authorization")),
            ("API key value", Paste::Token),
        ],
    },
    Setup {
        id: "gar",
        name: "Google Artifact Registry",
        place: "Pub/Sub topic \"gcr\" in the project → push subscription",
        steps: &[("Push endpoint", Paste::HookUrl)],
    },
    Setup {
        id: "gitlab",
        name: "GitLab container registry",
        place: "Self-managed GitLab: the registry's config.yml, notifications → endpoints",
        steps: &[
            ("url", Paste::ReceiverUrl),
            ("headers → Authorization", Paste::BearerToken),
        ],
    },
    Setup {
        id: "jfrog",
        name: "JFrog Artifactory",
        place: "Administration → General → Webhooks → New (event domain Docker, \"Docker tag was pushed\")",
        steps: &[("URL", Paste::HookUrl)],
    },
    Setup {
        id: "registry",
        name: "Docker registry (distribution)",
        place: "The registry's config.yml, notifications → endpoints",
        steps: &[
            ("url", Paste::ReceiverUrl),
            ("headers → Authorization", Paste::BearerToken),
        ],
    },
];

/// The hook URL split into the receiver's URL and the token.
fn split(hook_url: &str) -> (String, String) {
    match hook_url.split_once("?secureToken=") {
        Some((receiver, token)) => (receiver.to_string(), token.to_string()),
        None => (hook_url.to_string(), String::new()),
    }
}

fn value(paste: Paste, hook_url: &str) -> String {
    let (receiver, token) = split(hook_url);
    match paste {
        Paste::HookUrl => hook_url.to_string(),
        Paste::ReceiverUrl => receiver,
        Paste::Token => token,
        Paste::BearerToken => format!("Bearer {token}"),
        Paste::Text(text) => text.to_string(),
    }
}

/// The registry chooser and its steps, for a hook URL shown once.
#[component]
pub(super) fn RegistrySetup(hook_url: String) -> impl IntoView {
    let chosen = RwSignal::new(SETUPS[0].id);
    let hook_url = StoredValue::new(hook_url);
    let steps = move || {
        let setup = SETUPS
            .iter()
            .find(|setup| setup.id == chosen.get())
            .unwrap_or(&SETUPS[0]);
        view! {
            <p class="mt-2 text-sm text-amber-950" data-testid="setup-place">{setup.place}</p>
            <dl class="mt-1 grid grid-cols-[minmax(8rem,max-content)_1fr] gap-x-4 gap-y-1 text-sm" data-testid="setup-steps">
                {setup
                    .steps
                    .iter()
                    .map(|(field, paste)| view! {
                        <dt class="text-amber-900">{*field}</dt>
                        <dd class="break-all font-mono text-xs">{value(*paste, &hook_url.get_value())}</dd>
                    })
                    .collect_view()}
            </dl>
        }
    };
    view! {
        <div class="mt-3 border-t border-amber-200 pt-3">
            <label class="label" for="setup-registry">"Your registry"</label>
            <select class="input max-w-sm" id="setup-registry"
                on:change=move |ev| {
                    let wanted = event_target_value(&ev);
                    if let Some(setup) = SETUPS.iter().find(|setup| setup.id == wanted) {
                        chosen.set(setup.id);
                    }
                }>
                {SETUPS
                    .iter()
                    .map(|setup| view! {
                        <option value=setup.id prop:selected=move || chosen.get() == setup.id>{setup.name}</option>
                    })
                    .collect_view()}
            </select>
            {steps}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_pastes_the_part_of_the_hook_url_it_names() {
        let hook = "https://slipway.example/pipelines/api/registry-webhooks?secureToken=T0K";
        assert_eq!(value(Paste::HookUrl, hook), hook);
        assert_eq!(
            value(Paste::ReceiverUrl, hook),
            "https://slipway.example/pipelines/api/registry-webhooks"
        );
        assert_eq!(value(Paste::Token, hook), "T0K");
        assert_eq!(value(Paste::BearerToken, hook), "Bearer T0K");
        assert!(SETUPS.iter().all(|setup| !setup.steps.is_empty()));
    }
}

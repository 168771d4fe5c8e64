//! API tokens of the signed-in user: for `Authorization: Bearer` on `/api/v1`.

use leptos::prelude::*;

use super::widgets::{
    format_millis, last_error, now_millis, EmptyState, FormError, FormInput, ListTable, PageHeader,
};
use crate::functions::{list_api_tokens, CreateApiToken, RevokeApiToken};
use crate::model::ApiTokenInfo;

/// The expiries offered in the form: a token that lives for a while is the
/// safer default; "never" stays possible for long-lived automation.
const EXPIRY_CHOICES: &[(&str, &str)] = &[
    ("7", "in 7 days"),
    ("30", "in 30 days"),
    ("90", "in 90 days"),
    ("365", "in a year"),
    ("never", "never"),
];
const DEFAULT_EXPIRY: &str = "90";

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    let create_error = last_error(move || create.value().get());
    let new_token = move || match create.value().get() {
        Some(Ok(created)) => Some(created.token),
        _ => None,
    };
    view! {
        <PageHeader
            title="API tokens"
            subtitle="Tokens let scripts and CI call the /api/v1 JSON API as you. A token is shown once; keep it somewhere safe."
        />
        <section class="card mb-8" aria-labelledby="new-token-heading">
            <h2 id="new-token-heading" class="text-base font-semibold">"New token"</h2>
            <ActionForm action=create attr:class="mt-4 flex flex-wrap items-start gap-4">
                <div class="min-w-64 flex-1">
                    <FormInput id="token-name" label="Name" name="name" error=create_error placeholder="e.g. ci-deployer" />
                </div>
                <div>
                    <label class="label" for="token-expires">"Expires"</label>
                    <select class="input" id="token-expires" name="expires">
                        {EXPIRY_CHOICES
                            .iter()
                            .map(|(value, label)| {
                                view! { <option value=*value selected=*value == DEFAULT_EXPIRY>{*label}</option> }
                            })
                            .collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn-primary md:mt-6">"Create token"</button>
            </ActionForm>
            <FormError error=create_error />
            {move || {
                new_token()
                    .map(|token| {
                        view! {
                            <div class="mt-4 rounded-md border border-emerald-200 bg-emerald-50 p-4" role="status">
                                <p class="text-sm font-medium text-emerald-900">
                                    "Copy this token now. It will not be shown again."
                                </p>
                                <code class="mt-2 block break-all rounded bg-white px-2 py-1 font-mono text-sm" data-testid="new-token">
                                    {token}
                                </code>
                            </div>
                        }
                    })
            }}
        </section>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading tokens…"</p> }>
            {move || {
                tokens
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState title="No API tokens">
                                    "Create one above to use the /api/v1 API from a script."
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) => view! { <TokenTable list revoke /> }.into_any(),
                        Err(error) => {
                            view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn TokenTable(list: Vec<ApiTokenInfo>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    view! {
        <ListTable columns=&["Name", "Token", "Created", "Last used", "Expires", "State", ""]>
            {list
                .into_iter()
                .map(|token| {
                    let id = token.id;
                    let revoked = token.revoked_at.is_some();
                    let expired = !revoked && !token.is_active_at(now_millis());
                    let name = token.name.clone();
                    view! {
                        <tr data-token=name>
                            <td class="font-medium">{token.name}</td>
                            <td class="font-mono text-sm text-slate-600">{format!("{}…", token.prefix)}</td>
                            <td class="whitespace-nowrap text-slate-600">{format_millis(token.created_at)}</td>
                            <td class="whitespace-nowrap text-slate-600">
                                {token.last_used_at.map(format_millis).unwrap_or_else(|| "never".into())}
                            </td>
                            <td class="whitespace-nowrap text-slate-600">
                                {token.expires_at.map(format_millis).unwrap_or_else(|| "never".into())}
                            </td>
                            <td>
                                {if revoked {
                                    view! { <span class="badge badge-red">"revoked"</span> }.into_any()
                                } else if expired {
                                    view! { <span class="badge badge-amber">"expired"</span> }.into_any()
                                } else {
                                    view! { <span class="badge badge-green">"active"</span> }.into_any()
                                }}
                            </td>
                            <td class="text-right">
                                <Show when=move || !revoked>
                                    <button
                                        type="button"
                                        class="btn-link text-red-700"
                                        on:click=move |_| {
                                            revoke.dispatch(RevokeApiToken { id });
                                        }
                                    >
                                        "Revoke"
                                    </button>
                                </Show>
                            </td>
                        </tr>
                    }
                })
                .collect_view()}
        </ListTable>
    }
}

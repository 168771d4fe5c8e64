//! The signed-in user's own account: their password and their sessions.

use leptos::html;
use leptos::prelude::*;

use super::widgets::{last_error, FormError, FormInput, PageHeader};
use crate::functions::{ChangePassword, SignOutEverywhere};
use crate::model::{SESSION_IDLE_HOURS, SESSION_LIFETIME_HOURS};

#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <PageHeader
            title="Your account"
            subtitle="Your password and where you are signed in. API tokens have their own page."
        />
        <PasswordSection />
        <SessionsSection />
    }
}

#[component]
fn PasswordSection() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let error = last_error(move || change.value().get());
    let changed = move || matches!(change.value().get(), Some(Ok(())));
    let form = NodeRef::<html::Form>::new();
    // The passwords typed do not stay on the page once they are taken.
    Effect::new(move |_| {
        if changed() {
            if let Some(form) = form.get() {
                form.reset();
            }
        }
    });
    view! {
        <section class="card mb-8" aria-labelledby="password-heading">
            <h2 id="password-heading" class="text-base font-semibold">"Password"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "Changing it signs you out in every other browser; this one stays signed in."
            </p>
            <ActionForm action=change node_ref=form attr:class="mt-4 grid gap-4 md:grid-cols-[1fr_1fr_auto] md:items-start">
                <FormInput
                    id="current-password"
                    label="Current password"
                    name="current_password"
                    kind="password"
                    autocomplete="current-password"
                    error
                    required=true
                />
                <FormInput
                    id="new-password"
                    label="New password"
                    name="new_password"
                    kind="password"
                    autocomplete="new-password"
                    error
                    required=true
                />
                <button type="submit" class="btn-primary md:mt-6" disabled=move || change.pending().get()>
                    "Change password"
                </button>
            </ActionForm>
            <FormError error />
            <Show when=changed>
                <p class="mt-3 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900" role="status">
                    "Password changed. Every other session was signed out."
                </p>
            </Show>
        </section>
    }
}

#[component]
fn SessionsSection() -> impl IntoView {
    let sign_out_everywhere = ServerAction::<SignOutEverywhere>::new();
    let error = last_error(move || sign_out_everywhere.value().get());
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_out_everywhere.value().get() {
            // This session ended too: a full load drops what the old session cached.
            let _ = window().location().set_href("/login");
        }
    });
    view! {
        <section class="card" aria-labelledby="sessions-heading">
            <h2 id="sessions-heading" class="text-base font-semibold">"Sessions"</h2>
            <p class="mt-1 text-sm text-slate-600">
                {format!(
                    "A session ends after {SESSION_IDLE_HOURS} hours without use, and {} days after signing in. ",
                    SESSION_LIFETIME_HOURS / 24
                )}
                "Signing out everywhere ends all of yours now, this one included (for a lost "
                "laptop or a shared computer). API tokens keep working; revoke them on the API tokens page."
            </p>
            <ActionForm action=sign_out_everywhere attr:class="mt-4">
                <button type="submit" class="btn-danger" disabled=move || sign_out_everywhere.pending().get()>
                    "Sign out everywhere"
                </button>
            </ActionForm>
            <FormError error />
        </section>
    }
}

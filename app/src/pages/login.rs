use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::widgets::{last_error, FormError, FormInput};
use crate::functions::SignIn;

#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = last_error(move || sign_in.value().get());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_in.value().get() {
            navigate("/projects", Default::default());
        }
    });
    view! {
        <main class="flex min-h-screen items-center justify-center px-4">
            <div class="w-full max-w-sm rounded-xl border border-slate-200 bg-white p-8 shadow-sm">
                <h1 class="text-2xl font-semibold tracking-tight">
                    <span aria-hidden="true" class="mr-2 inline-flex h-7 w-7 items-center justify-center rounded-md bg-sky-600 align-middle text-sm font-bold text-white">"S"</span>
                    "Sign in to Slipway"
                </h1>
                <p class="mt-1 text-sm text-slate-600">
                    "Continuous delivery from registry push to cluster."
                </p>
                <ActionForm action=sign_in attr:class="mt-6 space-y-4">
                    <FormInput id="username" label="User name" name="username" autocomplete="username" required=true />
                    <FormInput
                        id="password"
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="current-password"
                        required=true
                    />
                    <FormError error />
                    <button type="submit" class="btn-primary w-full" disabled=move || sign_in.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}

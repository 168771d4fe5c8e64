//! The frame of every signed-in page: navigation to the product's areas,
//! the user and sign-out. Visitors without a session are sent to sign in.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::use_location;

use crate::functions::{may_read_audit, waiting_approvals, whoami, SignOut};
use crate::model::{PageRequestUser, User};

#[component]
pub fn Layout() -> impl IntoView {
    // The server found the user before rendering (its session check runs on
    // every page request) and sends it with the page, so the page is built
    // once, right away, on both sides. Building it inside a `<Suspense>` that
    // waits for the user rebuilt it on the server as the wait resolved: every
    // page's data was fetched two or three times, and the browser hydrated
    // HTML from the last build with data from the first.
    let rendered_for = SharedValue::new(|| use_context::<PageRequestUser>().map(|found| found.0));
    match rendered_for.into_inner() {
        Some(user) => view! { <SignedIn user /> }.into_any(),
        // In the browser after a client-side navigation (from signing in):
        // no page came from the server, so the user is asked for.
        None => view! { <FetchUser /> }.into_any(),
    }
}

#[component]
fn FetchUser() -> impl IntoView {
    let user = Resource::new(|| (), |_| whoami());
    view! {
        <Suspense fallback=|| view! { <p class="p-8 text-slate-500">"Loading…"</p> }>
            {move || {
                user.get()
                    .map(|answer| match answer {
                        Ok(Some(user)) => view! { <SignedIn user /> }.into_any(),
                        Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                        Err(error) => {
                            view! {
                                <p class="p-8 text-red-700" role="alert">{error.to_string()}</p>
                            }
                                .into_any()
                        }
                    })
            }}
        </Suspense>
    }
}

#[component]
fn SignedIn(user: User) -> impl IntoView {
    // Pages use it to show or hide what the user's roles allow.
    provide_context(user.clone());
    let sign_out = ServerAction::<SignOut>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            // A full load drops every cached resource of the old session.
            let _ = window().location().set_href("/login");
        }
    });
    // Global admins and project administrators read the audit trail.
    let audit_allowed = Resource::new(|| (), |_| may_read_audit());
    let role = if user.is_admin {
        "administrator"
    } else {
        "member"
    };
    view! {
        <div class="min-h-screen md:flex">
            <aside class="bg-slate-900 text-slate-100 md:w-60 md:shrink-0">
                <div class="flex items-center justify-between px-5 py-4">
                    <a href="/projects" class="text-lg font-semibold tracking-tight">
                        <span aria-hidden="true" class="mr-2 inline-flex h-7 w-7 items-center justify-center rounded-md bg-sky-600 align-middle text-sm font-bold text-white">"S"</span>
                        "Slipway"
                    </a>
                </div>
                <nav aria-label="Main" class="flex flex-wrap gap-1 px-3 pb-3 md:flex-col">
                    <NavLink href="/projects" label="Projects" />
                    <NavLink href="/endpoints" label="Endpoints" />
                    <NavLink href="/pipelines" label="Pipelines" />
                    <NavLink href="/executions" label="Executions" />
                    <WaitingApprovals />
                    <p class="mt-3 hidden px-3 text-xs font-semibold uppercase tracking-wider text-slate-400 md:block">
                        "Triggers"
                    </p>
                    <NavLink href="/triggers/docker" label="Docker" />
                    <NavLink href="/triggers/docker/activity" label="Docker activity" />
                    <p class="mt-3 hidden px-3 text-xs font-semibold uppercase tracking-wider text-slate-400 md:block">
                        "Settings"
                    </p>
                    <NavLink href="/settings/account" label="Your account" />
                    <NavLink href="/settings/tokens" label="API tokens" />
                    {user.is_admin.then(|| view! { <NavLink href="/settings/users" label="Users" /> })}
                    {user.is_admin.then(|| view! { <NavLink href="/settings/status" label="Server status" /> })}
                    <Transition fallback=|| ()>
                        {move || {
                            matches!(audit_allowed.get(), Some(Ok(true)))
                                .then(|| view! { <NavLink href="/audit" label="Audit" /> })
                        }}
                    </Transition>
                </nav>
            </aside>
            <div class="flex min-w-0 flex-1 flex-col">
                <header class="flex items-center justify-end gap-4 border-b border-slate-200 bg-white px-6 py-3 text-sm">
                    <span data-testid="current-user">
                        <span class="font-medium">{user.username.clone()}</span>
                        <span class="text-slate-500">{format!(" · {role}")}</span>
                    </span>
                    <ActionForm action=sign_out>
                        <button type="submit" class="btn-secondary">"Sign out"</button>
                    </ActionForm>
                </header>
                <main class="mx-auto w-full max-w-6xl flex-1 px-6 py-8">
                    <Outlet />
                </main>
            </div>
        </div>
    }
}

/// How many approvals wait for the signed-in user, linking to the waiting
/// runs; nothing when none does. Counted again on every navigation and
/// every [`APPROVALS_RECOUNT_MS`].
#[component]
fn WaitingApprovals() -> impl IntoView {
    let location = use_location();
    let count = RwSignal::new(0usize);
    let recount = move || {
        leptos::task::spawn_local(async move {
            if let Ok(waiting) = waiting_approvals().await {
                count.set(waiting.len());
            }
        })
    };
    // Counted in the browser only (effects do not run on the server): a
    // page's server render neither waits for this nor holds its query.
    Effect::new(move |_| {
        let _ = location.pathname.get();
        recount();
    });
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            recount,
            std::time::Duration::from_millis(APPROVALS_RECOUNT_MS),
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    });
    move || {
        let count = count.get();
        let label = if count == 1 {
            "1 approval waits for you".to_string()
        } else {
            format!("{count} approvals wait for you")
        };
        (count > 0).then(|| {
            view! {
                <a
                    href="/executions?status=WAITING"
                    class="nav-link flex items-center justify-between text-violet-200 hover:bg-slate-800 hover:text-white"
                    data-testid="approvals-waiting"
                    aria-label=label
                >
                    "Approvals"
                    <span class="ml-2 rounded-full bg-violet-500 px-2 text-xs font-semibold text-white">{count}</span>
                </a>
            }
        })
    }
}

/// How often the navigation counts waiting approvals again.
const APPROVALS_RECOUNT_MS: u64 = 30_000;

#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    let location = use_location();
    // A section stays highlighted on its sub-pages (`/pipelines/5` under Pipelines),
    // but "Docker" does not light up on "Docker activity".
    let current = move || {
        let path = location.pathname.get();
        path == href || (path.starts_with(&format!("{href}/")) && !path.ends_with("/activity"))
    };
    view! {
        <A
            href=href
            attr:class=move || {
                if current() {
                    "nav-link bg-slate-700 text-white"
                } else {
                    "nav-link text-slate-300 hover:bg-slate-800 hover:text-white"
                }
            }
        >
            {label}
        </A>
    }
}

//! Slipway's user interface and the shared domain types.
//!
//! Compiled twice: with `hydrate` to wasm for the browser, with `ssr` natively
//! for the server (which also gets the [`backend`] port its server functions call).

#![recursion_limit = "512"]

pub mod approval;
pub mod audit;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod endpoint;
pub mod error;
pub mod execution;
pub mod expression;
pub mod functions;
pub mod live;
pub mod model;
mod pages;
pub mod pipeline;
pub mod redact;
pub mod status;
pub mod webhook;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;
use leptos_router::Lazy;

use pages::layout::Layout;
use pages::lazy::{
    AccountRoute, ActivityRoute, AuditRoute, EndpointsRoute, ExecutionRoute, ExecutionsRoute,
    MembersRoute, PipelineEditorRoute, PipelinesRoute, ProjectsRoute, StatusRoute, TokensRoute,
    UsersRoute, WebhooksRoute,
};
use pages::login::LoginPage;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // The sidebar's mark; without a link browsers ask for /favicon.ico, which is not there.
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Runs only in the browser: tells tests (and people) the page is interactive.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/slipway.css" />
        <Title text="Slipway" />
        <Router>
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/login") view=LoginPage />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=|| view! { <Redirect path="/projects" /> } />
                    <Route path=path!("projects") view={Lazy::<ProjectsRoute>::new()} />
                    <Route path=path!("endpoints") view={Lazy::<EndpointsRoute>::new()} />
                    <Route path=path!("projects/:id/members") view={Lazy::<MembersRoute>::new()} />
                    <Route path=path!("settings/users") view={Lazy::<UsersRoute>::new()} />
                    <Route path=path!("pipelines") view={Lazy::<PipelinesRoute>::new()} />
                    <Route path=path!("pipelines/new") view={Lazy::<PipelineEditorRoute>::new()} />
                    <Route path=path!("pipelines/:id") view={Lazy::<PipelineEditorRoute>::new()} />
                    <Route path=path!("executions") view={Lazy::<ExecutionsRoute>::new()} />
                    <Route path=path!("executions/:id") view={Lazy::<ExecutionRoute>::new()} />
                    <Route path=path!("triggers/docker") view={Lazy::<WebhooksRoute>::new()} />
                    <Route path=path!("triggers/docker/activity") view={Lazy::<ActivityRoute>::new()} />
                    <Route path=path!("settings/tokens") view={Lazy::<TokensRoute>::new()} />
                    <Route path=path!("audit") view={Lazy::<AuditRoute>::new()} />
                    <Route path=path!("settings/status") view={Lazy::<StatusRoute>::new()} />
                    <Route path=path!("settings/account") view={Lazy::<AccountRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="mx-auto max-w-lg p-10 text-center">
            <h1 class="text-2xl font-semibold">"Page not found"</h1>
            <p class="mt-2 text-slate-600">"There is nothing at this address."</p>
            <a class="btn-primary mt-6 inline-block" href="/projects">"Go to projects"</a>
        </main>
    }
}

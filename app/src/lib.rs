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

use pages::account::AccountPage;
use pages::audit::AuditPage;
use pages::endpoints::EndpointsPage;
use pages::executions::{ExecutionPage, ExecutionsPage};
use pages::layout::Layout;
use pages::login::LoginPage;
use pages::members::{MembersPage, UsersPage};
use pages::pipelines::{PipelineEditorPage, PipelinesPage};
use pages::projects::ProjectsPage;
use pages::status::StatusPage;
use pages::tokens::TokensPage;
use pages::{activity::ActivityPage, webhooks::WebhooksPage};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
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
                    <Route path=path!("projects") view=ProjectsPage />
                    <Route path=path!("endpoints") view=EndpointsPage />
                    <Route path=path!("projects/:id/members") view=MembersPage />
                    <Route path=path!("settings/users") view=UsersPage />
                    <Route path=path!("pipelines") view=PipelinesPage />
                    <Route path=path!("pipelines/new") view=PipelineEditorPage />
                    <Route path=path!("pipelines/:id") view=PipelineEditorPage />
                    <Route path=path!("executions") view=ExecutionsPage />
                    <Route path=path!("executions/:id") view=ExecutionPage />
                    <Route path=path!("triggers/docker") view=WebhooksPage />
                    <Route path=path!("triggers/docker/activity") view=ActivityPage />
                    <Route path=path!("settings/tokens") view=TokensPage />
                    <Route path=path!("audit") view=AuditPage />
                    <Route path=path!("settings/status") view=StatusPage />
                    <Route path=path!("settings/account") view=AccountPage />
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

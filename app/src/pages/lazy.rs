//! The signed-in pages, loaded in the browser only as they are needed.
//!
//! Built with `cargo leptos build --split`, every function marked `#[lazy]`
//! goes to a wasm module of its own, fetched the first time a route calls it
//! (and named in the page's `modulepreload` links when the server renders
//! that route). The pages are grouped by what people open together: one
//! module per group, not per page, so a build optimises a few modules and a
//! visit fetches a few files. What every page uses (the framework, the layout,
//! the widgets) stays in the main module.

use leptos::prelude::*;
use leptos_router::LazyRoute;

use super::account::AccountPage;
use super::activity::ActivityPage;
use super::audit::AuditPage;
use super::endpoints::EndpointsPage;
use super::executions::{ExecutionPage, ExecutionsPage};
use super::members::{MembersPage, UsersPage};
use super::pipelines::{PipelineEditorPage, PipelinesPage};
use super::projects::ProjectsPage;
use super::status::StatusPage;
use super::tokens::TokensPage;
use super::webhooks::WebhooksPage;

/// The Executions list, where people land most.
#[leptos::lazy]
fn run_list() -> AnyView {
    view! { <ExecutionsPage /> }.into_any()
}

/// A run as it happens: stages, tasks, logs, approvals.
#[leptos::lazy]
fn run_view() -> AnyView {
    view! { <ExecutionPage /> }.into_any()
}

/// Pipelines and their editor.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Pipelines {
    List,
    Editor,
}

#[leptos::lazy]
fn pipelines(page: Pipelines) -> AnyView {
    match page {
        Pipelines::List => view! { <PipelinesPage /> }.into_any(),
        Pipelines::Editor => view! { <PipelineEditorPage /> }.into_any(),
    }
}

/// The Docker trigger: webhooks and what they received.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Triggers {
    Webhooks,
    Activity,
}

#[leptos::lazy]
fn triggers(page: Triggers) -> AnyView {
    match page {
        Triggers::Webhooks => view! { <WebhooksPage /> }.into_any(),
        Triggers::Activity => view! { <ActivityPage /> }.into_any(),
    }
}

/// Projects, their members and endpoints, and the settings.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Administration {
    Projects,
    Endpoints,
    Members,
    Users,
    Tokens,
    Audit,
    Status,
    Account,
}

#[leptos::lazy]
fn administration(page: Administration) -> AnyView {
    match page {
        Administration::Projects => view! { <ProjectsPage /> }.into_any(),
        Administration::Endpoints => view! { <EndpointsPage /> }.into_any(),
        Administration::Members => view! { <MembersPage /> }.into_any(),
        Administration::Users => view! { <UsersPage /> }.into_any(),
        Administration::Tokens => view! { <TokensPage /> }.into_any(),
        Administration::Audit => view! { <AuditPage /> }.into_any(),
        Administration::Status => view! { <StatusPage /> }.into_any(),
        Administration::Account => view! { <AccountPage /> }.into_any(),
    }
}

/// One route type per page (the router names a lazy route by its type),
/// each loading its group's module and showing its page.
///
/// `preload` fetches the group's module before the router hydrates a page
/// the server rendered: the page must be built at once, as the server built
/// it, or hydration finds the page's HTML where it expects the marker of a
/// view still loading.
macro_rules! lazy_pages {
    ($($route:ident => $group:ident($($page:expr)?), $preload:ident;)*) => {
        $(
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    Self
                }

                async fn view(_: Self) -> AnyView {
                    $group($($page)?).await
                }

                async fn preload() {
                    #[cfg(feature = "hydrate")]
                    $preload().await;
                }
            }
        )*
    };
}

lazy_pages! {
    ExecutionsRoute => run_list(), __preload_run_list;
    ExecutionRoute => run_view(), __preload_run_view;
    PipelinesRoute => pipelines(Pipelines::List), __preload_pipelines;
    PipelineEditorRoute => pipelines(Pipelines::Editor), __preload_pipelines;
    WebhooksRoute => triggers(Triggers::Webhooks), __preload_triggers;
    ActivityRoute => triggers(Triggers::Activity), __preload_triggers;
    ProjectsRoute => administration(Administration::Projects), __preload_administration;
    EndpointsRoute => administration(Administration::Endpoints), __preload_administration;
    MembersRoute => administration(Administration::Members), __preload_administration;
    UsersRoute => administration(Administration::Users), __preload_administration;
    TokensRoute => administration(Administration::Tokens), __preload_administration;
    AuditRoute => administration(Administration::Audit), __preload_administration;
    StatusRoute => administration(Administration::Status), __preload_administration;
    AccountRoute => administration(Administration::Account), __preload_administration;
}

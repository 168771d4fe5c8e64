//! One page, the least a list of runs needs: rows from a server function, a filter
//! that fetches them again, and live rows from an EventSource. Built hydrated under the
//! router (`router`) or as an island (`islands`), to measure each architecture's floor.
#![recursion_limit = "512"]
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Run {
    pub id: i64,
    pub pipeline: String,
    pub status: String,
    pub started: String,
    pub inputs: Vec<(String, String)>,
}

#[server(endpoint = "runs")]
pub async fn list_runs(status: Option<String>) -> Result<Vec<Run>, ServerFnError> {
    let _ = status;
    Ok(Vec::new())
}

fn follow_live_runs(set_runs: WriteSignal<Vec<Run>>) {
    Effect::new(move |_| {
        let Ok(source) = web_sys::EventSource::new("/events") else {
            return;
        };
        let on_message = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let parsed = event
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str::<Run>(&text).ok());
                if let Some(run) = parsed {
                    set_runs.update(|runs| runs.insert(0, run));
                }
            },
        );
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
    });
}

fn runs_table(runs: ReadSignal<Vec<Run>>, set_runs: WriteSignal<Vec<Run>>) -> impl IntoView {
    let status = RwSignal::new(String::new());
    let refresh = Action::new(move |status: &String| list_runs(Some(status.clone())));
    Effect::new(move |_| {
        if let Some(Ok(fresh)) = refresh.value().get() {
            set_runs.set(fresh);
        }
    });
    follow_live_runs(set_runs);
    view! {
        <input on:input=move |event| status.set(event_target_value(&event)) />
        <button on:click=move |_| {
            refresh.dispatch(status.get());
        }>"Filter"</button>
        <table>
            <For each=move || runs.get() key=|run| run.id let:run>
                <tr>
                    <td>{run.id}</td>
                    <td>{run.pipeline.clone()}</td>
                    <td class="px-2 text-sm">{run.status.clone()}</td>
                    <td>{run.started.clone()}</td>
                </tr>
            </For>
        </table>
    }
}

#[cfg(feature = "islands")]
#[island]
pub fn RunList(initial: Vec<Run>) -> impl IntoView {
    let (runs, set_runs) = signal(initial);
    runs_table(runs, set_runs)
}

#[cfg(feature = "router")]
#[component]
pub fn RunList() -> impl IntoView {
    use leptos_router::hooks::use_query_map;
    let query = use_query_map();
    let (runs, set_runs) = signal(Vec::<Run>::new());
    let first = Resource::new(move || query.read().get("status"), list_runs);
    view! {
        <Suspense fallback=|| "Loading">
            {move || first.get().map(|result| if let Ok(found) = result { set_runs.set(found) })}
        </Suspense>
        {runs_table(runs, set_runs)}
    }
}

#[cfg(feature = "router")]
#[component]
pub fn App() -> impl IntoView {
    use leptos_router::components::{Route, Router, Routes, A};
    use leptos_router::path;
    view! {
        <Router>
            <nav>
                <A href="/executions">"Executions"</A>
            </nav>
            <Routes fallback=|| "Not found">
                <Route path=path!("/executions") view=RunList />
            </Routes>
        </Router>
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    #[cfg(feature = "islands")]
    leptos::mount::hydrate_islands();
    #[cfg(feature = "router")]
    leptos::mount::hydrate_body(App);
}

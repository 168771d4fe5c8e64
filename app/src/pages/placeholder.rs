use leptos::prelude::*;

/// An honest page for an area that a later release fills: says what will be
/// here and that it does not work yet.
#[component]
pub fn NotYet(area: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <section>
            <h1 class="text-2xl font-semibold tracking-tight">{area}</h1>
            <div class="mt-6 rounded-lg border border-amber-200 bg-amber-50 p-6" role="status">
                <p class="font-medium text-amber-900">"Not available yet"</p>
                <p class="mt-1 text-sm text-amber-800">
                    {format!("This area will hold {}", what.to_lowercase())}
                </p>
                <p class="mt-1 text-sm text-amber-800">
                    "Nothing here works yet; projects, endpoints and API tokens do."
                </p>
            </div>
        </section>
    }
}

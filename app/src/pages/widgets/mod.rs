//! Small pieces every page uses: banners, empty states, dates, (in `form`)
//! the labelled form fields and (in `badges`) the badges of run, task and
//! event states.

mod badges;
mod digest;
mod form;

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::NavigateOptions;

use crate::error::AppError;
use crate::model::Project;

pub use badges::{
    run_state_view, AuditOutcomeBadge, EventStatusBadge, ExecutionStatusBadge, TaskStatusBadge,
};
pub use digest::{copy_to_clipboard, Digest};
pub use form::{
    enum_options, static_options, Bound, CheckInput, FieldError, FormInput, SelectInput, TextInput,
};

/// The route's `:id` as a number; none where the route has no id
/// (`/pipelines/new`) or one that is not a number.
pub fn route_id() -> Memo<Option<i64>> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("id").and_then(|id| id.parse().ok()))
}

/// An address for event handlers to go to: set it, and the router navigates
/// there, keeping the scroll position (a filter changed, a page turned). The
/// navigation runs in an effect because the router's navigate function is not
/// `Send`: holding it in a local `StoredValue` broke the server render.
pub fn navigation_target() -> RwSignal<Option<String>> {
    let navigate = use_navigate();
    let target = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(address) = target.get() {
            navigate(
                &address,
                NavigateOptions {
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    });
    target
}

/// The error of the last submission of a form, if any.
pub fn last_error<T>(
    value: impl Fn() -> Option<Result<T, AppError>> + Send + Sync + 'static,
) -> Signal<Option<AppError>> {
    Signal::derive(move || match value() {
        Some(Err(error)) => Some(error),
        _ => None,
    })
}

/// The list a resource has loaded: empty while it loads, and when loading
/// failed (the page shows that error elsewhere, or the list is only a
/// choice among others).
pub fn loaded<T, E>(answer: Option<Result<Vec<T>, E>>) -> Vec<T> {
    answer.and_then(Result::ok).unwrap_or_default()
}

/// The options of a select of projects: their ids, named.
pub fn project_options(projects: &[Project]) -> Vec<(String, String)> {
    projects
        .iter()
        .map(|project| (project.id.to_string(), project.name.clone()))
        .collect()
}

/// A banner for errors that are not about one field.
#[component]
pub fn FormError(error: Signal<Option<AppError>>) -> impl IntoView {
    let message = Signal::derive(move || {
        error
            .get()
            .filter(|error| !matches!(error, AppError::Invalid { .. }))
            .map(|error| error.to_string())
    });
    view! { <ErrorBanner message /> }
}

/// A red banner under a form for a message about the whole form (forms that
/// show some field errors in the banner pick the message themselves);
/// nothing while there is none.
#[component]
pub fn ErrorBanner(message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message.get().map(|message| {
            view! {
                <div class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">
                    {message}
                </div>
            }
        })
    }
}

/// The question asked in place of a row's buttons before a destructive
/// action: `confirm` does it, Keep does not; either way `on_close` puts the
/// buttons back.
#[component]
pub fn ConfirmInPlace(
    #[prop(into)] question: String,
    confirm: &'static str,
    on_confirm: impl Fn() + Send + Sync + 'static,
    on_close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <span class="mr-2 text-sm">{question}</span>
        <button
            type="button"
            class="btn-danger"
            on:click=move |_| {
                on_confirm();
                on_close();
            }
        >
            {confirm}
        </button>
        <button type="button" class="btn-link" on:click=move |_| on_close()>"Keep"</button>
    }
}

/// What a page shows when a list is empty: what it is for and what to do next.
#[component]
pub fn EmptyState(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-dashed border-slate-300 bg-white px-6 py-10 text-center">
            <h3 class="text-base font-semibold text-slate-800">{title}</h3>
            <div class="mt-1 text-sm text-slate-600">{children()}</div>
        </div>
    }
}

/// A list as a table that scrolls sideways on narrow screens; `children`
/// are its rows. An empty column heading is the actions column, named for
/// screen readers only.
#[component]
pub fn ListTable(
    #[prop(optional)] testid: Option<&'static str>,
    columns: &'static [&'static str],
    children: Children,
) -> impl IntoView {
    let headings = columns
        .iter()
        .map(|&column| {
            if column.is_empty() {
                view! { <th scope="col"><span class="sr-only">"Actions"</span></th> }.into_any()
            } else {
                view! { <th scope="col">{column}</th> }.into_any()
            }
        })
        .collect_view();
    view! {
        <div class="overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table class="table" data-testid=testid>
                <thead>
                    <tr>{headings}</tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// A page heading with an optional line under it.
#[component]
pub fn PageHeader(title: &'static str, subtitle: &'static str) -> impl IntoView {
    view! {
        <header class="mb-6">
            <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
            <p class="mt-1 text-sm text-slate-600">{subtitle}</p>
        </header>
    }
}

/// A UTC timestamp in a form that sorts and reads the same everywhere
/// (server render and browser agree, so hydration does not flicker).
pub fn format_millis(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether the page is following the server live, in words (not by colour
/// alone) and announced politely when it changes.
#[component]
pub fn LiveBadge(open: ReadSignal<bool>) -> impl IntoView {
    view! {
        <span
            class="inline-flex items-center gap-1.5 rounded-full border border-slate-200 bg-white px-2.5 py-0.5 text-xs text-slate-600"
            role="status"
            data-live=move || if open.get() { "open" } else { "connecting" }
        >
            <span
                aria-hidden="true"
                class=move || {
                    if open.get() {
                        "h-2 w-2 rounded-full bg-emerald-500"
                    } else {
                        "h-2 w-2 rounded-full bg-amber-400"
                    }
                }
            ></span>
            {move || if open.get() { "Live" } else { "Connecting…" }}
        </span>
    }
}

/// The browser's clock, read once a second while `running()` holds, for
/// durations that tick. None on the server and until the first tick, so the
/// server's render and the hydrated page agree.
pub fn ticking_clock(running: impl Fn() -> bool + 'static) -> ReadSignal<Option<i64>> {
    let (now, set_now) = signal(None::<i64>);
    let interval = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        let running = running();
        if let Some(handle) = interval.try_get_value().flatten() {
            handle.clear();
        }
        let next = if running {
            set_now.set(Some(browser_now()));
            set_interval_with_handle(
                move || {
                    set_now.try_set(Some(browser_now()));
                },
                Duration::from_secs(1),
            )
            .ok()
        } else {
            None
        };
        interval.try_set_value(next);
    });
    on_cleanup(move || {
        if let Some(handle) = interval.try_get_value().flatten() {
            handle.clear();
        }
    });
    now
}

/// The time now where the code runs, for states that depend on it (an expired
/// token): the server's clock while rendering, the browser's after hydration.
pub fn now_millis() -> i64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Date::now() as i64;
    #[cfg(not(feature = "hydrate"))]
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn browser_now() -> i64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Date::now() as i64;
    #[cfg(not(feature = "hydrate"))]
    0
}

#[cfg(test)]
mod tests {
    use super::format_millis;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_millis(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_millis(1_417_566_161_000), "2014-12-03 00:22 UTC");
        assert_eq!(format_millis(1_709_208_000_000), "2024-02-29 12:00 UTC");
    }
}

//! Labelled form fields: a label, the control, an optional hint and the error
//! of the last submission about the field, in that order.
//!
//! [`TextInput`], [`SelectInput`] and [`CheckInput`] show a value and report
//! changes through a [`Bound`] (forms built from signals); a [`FormInput`] is
//! read by its `name` when an `ActionForm` submits.

use leptos::prelude::*;

use crate::error::AppError;

/// What a field shows, and where a change to it goes.
pub struct Bound<T: Send + Sync + 'static> {
    pub value: Signal<T>,
    pub set: Callback<T>,
}

// Derives would ask `T: Clone`; signals and callbacks are copied whatever `T` is.
impl<T: Send + Sync + 'static> Clone for Bound<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Bound<T> {}

impl<T: Clone + Send + Sync + 'static> From<RwSignal<T>> for Bound<T> {
    fn from(signal: RwSignal<T>) -> Self {
        Bound {
            value: signal.into(),
            set: Callback::new(move |value| signal.set(value)),
        }
    }
}

impl Bound<String> {
    /// A signal of another type shown as text, as a select shows an enum.
    pub fn as_text<S: Clone + Send + Sync + 'static>(
        signal: RwSignal<S>,
        show: fn(&S) -> String,
        parse: fn(&str) -> S,
    ) -> Self {
        Bound {
            value: Signal::derive(move || signal.with(show)),
            set: Callback::new(move |text: String| signal.set(parse(&text))),
        }
    }
}

/// The message under an input when the last submission failed because of
/// its field (a path such as `stages[0].name` in nested forms). An empty
/// `field` shows nothing: the input has no field of its own.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, #[prop(into)] field: String) -> impl IntoView {
    move || {
        if field.is_empty() {
            return None;
        }
        error
            .get()
            .and_then(|error| error.for_field(&field))
            .map(|message| {
                view! {
                    <p class="mt-1 text-sm text-red-700" role="alert" data-field-error=field.clone()>
                        {message}
                    </p>
                }
            })
    }
}

/// The id of a field's hint, which its control is described by; none without a hint.
fn hint_id(id: &str, hint: &str) -> Option<String> {
    (!hint.is_empty()).then(|| format!("{id}-hint"))
}

/// The label above a control, and the hint and error under it.
#[component]
fn Labelled(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    hidden_label: bool,
    hint: &'static str,
    error: Option<Signal<Option<AppError>>>,
    #[prop(into)] field: String,
    children: Children,
) -> impl IntoView {
    let hint = hint_id(&id, hint)
        .map(|hint_id| view! { <p id=hint_id class="mt-1 text-xs text-slate-500">{hint}</p> });
    view! {
        <div>
            <label class=if hidden_label { "sr-only" } else { "label" } for=id>{label}</label>
            {children()}
            {hint}
            {error.map(|error| view! { <FieldError error field /> })}
        </div>
    }
}

/// A labelled text input (or a textarea, with `rows`). What is typed stays
/// as typed even when `bind` cannot store it (a number being written, a
/// header without its colon); when the value changes elsewhere (moved rows,
/// applied YAML) the field shows the new value.
#[component]
pub fn TextInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] bind: Bound<String>,
    #[prop(optional)] error: Option<Signal<Option<AppError>>>,
    /// The field errors are reported for; empty: none.
    #[prop(into, optional)]
    field: String,
    #[prop(into, optional)] placeholder: MaybeProp<String>,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] rows: u32,
    #[prop(optional)] mono: bool,
    #[prop(optional)] number: bool,
    /// A password or key: hidden as typed, and never filled in by the browser.
    #[prop(optional)]
    secret: bool,
    #[prop(optional)] hidden_label: bool,
) -> impl IntoView {
    let canonical = Memo::new(move |_| bind.value.get());
    let initial = canonical.get_untracked();
    let text = RwSignal::new(initial.clone());
    let written = StoredValue::new(initial.clone());
    Effect::new(move |_| {
        let current = canonical.get();
        if written.get_value() != current {
            written.set_value(current.clone());
            text.set(current);
        }
    });
    let on_input = move |ev| {
        let typed = event_target_value(&ev);
        text.set(typed.clone());
        bind.set.run(typed);
        written.set_value(canonical.get_untracked());
    };
    let class = match (mono, rows > 0) {
        (true, true) => "input font-mono text-xs leading-5",
        (true, false) => "input font-mono",
        (false, _) => "input",
    };
    let described_by = hint_id(&id, hint);
    let placeholder = move || placeholder.get();
    let control = if rows > 0 {
        view! {
            <textarea class=class id=id.clone() rows=rows placeholder=placeholder spellcheck="false"
                aria-describedby=described_by prop:value=move || text.get() on:input=on_input></textarea>
        }
        .into_any()
    } else {
        let kind = match (number, secret) {
            (true, _) => "number",
            (false, true) => "password",
            (false, false) => "text",
        };
        view! {
            <input class=class id=id.clone() type=kind min=number.then_some("0")
                autocomplete=if secret { "new-password" } else { "off" } placeholder=placeholder
                aria-describedby=described_by value=initial
                prop:value=move || text.get() on:input=on_input />
        }
        .into_any()
    };
    view! {
        <Labelled id label hidden_label hint error field>
            {control}
        </Labelled>
    }
}

/// A labelled select of `options` (value, text).
#[component]
pub fn SelectInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] bind: Bound<String>,
    #[prop(into)] options: Signal<Vec<(String, String)>>,
    #[prop(optional)] error: Option<Signal<Option<AppError>>>,
    /// The field errors are reported for; empty: none.
    #[prop(into, optional)]
    field: String,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] disabled: bool,
) -> impl IntoView {
    let value = bind.value;
    let control = view! {
        <select class="input" id=id.clone() disabled=disabled aria-describedby=hint_id(&id, hint)
            on:change=move |ev| bind.set.run(event_target_value(&ev))>
            {move || {
                options
                    .get()
                    .into_iter()
                    .map(|(option, text)| {
                        let initially = value.with_untracked(|current| *current == option);
                        let chosen = option.clone();
                        view! {
                            <option value=option selected=initially prop:selected=move || value.with(|current| *current == chosen)>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()
            }}
        </select>
    };
    view! {
        <Labelled id label hidden_label=false hint error field>
            {control}
        </Labelled>
    }
}

/// Options for values of an enum: each one's text, and its label.
pub fn enum_options<T: Copy>(
    values: &[T],
    text: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
) -> Vec<(String, String)> {
    values
        .iter()
        .map(|&value| (text(value).to_string(), label(value).to_string()))
        .collect()
}

/// Options whose values are their texts.
pub fn static_options(values: &[&str]) -> Signal<Vec<(String, String)>> {
    let options: Vec<(String, String)> = values
        .iter()
        .map(|value| (value.to_string(), value.to_string()))
        .collect();
    Signal::stored(options)
}

/// A checkbox with its label beside it and a hint under the label.
#[component]
pub fn CheckInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] bind: Bound<bool>,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    view! {
        <div class="flex items-start gap-2">
            <input
                type="checkbox"
                class="mt-0.5 h-4 w-4 rounded border-slate-300 accent-sky-700"
                id=id.clone()
                checked=bind.value.get_untracked()
                prop:checked=move || bind.value.get()
                on:change=move |ev| bind.set.run(event_target_checked(&ev))
            />
            <div>
                <label class="text-sm font-medium text-slate-700" for=id>{label}</label>
                {(!hint.is_empty()).then(|| view! { <p class="text-xs text-slate-500">{hint}</p> })}
            </div>
        </div>
    }
}

/// A labelled input of an `ActionForm`, which reads it by `name`; with
/// `error`, the error about `name` shows under it.
#[component]
pub fn FormInput(
    #[prop(into)] id: String,
    label: &'static str,
    name: &'static str,
    #[prop(optional, into)] error: Option<Signal<Option<AppError>>>,
    /// What the input holds at first.
    #[prop(optional, into)]
    value: Option<String>,
    #[prop(optional)] placeholder: Option<&'static str>,
    /// The input's `type`; none: text.
    #[prop(optional)]
    kind: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    view! {
        <Labelled id=id.clone() label hidden_label=false hint="" error field=name>
            <input class="input" id=id name=name type=kind autocomplete=autocomplete
                placeholder=placeholder value=value required=required />
        </Labelled>
    }
}

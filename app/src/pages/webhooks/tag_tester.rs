//! "Try a tag": a repository and tag tried against the form's patterns as
//! they stand (not yet saved), with the server's words for why they would
//! or would not start a run.

use leptos::prelude::*;

use crate::functions::TryTag;
use crate::pages::widgets::{last_error, TextInput};
use crate::webhook::TagTrial;

#[component]
pub(super) fn TagTester(
    image: RwSignal<String>,
    tag: RwSignal<String>,
    newer_only: RwSignal<bool>,
    /// The saved webhook's id, whose last deployed push `newer_only` compares with.
    webhook: Option<i64>,
) -> impl IntoView {
    let repository = RwSignal::new(String::new());
    let candidate_tag = RwSignal::new(String::new());
    let trial = ServerAction::<TryTag>::new();
    let error = last_error(move || trial.value().get());
    let answer = move || trial.value().get().and_then(Result::ok);
    let try_it = move || {
        trial.dispatch(TryTag {
            trial: TagTrial {
                image: image.get_untracked().trim().to_string(),
                tag: tag.get_untracked().trim().to_string(),
                newer_only: newer_only.get_untracked(),
                repository: repository.get_untracked().trim().to_string(),
                candidate_tag: candidate_tag.get_untracked().trim().to_string(),
                webhook: webhook.map(|id| id.to_string()),
            },
        });
    };

    view! {
        <fieldset class="rounded border border-slate-200 p-3" aria-labelledby="tag-tester-legend">
            <legend id="tag-tester-legend" class="px-1 text-sm font-medium">"Try a tag"</legend>
            <p class="text-xs text-slate-500">
                "Would a push start a run? Tried against the patterns above as they are now, before saving."
            </p>
            <div class="mt-2 flex flex-wrap items-end gap-3">
                <TextInput id="try-repository" label="Repository to try" bind=repository error field="repository" mono=true
                    placeholder="e.g. acme/shop-api" />
                <TextInput id="try-tag" label="Tag to try" bind=candidate_tag error field="candidate_tag" mono=true
                    placeholder="e.g. v1.5.0" />
                <button type="button" class="btn-secondary" disabled=move || trial.pending().get()
                    on:click=move |_| try_it()>"Try"</button>
            </div>
            <p class="mt-2 text-sm" role="status" aria-live="polite" data-testid="tag-trial">
                {move || answer().map(|answer| {
                    let (class, verdict) = if answer.matches {
                        ("font-semibold text-emerald-700", "Matches")
                    } else {
                        ("font-semibold text-amber-800", "Does not match")
                    };
                    view! { <span class=class>{verdict}</span>": "{answer.reason} }
                })}
                {move || error.get().and_then(|error| match &error {
                    crate::error::AppError::Invalid { field, .. }
                        if field == "repository" || field == "candidate_tag" => None,
                    _ => Some(view! { <span class="text-red-700">{error.to_string()}</span> }),
                })}
            </p>
        </fieldset>
    }
}

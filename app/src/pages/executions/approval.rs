//! An approval task in the runtime view: what is asked, who may decide,
//! the time left, and Approve / Reject with a comment for those who may.

use leptos::prelude::*;

use super::diff::KubernetesChanges;
use crate::approval::{who_decides, ApprovalView, Decision, DecisionRequest, MAX_COMMENT_CHARS};
use crate::execution::TaskStatus;
use crate::functions::DecideApproval;
use crate::pages::widgets::{format_millis, last_error, FormError};

/// `place` is the task's `<stage>.<task>`; `clock` the page's ticking time
/// (for the time left).
#[component]
pub(super) fn ApprovalPanel(
    execution_id: i64,
    place: String,
    status: TaskStatus,
    approval: ApprovalView,
    clock: ReadSignal<Option<i64>>,
) -> impl IntoView {
    let decide = ServerAction::<DecideApproval>::new();
    let error = last_error(move || decide.value().get());
    let comment = RwSignal::new(String::new());
    let waiting = status == TaskStatus::Waiting;
    let who = who_decides(&approval.approvers, &approval.approver_roles);
    let self_rule = if approval.allow_self_approval {
        "The person who started the run may approve it too."
    } else {
        "The person who started the run may not approve it."
    };
    let expires_at = approval.expires_at;
    let time_left = move || {
        let expires_at = expires_at?;
        let left = clock.get().map(|now| expires_at - now);
        Some(match left {
            Some(left) if left <= 0 => format!("expires {} (now)", format_millis(expires_at)),
            Some(left) => format!(
                "expires {} (in {})",
                format_millis(expires_at),
                span_text(left)
            ),
            None => format!("expires {}", format_millis(expires_at)),
        })
    };
    let send = move |decision: Decision| {
        decide.dispatch(DecideApproval {
            id: execution_id,
            decision,
            request: DecisionRequest {
                task: Some(place.clone()),
                comment: comment.get_untracked(),
            },
        });
    };
    let send = StoredValue::new(send);
    let decided = move || matches!(decide.value().get(), Some(Ok(_)));
    let controls = (waiting && approval.can_decide).then(|| {
        view! {
            <label class="label mt-4" for="approval-comment">"Comment (optional)"</label>
            <textarea
                id="approval-comment"
                class="input mt-1 h-20"
                maxlength=MAX_COMMENT_CHARS.to_string()
                prop:value=move || comment.get()
                on:input=move |ev| comment.set(event_target_value(&ev))
            ></textarea>
            <div class="mt-3 flex gap-3">
                <button
                    type="button"
                    class="btn-primary"
                    disabled=move || decide.pending().get() || decided()
                    on:click=move |_| send.with_value(|send| send(Decision::Approved))
                >
                    "Approve"
                </button>
                <button
                    type="button"
                    class="btn-danger"
                    disabled=move || decide.pending().get() || decided()
                    on:click=move |_| send.with_value(|send| send(Decision::Rejected))
                >
                    "Reject"
                </button>
            </div>
            <FormError error />
            <p class="mt-2 text-sm text-emerald-800" role="status">
                {move || decided().then_some("Your decision is recorded; the run goes on.")}
            </p>
        }
    });
    let refusal = approval
        .refusal
        .clone()
        .filter(|_| waiting)
        .map(|refusal| view! { <p class="mt-3 text-sm text-slate-600" data-testid="approval-refusal">{refusal}</p> });
    let preview = approval.preview.clone().map(preview_view);
    view! {
        <section class="mt-5 rounded-md border border-violet-200 bg-violet-50 p-4" data-testid="approval-panel" aria-label="Approval">
            <h3 class="text-sm font-semibold text-violet-900">
                {if waiting { "Waiting for approval" } else { "Approval" }}
            </h3>
            {(!approval.summary.is_empty())
                .then(|| view! { <p class="mt-2 whitespace-pre-wrap break-words text-sm text-slate-800" data-testid="approval-summary">{approval.summary.clone()}</p> })}
            <p class="mt-2 text-sm text-slate-700">{format!("Who decides: {who}. {self_rule}")}</p>
            {waiting.then(|| view! { <p class="mt-1 text-sm text-slate-700" data-testid="approval-expiry">{time_left}</p> })}
            {preview}
            {controls}
            {refusal}
        </section>
    }
}

/// What each Kubernetes task of the next stage would change, from the dry
/// runs made when the approval started (or why one could not be made).
fn preview_view(preview: serde_json::Value) -> impl IntoView {
    let entries = preview.as_array().cloned().unwrap_or_default();
    view! {
        <div class="mt-3 rounded-md border border-violet-200 bg-white p-3" data-testid="approval-preview">
            <p class="text-sm font-semibold text-slate-800">"What approving deploys"</p>
            {entries
                .into_iter()
                .map(|entry| {
                    let task = entry.get("task").and_then(|task| task.as_str()).unwrap_or("?").to_string();
                    let error = entry.get("error").and_then(|error| error.as_str()).map(str::to_string);
                    let diff = entry.get("diff").cloned();
                    view! {
                        <p class="mt-2 font-mono text-xs font-semibold text-slate-600">{task}</p>
                        {error.map(|error| view! { <p class="text-sm text-amber-800">{error}</p> })}
                        {diff.map(|diff| view! { <KubernetesChanges output=serde_json::json!({ "diff": diff }) /> })}
                    }
                })
                .collect_view()}
        </div>
    }
}

/// A span of time in the largest two units: "23 h 59 min", "4 min 10 s".
fn span_text(millis: i64) -> String {
    let seconds = millis.max(0) / 1000;
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min {} s", seconds % 60)
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_read_in_their_two_largest_units() {
        assert_eq!(super::span_text(86_399_000), "23 h 59 min");
        assert_eq!(super::span_text(250_000), "4 min 10 s");
        assert_eq!(super::span_text(2 * 86_400_000 + 3_600_000), "2 d 1 h");
        assert_eq!(super::span_text(-5), "0 s");
    }
}

//! The notifications of a run on its page: for each event the pipeline
//! notifies, where it went, whether it was sent, how many attempts it took
//! and the last error. Shown only when the run has any.

use leptos::prelude::*;

use crate::execution::{NotificationDelivery, NotificationState};
use crate::pages::widgets::format_millis;

/// Badge classes and a mark for each state; the state is written out too.
fn state_look(state: NotificationState) -> (&'static str, &'static str) {
    match state {
        NotificationState::Sent => ("badge badge-green", "✓"),
        NotificationState::Failed => ("badge badge-red", "✗"),
        NotificationState::Pending => ("badge bg-slate-200 text-slate-700", "◷"),
    }
}

#[component]
pub fn NotificationList(notifications: Vec<NotificationDelivery>) -> impl IntoView {
    if notifications.is_empty() {
        return ().into_any();
    }
    let rows = notifications
        .into_iter()
        .map(|notification| {
            let (class, mark) = state_look(notification.state);
            let outcome = match (&notification.sent_at, &notification.last_error) {
                (Some(sent_at), _) => format!("sent {}", format_millis(*sent_at)),
                (None, Some(error)) => error.clone(),
                (None, None) => String::new(),
            };
            view! {
                <tr class="border-t border-slate-200 align-top" data-testid="notification">
                    <td class="py-2 pr-4 font-mono text-xs">{notification.event.as_str()}</td>
                    <td class="break-all py-2 pr-4" data-testid="notification-target">
                        {notification.target}
                        <span class="ml-2 text-xs text-slate-500">{notification.format}</span>
                    </td>
                    <td class="py-2 pr-4">
                        <span class=class data-notification-state=notification.state.as_str()>
                            <span aria-hidden="true" class="mr-1">{mark}</span>
                            {notification.state.as_str()}
                        </span>
                    </td>
                    <td class="py-2 pr-4 text-right tabular-nums" data-testid="notification-attempts">
                        {notification.attempts}
                    </td>
                    <td class="break-words py-2 text-xs text-slate-600" data-testid="notification-outcome">
                        {outcome}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card mt-6" aria-labelledby="notifications-heading" data-testid="notifications">
            <h2 id="notifications-heading" class="text-base font-semibold">"Notifications"</h2>
            <p class="mt-1 text-xs text-slate-500">
                "Sent beside the run, never in its way: a failed one is retried with growing pauses (six attempts at most), and the run does not wait for it. Reload to see the latest state."
            </p>
            <div class="mt-3 overflow-x-auto">
                <table class="w-full text-left text-sm">
                    <thead class="text-xs font-semibold uppercase tracking-wide text-slate-500">
                        <tr>
                            <th scope="col" class="py-1 pr-4">"Event"</th>
                            <th scope="col" class="py-1 pr-4">"Target"</th>
                            <th scope="col" class="py-1 pr-4">"State"</th>
                            <th scope="col" class="py-1 pr-4 text-right">"Attempts"</th>
                            <th scope="col" class="py-1">"Sent or last error"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

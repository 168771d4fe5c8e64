//! The Notifications section of the General tab: who hears of a run's
//! changes (started, waiting, completed, failed, canceled), by a webhook
//! (JSON, or Slack-compatible text) or by email.

use leptos::prelude::*;

use super::places::{notification_field, remove_item};
use crate::error::AppError;
use crate::pages::widgets::{FieldError, SelectInput, TextInput};
use crate::pipeline::{
    EmailNotification, Notification, NotificationTarget, PipelineSpec, RunEvent, WebhookFormat,
    WebhookNotification,
};

/// What a new notification starts as: a JSON webhook on a run's end.
fn new_notification() -> Notification {
    Notification {
        on: vec![RunEvent::Completed, RunEvent::Failed],
        target: webhook_target(),
    }
}

fn webhook_target() -> NotificationTarget {
    NotificationTarget::Webhook(WebhookNotification {
        url: String::new(),
        format: WebhookFormat::Json,
    })
}

fn target_kind(notification: &Notification) -> String {
    match notification.target {
        NotificationTarget::Webhook(_) => "webhook",
        NotificationTarget::Email(_) => "email",
    }
    .to_string()
}

/// Switching kinds starts the other kind's fields empty.
fn set_target_kind(notification: &mut Notification, kind: String) {
    if target_kind(notification) == kind {
        return;
    }
    notification.target = if kind == "email" {
        NotificationTarget::Email(EmailNotification { to: Vec::new() })
    } else {
        webhook_target()
    };
}

/// The addresses of an email as one comma-separated text, and back.
fn addresses_text(notification: &Notification) -> String {
    match &notification.target {
        NotificationTarget::Email(email) => email.to.join(", "),
        NotificationTarget::Webhook(_) => String::new(),
    }
}

fn set_addresses(notification: &mut Notification, text: String) {
    if let NotificationTarget::Email(email) = &mut notification.target {
        email.to = text
            .split(',')
            .map(str::trim)
            .filter(|address| !address.is_empty())
            .map(str::to_string)
            .collect();
    }
}

#[component]
pub fn NotificationsSection(
    spec: RwSignal<PipelineSpec>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let count = Memo::new(move |_| spec.with(|spec| spec.notifications.len()));
    view! {
        <div class="card mt-6" data-testid="notifications-section">
            <h2 class="text-base font-semibold">"Notifications"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "Who hears when a run starts, waits for an approval, completes, fails or is canceled. A webhook gets a POST (JSON, or Slack-compatible text that Slack, Teams and Mattermost incoming webhooks show); email needs a server started with --smtp-url and --smtp-from. A notification that fails is retried a few times; it never delays or fails the run."
            </p>
            <FieldError error field="notifications" />
            <Show
                when=move || { count.get() > 0 }
                fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"No notifications yet."</p> }
            >
                <ol class="mt-4 flex flex-col gap-4">
                    <For each=move || 0..count.get() key=|index| *index children=move |index| view! { <NotificationRow spec index error /> } />
                </ol>
            </Show>
            <button
                type="button"
                class="btn-secondary mt-4"
                on:click=move |_| spec.update(|spec| spec.notifications.push(new_notification()))
            >
                "Add notification"
            </button>
        </div>
    }
}

#[component]
fn NotificationRow(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let number = index + 1;
    let kind = notification_field(spec, index, target_kind, set_target_kind);
    let is_email = Memo::new(move |_| kind.value.get() == "email");
    let events = RunEvent::ALL
        .into_iter()
        .map(|event| {
            let on = notification_field(
                spec,
                index,
                move |notification| notification.on.contains(&event),
                move |notification, checked: bool| {
                    notification.on.retain(|named| *named != event);
                    if checked {
                        notification.on.push(event);
                        notification.on.sort();
                    }
                },
            );
            let id = format!("notification-{index}-on-{}", event.as_str());
            view! {
                <label class="flex items-center gap-2 text-sm">
                    <input
                        type="checkbox"
                        class="h-4 w-4 accent-sky-700"
                        id=id
                        checked=on.value.get_untracked()
                        prop:checked=move || on.value.get()
                        on:change=move |ev| on.set.run(event_target_checked(&ev))
                    />
                    {event.as_str()}
                </label>
            }
        })
        .collect_view();
    view! {
        <li class="rounded-md border border-slate-200 p-4" data-notification-row=index>
            <div class="flex flex-wrap items-start justify-between gap-4">
                <fieldset>
                    <legend class="text-sm font-medium text-slate-800">{format!("Notification {number}: on")}</legend>
                    <div class="mt-2 flex flex-wrap gap-x-4 gap-y-2">{events}</div>
                    <FieldError error field=format!("notifications[{index}].on") />
                </fieldset>
                <button
                    type="button"
                    class="btn-link text-red-700"
                    aria-label=format!("Remove notification {number}")
                    on:click=move |_| spec.update(|spec| remove_item(&mut spec.notifications, index))
                >
                    "Remove"
                </button>
            </div>
            <div class="mt-4 grid gap-4 md:grid-cols-[12rem_1fr_12rem]">
                <SelectInput
                    id=format!("notification-{index}-kind")
                    label="Send by"
                    bind=kind
                    options=Signal::stored(vec![
                        ("webhook".to_string(), "Webhook".to_string()),
                        ("email".to_string(), "Email".to_string()),
                    ])
                />
                <Show
                    when=move || is_email.get()
                    fallback=move || view! {
                        <TextInput
                            id=format!("notification-{index}-url")
                            label="Webhook URL"
                            mono=true
                            bind=notification_field(
                                spec,
                                index,
                                |notification| match &notification.target {
                                    NotificationTarget::Webhook(webhook) => webhook.url.clone(),
                                    NotificationTarget::Email(_) => String::new(),
                                },
                                |notification, url| {
                                    if let NotificationTarget::Webhook(webhook) = &mut notification.target {
                                        webhook.url = url;
                                    }
                                },
                            )
                            error
                            field=format!("notifications[{index}].webhook.url")
                            placeholder="https://hooks.slack.com/services/…"
                        />
                        <SelectInput
                            id=format!("notification-{index}-format")
                            label="Format"
                            bind=notification_field(
                                spec,
                                index,
                                |notification| match &notification.target {
                                    NotificationTarget::Webhook(webhook) if webhook.format == WebhookFormat::Slack => "slack".to_string(),
                                    _ => "json".to_string(),
                                },
                                |notification, format: String| {
                                    if let NotificationTarget::Webhook(webhook) = &mut notification.target {
                                        webhook.format = if format == "slack" { WebhookFormat::Slack } else { WebhookFormat::Json };
                                    }
                                },
                            )
                            options=Signal::stored(vec![
                                ("json".to_string(), "JSON".to_string()),
                                ("slack".to_string(), "Slack / Teams / Mattermost text".to_string()),
                            ])
                        />
                    }
                >
                    <div class="md:col-span-2">
                        <TextInput
                            id=format!("notification-{index}-to")
                            label="Email to"
                            bind=notification_field(spec, index, addresses_text, set_addresses)
                            error
                            field=format!("notifications[{index}].email")
                            placeholder="ops@example.com, dev@example.com"
                            hint="Addresses separated by commas."
                        />
                        <FieldError error field=format!("notifications[{index}].email.to") />
                    </div>
                </Show>
            </div>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_from_comma_separated_text() {
        let mut notification = new_notification();
        set_target_kind(&mut notification, "email".into());
        set_addresses(
            &mut notification,
            " a@example.com,, b@example.com , ".into(),
        );
        assert_eq!(
            addresses_text(&notification),
            "a@example.com, b@example.com"
        );
        set_target_kind(&mut notification, "email".into());
        assert_eq!(
            addresses_text(&notification),
            "a@example.com, b@example.com"
        );
        set_target_kind(&mut notification, "webhook".into());
        assert_eq!(notification.target, webhook_target());
    }
}

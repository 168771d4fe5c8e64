//! Webhook notifications: one POST of JSON through the outbound client (its
//! `--deny-private-egress` rules, redirects as REST tasks follow them),
//! bounded by [`WEBHOOK_TIMEOUT`]. A 2xx answer is delivery.

use app::pipeline::{WebhookFormat, WebhookNotification};

use super::message::RunFacts;
use super::{Failure, WEBHOOK_TIMEOUT};
use crate::connect::{self, Outbound};

/// A webhook URL as it may be shown and logged: without user info, query
/// string or fragment, where tokens travel (Slack's and Teams' URLs carry
/// theirs in the path, which only the pipeline's editors see in full).
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            // Both only fail for URLs that cannot have them, which is fine.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => {
            let end = url.find(['?', '#']).unwrap_or(url.len());
            let without_query = &url[..end];
            match without_query.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((_, host)) => format!("{scheme}://{host}"),
                    None => without_query.to_string(),
                },
                None => without_query.to_string(),
            }
        }
    }
}

pub(super) async fn send(
    outbound: &Outbound,
    webhook: &WebhookNotification,
    facts: &RunFacts,
) -> Result<(), Failure> {
    let url = webhook.url.trim();
    let shown = display_url(url);
    let body = match webhook.format {
        WebhookFormat::Json => facts.json(),
        WebhookFormat::Slack => facts.slack(),
    };
    outbound
        .check_egress(url)
        .await
        .map_err(|denied| Failure::last(format!("not sent to {shown}: {denied}")))?;
    let client = outbound
        .task_client()
        .map_err(|error| Failure::retry(error.to_string()))?;
    let answer = client
        .post(url)
        .timeout(WEBHOOK_TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|error| {
            let cause = connect::describe_transport_failure(&error.without_url(), WEBHOOK_TIMEOUT);
            let message = format!("{shown}: {cause}");
            if cause.starts_with(connect::EGRESS_DENIED_PREFIX) {
                Failure::last(message)
            } else {
                Failure::retry(message)
            }
        })?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::retry(format!(
            "{shown} answered HTTP {}",
            status.as_u16()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::display_url;

    #[test]
    fn shown_urls_keep_no_query_string_or_user_info() {
        assert_eq!(
            display_url("https://hooks.example.com/services/x?token=s3cret#frag"),
            "https://hooks.example.com/services/x"
        );
        assert_eq!(
            display_url("http://user:pass@example.com:8080/hook?key=1"),
            "http://example.com:8080/hook"
        );
        assert_eq!(display_url("not a url?token=s3cret"), "not a url");
        assert_eq!(display_url("http://u:p@[bad/x?t=1"), "http://[bad/x");
    }
}

//! Email notifications over SMTP (`--smtp-url`, `--smtp-from`), through
//! lettre: `smtp://` plain (or STARTTLS with `?tls=required`), `smtps://`
//! TLS from the start. The URL may carry a user and password: it is never
//! printed, only its host and port.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::RunFacts;
use super::{Failure, EMAIL_TIMEOUT, SMTP_COMMAND_TIMEOUT};
use crate::config::UrlWithCredentials;

/// The mail server and the sender of email notifications.
#[derive(Clone)]
pub struct EmailSettings {
    url: UrlWithCredentials,
    /// `host:port` of the mail server, for messages.
    server: String,
    from: Mailbox,
}

impl EmailSettings {
    /// Checks both flags; the errors name the flag and never quote the URL.
    pub fn new(url: UrlWithCredentials, from: &str) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url.expose().trim()).ok();
        let server = parsed
            .as_ref()
            .filter(|parsed| matches!(parsed.scheme(), "smtp" | "smtps"))
            .and_then(|parsed| {
                let host = parsed.host_str()?;
                let port = parsed
                    .port()
                    .map(|port| format!(":{port}"))
                    .unwrap_or_default();
                Some(format!("{host}{port}"))
            });
        let usable = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose().trim()).is_ok();
        let Some(server) = server.filter(|_| usable) else {
            anyhow::bail!(
                "--smtp-url is not a mail server URL: use smtp://HOST:PORT, \
                 smtp://HOST:PORT?tls=required or smtps://HOST:PORT (optionally with USER:PASSWORD@)"
            );
        };
        let from = from.trim().parse::<Mailbox>().map_err(|_| {
            anyhow::anyhow!(
                "--smtp-from is not an email address: use e.g. slipway@example.com or \
                 \"Slipway <slipway@example.com>\""
            )
        })?;
        Ok(EmailSettings { url, server, from })
    }
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmailSettings")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish()
    }
}

pub(super) async fn send(
    settings: &EmailSettings,
    to: &[String],
    facts: &RunFacts,
) -> Result<(), Failure> {
    let mut message = Message::builder()
        .from(settings.from.clone())
        .subject(format!("[Slipway] {}", facts.title()));
    for address in to {
        let mailbox = address
            .trim()
            .parse::<Mailbox>()
            .map_err(|_| Failure::last(format!("'{address}' is not an email address")))?;
        message = message.to(mailbox);
    }
    let message = message
        .body(facts.email_body())
        .map_err(|error| Failure::last(format!("the email could not be written: {error}")))?;
    let server = &settings.server;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.url.expose().trim())
        .map_err(|_| Failure::last("--smtp-url is not a mail server URL"))?
        .timeout(Some(SMTP_COMMAND_TIMEOUT))
        .build();
    match tokio::time::timeout(EMAIL_TIMEOUT, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) if error.is_permanent() => Err(Failure::last(format!(
            "the mail server {server} refused the email: {error}"
        ))),
        Ok(Err(error)) => Err(Failure::retry(format!(
            "sending through the mail server {server} failed: {error}"
        ))),
        Err(_) => Err(Failure::retry(format!(
            "the mail server {server} did not take the email within {} s",
            EMAIL_TIMEOUT.as_secs()
        ))),
    }
}

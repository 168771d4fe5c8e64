//! Docker Hub's callback: when a run started by a Docker Hub push ends, POST
//! its result to the push's `callback_url` — only when the operator listed
//! that URL's host (`--docker-hub-callback-hosts`), never to whatever host a
//! request names. The URL itself is a credential of the push: it is stored
//! sealed with the run and never logged.

use app::execution::{ExecutionStatus, Trigger};
use serde_json::json;

use crate::connect::Outbound;
use crate::crypto::SecretBox;
use crate::store::ExecutionRecord;

/// Reports a finished run to its push's callback, if it has one. Failures are
/// logged (without the URL); the run's own state does not depend on them.
/// `public_url` is the base of the run's link in the report.
pub async fn report_run_end(
    secret_box: &SecretBox,
    outbound: &Outbound,
    public_url: &str,
    execution: &ExecutionRecord,
    status: ExecutionStatus,
    error: Option<&str>,
) {
    let trigger: Trigger = match serde_json::from_str(&execution.trigger) {
        Ok(trigger) => trigger,
        Err(error) => {
            tracing::error!(%error, "a run's stored trigger could not be read; not reported");
            return;
        }
    };
    let Some(sealed) = trigger.callback else {
        return;
    };
    let Ok(url) = secret_box.open(&sealed) else {
        tracing::warn!("a run's Docker Hub callback could not be unsealed; not reported");
        return;
    };
    // Checked again: the allow-list may have shrunk since the push came in.
    if !outbound.allows_callback(&url) {
        tracing::info!("the Docker Hub callback's host is no longer allowed; not reported");
        return;
    }
    let (state, description) = match status {
        ExecutionStatus::Completed => (
            "success",
            format!(
                "{} run #{} completed",
                execution.pipeline_name, execution.run_number
            ),
        ),
        _ => (
            "failure",
            format!(
                "{} run #{} {}: {}",
                execution.pipeline_name,
                execution.run_number,
                status.as_str().to_ascii_lowercase(),
                error.unwrap_or("no reason given")
            ),
        ),
    };
    let body = json!({
        "state": state,
        "description": description,
        "context": "Slipway",
        "target_url": format!("{}/executions/{}", public_url, execution.id),
    });
    if let Err(denied) = outbound.check_egress(&url).await {
        tracing::warn!(execution = execution.id, %denied, "the Docker Hub callback was not sent");
        return;
    }
    // Redirects are not followed (an open redirect on an allowed host leads nowhere).
    let sent = match outbound.http_client(false) {
        Ok(client) => client.post(url).json(&body).send().await,
        Err(error) => {
            tracing::warn!(%error, "no HTTP client for the Docker Hub callback");
            return;
        }
    };
    match sent {
        Ok(answer) if answer.status().is_success() => {
            tracing::info!(execution = execution.id, state, "Docker Hub callback sent")
        }
        Ok(answer) if answer.status().is_redirection() => tracing::warn!(
            execution = execution.id,
            status = answer.status().as_u16(),
            "the Docker Hub callback was answered with a redirect, which is not followed"
        ),
        Ok(answer) => tracing::warn!(
            execution = execution.id,
            status = answer.status().as_u16(),
            "the Docker Hub callback was refused"
        ),
        Err(error) => tracing::warn!(
            execution = execution.id,
            error = %error.without_url(),
            "the Docker Hub callback could not be sent"
        ),
    }
}

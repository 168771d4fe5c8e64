//! What a notification says: the facts of the run's change, as the JSON
//! webhook body, as one or two lines of text (Slack-compatible webhooks),
//! and as an email's subject and body.

use std::collections::BTreeMap;

use app::execution::{ExecutionStatus, Trigger};
use app::pipeline::RunEvent;
use serde_json::{json, Value};

use crate::store::{ExecutionRecord, NotificationRecord};

/// The facts of one event of one run.
pub(crate) struct RunFacts {
    pub event: RunEvent,
    pub run_id: i64,
    pub run_number: i64,
    /// The run's status the event means (not what it may be by now).
    pub status: ExecutionStatus,
    /// The run's error, for the events that end it.
    pub error: Option<String>,
    /// The run's page.
    pub url: String,
    pub pipeline_id: i64,
    pub pipeline: String,
    pub project: String,
    pub trigger: Trigger,
    /// `DOCKER_DIGEST` and `DOCKER_IMAGE_REF` of the run's inputs, when set.
    pub digest: Option<String>,
    pub image: Option<String>,
    /// When the event happened, RFC 3339 in UTC.
    pub at: String,
    /// For `waiting`: the approvals the run waits for.
    pub approvals: Vec<ApprovalAsked>,
}

/// An approval a waiting run asks for: which task, what, and of whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApprovalAsked {
    /// `<stage>.<task>`.
    pub task: String,
    pub summary: String,
    /// Who may decide, in words ("alice or project administrators").
    pub who: String,
}

impl ApprovalAsked {
    fn line(&self) -> String {
        match self.summary.trim() {
            "" => format!("{} asks {}", self.task, self.who),
            summary => format!("{} asks {}: {summary}", self.task, self.who),
        }
    }
}

impl RunFacts {
    pub fn new(
        execution: &ExecutionRecord,
        record: &NotificationRecord,
        public_url: &str,
    ) -> Result<Self, serde_json::Error> {
        let trigger: Trigger = serde_json::from_str(&execution.trigger)?;
        let inputs: BTreeMap<String, String> = serde_json::from_str(&execution.inputs)?;
        let input = |name: &str| inputs.get(name).filter(|value| !value.is_empty()).cloned();
        let status = match record.event {
            RunEvent::Started => ExecutionStatus::Running,
            RunEvent::Waiting => ExecutionStatus::Waiting,
            RunEvent::Completed => ExecutionStatus::Completed,
            RunEvent::Failed => ExecutionStatus::Failed,
            RunEvent::Canceled => ExecutionStatus::Canceled,
        };
        Ok(RunFacts {
            event: record.event,
            run_id: execution.id,
            run_number: execution.run_number,
            status,
            error: execution.error.clone().filter(|_| status.is_final()),
            url: format!("{public_url}/executions/{}", execution.id),
            pipeline_id: execution.pipeline_id,
            pipeline: execution.pipeline_name.clone(),
            project: execution.project_name.clone(),
            // The Docker Hub callback URL is a credential of the push: never sent on.
            trigger: Trigger {
                callback: None,
                ..trigger
            },
            digest: input("DOCKER_DIGEST"),
            image: input("DOCKER_IMAGE_REF"),
            at: chrono::DateTime::from_timestamp_millis(record.created_at)
                .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            approvals: Vec::new(),
        })
    }

    /// The body of a `format: json` webhook.
    pub fn json(&self) -> Value {
        json!({
            "event": self.event.as_str(),
            "run": {
                "id": self.run_id,
                "number": self.run_number,
                "status": self.status.as_str(),
                "error": self.error,
                "url": self.url,
            },
            "pipeline": {
                "id": self.pipeline_id,
                "name": self.pipeline,
                "project": self.project,
            },
            "trigger": {
                "kind": self.trigger.kind,
                "user": self.trigger.user,
                "repository": self.trigger.repository,
                "tag": self.trigger.tag,
            },
            "digest": self.digest,
            "image": self.image,
            "at": self.at,
            "approvals": self.approvals.iter().map(|asked| json!({
                "task": asked.task,
                "summary": asked.summary,
                "approvers": asked.who,
            })).collect::<Vec<_>>(),
        })
    }

    /// `deploy #12 completed`: an email's subject after `[Slipway] `.
    pub fn title(&self) -> String {
        format!(
            "{} #{} {}",
            self.pipeline,
            self.run_number,
            self.event.as_str()
        )
    }

    /// The first line: what happened, and why it failed.
    pub fn headline(&self) -> String {
        let mut line = format!("Slipway: {} (project {})", self.title(), self.project);
        if self.event == RunEvent::Waiting {
            line.push_str(": it waits for an approval");
            for asked in &self.approvals {
                line.push_str(&format!(" ({})", asked.line()));
            }
        }
        if let Some(error) = &self.error {
            line.push_str(&format!(": {error}"));
        }
        line
    }

    /// The second line: what started it, what it deploys, and the link.
    pub fn details(&self) -> String {
        let mut parts = Vec::new();
        let trigger = &self.trigger;
        match (&trigger.repository, &trigger.tag) {
            (Some(repository), Some(tag)) => parts.push(format!("push of {repository}:{tag}")),
            (Some(repository), None) => parts.push(format!("push to {repository}")),
            _ => parts.push(format!("{} run", trigger.kind)),
        }
        if let Some(user) = &trigger.user {
            parts.push(format!("by {user}"));
        }
        if let Some(image) = self.image.as_ref().or(self.digest.as_ref()) {
            parts.push(format!("image {image}"));
        }
        let link = if self.event == RunEvent::Waiting {
            format!("approve or reject it at {}", self.url)
        } else {
            self.url.clone()
        };
        parts.push(link);
        parts.join(" · ")
    }

    /// The body of a `format: slack` webhook: Slack, Teams and Mattermost
    /// incoming webhooks all show `text`.
    pub fn slack(&self) -> Value {
        json!({ "text": format!("{}\n{}", self.headline(), self.details()) })
    }

    /// An email's body: the facts, one a line, and the link.
    pub fn email_body(&self) -> String {
        let mut lines = vec![
            self.headline(),
            String::new(),
            format!("Pipeline: {} (project {})", self.pipeline, self.project),
            format!("Run: #{} ({})", self.run_number, self.status.as_str()),
            format!("Event: {} at {}", self.event.as_str(), self.at),
            format!("Trigger: {}", self.trigger.kind),
        ];
        if let Some(user) = &self.trigger.user {
            lines.push(format!("User: {user}"));
        }
        if let Some(repository) = &self.trigger.repository {
            let tag = self.trigger.tag.as_deref().unwrap_or("");
            lines.push(format!("Pushed: {repository}:{tag}"));
        }
        if let Some(image) = &self.image {
            lines.push(format!("Image: {image}"));
        }
        if let Some(digest) = &self.digest {
            lines.push(format!("Digest: {digest}"));
        }
        if let Some(error) = &self.error {
            lines.push(format!("Error: {error}"));
        }
        for asked in &self.approvals {
            lines.push(format!("Approval: {}", asked.line()));
        }
        lines.push(String::new());
        if self.event == RunEvent::Waiting {
            lines.push(format!(
                "The run waits for an approval. Open it to approve or reject: {}",
                self.url
            ));
        } else {
            lines.push(format!("Open the run: {}", self.url));
        }
        lines.join("\n") + "\n"
    }
}

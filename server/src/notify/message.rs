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
    /// For `waiting`: the approval task that waits (`stage.task`), when known.
    pub approval: Option<String>,
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
            approval: Some(record.occasion.clone())
                .filter(|occasion| record.event == RunEvent::Waiting && !occasion.is_empty()),
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
            "approval": self.approval,
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
            line.push_str(&format!(": it{}", self.waits_for()));
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

    /// ` waits for approval prod.approve`, or ` waits for an approval` when
    /// the approval is not known.
    fn waits_for(&self) -> String {
        match &self.approval {
            Some(approval) => format!(" waits for approval {approval}"),
            None => " waits for an approval".to_string(),
        }
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
                "The run{}. Open it to approve or reject: {}",
                self.waits_for(),
                self.url
            ));
        } else {
            lines.push(format!("Open the run: {}", self.url));
        }
        lines.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use app::execution::{ExecutionStatus, NotificationState};
    use app::pipeline::RunEvent;

    use super::RunFacts;
    use crate::store::{ExecutionRecord, NotificationRecord};

    fn facts(event: RunEvent, occasion: &str) -> RunFacts {
        let execution = ExecutionRecord {
            id: 7,
            pipeline_id: 3,
            pipeline_name: "deploy".into(),
            project_id: 1,
            project_name: "Shop".into(),
            run_number: 12,
            status: ExecutionStatus::Waiting,
            inputs: r#"{"DOCKER_DIGEST":"sha256:ab","DOCKER_IMAGE_REF":"docker.io/acme/api@sha256:ab"}"#
                .into(),
            trigger: r#"{"kind":"docker","user":"ci","repository":"acme/api","tag":"1.2","callback":"sealed"}"#
                .into(),
            spec: "{}".into(),
            error: Some("not yet".into()),
            created_at: 0,
            started_at: Some(1),
            finished_at: None,
            cancel_requested: false,
            lease_owner: None,
        };
        let record = NotificationRecord {
            id: 1,
            execution_id: 7,
            event,
            occasion: occasion.into(),
            notification_index: 0,
            target: "{}".into(),
            state: NotificationState::Pending,
            attempts: 1,
            next_attempt_at: 0,
            last_error: None,
            sent_at: None,
            created_at: 1_796_000_000_000,
        };
        RunFacts::new(&execution, &record, "https://slipway.example").unwrap()
    }

    #[test]
    fn a_waiting_run_says_which_approval_waits_and_links_to_it() {
        let waiting = facts(RunEvent::Waiting, "prod.approve");
        let body = waiting.json();
        assert_eq!(body["approval"], "prod.approve");
        assert_eq!(body["run"]["status"], "WAITING");
        assert!(body["run"]["error"].is_null(), "only an end has an error");
        assert_eq!(body["trigger"]["repository"], "acme/api");
        assert!(
            !body.to_string().contains("sealed"),
            "no callback URL: {body}"
        );
        assert_eq!(body["digest"], "sha256:ab");
        let text = waiting.slack()["text"].as_str().unwrap().to_string();
        assert!(
            text.starts_with(
                "Slipway: deploy #12 waiting (project Shop): it waits for approval prod.approve\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("approve or reject it at https://slipway.example/executions/7"),
            "{text}"
        );
        let email = waiting.email_body();
        assert!(
            email.contains("The run waits for approval prod.approve. Open it to approve or reject: https://slipway.example/executions/7"),
            "{email}"
        );
        assert_eq!(waiting.title(), "deploy #12 waiting");
    }

    #[test]
    fn an_end_carries_the_runs_error() {
        let failed = facts(RunEvent::Failed, "");
        assert_eq!(failed.json()["run"]["error"], "not yet");
        assert!(failed.json()["approval"].is_null());
        assert!(failed.headline().ends_with(": not yet"));
        assert!(failed.email_body().contains("Error: not yet"));
    }
}

//! Delivering pipelines' notifications: a worker in each server process
//! takes due rows of the outbox (written by the runs' own changes, see
//! `store::notifications`), sends each to its webhook or mail server, and
//! records SENT, or a retry after a doubling delay, or FAILED once
//! [`RetryPolicy::max_attempts`] attempts failed.
//!
//! A notification never delays or fails a run: the worker is a task of its
//! own that the engine never waits for, and a run's change only writes rows.
//! Errors recorded and logged never hold a secret: a webhook URL's query
//! string (where tokens travel) and user info are cut from every text.

mod email;
mod message;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use app::model::Millis;
use app::pipeline::NotificationTarget;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::connect::Outbound;
use crate::store::{DeliveryOutcome, NotificationRecord, SharedStore, StoreResult};

pub use email::EmailSettings;
pub use webhook::display_url;

/// Delay before a failed notification's first retry, unless the hidden
/// `--notification-retry-base-ms` says otherwise; it doubles after each
/// failed attempt, up to [`MAX_RETRY_DELAY`].
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(5);
/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5 * 60);
/// Attempts before a notification is FAILED for good (with the defaults the
/// last one is made about 2.5 minutes after the first).
pub const MAX_ATTEMPTS: i64 = 6;
/// How long one webhook request may take, connecting included.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one SMTP command (connecting included) may take, and one
/// whole email.
pub const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
pub const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a worker's claim on a row holds: longer than any delivery takes,
/// so only a claim of a process that died lapses (and is then taken again).
const DELIVERY_LEASE: Duration = Duration::from_secs(120);
/// Rows a worker takes at once at most.
const CLAIM_BATCH: i64 = 16;
/// Deliveries (the claimed rows of one notification of a run, in order) a
/// worker has going at once.
const DELIVERY_SLOTS: usize = 16;
/// How often an idle worker looks for due rows, at most (and at least as
/// often as the first retry's delay, so short test delays are kept).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// When failed notifications are tried again, and how often at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: DEFAULT_RETRY_BASE,
            max_delay: MAX_RETRY_DELAY,
            max_attempts: MAX_ATTEMPTS,
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt number `attempts` (1 for the first) failed:
    /// `base`, doubling with every attempt, at most `max_delay`.
    pub fn delay_after(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// What a failed attempt number `attempts` leads to.
    fn after_failure<'a>(&self, attempts: i64, error: &'a str, now: Millis) -> DeliveryOutcome<'a> {
        if attempts >= self.max_attempts {
            return DeliveryOutcome::GaveUp { error };
        }
        DeliveryOutcome::Retry {
            error,
            retry_at: now.saturating_add(millis(self.delay_after(attempts))),
        }
    }
}

fn millis(duration: Duration) -> Millis {
    duration.as_millis().try_into().unwrap_or(Millis::MAX)
}

/// Why an attempt failed: a text for the run's page (no secrets), and
/// whether another attempt could go better.
#[derive(Debug)]
pub(crate) struct Failure {
    pub message: String,
    pub retry: bool,
}

impl Failure {
    pub fn retry(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retry: true,
        }
    }

    pub fn last(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retry: false,
        }
    }
}

/// What the delivery worker uses of the server.
pub struct Notifier {
    store: SharedStore,
    outbound: Outbound,
    email: Option<EmailSettings>,
    /// Base of the run links in messages.
    public_url: String,
    /// This worker's lease owner name.
    owner: String,
    retry: RetryPolicy,
}

impl Notifier {
    pub fn new(
        store: SharedStore,
        outbound: Outbound,
        email: Option<EmailSettings>,
        public_url: String,
        replica_id: &str,
        retry: RetryPolicy,
    ) -> Arc<Self> {
        Arc::new(Notifier {
            store,
            outbound,
            email,
            public_url,
            owner: format!(
                "{replica_id}#notify-{}",
                &crate::secrets::random_token("")[..8]
            ),
            retry,
        })
    }

    /// Starts the worker; it ends soon after `stop` is cancelled (a delivery
    /// cut short is taken again once its claim lapses).
    pub fn spawn(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let notifier = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                () = notifier.work() => {}
                () = stop.cancelled() => {}
            }
        })
    }

    /// Claims due rows as delivery slots free up and delivers the rows of
    /// one notification of a run in the order they were made, side by side
    /// with the others (a target that hangs holds one slot, never the others). The deliveries
    /// are tasks of a set this loop owns: they end with it.
    async fn work(self: Arc<Self>) {
        let idle = IDLE_POLL.min(self.retry.base);
        let slots = Arc::new(Semaphore::new(DELIVERY_SLOTS));
        let mut deliveries = JoinSet::new();
        loop {
            // Finished deliveries are reaped (a panic in one is logged, not spread).
            while let Some(ended) = deliveries.try_join_next() {
                if let Err(error) = ended {
                    tracing::error!(%error, "a notification delivery ended abnormally");
                }
            }
            let limit = slots.available_permits().min(CLAIM_BATCH as usize);
            let mut claimed = 0;
            if limit > 0 {
                match self.claim(limit as i64).await {
                    Ok(due) => {
                        claimed = due.len();
                        for run in by_target(due) {
                            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                                return;
                            };
                            let notifier = Arc::clone(&self);
                            deliveries.spawn(async move {
                                for record in run {
                                    notifier.deliver(record).await;
                                }
                                drop(slot);
                            });
                        }
                    }
                    Err(error) => tracing::error!(%error, "claiming notifications failed"),
                }
            }
            // As many as could be taken were due: more may be due at once.
            if limit == 0 || claimed < limit {
                tokio::time::sleep(idle).await;
            }
        }
    }
    /// Takes up to `limit` due rows for this worker.
    async fn claim(&self, limit: i64) -> StoreResult<Vec<NotificationRecord>> {
        let now = now_millis();
        self.store
            .claim_due_notifications(
                &self.owner,
                now,
                now.saturating_add(millis(DELIVERY_LEASE)),
                limit,
            )
            .await
    }

    async fn deliver(&self, record: NotificationRecord) {
        let attempt = self.attempt(&record).await;
        let now = now_millis();
        let outcome = match &attempt {
            Ok(()) => DeliveryOutcome::Sent,
            Err(failure) if failure.retry => {
                self.retry
                    .after_failure(record.attempts, &failure.message, now)
            }
            Err(failure) => DeliveryOutcome::GaveUp {
                error: &failure.message,
            },
        };
        match &outcome {
            DeliveryOutcome::Sent => tracing::info!(
                execution = record.execution_id,
                event = record.event.as_str(),
                attempts = record.attempts,
                "notification sent"
            ),
            DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::GaveUp { error } => {
                tracing::warn!(
                    execution = record.execution_id,
                    event = record.event.as_str(),
                    attempts = record.attempts,
                    gave_up = matches!(outcome, DeliveryOutcome::GaveUp { .. }),
                    %error,
                    "a notification was not delivered"
                )
            }
        }
        match self
            .store
            .record_delivery(record.id, &self.owner, outcome, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                notification = record.id,
                "a notification's claim lapsed before its outcome was recorded"
            ),
            Err(error) => tracing::error!(%error, "recording a notification's outcome failed"),
        }
    }

    /// One delivery of `record`, bounded in time.
    async fn attempt(&self, record: &NotificationRecord) -> Result<(), Failure> {
        let target: NotificationTarget = serde_json::from_str(&record.target).map_err(|_| {
            Failure::last("internal error: the stored notification could not be read")
        })?;
        let Some(execution) = self
            .store
            .execution_by_id(record.execution_id)
            .await
            .map_err(|error| Failure::retry(format!("the run could not be read: {error}")))?
        else {
            return Err(Failure::last("the run no longer exists"));
        };
        let mut facts = message::RunFacts::new(&execution, record, &self.public_url)
            .map_err(|error| Failure::last(format!("internal error: {error}")))?;
        if record.event == app::pipeline::RunEvent::Waiting {
            // Who is asked, and what: the approvals the run waits for.
            let tasks = self.store.task_runs(execution.id).await.map_err(|error| {
                Failure::retry(format!("the run's tasks could not be read: {error}"))
            })?;
            facts.approvals = tasks
                .iter()
                .filter(|task| task.status == app::execution::TaskStatus::Waiting)
                // The approval this notification is about, when it says.
                .filter(|task| {
                    record.occasion.is_empty()
                        || record.occasion == format!("{}.{}", task.stage_name, task.task_name)
                })
                .filter_map(|task| {
                    let approval = crate::service::approval_of(task)?;
                    Some(message::ApprovalAsked {
                        task: format!("{}.{}", task.stage_name, task.task_name),
                        summary: approval.summary,
                        who: app::approval::who_decides(
                            &approval.approvers,
                            &approval.approver_roles,
                        ),
                    })
                })
                .collect();
        }
        match target {
            NotificationTarget::Webhook(webhook) => {
                webhook::send(&self.outbound, &webhook, &facts).await
            }
            NotificationTarget::Email(email) => {
                let Some(settings) = &self.email else {
                    return Err(Failure::last(
                        "this server cannot send email: start it with --smtp-url and --smtp-from",
                    ));
                };
                email::send(settings, &email.to, &facts).await
            }
        }
    }
}

/// The rows of each notification of each run, oldest first: one target
/// hears of a run's events in the order they happened, and a target that
/// hangs holds up only its own rows.
fn by_target(records: Vec<NotificationRecord>) -> Vec<Vec<NotificationRecord>> {
    let mut runs: Vec<Vec<NotificationRecord>> = Vec::new();
    let mut sorted = records;
    sorted.sort_by_key(|record| record.id);
    let key = |record: &NotificationRecord| (record.execution_id, record.notification_index);
    for record in sorted {
        match runs.iter_mut().find(|run| key(&run[0]) == key(&record)) {
            Some(run) => run.push(record),
            None => runs.push(vec![record]),
        }
    }
    runs
}

/// How a run's page shows a notification's target: the webhook's URL
/// without query string or user info, or the addresses of an email; and
/// its format (`json`, `slack` or `email`).
pub fn target_view(target: &str) -> (String, String) {
    match serde_json::from_str::<NotificationTarget>(target) {
        Ok(NotificationTarget::Webhook(webhook)) => (
            display_url(&webhook.url),
            match webhook.format {
                app::pipeline::WebhookFormat::Json => "json",
                app::pipeline::WebhookFormat::Slack => "slack",
            }
            .to_string(),
        ),
        Ok(NotificationTarget::Email(email)) => {
            (format!("email to {}", email.to.join(", ")), "email".into())
        }
        Err(_) => ("(unreadable)".into(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=8)
            .map(|attempts| policy.delay_after(attempts).as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(policy.delay_after(i64::MAX), MAX_RETRY_DELAY);
    }

    #[test]
    fn the_last_attempt_gives_up_with_its_error() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after_failure(1, "HTTP 500", 1_000),
            DeliveryOutcome::Retry {
                error: "HTTP 500",
                retry_at: 6_000
            }
        );
        assert_eq!(
            policy.after_failure(MAX_ATTEMPTS, "HTTP 500", 1_000),
            DeliveryOutcome::GaveUp { error: "HTTP 500" }
        );
    }
}

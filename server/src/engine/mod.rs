//! The pipeline engine: workers in each server process (replica) claim
//! QUEUED runs from the store, run their stages in order (the tasks of a
//! stage in parallel), and commit every transition before the next step.
//!
//! A claim is a lease in the database, held by this replica's owner name
//! (`--replica-id` and a random suffix) and renewed while the run goes on;
//! a worker learns there of cancel requests made on other replicas. A run
//! whose lease ran out — its replica was killed, or handed it back when it
//! shut down — is taken over by any replica's worker: finished tasks are
//! kept, the interrupted one starts again, saying so in its log. A replica
//! that loses a lease (it stalled past it and another took over) stops the
//! run without recording an end, which is the new owner's to record.
//!
//! The engine sees only its [`EngineContext`], not the request side's service.

mod approvals;
mod callback;
mod run;
mod tasks;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use app::model::Millis;

use crate::clock::now_millis;
use crate::connect::Outbound;
use crate::crypto::SecretBox;
use crate::live::LiveBus;
use crate::store::{ExecutionRecord, SharedStore, StoreResult};
use run::RunStart;

pub use approvals::{decision_end, decision_output, APPROVAL_EXPIRED};

/// How long a claim holds without renewal, unless `--run-lease-seconds` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Renewal (and remote-cancel check) period at most: a cancel made on
/// another replica reaches the run within it. Shorter leases renew more often.
const MAX_HEARTBEAT: Duration = Duration::from_secs(1);
/// A worker with nothing to do looks again this often even without a wake-up,
/// so a missed wake-up delays a run by this much at most.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How a run or task that panicked ends; the panic's message goes to the log.
pub const PANIC_REASON: &str = "internal error: the task panicked; the server log has the details";

/// Runs `future`, answering `None` (after logging the panic) when it panics:
/// a bug met by one run must end that run, not the worker that runs it.
async fn supervised<T>(what: &str, future: impl std::future::Future<Output = T>) -> Option<T> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(future).catch_unwind().await {
        Ok(value) => Some(value),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            tracing::error!(panic = message, "{what} panicked");
            None
        }
    }
}

/// What the engine and the request handlers share: a wake-up for idle
/// workers, and the cancel switches of runs in progress here.
#[derive(Clone, Default)]
pub struct EngineSignals {
    queued: Arc<Notify>,
    running: Arc<Mutex<HashMap<i64, CancellationToken>>>,
}

impl EngineSignals {
    /// A run was queued: wake one idle worker.
    pub fn run_queued(&self) {
        self.queued.notify_one();
    }

    /// Stops a run in progress in this process at once. (A cancel recorded
    /// only in the store reaches the run at its worker's next heartbeat.)
    pub fn cancel(&self, execution_id: i64) {
        if let Some(token) = self.lock().get(&execution_id) {
            token.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the engine uses of the server, and nothing more (the shape of a
/// kube-rs controller's `Context`). `signals` and `live` must be the request
/// side's own instances: a run queued there wakes a worker here, a cancel
/// there stops a run here, and what a run does reaches the pages' streams.
#[derive(Clone)]
pub struct EngineContext {
    pub store: SharedStore,
    pub live: LiveBus,
    pub signals: EngineSignals,
    /// REST and Poll requests, and Docker Hub callbacks.
    pub outbound: Outbound,
    /// Unseals endpoint secrets and Docker Hub callback URLs.
    pub secret_box: SecretBox,
    /// Base of the run links sent in Docker Hub callbacks.
    pub public_url: String,
    /// Counts runs' ends and tasks' times (`/metrics`).
    pub metrics: crate::metrics::SharedMetrics,
}

/// Who this replica is to the other ones.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Named in the logs of runs it takes over (`--replica-id`).
    pub replica_id: String,
    /// How long a claim holds without renewal (`--run-lease-seconds`).
    pub lease: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            replica_id: default_replica_id(),
            lease: DEFAULT_LEASE,
        }
    }
}

/// The host name and the process id: unique among replicas on one machine
/// and, in a cluster, the pod's name.
pub fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "slipway".to_string());
    format!("{host}-{}", std::process::id())
}

/// The replica a lease owner name belongs to (owner names are
/// `<replica id>#<random>`: a restarted replica with the same id is another owner).
pub fn replica_of(owner: &str) -> &str {
    owner.rsplit_once('#').map_or(owner, |(replica, _)| replica)
}

/// How the workers are stopped: first they stop claiming (runs in progress
/// go on), then runs still going are handed back to the other replicas.
#[derive(Clone, Default)]
pub struct EngineStop {
    pub stop_claiming: CancellationToken,
    pub hand_back: CancellationToken,
}

pub struct Engine {
    context: EngineContext,
    /// This replica's lease owner name.
    owner: String,
    lease: Duration,
    heartbeat: Duration,
}

impl Engine {
    pub fn new(context: EngineContext, settings: EngineSettings) -> Arc<Self> {
        let owner = format!(
            "{}#{}",
            settings.replica_id,
            &crate::secrets::random_token("")[..8]
        );
        let heartbeat = (settings.lease / 3).min(MAX_HEARTBEAT);
        Arc::new(Engine {
            context,
            owner,
            lease: settings.lease,
            heartbeat,
        })
    }

    /// The replica's lease owner name.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs in progress in this process.
    pub fn runs_in_progress(&self) -> usize {
        self.context.signals.lock().len()
    }

    fn lease_until(&self, now: Millis) -> Millis {
        now.saturating_add(self.lease.as_millis().try_into().unwrap_or(Millis::MAX))
    }

    /// Starts `workers` workers, stopped by `stop`.
    pub fn spawn(
        self: &Arc<Self>,
        workers: usize,
        stop: &EngineStop,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..workers)
            .map(|_| tokio::spawn(Arc::clone(self).work(stop.clone())))
            .chain(std::iter::once(tokio::spawn(
                Arc::clone(self).expire_approvals(stop.stop_claiming.clone()),
            )))
            .collect()
    }

    async fn work(self: Arc<Self>, stop: EngineStop) {
        let signals = self.context.signals.clone();
        while !stop.stop_claiming.is_cancelled() {
            match self.next_run().await {
                Ok(Some((execution, start))) => {
                    self.run(execution, start, stop.hand_back.clone()).await
                }
                Ok(None) => {
                    tokio::select! {
                        _ = signals.queued.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stop.stop_claiming.cancelled() => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "claiming a run failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    /// A run whose lease ran out (or whose approvals were decided) comes
    /// first, then the oldest queued one.
    async fn next_run(&self) -> StoreResult<Option<(ExecutionRecord, RunStart)>> {
        let store = &self.context.store;
        let now = now_millis();
        let lease_until = self.lease_until(now);
        if let Some(taken) = store
            .take_over_expired_execution(&self.owner, now, lease_until)
            .await?
        {
            // Parked runs hold no lease: one without an owner was resumed.
            let start = match replica_of(&taken.previous_owner) {
                "" => RunStart::Resumed,
                replica => RunStart::TakenOver(replica.to_string()),
            };
            return Ok(Some((taken.execution, start)));
        }
        // The clock is read again right before the claim asks for the write
        // connection (queued fairly): a run that ended while the takeover was
        // looked up then always ends before this one starts, never after.
        let now = now_millis();
        Ok(store
            .claim_execution(&self.owner, now, self.lease_until(now))
            .await?
            .map(|execution| (execution, RunStart::Fresh)))
    }
}

//! The pipeline engine: workers in the server process claim QUEUED runs from
//! the store, run their stages in order (the tasks of a stage in parallel),
//! and commit every transition before the next step.
//!
//! A claim is a lease in the database. A worker renews its lease while it
//! runs and learns there of cancel requests recorded in the store; a cancel
//! made through this process's [`EngineSignals`] stops the run at once. Today
//! the store is SQLite and one process holds every lease, so a run left
//! RUNNING by a crash ends FAILED on the next start
//! ([`Engine::recover_after_restart`]). Not yet built: several replicas
//! sharing the queue (PostgreSQL), and a sweep that fails runs whose lease
//! expired while the server kept running.
//!
//! The engine sees only its [`EngineContext`], not the request side's service.

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

use crate::clock::now_millis;
use crate::connect::Outbound;
use crate::crypto::SecretBox;
use crate::live::LiveBus;
use crate::store::SharedStore;

/// How long a claim holds without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// Renewal (and remote-cancel check) period: well inside the lease.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A worker with nothing to do looks again this often even without a wake-up,
/// so a missed wake-up delays a run by this much at most.
const IDLE_POLL: Duration = Duration::from_secs(1);
pub const RESTART_REASON: &str = "interrupted by server restart";
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
}

pub struct Engine {
    context: EngineContext,
    owner: String,
}

impl Engine {
    pub fn new(context: EngineContext) -> Arc<Self> {
        let owner = format!(
            "{}-{}",
            std::process::id(),
            &crate::secrets::random_token("")[..8]
        );
        Arc::new(Engine { context, owner })
    }

    /// On start with the embedded database no other process can hold a run:
    /// whatever was RUNNING was cut off by a crash or kill, and ends FAILED.
    pub async fn recover_after_restart(&self) -> anyhow::Result<u64> {
        let failed = self
            .context
            .store
            .fail_abandoned_executions(now_millis(), RESTART_REASON, false)
            .await?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "runs interrupted by the last stop were marked FAILED"
            );
        }
        Ok(failed)
    }

    /// Starts `workers` workers that stop when `shutdown` is canceled.
    pub fn spawn(
        self: &Arc<Self>,
        workers: usize,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..workers)
            .map(|_| tokio::spawn(Arc::clone(self).work(shutdown.clone())))
            .collect()
    }

    async fn work(self: Arc<Self>, shutdown: CancellationToken) {
        let signals = self.context.signals.clone();
        while !shutdown.is_cancelled() {
            let now = now_millis();
            let claimed = self
                .context
                .store
                .claim_execution(&self.owner, now, now + LEASE.as_millis() as i64)
                .await;
            match claimed {
                Ok(Some(execution)) => self.run(execution, shutdown.clone()).await,
                Ok(None) => {
                    tokio::select! {
                        _ = signals.queued.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "claiming a queued run failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }
}

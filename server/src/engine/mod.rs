//! The pipeline engine: workers in the server process claim QUEUED runs from
//! the store, run their stages in order (the tasks of a stage in parallel),
//! and commit every transition before the next step.
//!
//! A claim is a lease in the database: with SQLite one process holds them;
//! with PostgreSQL several replicas share the queue the same way. A worker
//! renews its lease while it runs and learns there of cancel requests made
//! on another replica; a run whose lease expired lost its worker.

mod run;
mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::service::Slipway;

/// How long a claim holds without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// Renewal (and remote-cancel check) period: well inside the lease.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A worker with nothing to do looks again this often even without a wake-up
/// (runs queued by another replica do not wake this one).
const IDLE_POLL: Duration = Duration::from_secs(1);
pub const RESTART_REASON: &str = "interrupted by server restart";

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

    /// Stops a run in progress in this process at once (the heartbeat covers other replicas).
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

pub struct Engine {
    slipway: Slipway,
    owner: String,
}

impl Engine {
    pub fn new(slipway: Slipway) -> Arc<Self> {
        let owner = format!(
            "{}-{}",
            std::process::id(),
            &crate::secrets::random_token("")[..8]
        );
        Arc::new(Engine { slipway, owner })
    }

    /// On start with the embedded database no other process can hold a run:
    /// whatever was RUNNING was cut off by a crash or kill, and ends FAILED.
    pub async fn recover_after_restart(&self) -> anyhow::Result<u64> {
        let failed = self
            .slipway
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
        let signals = self.slipway.signals.clone();
        while !shutdown.is_cancelled() {
            let now = now_millis();
            let claimed = self
                .slipway
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

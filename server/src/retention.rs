//! Retention: a background job in every server process that, one replica at
//! a time (a lease in the store), prunes finished runs (with their tasks and
//! log lines), Activity rows and push-order heads older than `--keep-days`,
//! and dedupe keys past their window.
//!
//! Never pruned: a run still QUEUED, RUNNING or WAITING (only final
//! statuses are), the newest run of each pipeline however old, an Activity
//! row that links to a run still kept or that push order or dedupe still
//! names. The audit trail is not pruned. Rows go in small batches, each its
//! own short transaction, so SQLite's write lock is never held for long and
//! deliveries and runs write between the batches.

use std::sync::Arc;
use std::time::Duration;

use app::model::Millis;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::service::delivery::DEDUPE_WINDOW_MILLIS;
use crate::store::{
    MaintenanceLease, PruneBatch, PruneTarget, PrunedCounts, SharedStore, StoreResult,
    RETENTION_LEASE,
};

/// Days kept unless `--keep-days` says otherwise.
pub const DEFAULT_KEEP_DAYS: u32 = 90;
/// The longest `--keep-days` taken (a hundred years): more is surely a typo.
pub const MAX_KEEP_DAYS: u32 = 36_500;
/// How often a replica tries a pass unless the hidden `--prune-interval-ms`
/// says otherwise: old rows are days old, an hour late is nothing.
pub const DEFAULT_PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The first pass after a start, at the latest: soon, but not in the way of
/// the start itself (the engine taking runs over, the first deliveries).
const FIRST_PASS_DELAY: Duration = Duration::from_secs(60);
/// Runs per batch: a run brings its tasks and every log line along, so
/// fewer runs than other rows keep a batch's transaction short.
pub const RUNS_PER_BATCH: i64 = 100;
/// Activity rows or dedupe keys per batch: small rows without dependants.
pub const ROWS_PER_BATCH: i64 = 500;
/// How long the lease holds without renewal (each batch renews it): a
/// replica that died mid-pass holds up the next pass this long at most.
const PASS_LEASE: Duration = Duration::from_secs(5 * 60);
const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// What is kept, and how often it is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// How long finished runs and Activity rows are kept; None keeps them
    /// forever (`--keep-days 0`). Dedupe keys expire either way.
    pub keep: Option<Duration>,
    /// Time between two passes of one replica.
    pub interval: Duration,
    /// Runs per batch ([`RUNS_PER_BATCH`]).
    pub runs_per_batch: i64,
    /// Activity rows or dedupe keys per batch ([`ROWS_PER_BATCH`]).
    pub rows_per_batch: i64,
}

impl RetentionPolicy {
    /// `--keep-days` days (0: forever), a pass every `interval`.
    pub fn days(keep_days: u32, interval: Duration) -> Self {
        RetentionPolicy {
            keep: (keep_days > 0)
                .then(|| Duration::from_millis(u64::from(keep_days) * MILLIS_PER_DAY as u64)),
            interval,
            runs_per_batch: RUNS_PER_BATCH,
            rows_per_batch: ROWS_PER_BATCH,
        }
    }
}

/// The retention job of one replica.
pub struct Pruner {
    store: SharedStore,
    replica_id: String,
    policy: RetentionPolicy,
}

impl Pruner {
    pub fn new(store: SharedStore, replica_id: &str, policy: RetentionPolicy) -> Self {
        Pruner {
            store,
            replica_id: replica_id.to_string(),
            policy,
        }
    }

    /// Passes every `interval` (the first one soon after the start) until
    /// `stop`. A failed pass is logged and tried again at the next one.
    pub fn spawn(self: Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut wait = self.policy.interval.min(FIRST_PASS_DELAY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                // A batch under way when `stop` comes is finished or rolled
                // back by the database: stopping between statements is safe.
                tokio::select! {
                    () = stop.cancelled() => return,
                    pass = self.prune_once(now_millis()) => match pass {
                        Ok(Some(pruned)) => tracing::info!(
                            runs = pruned.runs,
                            activity_rows = pruned.events,
                            dedupe_keys = pruned.dedupe_keys,
                            push_heads = pruned.push_heads,
                            "retention pass finished"
                        ),
                        Ok(None) => tracing::debug!("retention: another replica is pruning"),
                        Err(error) => tracing::warn!(%error, "retention pass failed"),
                    },
                }
                wait = self.policy.interval;
            }
        })
    }

    /// One pass as of `now`: takes the lease (None when another replica
    /// holds it), prunes each kind of row batch by batch until a batch comes
    /// back short, and records what it pruned. Stops early, keeping what it
    /// pruned, if the lease is lost (another replica took it over after this
    /// one stalled past [`PASS_LEASE`]).
    pub async fn prune_once(&self, now: Millis) -> StoreResult<Option<PrunedCounts>> {
        let lease = MaintenanceLease {
            name: RETENTION_LEASE,
            holder: &self.replica_id,
        };
        let lease_length = PASS_LEASE.as_millis() as i64;
        // The pass's own clock: `now` plus the time it has taken, so the
        // lease is renewed from the time of each batch on the caller's clock.
        let started = std::time::Instant::now();
        let clock = || now + started.elapsed().as_millis() as i64;
        if !self
            .store
            .take_maintenance_lease(lease, now, now + lease_length)
            .await?
        {
            return Ok(None);
        }
        let mut pruned = PrunedCounts::default();
        // Expired dedupe keys, runs and old push heads before Activity
        // rows: each holds Activity rows (a key or a head names its event, a
        // run is linked from its rows), which can then go in the same pass.
        let mut targets = vec![(
            PruneTarget::DedupeKeys,
            now - DEDUPE_WINDOW_MILLIS,
            self.policy.rows_per_batch,
        )];
        if let Some(keep) = self.policy.keep {
            let horizon = now.saturating_sub(keep.as_millis() as i64);
            targets.push((PruneTarget::Runs, horizon, self.policy.runs_per_batch));
            targets.push((PruneTarget::PushHeads, horizon, self.policy.rows_per_batch));
            targets.push((PruneTarget::Activity, horizon, self.policy.rows_per_batch));
        }
        'targets: for (target, before, limit) in targets {
            loop {
                let batch = PruneBatch {
                    lease,
                    target,
                    before,
                    limit,
                    lease_until: clock() + lease_length,
                };
                let Some(deleted) = self.store.prune_batch(batch).await? else {
                    tracing::warn!("retention: the lease was lost mid-pass; stopping");
                    break 'targets;
                };
                match target {
                    PruneTarget::Runs => pruned.runs += deleted,
                    PruneTarget::Activity => pruned.events += deleted,
                    PruneTarget::DedupeKeys => pruned.dedupe_keys += deleted,
                    PruneTarget::PushHeads => pruned.push_heads += deleted,
                }
                if deleted < limit as u64 {
                    break;
                }
            }
        }
        self.store
            .finish_maintenance(lease, clock(), pruned)
            .await?;
        Ok(Some(pruned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_everything_and_days_are_whole_days() {
        assert_eq!(RetentionPolicy::days(0, DEFAULT_PRUNE_INTERVAL).keep, None);
        assert_eq!(
            RetentionPolicy::days(2, DEFAULT_PRUNE_INTERVAL).keep,
            Some(Duration::from_secs(2 * 24 * 60 * 60))
        );
    }

    /// The SQL list of statuses the prune leaves is exactly the enum's
    /// unfinished ones.
    #[test]
    fn the_statuses_left_alone_are_the_unfinished_ones() {
        let listed: Vec<String> = crate::store::unfinished_statuses()
            .iter()
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        assert_eq!(
            crate::store::UNFINISHED_STATUSES_SQL,
            format!("({})", listed.join(", "))
        );
    }
}

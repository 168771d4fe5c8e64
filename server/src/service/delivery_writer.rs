//! Group commit for deliveries: one writer task takes every delivery waiting
//! at that moment and records them in one transaction, then answers each.
//!
//! A receiver still answers only once its delivery is committed ("recorded
//! before 202"), but a burst of deliveries shares one commit instead of
//! queueing one by one for SQLite's write lock. A server killed mid-batch
//! loses only deliveries it had not answered: the batch commits before any of
//! them is answered. Dedupe stays atomic: it is the store's unique keys, in
//! the same transaction, whatever batch a delivery lands in.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use crate::store::{DeliveryRecorded, DeliveryWrite, SharedStore, StoreResult};

/// Deliveries waiting for the writer at most; a receiver beyond it waits for
/// room (the registry sees a slower answer, nothing is dropped).
const MAX_WAITING: usize = 4096;

/// Writes recorded in one transaction at most: a longer burst is several
/// transactions, so the first deliveries are not held for the last.
const MAX_WRITES_PER_BATCH: usize = 512;

/// What one delivery asks the writer to record: its writes, committed
/// together, and where the outcome goes.
struct Waiting {
    writes: Vec<DeliveryWrite>,
    answer: oneshot::Sender<Recorded>,
}

/// Each write's outcome, in order; `None` when the transaction failed and
/// none of them was recorded.
type Recorded = Option<Vec<StoreResult<DeliveryRecorded>>>;

/// The handle receivers record through. The writer task starts with the
/// first delivery and ends when the service is dropped.
pub struct DeliveryWriter {
    store: SharedStore,
    queue: OnceLock<mpsc::Sender<Waiting>>,
}

impl DeliveryWriter {
    pub fn new(store: SharedStore) -> Self {
        DeliveryWriter {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Records one delivery's writes in the next batch and waits for the
    /// commit. `None`: the transaction failed (the log has why), nothing of
    /// this delivery was recorded.
    pub async fn record(&self, writes: Vec<DeliveryWrite>) -> Recorded {
        if writes.is_empty() {
            return Some(Vec::new());
        }
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(MAX_WAITING);
            tokio::spawn(write_batches(self.store.clone(), receiver));
            sender
        });
        let (answer, outcome) = oneshot::channel();
        queue.send(Waiting { writes, answer }).await.ok()?;
        outcome.await.ok().flatten()
    }
}

/// The writer: waits for a delivery, takes every other one already waiting
/// (up to [`MAX_WRITES_PER_BATCH`] writes), records them in one transaction,
/// answers each.
async fn write_batches(store: SharedStore, mut queue: mpsc::Receiver<Waiting>) {
    while let Some(first) = queue.recv().await {
        let mut writes = first.writes;
        let mut answers = vec![(first.answer, writes.len())];
        while writes.len() < MAX_WRITES_PER_BATCH {
            let Ok(next) = queue.try_recv() else { break };
            answers.push((next.answer, next.writes.len()));
            writes.extend(next.writes);
        }
        let mut outcomes = match store.record_deliveries(&writes).await {
            Ok(outcomes) => Some(outcomes.into_iter()),
            Err(error) => {
                tracing::error!(%error, deliveries = answers.len(), "recording a batch of deliveries failed");
                None
            }
        };
        // Each delivery's outcomes are the next ones, as many as it sent
        // writes. A receiver that gave up waiting is simply not answered.
        for (answer, count) in answers {
            let recorded = outcomes
                .as_mut()
                .map(|outcomes| outcomes.by_ref().take(count).collect());
            let _ = answer.send(recorded);
        }
    }
}

//! Group commit for deliveries: one writer task takes every delivery waiting
//! at that moment and records them in one transaction, then answers each.
//!
//! A receiver still answers only once its delivery is committed ("recorded
//! before 202"), but a burst of deliveries shares one commit instead of
//! queueing one by one for SQLite's write lock. A server killed mid-batch
//! loses only deliveries it had not answered: the batch commits before any of
//! them is answered. Dedupe stays atomic: it is the store's unique keys, in
//! the same transaction, whatever batch a delivery lands in.
//!
//! A store that takes several writers at once (PostgreSQL) gets as many
//! writer tasks as it says are worth it: each takes the next batch while the
//! others wait on their round trips. They share nothing but the queue; two
//! batches racing for one push's dedupe key or tag head are settled by the
//! store's unique keys and compare-and-set, as two replicas' are.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot, Mutex};

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

/// Writes recorded in one transaction, and whom to answer for how many of
/// them, in order.
struct Batch {
    writes: Vec<DeliveryWrite>,
    answers: Vec<(oneshot::Sender<Recorded>, usize)>,
}

/// The handle receivers record through. The writer tasks start with the
/// first delivery and end when the service is dropped.
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
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..self.store.concurrent_writers().max(1) {
                tokio::spawn(write_batches(self.store.clone(), receiver.clone()));
            }
            sender
        });
        let (answer, outcome) = oneshot::channel();
        queue.send(Waiting { writes, answer }).await.ok()?;
        outcome.await.ok().flatten()
    }
}

/// A writer: waits for a delivery, takes every other one already waiting
/// (up to [`MAX_WRITES_PER_BATCH`] writes), records them in one transaction,
/// answers each. Only the taking holds the queue, not the writing.
async fn write_batches(store: SharedStore, queue: Arc<Mutex<mpsc::Receiver<Waiting>>>) {
    loop {
        let Some(Batch { writes, answers }) = next_batch(&mut *queue.lock().await).await else {
            return;
        };
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

/// The next batch: every write waiting, up to [`MAX_WRITES_PER_BATCH`].
/// `None` once the service is gone.
async fn next_batch(queue: &mut mpsc::Receiver<Waiting>) -> Option<Batch> {
    let first = queue.recv().await?;
    let mut writes = first.writes;
    let mut answers = vec![(first.answer, writes.len())];
    while writes.len() < MAX_WRITES_PER_BATCH {
        let Ok(next) = queue.try_recv() else { break };
        answers.push((next.answer, next.writes.len()));
        writes.extend(next.writes);
    }
    Some(Batch { writes, answers })
}

//! The in-process event bus behind the pages' live streams.
//!
//! The engine and the request side publish what changed after it is
//! committed; each open `/api/live` stream subscribes and forwards what its
//! reader may see. On SQLite one process runs everything, so this bus carries
//! every event. On PostgreSQL several replicas share the database: once
//! [`LiveBus::connect_replicas`] ran, every event published here is also sent
//! to the other replicas with `NOTIFY`, and theirs arrive here through a
//! `LISTEN`ing connection ([`replicas`]). When events may have been lost on
//! the way (the listener reconnected, a queue overflowed), every stream is told
//! to resync, as a stream that fell behind is.

pub mod replicas;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::error::AppError;
use app::execution::ExecutionStatus;
use app::live::LiveEvent;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Events a slow reader may fall behind by before it is told to resync.
const BACKLOG: usize = 4096;

/// How often an open stream checks that its session or API token still
/// resolves to its user: a revoked token or a signed-out session stops
/// receiving events within this interval.
pub const CREDENTIAL_RECHECK: Duration = Duration::from_secs(15);
/// Open streams one user may hold at once (tabs, scripts); beyond it 429.
pub const STREAMS_PER_USER: usize = 16;
/// Open streams of the whole server; beyond it 503.
pub const STREAMS_TOTAL: usize = 1_000;

/// The named limits of the live streams; tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveLimits {
    pub credential_recheck: Duration,
    pub per_user: usize,
    pub total: usize,
}

impl Default for LiveLimits {
    fn default() -> Self {
        LiveLimits {
            credential_recheck: CREDENTIAL_RECHECK,
            per_user: STREAMS_PER_USER,
            total: STREAMS_TOTAL,
        }
    }
}

/// Open streams per user, and the limits they are held to.
#[derive(Default)]
struct Streams {
    limits: LiveLimits,
    open: HashMap<i64, usize>,
    total: usize,
}

#[derive(Clone)]
pub struct LiveBus {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// Canceled on shutdown: open streams end so the server can stop.
    closed: CancellationToken,
    streams: Arc<Mutex<Streams>>,
    /// The way to the other replicas (PostgreSQL), once connected.
    replicas: Arc<Mutex<Option<replicas::Link>>>,
    /// Events not sent to the other replicas because their queue was full.
    dropped_for_replicas: Arc<AtomicU64>,
}

impl Default for LiveBus {
    fn default() -> Self {
        LiveBus {
            sender: broadcast::channel(BACKLOG).0,
            closed: CancellationToken::new(),
            streams: Default::default(),
            replicas: Default::default(),
            dropped_for_replicas: Default::default(),
        }
    }
}

/// One open stream, counted until dropped.
pub struct StreamSlot {
    streams: Arc<Mutex<Streams>>,
    user_id: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = lock(&self.streams);
        streams.total = streams.total.saturating_sub(1);
        if let Some(open) = streams.open.get_mut(&self.user_id) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                streams.open.remove(&self.user_id);
            }
        }
    }
}

/// The counters and the link stay usable after a panic elsewhere: no update
/// of theirs is left half done.
fn lock<T>(shared: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiveBus {
    /// Tells whoever listens, here and on the other replicas; nobody listening
    /// is fine. Never waits: the other replicas' copy is queued.
    pub fn publish(&self, event: LiveEvent) {
        let event = Arc::new(event);
        if let Some(link) = lock(&self.replicas).as_ref() {
            link.offer(&event, &self.dropped_for_replicas);
        }
        let _ = self.sender.send(event);
    }

    /// Tells this replica's streams only (an event another replica sent).
    fn publish_here(&self, event: LiveEvent) {
        let _ = self.sender.send(Arc::new(event));
    }

    /// Tells every open stream of this replica that it may have missed events,
    /// so its page refetches what it shows.
    pub fn resync_subscribers(&self) {
        self.publish_here(LiveEvent::Resync);
    }

    /// With a PostgreSQL `database_url`, exchanges events with the other
    /// replicas of that database from now on; with SQLite, does nothing.
    pub async fn connect_replicas(&self, database_url: &str) -> anyhow::Result<()> {
        if let Some(link) = replicas::connect(self, database_url).await? {
            if let Some(previous) = lock(&self.replicas).replace(link) {
                // Connected twice: the first link's tasks end.
                tokio::spawn(previous.stop());
            }
        }
        Ok(())
    }

    /// Sends what is still queued for the other replicas (briefly) and stops
    /// exchanging events with them (shutdown, after the engine stopped).
    pub async fn disconnect_replicas(&self) {
        let link = lock(&self.replicas).take();
        if let Some(link) = link {
            link.stop().await;
        }
    }

    /// Events the other replicas were not sent because their queue was full
    /// (their pages were told to resync instead).
    pub fn events_dropped_for_replicas(&self) -> u64 {
        self.dropped_for_replicas.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// Ends every open stream (server shutdown).
    pub fn close(&self) {
        self.closed.cancel();
    }

    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    pub fn limits(&self) -> LiveLimits {
        lock(&self.streams).limits
    }

    /// Replaces the limits for streams opened from now on (tests).
    pub fn set_limits(&self, limits: LiveLimits) {
        lock(&self.streams).limits = limits;
    }

    /// Streams open on this replica now (`/metrics`).
    pub fn open_streams(&self) -> usize {
        lock(&self.streams).total
    }

    /// Counts a new stream of the user, or refuses it at a limit.
    pub fn open_stream(&self, user_id: i64) -> Result<StreamSlot, AppError> {
        let mut streams = lock(&self.streams);
        let limits = streams.limits;
        if streams.total >= limits.total {
            return Err(AppError::unavailable(
                format!(
                    "the server already has {} live streams open (the limit); try again later",
                    limits.total
                ),
                None,
            ));
        }
        let open = streams.open.entry(user_id).or_default();
        if *open >= limits.per_user {
            return Err(AppError::too_many_requests(
                format!(
                    "you already have {} live streams open (the limit per user); close a page or a script's stream first",
                    limits.per_user
                ),
                None,
            ));
        }
        *open += 1;
        streams.total += 1;
        Ok(StreamSlot {
            streams: self.streams.clone(),
            user_id,
        })
    }
}

/// A run's new state, as announced.
pub fn execution_event(
    record: &crate::store::ExecutionRecord,
    status: ExecutionStatus,
) -> LiveEvent {
    LiveEvent::Execution {
        id: record.id,
        project_id: record.project_id,
        pipeline_id: record.pipeline_id,
        status,
    }
}

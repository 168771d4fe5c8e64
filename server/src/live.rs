//! The in-process event bus behind the pages' live streams.
//!
//! The engine and the request side publish what changed after it is
//! committed; each open `/api/live` stream subscribes and forwards what its
//! reader may see. Today one server process runs everything, so this bus
//! carries every event. Not yet built: passing events between replicas
//! (e.g. PostgreSQL `LISTEN/NOTIFY` feeding this bus), which several
//! replicas would need.

use std::sync::Arc;

use app::execution::ExecutionStatus;
use app::live::LiveEvent;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Events a slow reader may fall behind by before it is told to resync.
const BACKLOG: usize = 4096;

#[derive(Clone)]
pub struct LiveBus {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// Canceled on shutdown: open streams end so the server can stop.
    closed: CancellationToken,
}

impl Default for LiveBus {
    fn default() -> Self {
        LiveBus {
            sender: broadcast::channel(BACKLOG).0,
            closed: CancellationToken::new(),
        }
    }
}

impl LiveBus {
    /// Tells whoever listens; nobody listening is fine.
    pub fn publish(&self, event: LiveEvent) {
        let _ = self.sender.send(Arc::new(event));
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

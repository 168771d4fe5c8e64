//! Carries live events between replicas that share one PostgreSQL database.
//!
//! Each replica sends every event published on its bus with
//! `pg_notify('slipway_live', payload)` and listens on that channel, publishing
//! the other replicas' events into its own bus. A payload names the bus it
//! came from (a random origin id per bus, not per process: the API tests run
//! several servers in one process), so a replica skips its own events, which
//! its streams already received.
//!
//! Two tasks per replica, each on a connection of its own:
//! - the forwarder takes events from a bounded queue the bus fills without
//!   ever waiting (a full queue drops the event, counts it, and the other
//!   replicas are told to resync once the forwarder catches up), and sends
//!   them in batches, one statement per batch;
//! - the listener receives the other replicas' notices; when its connection
//!   drops it connects again with a bounded backoff and then tells every open
//!   stream of this replica to resync, since notices sent meanwhile are lost
//!   (PostgreSQL keeps none for a listener that is not connected).
//!
//! SQLite has one process and nothing to carry: [`connect`] does nothing there.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::execution::LogLine;
use app::live::LiveEvent;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::LiveBus;

/// The notification channel every replica of one database shares.
pub const CHANNEL: &str = "slipway_live";
/// PostgreSQL refuses a `NOTIFY` payload of 8000 bytes or more (default build).
pub const PAYLOAD_LIMIT: usize = 8000;
/// Events waiting to be sent before new ones are dropped (and replaced by a
/// resync notice): the same depth a slow stream may fall behind by.
const QUEUE_DEPTH: usize = 4096;
/// Notices sent in one statement: bounds one statement's size (at most
/// about 2 MB) while a burst of log lines still costs few round trips.
const BATCH: usize = 256;
/// Reconnecting waits this long after the first failure, doubling up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long stopping waits for queued events to be sent.
const DRAIN_ON_STOP: Duration = Duration::from_secs(2);
/// Names the connections in `pg_stat_activity` (tests end the listener's to
/// check that it comes back).
pub const LISTENER_APPLICATION_NAME: &str = "slipway-live-listener";
const FORWARDER_APPLICATION_NAME: &str = "slipway-live-forwarder";
/// Shown at the end of a log line cut to fit a notice.
const CUT_MARKER: &str = " … [line cut for live delivery; the stored log has all of it]";

/// The sending side the bus holds while connected to the other replicas.
pub(super) struct Link {
    queue: mpsc::Sender<Arc<LiveEvent>>,
    /// Set when an event was dropped; the forwarder then sends a resync notice.
    overflowed: Arc<AtomicBool>,
    stop_listener: CancellationToken,
    forwarder: JoinHandle<()>,
    listener: JoinHandle<()>,
}

impl Link {
    /// Queues the event for the other replicas without waiting.
    pub(super) fn offer(&self, event: &Arc<LiveEvent>, dropped: &AtomicU64) {
        if self.queue.try_send(event.clone()).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
            // One warning per overflow, not one per dropped event.
            if !self.overflowed.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    queue = QUEUE_DEPTH,
                    "live events for other replicas are dropped: the queue to PostgreSQL is full; \
                     their pages will be told to refetch"
                );
            }
        }
    }

    /// Lets the forwarder send what is queued (for a short while), and ends both tasks.
    pub(super) async fn stop(self) {
        let Link {
            queue,
            stop_listener,
            mut forwarder,
            listener,
            ..
        } = self;
        stop_listener.cancel();
        // Without a sender left, the forwarder ends once the queue is empty.
        drop(queue);
        if tokio::time::timeout(DRAIN_ON_STOP, &mut forwarder)
            .await
            .is_err()
        {
            tracing::warn!("live events for other replicas were still unsent at shutdown");
            forwarder.abort();
        }
        let _ = listener.await;
    }
}

/// Connects the bus to the other replicas when `database_url` is PostgreSQL;
/// returns once this replica listens, so nothing published after is missed.
pub(super) async fn connect(bus: &LiveBus, database_url: &str) -> anyhow::Result<Option<Link>> {
    if !(database_url.starts_with("postgres:") || database_url.starts_with("postgresql:")) {
        return Ok(None);
    }
    // The URL holds a password: errors name what failed, never the URL.
    let options = PgConnectOptions::from_str(database_url)
        .context("reading the database URL for live events")?;
    let origin = format!("{:016x}", rand::random::<u64>());
    let listener = listen(&options)
        .await
        .context("listening for other replicas' live events")?;
    let notifier = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(BACKOFF_MAX)
        .connect_with(options.clone().application_name(FORWARDER_APPLICATION_NAME))
        .await
        .context("connecting to send live events to other replicas")?;
    let (queue, queued) = mpsc::channel(QUEUE_DEPTH);
    let overflowed = Arc::new(AtomicBool::new(false));
    let stop_listener = CancellationToken::new();
    let forwarder = tokio::spawn(forward(
        notifier,
        origin.clone(),
        queued,
        overflowed.clone(),
    ));
    let listener = tokio::spawn(receive(
        bus.clone(),
        options,
        origin,
        listener,
        stop_listener.clone(),
    ));
    Ok(Some(Link {
        queue,
        overflowed,
        stop_listener,
        forwarder,
        listener,
    }))
}

/// A listener connection of its own, listening on [`CHANNEL`].
async fn listen(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    // PgListener reconnects through its pool; the pool is ours so the
    // connection carries our application name.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(BACKOFF_MAX)
        .connect_with(options.clone().application_name(LISTENER_APPLICATION_NAME))
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Sends queued events until the bus lets go of the queue.
async fn forward(
    notifier: PgPool,
    origin: String,
    mut queued: mpsc::Receiver<Arc<LiveEvent>>,
    overflowed: Arc<AtomicBool>,
) {
    let resync = encode_notice(&origin, &LiveEvent::Resync);
    let mut backoff = Backoff::default();
    // A batch that could not be sent is lost; a resync notice goes first once
    // the database answers again.
    let mut owe_resync = false;
    loop {
        let mut batch = Vec::new();
        if owe_resync {
            batch.push(resync.clone());
        } else {
            match queued.recv().await {
                Some(event) => batch.push(encode_notice(&origin, &event)),
                None => return,
            }
        }
        while batch.len() < BATCH {
            match queued.try_recv() {
                Ok(event) => batch.push(encode_notice(&origin, &event)),
                Err(_) => break,
            }
        }
        // Events dropped before this point changed what is committed now: a
        // refetch after this notice sees them.
        if overflowed.swap(false, Ordering::AcqRel) {
            batch.push(resync.clone());
        }
        // One statement, one transaction: PostgreSQL delivers its notices in
        // order (and folds identical ones into one, which pages do not mind).
        let sent = sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(CHANNEL)
            .bind(&batch)
            .execute(&notifier)
            .await;
        match sent {
            Ok(_) => {
                owe_resync = false;
                backoff.reset();
            }
            Err(error) => {
                let wait = backoff.after_failure();
                tracing::warn!(%error, retry_in = ?wait, "sending live events to other replicas failed; they will be told to refetch");
                owe_resync = true;
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Publishes the other replicas' events into this replica's bus, reconnecting
/// when the connection drops, until stopped.
async fn receive(
    bus: LiveBus,
    options: PgConnectOptions,
    origin: String,
    mut listener: PgListener,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    if let Some(event) = decode_notice(&origin, notification.payload()) {
                        bus.publish_here(event);
                    }
                }
                // The connection dropped: reconnect on our own terms, below.
                Ok(None) => {
                    tracing::warn!(
                        "the connection listening for other replicas' live events dropped"
                    );
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "listening for other replicas' live events failed");
                    break;
                }
            }
        }
        drop(listener);
        listener = loop {
            let wait = backoff.after_failure();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match listen(&options).await {
                Ok(listener) => break listener,
                Err(error) => {
                    tracing::warn!(%error, "listening for other replicas' live events again failed; retrying")
                }
            }
        };
        backoff.reset();
        tracing::info!("listening for other replicas' live events again");
        // Notices sent while no listener was connected are gone.
        bus.resync_subscribers();
    }
}

/// What one notice carries.
#[derive(Serialize)]
struct OutgoingNotice<'a> {
    origin: &'a str,
    event: &'a LiveEvent,
}

#[derive(Deserialize)]
struct IncomingNotice {
    origin: String,
    event: LiveEvent,
}

/// The notice for an event, shorter than [`PAYLOAD_LIMIT`] bytes. Only a log
/// line is long enough to matter: its text is cut, with a marker, rather than
/// the event replaced by a resync, because a resync makes every open page of
/// every replica refetch, while a cut line is replaced by the stored one at
/// the run page's next refetch (its task's end at the latest). Any other event
/// too long (none is today: they hold ids and states) becomes a resync.
pub fn encode_notice(origin: &str, event: &LiveEvent) -> String {
    let encode = |event: &LiveEvent| {
        serde_json::to_string(&OutgoingNotice { origin, event }).unwrap_or_default()
    };
    let resync = || encode(&LiveEvent::Resync);
    let payload = encode(event);
    if !payload.is_empty() && payload.len() < PAYLOAD_LIMIT {
        return payload;
    }
    let LiveEvent::Log {
        execution_id,
        project_id,
        task_run_id,
        line,
    } = event
    else {
        return resync();
    };
    let log_with = |text: String| LiveEvent::Log {
        execution_id: *execution_id,
        project_id: *project_id,
        task_run_id: *task_run_id,
        line: LogLine {
            line: text,
            ..line.clone()
        },
    };
    // What the notice takes besides the kept text.
    let overhead = encode(&log_with(CUT_MARKER.to_string())).len();
    let Some(budget) = (PAYLOAD_LIMIT - 1).checked_sub(overhead) else {
        return resync();
    };
    // Keep the longest start of the line whose JSON text fits the budget.
    let mut used = 0;
    let mut keep = 0;
    for (index, character) in line.line.char_indices() {
        used += json_length(character);
        if used > budget {
            break;
        }
        keep = index + character.len_utf8();
    }
    let payload = encode(&log_with(format!("{}{CUT_MARKER}", &line.line[..keep])));
    if payload.is_empty() || payload.len() >= PAYLOAD_LIMIT {
        return resync();
    }
    payload
}

/// The bytes a character takes inside a JSON string, as serde_json writes it.
fn json_length(character: char) -> usize {
    match character {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        control if (control as u32) < 0x20 => 6,
        other => other.len_utf8(),
    }
}

/// The event of another replica's notice; None for this bus's own. A notice
/// that does not read (a replica of another version) asks for a resync: what
/// it announced is unknown.
pub fn decode_notice(origin: &str, payload: &str) -> Option<LiveEvent> {
    match serde_json::from_str::<IncomingNotice>(payload) {
        Ok(notice) if notice.origin == origin => None,
        Ok(notice) => Some(notice.event),
        Err(error) => {
            tracing::debug!(%error, "a live notice from another replica did not read; resyncing");
            Some(LiveEvent::Resync)
        }
    }
}

/// Waits between attempts: [`BACKOFF_MIN`] doubling up to [`BACKOFF_MAX`].
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn after_failure(&mut self) -> Duration {
        let wait = BACKOFF_MIN
            .saturating_mul(2u32.saturating_pow(self.failures))
            .min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::execution::ExecutionStatus;

    fn log(line: String) -> LiveEvent {
        LiveEvent::Log {
            execution_id: 7,
            project_id: 1,
            task_run_id: 3,
            line: LogLine {
                id: 42,
                at: 1_700_000_000_000,
                line,
            },
        }
    }

    fn line_of(event: &LiveEvent) -> &str {
        match event {
            LiveEvent::Log { line, .. } => &line.line,
            other => panic!("not a log event: {other:?}"),
        }
    }

    #[test]
    fn a_small_event_travels_whole_and_is_skipped_by_its_own_bus() {
        let event = LiveEvent::Execution {
            id: 7,
            project_id: 1,
            pipeline_id: 2,
            status: ExecutionStatus::Running,
        };

        let payload = encode_notice("aaaa", &event);

        assert_eq!(decode_notice("bbbb", &payload), Some(event));
        assert_eq!(decode_notice("aaaa", &payload), None);
    }

    #[test]
    fn a_log_line_too_long_for_a_notice_is_cut_with_a_marker() {
        let long = "x".repeat(20_000);

        let payload = encode_notice("aaaa", &log(long.clone()));

        assert!(payload.len() < PAYLOAD_LIMIT, "{}", payload.len());
        let event = decode_notice("bbbb", &payload).expect("another bus reads it");
        let line = line_of(&event);
        assert!(line.ends_with(CUT_MARKER));
        let kept = line.trim_end_matches(CUT_MARKER);
        assert!(long.starts_with(kept));
        // Cut just enough: the notice is nearly as long as allowed.
        assert!(payload.len() > PAYLOAD_LIMIT - 16, "{}", payload.len());
        assert_eq!(
            event,
            LiveEvent::Log {
                execution_id: 7,
                project_id: 1,
                task_run_id: 3,
                line: LogLine {
                    id: 42,
                    at: 1_700_000_000_000,
                    line: line.to_string()
                },
            }
        );
    }

    #[test]
    fn a_line_that_grows_when_escaped_or_has_wide_characters_still_fits() {
        for long in [
            "\u{1}".repeat(5_000),
            "é".repeat(6_000),
            "\"🚀".repeat(3_000),
        ] {
            let payload = encode_notice("aaaa", &log(long.clone()));

            assert!(payload.len() < PAYLOAD_LIMIT, "{}", payload.len());
            let event = decode_notice("bbbb", &payload).expect("another bus reads it");
            let kept = line_of(&event).trim_end_matches(CUT_MARKER);
            assert!(!kept.is_empty());
            assert!(long.starts_with(kept));
        }
    }

    #[test]
    fn a_line_just_under_the_limit_is_not_cut() {
        let overhead = encode_notice("aaaa", &log(String::new())).len();
        let fits = "y".repeat(PAYLOAD_LIMIT - 1 - overhead);

        let payload = encode_notice("aaaa", &log(fits.clone()));
        let one_more = encode_notice("aaaa", &log(format!("{fits}y")));

        assert_eq!(payload.len(), PAYLOAD_LIMIT - 1);
        assert_eq!(line_of(&decode_notice("b", &payload).unwrap()), fits);
        assert!(line_of(&decode_notice("b", &one_more).unwrap()).ends_with(CUT_MARKER));
        assert!(one_more.len() < PAYLOAD_LIMIT);
    }

    #[test]
    fn a_notice_that_does_not_read_asks_for_a_resync() {
        assert_eq!(
            decode_notice("aaaa", r#"{"origin":"b","event":{"kind":"new_in_v2"}}"#),
            Some(LiveEvent::Resync)
        );
    }

    #[test]
    fn reconnecting_backs_off_from_100_ms_doubling_up_to_5_s() {
        let mut backoff = Backoff::default();

        let waits: Vec<Duration> = (0..9).map(|_| backoff.after_failure()).collect();
        backoff.reset();

        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map(Duration::from_millis)
        );
        assert_eq!(backoff.after_failure(), BACKOFF_MIN);
    }
}

//! Deliveries refused before their body is read — from a sender off the
//! webhook's source allow-list (403), or over its delivery limit (429) — are
//! counted, not recorded one by one: per webhook and reason, one Activity row
//! (REJECTED) per window whose count is updated in place. A flood costs a
//! counter in memory, not a row, nor a database write, per request.
//!
//! The first refusal of a window writes its row before it is answered; the
//! later ones only count, and a task writes the count at most once every
//! [`RefusalTiming::flush_every`] until the window ends. Counts are per
//! replica, like the limiter: several replicas each keep their own row.
//! Shutdown writes what was counted; a process killed outright loses at most
//! the last second's count. When an allow-list window ends, each sender's
//! count goes into the audit trail as one `delivery.refused_by_allow_list`
//! entry (at most 1,000 senders a window).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use app::live::LiveEvent;
use app::webhook::{per_minute_text, DeliverySource, EventStatus};
use tokio::time::Instant;

use super::audit::{record, refused_deliveries_event};
use super::Slipway;
use crate::clock::now_millis;
use crate::live::LiveBus;
use crate::receive::rate_limit::RetryAfter;
use crate::store::{NewEvent, SharedStore, WebhookRecord};
use app::model::Millis;

/// How long one counted row collects refusals, and how often its count is
/// written while it does; tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalTiming {
    pub window: Duration,
    pub flush_every: Duration,
}

impl Default for RefusalTiming {
    fn default() -> Self {
        RefusalTiming {
            window: Duration::from_secs(60),
            flush_every: Duration::from_secs(1),
        }
    }
}

/// Why a delivery was refused before it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountedRefusal {
    /// 403: the sender's address is not on the webhook's source allow-list.
    OffAllowList,
    /// 429: over the webhook's `max_deliveries_per_minute`.
    OverLimit {
        per_minute: i64,
        retry_after: RetryAfter,
    },
}

impl CountedRefusal {
    pub fn status(&self) -> u16 {
        match self {
            CountedRefusal::OffAllowList => 403,
            CountedRefusal::OverLimit { .. } => 429,
        }
    }

    /// The one-line answer to the sender.
    pub fn message(&self) -> String {
        match self {
            CountedRefusal::OffAllowList => {
                "the sender's address is not on the webhook's source allow-list".into()
            }
            CountedRefusal::OverLimit {
                per_minute,
                retry_after,
            } => format!(
                "over the webhook's limit of {}; retry in {} s",
                per_minute_text(*per_minute),
                retry_after.seconds
            ),
        }
    }

    /// The counted row's reason: why, how many so far, and from where the
    /// latest came.
    fn reason(&self, deliveries: i64, latest_sender: Option<IpAddr>) -> String {
        let why = match self {
            CountedRefusal::OffAllowList => {
                "the sender's address is not on the webhook's source allow-list".to_string()
            }
            CountedRefusal::OverLimit { per_minute, .. } => {
                format!(
                    "over the webhook's limit of {}",
                    per_minute_text(*per_minute)
                )
            }
        };
        let counted = if deliveries == 1 {
            "1 delivery".to_string()
        } else {
            format!("{deliveries} deliveries")
        };
        let sender = latest_sender.map_or_else(|| "an unknown address".into(), |ip| ip.to_string());
        format!(
            "{why}: {counted} refused ({}) in this minute, the latest from {sender}",
            self.status()
        )
    }
}

/// Distinct senders counted per window for the audit trail; beyond them a
/// window's further senders are in its Activity count only.
const MAX_AUDITED_SENDERS: usize = 1_000;

/// One sender's refusals in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SenderCount {
    count: u64,
    first_at: Millis,
}

/// The refusals counted in one window for one webhook and reason.
struct Window {
    opened: Instant,
    refusal: CountedRefusal,
    counted: i64,
    written: i64,
    latest_sender: Option<IpAddr>,
    /// Per sender, for the audit entries written when the window ends
    /// (allow-list refusals only).
    senders: HashMap<IpAddr, SenderCount>,
    /// Set by its writer when the window ended: a refusal after that opens
    /// a new window rather than adding to a count that is no longer written.
    closed: bool,
}

impl Window {
    fn count_sender(&mut self, sender: Option<IpAddr>) {
        let Some(sender) = sender else {
            return;
        };
        if let Some(counted) = self.senders.get_mut(&sender) {
            counted.count += 1;
        } else if self.senders.len() < MAX_AUDITED_SENDERS {
            self.senders.insert(
                sender,
                SenderCount {
                    count: 1,
                    first_at: now_millis(),
                },
            );
        }
    }
}

type SharedWindow = Arc<Mutex<Window>>;

/// The open windows of this process, by webhook and status (403, 429).
/// Bounded: a window is dropped when it ends, so what is kept is one entry
/// per webhook and reason refused in the last minute.
#[derive(Clone, Default)]
pub struct RefusalCounter {
    state: Arc<Mutex<Counters>>,
}

#[derive(Default)]
struct Counters {
    timing: RefusalTiming,
    open: HashMap<(i64, u16), SharedWindow>,
}

/// Counters stay usable after a panic elsewhere: they are plain numbers.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RefusalCounter {
    /// Replaces the window and flush interval for windows opened from now on (tests).
    pub fn set_timing(&self, timing: RefusalTiming) {
        lock(&self.state).timing = timing;
    }

    /// Counts one refusal. Answers the new window when this one opens it (its
    /// row is still to be written), `None` when an open window counted it.
    fn note(
        &self,
        webhook_id: i64,
        refusal: CountedRefusal,
        sender: Option<IpAddr>,
    ) -> Option<(SharedWindow, RefusalTiming)> {
        let mut state = lock(&self.state);
        let key = (webhook_id, refusal.status());
        let timing = state.timing;
        if let Some(window) = state.open.get(&key) {
            let mut window = lock(window);
            if !window.closed && window.opened.elapsed() < timing.window {
                window.counted += 1;
                window.refusal = refusal;
                window.latest_sender = sender;
                window.count_sender(sender);
                return None;
            }
        }
        let mut opened = Window {
            opened: Instant::now(),
            refusal,
            counted: 1,
            written: 1,
            latest_sender: sender,
            senders: HashMap::new(),
            closed: false,
        };
        opened.count_sender(sender);
        let window = Arc::new(Mutex::new(opened));
        state.open.insert(key, Arc::clone(&window));
        Some((window, timing))
    }

    /// Drops a window that ended, unless a newer one took its place.
    fn forget(&self, webhook_id: i64, status: u16, ended: &SharedWindow) {
        let mut state = lock(&self.state);
        let key = (webhook_id, status);
        if state
            .open
            .get(&key)
            .is_some_and(|open| Arc::ptr_eq(open, ended))
        {
            state.open.remove(&key);
        }
    }

    #[cfg(test)]
    fn open_windows(&self) -> usize {
        lock(&self.state).open.len()
    }
}

impl Slipway {
    /// Counts a delivery refused before it was read. The one place such a
    /// refusal is recorded: the first of a window writes the webhook's
    /// counted Activity row, the others add to it.
    pub(crate) async fn count_refusal(
        &self,
        webhook: &WebhookRecord,
        source: DeliverySource,
        refusal: CountedRefusal,
        sender: Option<IpAddr>,
    ) {
        let Some((window, timing)) = self.refusals.note(webhook.id, refusal, sender) else {
            return;
        };
        let recorded = self
            .store
            .record_counted_event(
                NewEvent {
                    webhook_id: webhook.id,
                    received_at: now_millis(),
                    source,
                    repository: String::new(),
                    tag: String::new(),
                    owner: String::new(),
                    status: EventStatus::Rejected,
                    reason: refusal.reason(1, sender),
                    dedupe_key: None,
                    inputs: None,
                    pushed_at: None,
                    digest: None,
                },
                1,
            )
            .await;
        let row = match recorded {
            Ok(row) => row,
            Err(error) => {
                // The refusal is still answered; the next one tries again.
                tracing::error!(%error, webhook = webhook.id, "recording refused deliveries failed");
                lock(&window).closed = true;
                self.refusals.forget(webhook.id, refusal.status(), &window);
                return;
            }
        };
        self.announce_activity(webhook, row);
        let writer = CountWriter {
            store: self.store.clone(),
            live: self.live.clone(),
            counter: self.refusals.clone(),
            webhook: webhook.clone(),
            row,
            window,
            timing,
        };
        tokio::spawn(writer.run());
    }
}

/// Writes one window's count into its row until the window ends, then its
/// allow-list refusals into the audit trail, one entry per sender.
struct CountWriter {
    store: SharedStore,
    live: LiveBus,
    counter: RefusalCounter,
    webhook: WebhookRecord,
    row: i64,
    window: SharedWindow,
    timing: RefusalTiming,
}

impl CountWriter {
    async fn audit_senders(&self, senders: HashMap<IpAddr, SenderCount>) {
        let mut senders: Vec<_> = senders.into_iter().collect();
        senders.sort_by_key(|(_, counted)| counted.first_at);
        for (sender, counted) in senders {
            let event =
                refused_deliveries_event(&self.webhook, sender, counted.count, counted.first_at);
            record(&self.store, event).await;
        }
    }

    async fn run(self) {
        let shutdown = self.live.closed();
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(self.timing.flush_every) => false,
                _ = shutdown.cancelled() => true,
            };
            let (update, ended) = {
                let mut window = lock(&self.window);
                let ended = stopping || window.opened.elapsed() >= self.timing.window;
                window.closed |= ended;
                let update = (window.counted > window.written).then(|| {
                    window.written = window.counted;
                    (
                        window.counted,
                        window.refusal.reason(window.counted, window.latest_sender),
                    )
                });
                (update, ended)
            };
            if let Some((deliveries, reason)) = update {
                match self
                    .store
                    .update_counted_event(self.row, deliveries, &reason)
                    .await
                {
                    Ok(()) => self.live.publish(LiveEvent::Activity {
                        event_id: self.row,
                        project_id: self.webhook.project_id,
                        webhook_id: self.webhook.id,
                    }),
                    Err(error) => {
                        tracing::error!(%error, event = self.row, "updating a count of refused deliveries failed")
                    }
                }
            }
            if ended {
                let (refusal, senders) = {
                    let mut window = lock(&self.window);
                    (window.refusal, std::mem::take(&mut window.senders))
                };
                self.counter
                    .forget(self.webhook.id, refusal.status(), &self.window);
                if refusal == CountedRefusal::OffAllowList {
                    self.audit_senders(senders).await;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVER: CountedRefusal = CountedRefusal::OverLimit {
        per_minute: 2,
        retry_after: RetryAfter { seconds: 30 },
    };

    #[test]
    fn one_window_per_webhook_and_reason_counts_the_rest() {
        let counter = RefusalCounter::default();
        let sender = Some("203.0.113.9".parse().unwrap());
        let (window, _) = counter.note(1, OVER, None).expect("the first opens");
        for _ in 0..9 {
            assert!(counter.note(1, OVER, sender).is_none(), "counted");
        }
        assert_eq!(lock(&window).counted, 10);
        assert_eq!(lock(&window).latest_sender, sender);
        // Another reason, another webhook: their own windows.
        assert!(counter
            .note(1, CountedRefusal::OffAllowList, sender)
            .is_some());
        assert!(counter.note(2, OVER, sender).is_some());
        assert_eq!(counter.open_windows(), 3);

        // Once its writer closed it, the next refusal opens a new window
        // and the ended one is forgotten, not the new one.
        lock(&window).closed = true;
        let (newer, _) = counter.note(1, OVER, sender).expect("a new window");
        assert_eq!(lock(&newer).counted, 1);
        counter.forget(1, 429, &window);
        assert_eq!(counter.open_windows(), 3, "the newer window stays");
        counter.forget(1, 429, &newer);
        assert_eq!(counter.open_windows(), 2);
    }

    #[test]
    fn a_window_ends_after_its_time() {
        let counter = RefusalCounter::default();
        counter.set_timing(RefusalTiming {
            window: Duration::ZERO,
            flush_every: Duration::from_secs(1),
        });
        assert!(counter.note(1, OVER, None).is_some());
        assert!(counter.note(1, OVER, None).is_some(), "no time left in it");
    }

    #[test]
    fn reasons_say_why_how_many_and_from_where() {
        let sender = Some("10.1.2.3".parse().unwrap());
        assert_eq!(
            OVER.reason(1, sender),
            "over the webhook's limit of 2 deliveries a minute: 1 delivery refused (429) in this minute, the latest from 10.1.2.3"
        );
        assert_eq!(
            CountedRefusal::OffAllowList.reason(57, None),
            "the sender's address is not on the webhook's source allow-list: 57 deliveries refused (403) in this minute, the latest from an unknown address"
        );
        assert_eq!(
            OVER.message(),
            "over the webhook's limit of 2 deliveries a minute; retry in 30 s"
        );
    }
}

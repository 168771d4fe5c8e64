//! Per-webhook delivery limits: a token bucket per webhook, behind a small
//! interface ([`DeliveryLimiter`]) so a limiter shared by several replicas can
//! replace the in-memory one.
//!
//! A webhook allowed `L` deliveries a minute holds at most `L` of them (a
//! burst of `L` at once) and gains `L` a minute back, continuously. The
//! arithmetic is in integers: one delivery is [`UNITS_PER_DELIVERY`] units and
//! the bucket gains `L` units a millisecond, so nothing drifts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A minute in milliseconds: the units one delivery costs (see the module).
const UNITS_PER_DELIVERY: i64 = 60_000;

/// The in-memory limiter looks for idle buckets to drop once it holds this
/// many (and then again at twice what is left).
const FIRST_SWEEP_AT: usize = 1_024;

/// How long until the webhook takes a delivery again, in whole seconds
/// (at least 1): the `Retry-After` of a 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    pub seconds: u64,
}

/// Decides whether a webhook takes one more delivery now.
pub trait DeliveryLimiter: Send + Sync {
    /// Takes one delivery from the webhook's allowance of `per_minute`
    /// deliveries a minute, or says when the next one will be free. A
    /// changed `per_minute` (the webhook was edited) applies from this call.
    fn admit(&self, webhook_id: i64, per_minute: i64) -> Result<(), RetryAfter>;
}

/// One webhook's allowance: `level` units at `at` (milliseconds on the
/// limiter's own monotonic clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    level: i64,
    at: i64,
}

impl Bucket {
    /// A webhook not seen before (or not for a minute) starts full.
    fn full(per_minute: i64, now: i64) -> Bucket {
        Bucket {
            level: capacity(per_minute),
            at: now,
        }
    }

    /// Refills for the time since `at`, then takes one delivery or says how
    /// long until one is there.
    fn take(&mut self, per_minute: i64, now: i64) -> Result<(), RetryAfter> {
        let per_minute = per_minute.max(1);
        let elapsed = now.saturating_sub(self.at).max(0);
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(per_minute))
            .min(capacity(per_minute));
        self.at = self.at.max(now);
        if self.level >= UNITS_PER_DELIVERY {
            self.level -= UNITS_PER_DELIVERY;
            return Ok(());
        }
        let wait_millis = div_ceil(UNITS_PER_DELIVERY - self.level, per_minute);
        Err(RetryAfter {
            seconds: div_ceil(wait_millis, 1000).max(1).unsigned_abs(),
        })
    }

    /// Whether the bucket would be full at `now`: then it is the same as a
    /// new one and need not be kept.
    fn is_full_at(&self, per_minute: i64, now: i64) -> bool {
        let elapsed = now.saturating_sub(self.at).max(0);
        self.level
            .saturating_add(elapsed.saturating_mul(per_minute.max(1)))
            >= capacity(per_minute)
    }
}

fn capacity(per_minute: i64) -> i64 {
    per_minute.max(1).saturating_mul(UNITS_PER_DELIVERY)
}

fn div_ceil(numerator: i64, denominator: i64) -> i64 {
    (numerator + denominator - 1) / denominator
}

/// The buckets of one process, in memory. With several replicas each keeps
/// its own, so a webhook's limit applies per replica.
///
/// Bounded: only webhooks whose secure token was valid get a bucket, and a
/// bucket that has refilled is dropped (it equals a new one), so what is
/// kept is about the webhooks that had a delivery in the last minute — a
/// few dozen bytes each.
pub struct InMemoryLimiter {
    started: Instant,
    state: Mutex<Buckets>,
}

struct Buckets {
    by_webhook: HashMap<i64, (Bucket, i64)>,
    sweep_at: usize,
}

impl Default for InMemoryLimiter {
    fn default() -> Self {
        InMemoryLimiter {
            started: Instant::now(),
            state: Mutex::new(Buckets {
                by_webhook: HashMap::new(),
                sweep_at: FIRST_SWEEP_AT,
            }),
        }
    }
}

impl InMemoryLimiter {
    /// [`DeliveryLimiter::admit`] at `now` milliseconds on the limiter's clock.
    fn admit_at(&self, webhook_id: i64, per_minute: i64, now: i64) -> Result<(), RetryAfter> {
        // A poisoned lock only means another request panicked mid-update;
        // the buckets are still numbers.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.by_webhook.len() >= state.sweep_at && !state.by_webhook.contains_key(&webhook_id) {
            state
                .by_webhook
                .retain(|_, (bucket, limit)| !bucket.is_full_at(*limit, now));
            state.sweep_at = (state.by_webhook.len() * 2).max(FIRST_SWEEP_AT);
        }
        let (bucket, limit) = state
            .by_webhook
            .entry(webhook_id)
            .or_insert_with(|| (Bucket::full(per_minute, now), per_minute));
        *limit = per_minute;
        bucket.take(per_minute, now)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().unwrap().by_webhook.len()
    }
}

impl DeliveryLimiter for InMemoryLimiter {
    fn admit(&self, webhook_id: i64, per_minute: i64) -> Result<(), RetryAfter> {
        let now = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.admit_at(webhook_id, per_minute, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_passes_then_one_more_waits_for_its_share() {
        let limiter = InMemoryLimiter::default();
        for _ in 0..6_000 {
            assert_eq!(limiter.admit_at(1, 6_000, 0), Ok(()));
        }
        // 6,000 a minute is one every 10 ms: the next is a second away at most.
        assert_eq!(
            limiter.admit_at(1, 6_000, 0),
            Err(RetryAfter { seconds: 1 })
        );
        assert_eq!(limiter.admit_at(1, 6_000, 10), Ok(()));
        assert!(limiter.admit_at(1, 6_000, 10).is_err());
    }

    #[test]
    fn retry_after_is_the_time_to_the_next_delivery_rounded_up() {
        let limiter = InMemoryLimiter::default();
        assert_eq!(limiter.admit_at(7, 2, 0), Ok(()));
        assert_eq!(limiter.admit_at(7, 2, 0), Ok(()));
        // Two a minute: one every 30 s.
        assert_eq!(limiter.admit_at(7, 2, 0), Err(RetryAfter { seconds: 30 }));
        assert_eq!(
            limiter.admit_at(7, 2, 29_001),
            Err(RetryAfter { seconds: 1 })
        );
        assert_eq!(limiter.admit_at(7, 2, 30_000), Ok(()));
        // One a minute, spent: 60 s.
        assert_eq!(limiter.admit_at(8, 1, 0), Ok(()));
        assert_eq!(limiter.admit_at(8, 1, 0), Err(RetryAfter { seconds: 60 }));
    }

    #[test]
    fn refused_deliveries_cost_nothing_and_webhooks_are_separate() {
        let limiter = InMemoryLimiter::default();
        assert_eq!(limiter.admit_at(1, 1, 0), Ok(()));
        for _ in 0..100 {
            assert!(limiter.admit_at(1, 1, 1_000).is_err());
        }
        // A flood of refusals did not push the next delivery further away.
        assert_eq!(limiter.admit_at(1, 1, 60_000), Ok(()));
        assert_eq!(
            limiter.admit_at(2, 1, 0),
            Ok(()),
            "another webhook's own bucket"
        );
    }

    #[test]
    fn a_changed_limit_applies_at_once_and_idle_time_does_not_exceed_it() {
        let limiter = InMemoryLimiter::default();
        assert_eq!(limiter.admit_at(1, 100, 0), Ok(()));
        // Lowered to 2: the bucket holds at most 2, whatever it held before.
        assert_eq!(limiter.admit_at(1, 2, 1), Ok(()));
        assert_eq!(limiter.admit_at(1, 2, 1), Ok(()));
        assert!(limiter.admit_at(1, 2, 1).is_err());
        // An hour idle refills to the limit, not beyond.
        assert_eq!(limiter.admit_at(1, 2, 3_600_000), Ok(()));
        assert_eq!(limiter.admit_at(1, 2, 3_600_000), Ok(()));
        assert!(limiter.admit_at(1, 2, 3_600_000).is_err());
    }

    #[test]
    fn a_clock_that_goes_back_refills_nothing() {
        let mut bucket = Bucket::full(1, 10_000);
        assert_eq!(bucket.take(1, 10_000), Ok(()));
        assert!(bucket.take(1, 0).is_err());
        assert!(bucket.take(1, 10_000).is_err());
    }

    #[test]
    fn the_largest_limit_does_not_overflow() {
        let limiter = InMemoryLimiter::default();
        let most = *app::webhook::DELIVERIES_PER_MINUTE_RANGE.end();
        assert_eq!(limiter.admit_at(1, most, 0), Ok(()));
        assert_eq!(limiter.admit_at(1, most, i64::MAX), Ok(()));
    }

    #[test]
    fn buckets_that_refilled_are_dropped_so_memory_stays_bounded() {
        let limiter = InMemoryLimiter::default();
        for webhook in 0..FIRST_SWEEP_AT as i64 {
            assert_eq!(limiter.admit_at(webhook, 60, 0), Ok(()));
        }
        assert_eq!(limiter.tracked(), FIRST_SWEEP_AT);
        // A second later every bucket has its delivery back: all are dropped
        // when the next webhook comes, and its own is kept.
        assert_eq!(limiter.admit_at(-1, 60, 1_000), Ok(()));
        assert_eq!(limiter.tracked(), 1);
        // A bucket still refilling is kept.
        let limiter = InMemoryLimiter::default();
        for webhook in 0..FIRST_SWEEP_AT as i64 {
            assert_eq!(limiter.admit_at(webhook, 1, 0), Ok(()));
        }
        assert_eq!(limiter.admit_at(-1, 1, 1_000), Ok(()));
        assert_eq!(limiter.tracked(), FIRST_SWEEP_AT + 1);
        assert!(limiter.admit_at(0, 1, 1_000).is_err(), "not forgotten");
    }
}

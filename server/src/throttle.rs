//! Failure budgets: how many failed attempts one key (a user name, a client
//! address) may make before it has to wait, in bounded memory.
//!
//! Each key has a level of recent failures that drains continuously (a leaky
//! bucket): a [`Budget`] of `burst` failures drains completely in `window`, so
//! a key may fail `burst` times at once and then once more every
//! `window / burst`. The table holds at most `max_keys` keys: when a new key
//! finds it full, drained keys go first, then the tenth of the keys with the
//! fewest recent failures. A flood of random keys (each with one failure)
//! therefore evicts its own kind, not a key that is being throttled.
//!
//! Times are passed in, so the rules are tested without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// `burst` failures, draining completely over `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub burst: u32,
    pub window: Duration,
}

impl Budget {
    /// Failures drained per second.
    fn drain_rate(&self) -> f64 {
        f64::from(self.burst) / self.window.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

#[derive(Clone, Copy, Debug)]
struct Level {
    failures: f64,
    at: Instant,
}

/// The failure levels of the keys seen recently.
#[derive(Debug)]
pub struct FailureBudgets<K> {
    budget: Budget,
    max_keys: usize,
    levels: HashMap<K, Level>,
}

impl<K: Hash + Eq + Clone> FailureBudgets<K> {
    pub fn new(budget: Budget, max_keys: usize) -> Self {
        FailureBudgets {
            budget,
            max_keys: max_keys.max(1),
            levels: HashMap::new(),
        }
    }

    /// How long `key` must wait before it may fail once more; `None` when it may now.
    pub fn wait_for(&self, key: &K, now: Instant) -> Option<Duration> {
        let level = self.level_now(key, now);
        let over = level + 1.0 - f64::from(self.budget.burst);
        (over > 0.0).then(|| Duration::from_secs_f64(over / self.budget.drain_rate()))
    }

    /// Counts one failure of `key` (or an attempt in flight that may fail).
    pub fn record(&mut self, key: K, now: Instant) {
        let failures = self.level_now(&key, now) + 1.0;
        if !self.levels.contains_key(&key) && self.levels.len() >= self.max_keys {
            self.make_room(now);
        }
        self.levels.insert(key, Level { failures, at: now });
    }

    /// Takes one counted failure back (the attempt succeeded, or never ran).
    pub fn forgive(&mut self, key: &K, now: Instant) {
        let failures = self.level_now(key, now) - 1.0;
        if failures <= 0.0 {
            self.levels.remove(key);
        } else if let Some(level) = self.levels.get_mut(key) {
            *level = Level { failures, at: now };
        }
    }

    /// Keys held (drained ones included until room is needed).
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    fn level_now(&self, key: &K, now: Instant) -> f64 {
        self.levels
            .get(key)
            .map(|level| Self::drained_with(self.budget, level, now))
            .unwrap_or(0.0)
    }

    /// Drops the drained keys, then, if the table is still full, the tenth
    /// with the fewest recent failures: one pass pays for many inserts.
    fn make_room(&mut self, now: Instant) {
        let budget = self.budget;
        self.levels
            .retain(|_, level| Self::drained_with(budget, level, now) > 0.0);
        if self.levels.len() < self.max_keys {
            return;
        }
        let mut by_level: Vec<(f64, K)> = self
            .levels
            .iter()
            .map(|(key, level)| (Self::drained_with(budget, level, now), key.clone()))
            .collect();
        let evict = (self.max_keys / 10).max(1).min(by_level.len());
        by_level.select_nth_unstable_by(evict - 1, |a, b| a.0.total_cmp(&b.0));
        for (_, key) in by_level.into_iter().take(evict) {
            self.levels.remove(&key);
        }
    }

    /// What is left of `level`'s failures at `now`.
    fn drained_with(budget: Budget, level: &Level, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
        (level.failures - elapsed * budget.drain_rate()).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn budgets(burst: u32, max_keys: usize) -> FailureBudgets<String> {
        FailureBudgets::new(
            Budget {
                burst,
                window: 10 * MINUTE,
            },
            max_keys,
        )
    }

    #[test]
    fn a_key_may_fail_its_burst_then_waits_for_the_drain() {
        let mut table = budgets(5, 100);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(table.wait_for(&"alice".into(), start), None);
            table.record("alice".into(), start);
        }
        // Five in ten minutes: one drains every two minutes.
        let wait = table.wait_for(&"alice".into(), start).unwrap();
        assert_eq!(wait.as_secs(), 120);
        assert_eq!(
            table.wait_for(&"bob".into(), start),
            None,
            "others are free"
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(
            table.wait_for(&"alice".into(), later).unwrap().as_secs(),
            60
        );
        assert_eq!(table.wait_for(&"alice".into(), start + 2 * MINUTE), None);
    }

    #[test]
    fn forgiving_takes_a_failure_back_and_forgets_an_empty_key() {
        let mut table = budgets(2, 100);
        let now = Instant::now();
        table.record("alice".into(), now);
        table.record("alice".into(), now);
        assert!(table.wait_for(&"alice".into(), now).is_some());
        table.forgive(&"alice".into(), now);
        assert_eq!(table.wait_for(&"alice".into(), now), None);
        table.forgive(&"alice".into(), now);
        assert!(table.is_empty());
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_the_cap_and_keeps_the_throttled_key() {
        let mut table = budgets(5, 1_000);
        let now = Instant::now();
        for _ in 0..5 {
            table.record("admin".into(), now);
        }
        for n in 0..100_000 {
            table.record(format!("random-{n}"), now);
            assert!(table.len() <= 1_000);
        }
        assert!(
            table.wait_for(&"admin".into(), now).is_some(),
            "the throttled key survived the flood"
        );
    }

    #[test]
    fn drained_keys_are_dropped_first_when_room_is_needed() {
        let mut table = budgets(5, 10);
        let start = Instant::now();
        for n in 0..10 {
            table.record(format!("old-{n}"), start);
        }
        let later = start + 10 * MINUTE;
        table.record("new".into(), later);
        assert_eq!(table.len(), 1, "every old key had drained");
    }
}

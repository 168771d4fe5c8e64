//! What keeps password checks from being flooded.
//!
//! A password check is argon2id: 19 MiB and tens of milliseconds of a core,
//! on purpose. Before any database read or hash, an attempt must pass:
//!
//! 1. the failure budgets of its user name and of its client address
//!    ([`SignInLimits`]); a name or address over its budget is answered 429
//!    with the seconds until it may try again. An attempt in flight counts as
//!    a failure until it succeeds, so a burst of parallel guesses cannot
//!    overshoot the budget;
//! 2. a hashing slot: at most `concurrent_hashes` checks run at once. Up to
//!    [`WAITING_PER_SLOT`] times as many attempts wait for a slot, each at
//!    most [`MAX_SLOT_WAIT`] (people signing in together are served one after
//!    another); an attempt beyond them, or out of time, is answered 503 with
//!    `Retry-After` and counts as nothing.
//!
//! Unknown user names are throttled like known ones (and checked against a
//! decoy hash by the caller), so neither the answers nor their timing tell
//! which names exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use app::error::AppError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::hashing_pool::HashingPool;

use crate::errors::internal;
use crate::throttle::{Budget, FailureBudgets};

/// The window failure budgets drain over.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Password checks at once, unless configured (`--max-concurrent-password-checks`).
pub const DEFAULT_CONCURRENT_HASHES: usize = 4;
/// Failed sign-ins per user name per [`FAILURE_WINDOW`], unless configured.
pub const DEFAULT_FAILURES_PER_USER_NAME: u32 = 10;
/// Failed sign-ins per client address per [`FAILURE_WINDOW`], unless configured.
pub const DEFAULT_FAILURES_PER_ADDRESS: u32 = 50;
/// User names and addresses remembered at most, each: the tables stay a few
/// MiB however many random names a flood tries.
pub const MAX_TRACKED_KEYS: usize = 10_000;
/// Attempts that may wait for a hashing slot, per slot: beyond them a flood
/// is refused at once instead of piling up.
pub const WAITING_PER_SLOT: usize = 4;
/// The longest an attempt waits for a hashing slot before its 503.
pub const MAX_SLOT_WAIT: Duration = Duration::from_secs(1);
/// The `Retry-After` of a 503 when every hashing slot is taken: a check
/// takes well under a second.
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 1;
/// Longer names cannot exist (names are at most 64 characters); keys are cut
/// there so a megabyte-long name costs no more memory than a real one.
const MAX_NAME_KEY_CHARS: usize = 64;

/// The limits of [`SignInGuard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInLimits {
    pub concurrent_hashes: usize,
    pub per_user_name: Budget,
    pub per_address: Budget,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            concurrent_hashes: DEFAULT_CONCURRENT_HASHES,
            per_user_name: Budget {
                burst: DEFAULT_FAILURES_PER_USER_NAME,
                window: FAILURE_WINDOW,
            },
            per_address: Budget {
                burst: DEFAULT_FAILURES_PER_ADDRESS,
                window: FAILURE_WINDOW,
            },
        }
    }
}

pub struct SignInGuard {
    /// When a name or address was last reported as throttled (audit), so
    /// it is reported once per failure window. Bounded like the budgets.
    /// Keyed by the name (address `None`) or the address (name empty).
    throttle_reported: Mutex<HashMap<(String, Option<IpAddr>), Instant>>,
    hashing: Arc<Semaphore>,
    /// One thread per slot runs the checks.
    pool: HashingPool,
    /// Attempts waiting for a slot now, and how many may.
    waiting: AtomicUsize,
    max_waiting: usize,
    failures: Mutex<Failures>,
}

struct Failures {
    by_name: FailureBudgets<String>,
    by_address: FailureBudgets<IpAddr>,
}

/// An admitted attempt: counted as a failure of its name and address until
/// [`SignInGuard::succeeded`] takes it back.
#[must_use = "a successful attempt is given back with SignInGuard::succeeded"]
pub struct Attempt {
    name: String,
    address: Option<IpAddr>,
}

/// One of the hashing slots, held until the work given to [`HashingSlot::run`] ends.
pub struct HashingSlot {
    permit: OwnedSemaphorePermit,
    pool: HashingPool,
}

impl HashingSlot {
    /// Runs argon2 work on a password-check thread, off the async workers.
    /// The slot moves into the thread: a request dropped mid-check (the
    /// client went away) still holds its slot until the hash is done.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let HashingSlot { permit, pool } = self;
        pool.run(move || {
            let _slot = permit;
            work()
        })
        .await
        .ok_or_else(|| internal("a password check panicked or found no thread to run on"))
    }
}

impl SignInGuard {
    pub fn new(limits: SignInLimits) -> Self {
        let slots = limits.concurrent_hashes.max(1);
        SignInGuard {
            throttle_reported: Mutex::default(),
            hashing: Arc::new(Semaphore::new(slots)),
            pool: HashingPool::new(slots),
            waiting: AtomicUsize::new(0),
            max_waiting: slots * WAITING_PER_SLOT,
            failures: Mutex::new(Failures {
                by_name: FailureBudgets::new(limits.per_user_name, MAX_TRACKED_KEYS),
                by_address: FailureBudgets::new(limits.per_address, MAX_TRACKED_KEYS),
            }),
        }
    }

    /// Lets a password check for `name` from `client` go ahead, or refuses
    /// it (429 over a failure budget, 503 without a hashing slot in time)
    /// before anything costly happens.
    pub async fn admit(
        &self,
        name: &str,
        client: Option<IpAddr>,
    ) -> Result<(Attempt, HashingSlot), AppError> {
        let now = Instant::now();
        let attempt = Attempt {
            name: name.chars().take(MAX_NAME_KEY_CHARS).collect(),
            address: client.map(address_key),
        };
        {
            let mut failures = self.lock();
            let by_name = failures.by_name.wait_for(&attempt.name, now);
            let by_address = attempt
                .address
                .and_then(|address| failures.by_address.wait_for(&address, now));
            let refused = match (by_name, by_address) {
                (Some(wait), _) => Some((wait, "for this user name")),
                (None, Some(wait)) => Some((wait, "from your network address")),
                (None, None) => None,
            };
            if let Some((wait, whose)) = refused {
                let seconds = whole_seconds(wait);
                tracing::debug!(whose, seconds, "sign-in refused: failure budget spent");
                return Err(AppError::too_many_requests(
                    format!(
                        "too many failed sign-in attempts {whose}; try again in {}",
                        in_seconds(seconds)
                    ),
                    Some(seconds),
                ));
            }
            failures.record(&attempt, now);
        }
        match self.hashing_slot().await {
            Some(permit) => Ok((
                attempt,
                HashingSlot {
                    permit,
                    pool: self.pool.clone(),
                },
            )),
            None => {
                self.lock().forgive(&attempt, Instant::now());
                tracing::debug!("sign-in refused: every hashing slot is busy");
                Err(AppError::unavailable(
                    format!(
                        "too many sign-in attempts at once; try again in {}",
                        in_seconds(BUSY_RETRY_AFTER_SECONDS)
                    ),
                    Some(BUSY_RETRY_AFTER_SECONDS),
                ))
            }
        }
    }

    /// A free slot, or one freed within [`MAX_SLOT_WAIT`] if there is room
    /// to wait; `None` otherwise.
    async fn hashing_slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.hashing.clone().try_acquire_owned() {
            return Some(permit);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = WaitingPlace(&self.waiting);
        if waiting >= self.max_waiting {
            return None;
        }
        tokio::time::timeout(MAX_SLOT_WAIT, self.hashing.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Whether a refusal (429) of `name` from `client` is the first one of
    /// the budget that refused it (the name's, else the address's) in the
    /// failure window, to be reported once; later ones in it are not.
    pub fn first_refusal_in_window(&self, name: &str, client: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let name: String = name.chars().take(MAX_NAME_KEY_CHARS).collect();
        let name_throttled = self.lock().by_name.wait_for(&name, now).is_some();
        let key = if name_throttled {
            (name, None)
        } else {
            (String::new(), client.map(address_key))
        };
        let mut reported = self
            .throttle_reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if reported
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < FAILURE_WINDOW)
        {
            return false;
        }
        if reported.len() >= MAX_TRACKED_KEYS {
            // A flood of distinct names: forget the old reports (each is
            // reported again at most once more), keeping the table bounded.
            reported.retain(|_, at| now.duration_since(*at) < FAILURE_WINDOW);
            if reported.len() >= MAX_TRACKED_KEYS {
                reported.clear();
            }
        }
        reported.insert(key, now);
        true
    }

    /// The attempt was right: it no longer counts as a failure.
    pub fn succeeded(&self, attempt: Attempt) {
        self.lock().forgive(&attempt, Instant::now());
    }

    /// Takes every free hashing slot and holds them until the answer is
    /// dropped; `None` when none is free (tests: a server whose slots are all busy).
    pub fn occupy_all_slots(&self) -> Option<OwnedSemaphorePermit> {
        let slots = u32::try_from(self.hashing.available_permits()).ok()?;
        if slots == 0 {
            return None;
        }
        self.hashing.clone().try_acquire_many_owned(slots).ok()
    }

    fn lock(&self) -> MutexGuard<'_, Failures> {
        // The tables stay consistent whatever panicked while holding them.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Failures {
    fn record(&mut self, attempt: &Attempt, now: Instant) {
        self.by_name.record(attempt.name.clone(), now);
        if let Some(address) = attempt.address {
            self.by_address.record(address, now);
        }
    }

    fn forgive(&mut self, attempt: &Attempt, now: Instant) {
        self.by_name.forgive(&attempt.name, now);
        if let Some(address) = &attempt.address {
            self.by_address.forgive(address, now);
        }
    }
}

/// The key an address is throttled under: an IPv4 address itself, an IPv6
/// address's /64 (one subscriber's network; a host picks among its 2^64
/// addresses freely).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        },
    }
}

/// Leaves the queue of attempts waiting for a slot when dropped (served,
/// refused, timed out, or the request went away).
struct WaitingPlace<'a>(&'a AtomicUsize);

impl Drop for WaitingPlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// "1 second", "90 seconds".
fn in_seconds(seconds: u64) -> String {
    if seconds == 1 {
        "1 second".to_string()
    } else {
        format!("{seconds} seconds")
    }
}

/// Seconds to wait, rounded up, at least one.
fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrent_hashes: usize, per_name: u32, per_address: u32) -> SignInLimits {
        SignInLimits {
            concurrent_hashes,
            per_user_name: Budget {
                burst: per_name,
                window: FAILURE_WINDOW,
            },
            per_address: Budget {
                burst: per_address,
                window: FAILURE_WINDOW,
            },
        }
    }

    fn client(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[tokio::test]
    async fn a_name_over_its_budget_is_refused_with_the_wait() {
        let guard = SignInGuard::new(limits(4, 3, 100));
        for n in 0..3 {
            let (_failed, _slot) = guard.admit("alice", client(n)).await.unwrap();
        }
        let refused = guard.admit("alice", client(9)).await.err().unwrap();
        assert_eq!(refused.status_code(), 429);
        // Three per fifteen minutes: one every five minutes.
        assert_eq!(refused.retry_after_seconds(), Some(300));
        assert!(refused.to_string().contains("for this user name"));
        assert!(refused.to_string().ends_with("try again in 300 seconds"));
        assert!(
            guard.admit("bob", client(9)).await.is_ok(),
            "other names pass"
        );
    }

    #[tokio::test]
    async fn an_address_over_its_budget_is_refused_whatever_the_name() {
        let guard = SignInGuard::new(limits(4, 100, 2));
        let (_a, _slot_a) = guard.admit("a", client(1)).await.unwrap();
        let (_b, _slot_b) = guard.admit("b", client(1)).await.unwrap();
        let refused = guard.admit("c", client(1)).await.err().unwrap();
        assert_eq!(refused.status_code(), 429);
        assert!(refused.to_string().contains("from your network address"));
        assert!(
            guard.admit("c", client(2)).await.is_ok(),
            "other addresses pass"
        );
    }

    #[tokio::test]
    async fn success_takes_the_attempt_back() {
        let guard = SignInGuard::new(limits(4, 2, 100));
        for _ in 0..5 {
            let (attempt, _slot) = guard.admit("alice", client(1)).await.unwrap();
            guard.succeeded(attempt);
        }
    }

    #[tokio::test]
    async fn an_attempt_waits_for_a_slot_freed_in_time() {
        let guard = SignInGuard::new(limits(1, 10, 100));
        let held = guard.occupy_all_slots().unwrap();
        let freeing = async {
            tokio::time::sleep(MAX_SLOT_WAIT / 10).await;
            drop(held);
        };
        let (admitted, ()) = tokio::join!(guard.admit("alice", client(1)), freeing);
        assert!(admitted.is_ok());
    }

    #[tokio::test]
    async fn without_a_slot_in_time_the_answer_is_503_and_counts_as_nothing() {
        let guard = SignInGuard::new(limits(1, 1, 100));
        let held = guard.occupy_all_slots().unwrap();
        let started = Instant::now();
        let busy = guard.admit("alice", client(1)).await.err().unwrap();
        assert!(started.elapsed() >= MAX_SLOT_WAIT);
        assert_eq!(busy.status_code(), 503);
        assert_eq!(busy.retry_after_seconds(), Some(BUSY_RETRY_AFTER_SECONDS));
        assert!(busy.to_string().ends_with("try again in 1 second"));
        drop(held);
        // The refused attempt spent none of alice's single failure.
        assert!(guard.admit("alice", client(1)).await.is_ok());
    }

    #[tokio::test]
    async fn beyond_the_waiting_room_the_answer_is_503_at_once() {
        let guard = SignInGuard::new(limits(1, 100, 100));
        let _held = guard.occupy_all_slots().unwrap();
        let waiting: Vec<_> = (0..WAITING_PER_SLOT)
            .map(|n| Box::pin(guard.admit("alice", client(n as u8))))
            .collect();
        // Let every waiter take its place in the queue.
        let queued = futures::future::select_all(waiting);
        let refused_at_once = async {
            tokio::task::yield_now().await;
            let started = Instant::now();
            let refused = guard.admit("bob", client(99)).await.err().unwrap();
            (refused, started.elapsed())
        };
        tokio::select! {
            _ = queued => panic!("a waiter finished (served or out of time) before the extra attempt was refused"),
            (refused, took) = refused_at_once => {
                assert_eq!(refused.status_code(), 503);
                assert!(took < MAX_SLOT_WAIT / 2, "refused after {took:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_slot_is_held_until_the_work_ends() {
        let guard = SignInGuard::new(limits(1, 10, 100));
        let (_attempt, slot) = guard.admit("alice", client(1)).await.unwrap();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let work = tokio::spawn(slot.run(move || {
            started.send(()).unwrap();
            finished.recv().unwrap();
        }));
        running.await.unwrap();
        assert!(guard.occupy_all_slots().is_none(), "the slot is taken");
        finish.send(()).unwrap();
        work.await.unwrap().unwrap();
        assert!(guard.occupy_all_slots().is_some(), "the slot is free again");
    }

    #[test]
    fn ipv6_addresses_are_throttled_by_their_64_bit_network() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(one), address_key(other));
        assert_ne!(address_key(one), address_key(elsewhere));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), IpAddr::from([192, 0, 2, 7]));
    }
}

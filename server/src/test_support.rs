//! Helpers for tests: this crate's unit tests and the `tests/` binaries
//! (which reach it as `server::test_support`). Nothing here runs in the server.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it yields `Some`, and answers that value. Panics,
/// naming `what`, when `timeout` passes first. Waits on a state instead of
/// sleeping a guessed time: fast when the state comes early, bounded when it
/// never does.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

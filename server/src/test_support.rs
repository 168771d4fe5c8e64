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

/// The throwaway PostgreSQL cluster of a test run (`scripts/test` starts it).
pub const POSTGRES_URL_VARIABLE: &str = "SLIPWAY_TEST_POSTGRES_URL";

/// Creates an empty database on the test cluster and answers its URL. Each
/// test gets its own, so tests run in parallel without seeing each other.
/// Panics, saying how to get one, when no cluster was started.
pub async fn fresh_postgres_database() -> String {
    let cluster = std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VARIABLE} is not set: run the tests with scripts/test, which starts a \
             throwaway PostgreSQL, or point it at a cluster where this user may create databases"
        )
    });
    let name = format!("slipway_test_{:016x}", rand::random::<u64>());
    let admin = sqlx::PgPool::connect(&cluster)
        .await
        .unwrap_or_else(|error| {
            panic!("the test cluster at {POSTGRES_URL_VARIABLE} answers: {error}")
        });
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("the test database is created");
    admin.close().await;
    match cluster.rsplit_once('/') {
        Some((server, _database)) => format!("{server}/{name}"),
        None => panic!("{POSTGRES_URL_VARIABLE} must end with /DATABASE"),
    }
}

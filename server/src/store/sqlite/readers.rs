//! SQLite's read connections, held by the store rather than pooled by sqlx,
//! for the reason `writer.rs` gives: sqlx's pool pings every connection on
//! its way back, a command to the connection's thread and its answer, in a
//! task spawned for it, after every read. A SQLite connection to a local
//! file does not go stale, so here a reader hands its connection straight
//! back. Connections are opened as readers need them, up to a limit.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::store::{StoreError, StoreResult};

/// How long a read waits for a connection before it fails (sqlx's pool
/// default, which the readers had before).
const READ_WAIT: Duration = Duration::from_secs(30);

pub(super) struct Readers {
    options: SqliteConnectOptions,
    /// Connections no reader holds.
    idle: Mutex<Vec<SqliteConnection>>,
    /// One per connection that may be open; a reader holds one while it
    /// reads, so no more than `limit` are ever open.
    permits: Semaphore,
    limit: u32,
}

impl Readers {
    /// Opens the first connection at once, so a database that cannot be
    /// read fails the start, not the first page.
    pub(super) async fn connect(options: SqliteConnectOptions, limit: u32) -> StoreResult<Self> {
        let first = options.connect().await?;
        Ok(Readers {
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(limit as usize),
            limit,
        })
    }

    pub(super) async fn acquire(&self) -> StoreResult<ReadGuard<'_>> {
        let permit = tokio::time::timeout(READ_WAIT, self.permits.acquire())
            .await
            .map_err(|_| StoreError::from(sqlx::Error::PoolTimedOut))?
            .map_err(|_| StoreError::from(sqlx::Error::PoolClosed))?;
        let idle = self.idle_connections().pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.options.connect().await?,
        };
        Ok(ReadGuard {
            connection: Some(connection),
            readers: self,
            _permit: permit,
        })
    }

    /// (open, idle, limit), for `/metrics`.
    pub(super) fn use_counts(&self) -> (u32, u32, u32) {
        let idle = self.idle_connections().len() as u32;
        let held = self.limit - self.permits.available_permits() as u32;
        (idle + held, idle, self.limit)
    }

    fn idle_connections(&self) -> std::sync::MutexGuard<'_, Vec<SqliteConnection>> {
        // A panic elsewhere while the list was locked leaves it whole: it is
        // only ever pushed to or popped from.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A read connection while one reader holds it.
pub(super) struct ReadGuard<'a> {
    /// Taken back into the idle list when the reader is done.
    connection: Option<SqliteConnection>,
    readers: &'a Readers,
    // Dropped after `drop` put the connection back, so whoever gets the
    // permit next finds it idle.
    _permit: SemaphorePermit<'a>,
}

impl ReadGuard<'_> {
    fn connection(&self) -> &SqliteConnection {
        self.connection
            .as_ref()
            .expect("a reader holds its connection until it is dropped")
    }
}

impl Deref for ReadGuard<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.connection()
    }
}

impl DerefMut for ReadGuard<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.connection
            .as_mut()
            .expect("a reader holds its connection until it is dropped")
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.readers.idle_connections().push(connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::ConnectOptions;

    use super::Readers;

    #[tokio::test]
    async fn readers_share_connections_up_to_their_limit_and_reuse_them() {
        let directory = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(directory.path().join("readers.db"))
            .create_if_missing(true);
        let mut writer = options.connect().await.unwrap();
        sqlx::query(
            "CREATE TABLE answers (value INTEGER NOT NULL); INSERT INTO answers VALUES (42)",
        )
        .execute(&mut writer)
        .await
        .unwrap();
        let readers = Readers::connect(options.read_only(true), 2).await.unwrap();
        assert_eq!(readers.use_counts(), (1, 1, 2));

        let mut first = readers.acquire().await.unwrap();
        let mut second = readers.acquire().await.unwrap();
        assert_eq!(readers.use_counts(), (2, 0, 2));
        for reader in [&mut first, &mut second] {
            let value: i64 = sqlx::query_scalar("SELECT value FROM answers")
                .fetch_one(&mut **reader)
                .await
                .unwrap();
            assert_eq!(value, 42);
        }
        // A third waits until one of the two is handed back.
        let third = readers.acquire();
        tokio::pin!(third);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut third)
                .await
                .is_err(),
            "no third connection is opened past the limit"
        );
        drop(first);
        let third = third.await.unwrap();
        assert_eq!(readers.use_counts(), (2, 0, 2));
        drop((second, third));
        assert_eq!(readers.use_counts(), (2, 2, 2));
    }
}

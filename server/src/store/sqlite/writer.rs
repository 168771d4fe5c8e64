//! SQLite's one write connection, held by the store rather than pooled.
//!
//! sqlx's pool tests every connection on its way back (`ping`): on SQLite
//! that is a command to the connection's thread and an answer back, spawned
//! as a task of its own, and the next writer gets the connection only after
//! it. With one connection every write waits for, that round trip sat
//! between any two writes in the process. Here the connection is kept behind
//! a mutex, handed from one writer to the next with nothing in between (the
//! engine bench, about five writes a run: a quarter more runs a second; see
//! BENCHMARKS.md, "The write connections out of sqlx's pool").
//!
//! Transactions are begun with `BEGIN IMMEDIATE` (the write lock from the
//! start, so another process's write — a backup, `slipway token create` —
//! is waited for in SQLite's busy handler rather than failing a read that
//! turned into a write) and ended by [`WriteTransaction::commit`] or
//! [`WriteTransaction::rollback`]. A transaction dropped before either (an
//! error returned early, a request cancelled) is rolled back before anyone
//! else writes: at once in a task of its own, and in any case by the next
//! writer, which finds it marked.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::store::{StoreError, StoreResult};

/// The write connection and what its last writer left it in.
pub(super) struct WriteConnection {
    connection: SqliteConnection,
    /// A transaction was begun on it and has not been seen to end: from
    /// just before its `BEGIN` is sent until its `COMMIT` or `ROLLBACK`
    /// answered, so a writer that stopped anywhere in between leaves it set.
    open_transaction: bool,
}

/// The shared slot of the write connection.
#[derive(Clone)]
pub(super) struct Writer(Arc<Mutex<WriteConnection>>);

impl Writer {
    pub(super) fn new(connection: SqliteConnection) -> Self {
        Writer(Arc::new(Mutex::new(WriteConnection {
            connection,
            open_transaction: false,
        })))
    }

    /// The connection, once the writers ahead have had it (first come,
    /// first served), with any transaction a writer abandoned rolled back.
    pub(super) async fn acquire(&self, wait: Duration) -> StoreResult<WriteGuard> {
        let guard = tokio::time::timeout(wait, Arc::clone(&self.0).lock_owned())
            .await
            .map_err(|_| StoreError::from(sqlx::Error::PoolTimedOut))?;
        let mut guard = WriteGuard(guard);
        guard.end_abandoned_transaction().await?;
        Ok(guard)
    }

    /// Whether a writer holds the connection now (for `/metrics`).
    pub(super) fn in_use(&self) -> bool {
        self.0.try_lock().is_err()
    }
}

/// The write connection while one writer holds it.
pub(super) struct WriteGuard(OwnedMutexGuard<WriteConnection>);

impl WriteGuard {
    /// Begins a transaction that holds SQLite's write lock from its start.
    pub(super) async fn begin(mut self) -> StoreResult<WriteTransaction> {
        // Marked before it is sent: a BEGIN that ran after its caller gave
        // up must still be ended.
        self.0.open_transaction = true;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.0.connection)
            .await?;
        Ok(WriteTransaction { guard: Some(self) })
    }

    async fn end_abandoned_transaction(&mut self) -> StoreResult<()> {
        if !self.0.open_transaction {
            return Ok(());
        }
        match sqlx::query("ROLLBACK")
            .execute(&mut self.0.connection)
            .await
        {
            Ok(_) => {}
            // Its BEGIN never ran, or its COMMIT did and only the answer
            // was not waited for: nothing is open.
            Err(sqlx::Error::Database(error))
                if error.message().contains("no transaction is active") => {}
            // Still marked: the next writer tries again, and no write goes
            // into a transaction nobody will commit.
            Err(error) => return Err(error.into()),
        }
        self.0.open_transaction = false;
        Ok(())
    }

    /// Ends the open transaction with `statement` (`COMMIT` or `ROLLBACK`).
    async fn end_transaction(&mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(statement)
            .execute(&mut self.0.connection)
            .await?;
        self.0.open_transaction = false;
        Ok(())
    }
}

impl Deref for WriteGuard {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.0.connection
    }
}

impl DerefMut for WriteGuard {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0.connection
    }
}

/// A transaction on the write connection; the connection is the writer's
/// until it ends.
pub(crate) struct WriteTransaction {
    /// Taken when the transaction is dropped unended, to roll it back.
    guard: Option<WriteGuard>,
}

impl WriteTransaction {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.guard_mut().end_transaction("COMMIT").await
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.guard_mut().end_transaction("ROLLBACK").await
    }

    fn guard_mut(&mut self) -> &mut WriteGuard {
        self.guard
            .as_mut()
            .expect("a transaction holds its connection until it is dropped")
    }
}

impl Deref for WriteTransaction {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.guard
            .as_ref()
            .expect("a transaction holds its connection until it is dropped")
    }
}

impl DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.guard_mut()
    }
}

impl Drop for WriteTransaction {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        if !guard.0.open_transaction {
            return;
        }
        // Rolled back now, so it holds SQLite's lock no longer than needed
        // (another process may be waiting for it); the connection goes to
        // the next writer only after. Without a runtime (shutting down) the
        // mark stays for the next writer.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = guard.end_abandoned_transaction().await {
                    tracing::warn!(%error, "rolling back an abandoned write failed; the next write tries again");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::{ConnectOptions, Connection};

    use super::Writer;

    const WAIT: Duration = Duration::from_secs(5);

    async fn writer_and_reader() -> (tempfile::TempDir, Writer, sqlx::SqliteConnection) {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("writer.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut connection = options.connect().await.unwrap();
        sqlx::query("CREATE TABLE marks (name TEXT NOT NULL)")
            .execute(&mut connection)
            .await
            .unwrap();
        let reader = options.connect().await.unwrap();
        (dir, Writer::new(connection), reader)
    }

    async fn marks(reader: &mut sqlx::SqliteConnection) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM marks ORDER BY name")
            .fetch_all(reader)
            .await
            .unwrap()
    }

    async fn mark(connection: &mut sqlx::SqliteConnection, name: &str) {
        sqlx::query("INSERT INTO marks (name) VALUES ($1)")
            .bind(name)
            .execute(connection)
            .await
            .unwrap();
    }

    /// A transaction begun on `writer` that has written the mark `name`.
    async fn transaction_marked(writer: &Writer, name: &str) -> super::WriteTransaction {
        let mut transaction = writer.acquire(WAIT).await.unwrap().begin().await.unwrap();
        mark(&mut transaction, name).await;
        transaction
    }

    #[tokio::test]
    async fn a_committed_transaction_is_kept_and_a_rolled_back_one_is_not() {
        let (_dir, writer, mut reader) = writer_and_reader().await;
        let kept = transaction_marked(&writer, "kept").await;
        kept.commit().await.unwrap();
        let undone = transaction_marked(&writer, "undone").await;
        undone.rollback().await.unwrap();
        assert_eq!(marks(&mut reader).await, ["kept"]);
    }

    #[tokio::test]
    async fn a_transaction_dropped_unended_is_rolled_back_before_the_next_write() {
        let (_dir, writer, mut reader) = writer_and_reader().await;
        drop(transaction_marked(&writer, "abandoned").await);
        // Written outside any transaction: were the abandoned one still
        // open, this would go into it and never be committed.
        let mut next = writer.acquire(WAIT).await.unwrap();
        mark(&mut next, "next").await;
        drop(next);
        assert_eq!(marks(&mut reader).await, ["next"]);
    }

    #[tokio::test]
    async fn a_writer_cancelled_inside_its_transaction_leaves_nothing_open() {
        let (_dir, writer, mut reader) = writer_and_reader().await;
        let cancelled = {
            let writer = writer.clone();
            async move {
                let _transaction = transaction_marked(&writer, "cancelled").await;
                std::future::pending::<()>().await;
            }
        };
        // The future is dropped while it holds the transaction.
        let _ = tokio::time::timeout(Duration::from_millis(50), cancelled).await;
        let next = transaction_marked(&writer, "next").await;
        next.commit().await.unwrap();
        assert_eq!(marks(&mut reader).await, ["next"]);
    }

    #[tokio::test]
    async fn writers_wait_their_turn_and_time_out_saying_so() {
        let (_dir, writer, _reader) = writer_and_reader().await;
        let held = writer.acquire(WAIT).await.unwrap();
        assert!(writer.in_use());
        let waited = writer.acquire(Duration::from_millis(20)).await;
        assert!(
            matches!(
                waited,
                Err(crate::store::StoreError::Database(
                    sqlx::Error::PoolTimedOut
                ))
            ),
            "a writer that waited past its limit fails"
        );
        drop(held);
        assert!(!writer.in_use());
        let mut connection = writer.acquire(WAIT).await.unwrap();
        connection.ping().await.unwrap();
    }
}

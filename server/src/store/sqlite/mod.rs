//! The embedded SQLite store: one file, WAL journal, foreign keys on. The
//! queries are the shared ones in `../sql/` (the dialect PostgreSQL speaks
//! too: `$N` placeholders, `RETURNING`, `ON CONFLICT`, `TRUE`/`FALSE`),
//! compiled here for SQLite's types; this module holds what only SQLite does:
//! connecting, the write lock, claiming a run and naming a failed constraint.

// The shared SQL, compiled against these types. Each backend compiles the
// `sql/` files as modules of its own: a deliberate duplicate module.
#![allow(clippy::duplicate_mod)]
type Db = Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type DbConnection = sqlx::SqliteConnection;
type Backend = SqliteStore;

#[path = "../sql/audit.rs"]
mod audit;
#[path = "../sql/delivery_batch.rs"]
mod delivery_batch;
#[path = "../sql/endpoints.rs"]
mod endpoints;
#[path = "../sql/hooks.rs"]
mod hooks;
#[path = "../sql/identity.rs"]
mod identity;
#[path = "../sql/lookups.rs"]
mod lookups;
#[path = "../sql/maintenance.rs"]
mod maintenance;
#[path = "../sql/notifications.rs"]
pub(crate) mod notifications;
#[path = "../sql/operations.rs"]
mod operations;
#[path = "../sql/projects.rs"]
mod projects;
mod readers;
#[path = "../sql/rows.rs"]
mod rows;
#[path = "../sql/runs.rs"]
mod runs;
mod writer;

pub(crate) use writer::WriteTransaction;

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use app::model::Millis;
use app::pipeline::RunEvent;
use sqlx::error::ErrorKind;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite};

use self::lookups::missing;
use self::readers::{ReadGuard, Readers};
use self::writer::{WriteGuard, Writer};
use super::operations::PoolUse;
use super::{Store, StoreError, StoreResult};

/// What the status page and `/metrics` call this backend.
const BACKEND_NAME: &str = "sqlite";

/// How the notification claim's inner select locks the rows it picks: not
/// at all, as SQLite runs the claim's one statement alone.
const CLAIM_ROW_LOCK: &str = "";

/// The queued runs as the run claim reads them: through their own index,
/// named, because without statistics (Slipway never runs `ANALYZE`) SQLite
/// prefers `executions_status_idx` for `status = 'QUEUED'` and then reads
/// every queued run to find the first pipeline.
const QUEUED_RUNS: &str = "executions INDEXED BY executions_queued_idx";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

pub struct SqliteStore {
    /// Connections that only read, opened read-only (`readers.rs`): up to
    /// [`MAX_READERS`] read at once beside the writer (WAL).
    readers: Readers,
    /// The one connection that writes (`writer.rs`). SQLite takes one
    /// writer at a time; with one connection in the process, writers queue
    /// in order for it here instead of each sleeping in SQLite's busy
    /// handler (1, 2, 5, 10 ms…) while another holds the lock — which was
    /// most of a triggering delivery's latency while the engine wrote beside
    /// it.
    writer: Writer,
    /// Every write but the webhook receivers' takes its turn here before it
    /// queues for the write connection. The connection's queue is first come,
    /// first served, so a batch of deliveries waits behind at most the write
    /// under way and one other, however many the engine has waiting: a
    /// registry's burst is answered while the runs it started queue (the
    /// ingest bench's `store` case: a batch's p99 from about 15 to 9–10 ms
    /// while the engine ran the runs). Each side still gets every other turn
    /// at worst, so neither starves.
    other_writes: tokio::sync::Mutex<()>,
    /// Copies the WAL back into the database file beside the writer; stops
    /// with the store.
    _checkpointer: Checkpointer,
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The write connection never checkpoints (`wal_autocheckpoint = 0`): with
/// SQLite's default, the commit that crossed 1,000 pages of WAL copied them
/// back into the file and synced it before it returned, while every write
/// queued behind it waited (the ingest bench's p99 at half load: about 26 ms
/// with it, 7 ms without). A connection of its own does it every second
/// instead, `PASSIVE`: it copies what no reader still needs and takes no
/// lock the writer waits for. Once all of the WAL is copied, the writer
/// starts it over from the beginning, so it does not grow without bound.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    async fn start(options: SqliteConnectOptions) -> StoreResult<Self> {
        let mut connection = options.connect().await?;
        Ok(Checkpointer(tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut connection)
                    .await
                {
                    tracing::warn!(%error, "copying the SQLite WAL into the database file failed; tried again in a second");
                }
            }
        })))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Read connections at most.
const MAX_READERS: u32 = 8;
/// How long a write waits for the write connection before it fails.
const WRITE_WAIT: Duration = Duration::from_secs(10);
/// How long a write waits for another process's write lock (a backup, the
/// `sqlite3` shell) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqliteStore {
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let file = options.get_filename();
        crate::files::prepare_private_database(file)
            .map_err(|error| sqlx::Error::Io(std::io::Error::other(format!("{error:#}"))))?;
        // The writer first: it creates the file and turns WAL on.
        let writer = Writer::new(
            options
                .clone()
                .create_if_missing(true)
                .pragma("wal_autocheckpoint", "0")
                .connect()
                .await?,
        );
        let readers = Readers::connect(options.clone().read_only(true), MAX_READERS).await?;
        Ok(SqliteStore {
            readers,
            writer,
            other_writes: tokio::sync::Mutex::new(()),
            _checkpointer: Checkpointer::start(options).await?,
        })
    }

    /// A read connection.
    async fn reader(&self) -> StoreResult<ReadGuard<'_>> {
        self.readers.acquire().await
    }

    /// The write connection, after the other writes ahead of this one.
    async fn write_connection(&self) -> StoreResult<WriteGuard> {
        let _turn = self.take_write_turn().await?;
        self.writer.acquire(WRITE_WAIT).await
    }

    /// The write connection for a batch of deliveries: past the other
    /// writes' turns, straight into the connection's queue.
    async fn delivery_connection(&self) -> StoreResult<WriteGuard> {
        self.writer.acquire(WRITE_WAIT).await
    }

    /// A turn in the line of writes that are not deliveries; it ends once
    /// the write holds the connection.
    async fn take_write_turn(&self) -> StoreResult<tokio::sync::MutexGuard<'_, ()>> {
        tokio::time::timeout(WRITE_WAIT, self.other_writes.lock())
            .await
            .map_err(|_| StoreError::from(sqlx::Error::PoolTimedOut))
    }

    /// The readers and the writer, for `/metrics`.
    fn pools(&self) -> Vec<PoolUse> {
        let (open, idle, max) = self.readers.use_counts();
        vec![
            PoolUse {
                pool: "read",
                open,
                idle,
                max,
            },
            PoolUse {
                pool: "write",
                open: 1,
                idle: u32::from(!self.writer.in_use()),
                max: 1,
            },
        ]
    }

    /// The database file's pages, free ones included (SQLite reuses them
    /// before it grows the file); the WAL is not counted, it is checkpointed
    /// back into the file.
    async fn size_on_disk(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&mut *self.reader().await?)
        .await?)
    }

    /// A transaction that holds the write lock from its start (`BEGIN
    /// IMMEDIATE`), for every transaction that writes: a deferred one that
    /// reads first cannot take the lock later while another connection
    /// writes, and fails with SQLITE_BUSY at once, whatever the busy timeout.
    async fn begin_write(&self) -> StoreResult<WriteTransaction> {
        self.write_connection().await?.begin().await
    }

    /// [`Self::begin_write`] for a batch of deliveries, past the other
    /// writes' turns (see `other_writes`).
    async fn begin_delivery_write(&self) -> StoreResult<WriteTransaction> {
        self.delivery_connection().await?.begin().await
    }

    /// Marks the oldest QUEUED run whose pipeline is under its concurrency
    /// limit RUNNING for `owner`, in one statement: SQLite runs one writer at
    /// a time, so no other claim can come between the count and the update.
    /// Its `started` notifications are written in the same transaction.
    async fn claim_next_queued(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<i64>> {
        let mut transaction = self.begin_write().await?;
        let claimed: Option<(i64, String)> = sqlx::query_as(&CLAIM)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&mut *transaction)
            .await?;
        if let Some((id, spec)) = &claimed {
            notifications::enqueue_run_notifications_of_spec(
                &mut transaction,
                *id,
                spec,
                RunEvent::Started,
                now,
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(claimed.map(|(id, _)| id))
    }
}

/// The claim's one statement: [`runs::NEXT_QUEUED_OF_EACH_PIPELINE`], then
/// the oldest of those runs marked RUNNING.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} UPDATE executions SET status = 'RUNNING', lease_owner = $1, lease_expires_at = $2, \
             started_at = COALESCE(started_at, $3) \
         WHERE id = (SELECT MIN(id) FROM next_of_each) AND status = 'QUEUED' RETURNING id, spec",
        *runs::NEXT_QUEUED_OF_EACH_PIPELINE
    )
});

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        // `run` on a borrowed connection trips the compiler inside an async
        // trait ("`Acquire` is not general enough"); `run_direct` is sqlx's
        // own way around it, doing the same.
        MIGRATOR
            .run_direct(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await?;
        Ok(())
    }

    fn concurrent_writers(&self) -> usize {
        1
    }

    fn is_single_process(&self) -> bool {
        true
    }
}

/// SQLite's text for each unique constraint ("UNIQUE constraint failed: "
/// and the columns), with the name the PostgreSQL migrations give it.
const UNIQUE_CONSTRAINTS: &[(&str, &str)] = &[
    ("users.username", "users_username_key"),
    ("sessions.token_hash", "sessions_pkey"),
    ("api_tokens.token_hash", "api_tokens_token_hash_key"),
    ("projects.name", "projects_name_key"),
    (
        "memberships.project_id, memberships.user_id",
        "memberships_pkey",
    ),
    (
        "endpoints.project_id, endpoints.name",
        "endpoints_project_id_name_key",
    ),
    (
        "pipelines.project_id, pipelines.name",
        "pipelines_project_id_name_key",
    ),
    (
        "pipeline_endpoints.pipeline_id, pipeline_endpoints.endpoint_id",
        "pipeline_endpoints_pkey",
    ),
    (
        "executions.pipeline_id, executions.run_number",
        "executions_pipeline_id_run_number_key",
    ),
    (
        "task_runs.execution_id, task_runs.stage_index, task_runs.task_index",
        "task_runs_execution_id_stage_index_task_index_key",
    ),
    (
        "docker_webhooks.project_id, docker_webhooks.name",
        "docker_webhooks_project_id_name_key",
    ),
    (
        "docker_webhooks.secure_token_hash",
        "docker_webhooks_secure_token_hash_key",
    ),
    (
        "delivery_keys.webhook_id, delivery_keys.dedupe_key",
        "delivery_keys_pkey",
    ),
];

/// Turns a unique-constraint failure into [`StoreError::Constraint`] with the
/// constraint's PostgreSQL name: SQLite reports the columns, not the name.
fn map_constraint(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.kind() == ErrorKind::UniqueViolation {
            let name = db
                .message()
                .strip_prefix("UNIQUE constraint failed: ")
                .and_then(|columns| {
                    UNIQUE_CONSTRAINTS
                        .iter()
                        .find(|(failed, _)| *failed == columns)
                });
            if let Some((_, name)) = name {
                return StoreError::Constraint((*name).to_string());
            }
        }
    }
    StoreError::Database(error)
}

#[cfg(test)]
mod tests {
    use super::UNIQUE_CONSTRAINTS;

    /// What is committed reaches the database file itself within a few
    /// checkpoint periods, though the writer never checkpoints: a copy of
    /// the file without its WAL holds the row.
    #[tokio::test]
    async fn committed_writes_reach_the_database_file_in_the_background() {
        use crate::store::ProjectStore;
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("slipway.db");
        let store = super::SqliteStore::connect(&format!("sqlite:{}", file.display()))
            .await
            .unwrap();
        crate::store::Store::migrate(&store).await.unwrap();
        store.create_project("Checkpointed", "", 1).await.unwrap();
        let copy = directory.path().join("copy.db");
        let deadline = std::time::Instant::now() + 5 * super::CHECKPOINT_EVERY;
        loop {
            std::fs::copy(&file, &copy).unwrap();
            let url = format!("sqlite:{}?immutable=1", copy.display());
            let mut reader = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            let found: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'projects'")
                    .fetch_one(&mut reader)
                    .await
                    .unwrap();
            let projects: i64 = if found == 1 {
                sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE name = 'Checkpointed'")
                    .fetch_one(&mut reader)
                    .await
                    .unwrap()
            } else {
                0
            };
            if projects == 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the project is still only in the WAL after {:?}",
                5 * super::CHECKPOINT_EVERY
            );
            tokio::time::sleep(super::CHECKPOINT_EVERY / 4).await;
        }
    }

    /// The same event of a run written twice (a change recorded again)
    /// leaves one row per notification: `ON CONFLICT DO NOTHING`.
    /// A batch of deliveries waits behind the write under way and at most
    /// one other, however many other writes queued before it; then those
    /// go on in their order.
    #[tokio::test]
    async fn deliveries_take_the_write_connection_before_the_writes_queued_ahead() {
        use std::sync::{Arc, Mutex};
        let (_directory, store) = migrated_store().await;
        let store = Arc::new(store);
        let order = Arc::new(Mutex::new(Vec::new()));
        let under_way = store.begin_write().await.unwrap();
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(50));
        let mut waiting = Vec::new();
        for name in ["engine 1", "engine 2", "engine 3"] {
            let (store, order) = (store.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let transaction = store.begin_write().await.unwrap();
                order.lock().unwrap().push(name);
                transaction.commit().await.unwrap();
            }));
            settle().await;
        }
        {
            let (store, order) = (store.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let transaction = store.begin_delivery_write().await.unwrap();
                order.lock().unwrap().push("deliveries");
                transaction.commit().await.unwrap();
            }));
        }
        settle().await;
        under_way.commit().await.unwrap();
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["engine 1", "deliveries", "engine 2", "engine 3"]
        );
    }

    #[tokio::test]
    async fn an_event_enqueued_twice_is_written_once() {
        use crate::store::{
            NewExecution, NotificationStore, PipelineWrite, ProjectStore, RunStore,
        };
        let (_directory, store) = migrated_store().await;
        let project = store.create_project("Demo", "", 1).await.unwrap();
        let spec = r#"{"notifications":[{"on":["canceled"],"email":{"to":["a@example.com"]}},
            {"on":["started","waiting"],"email":{"to":["a@example.com"]}},
            {"on":["canceled"],"webhook":{"url":"http://hooks.example/"}}]}"#;
        let pipeline = store
            .create_pipeline(PipelineWrite {
                project_id: project.id,
                name: "deploy",
                description: "",
                enabled: true,
                concurrency: 1,
                spec,
                endpoint_ids: &[],
                now: 1,
            })
            .await
            .unwrap();
        let run = store
            .queue_execution(NewExecution {
                pipeline_id: pipeline.id,
                project_id: project.id,
                inputs: "{}",
                trigger: "{}",
                spec,
                created_by: None,
                now: 2,
            })
            .await
            .unwrap();
        let mut transaction = store.begin_write().await.unwrap();
        let enqueue = super::notifications::enqueue_run_notifications;
        let canceled = app::pipeline::RunEvent::Canceled;
        assert_eq!(
            enqueue(&mut transaction, run.id, canceled, 3)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            enqueue(&mut transaction, run.id, canceled, 4)
                .await
                .unwrap(),
            0
        );
        transaction.commit().await.unwrap();
        // Two approvals wait: each is an occasion of its own, each once.
        let waiting = app::pipeline::RunEvent::Waiting;
        let of = super::notifications::enqueue_notifications_of;
        let mut transaction = store.begin_write().await.unwrap();
        assert_eq!(
            of(&mut transaction, run.id, waiting, "dev.ok", 5)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            of(&mut transaction, run.id, waiting, "prod.ok", 6)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            of(&mut transaction, run.id, waiting, "prod.ok", 7)
                .await
                .unwrap(),
            0
        );
        transaction.commit().await.unwrap();
        let rows = store.execution_notifications(run.id).await.unwrap();
        let shown: Vec<(i64, &str, i64)> = rows
            .iter()
            .map(|row| {
                (
                    row.notification_index,
                    row.occasion.as_str(),
                    row.created_at,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [(0, "", 3), (2, "", 3), (1, "dev.ok", 5), (1, "prod.ok", 6)]
        );
    }

    /// Every name SQLite's failures map to is one the PostgreSQL schema has.
    #[test]
    fn constraint_names_are_those_of_the_postgres_migrations() {
        let postgres: String = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../migrations/postgres"
        ))
        .expect("the PostgreSQL migrations")
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
        for (columns, name) in UNIQUE_CONSTRAINTS {
            let declared = match name.strip_suffix("_pkey") {
                // A primary key is named `<table>_pkey` by PostgreSQL itself.
                Some(table) => postgres.contains(&format!("CREATE TABLE {table} (")),
                None => postgres.contains(&format!("CONSTRAINT {name} UNIQUE")),
            };
            assert!(
                declared,
                "{name} ({columns}) is not in the PostgreSQL migrations"
            );
        }
    }

    /// A store on a fresh, migrated database file (kept while the directory is).
    async fn migrated_store() -> (tempfile::TempDir, super::SqliteStore) {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", directory.path().join("slipway.db").display());
        let store = super::SqliteStore::connect(&url).await.unwrap();
        crate::store::Store::migrate(&store).await.unwrap();
        (directory, store)
    }

    /// SQLite's plan for `statement` with these values bound, one step a line.
    async fn query_plan(store: &super::SqliteStore, statement: &str, values: &[i64]) -> String {
        let explain = format!("EXPLAIN QUERY PLAN {statement}");
        let mut query = sqlx::query(&explain);
        for value in values {
            query = query.bind(*value);
        }
        let steps: Vec<String> = query
            .fetch_all(&mut *store.reader().await.unwrap())
            .await
            .unwrap()
            .iter()
            .map(|step| sqlx::Row::get(step, "detail"))
            .collect();
        steps.join("\n")
    }

    /// A claim searches the queued runs' own index, pipeline by pipeline, and
    /// never walks all the queued runs in the status index: with one
    /// pipeline's backlog of 20,000 behind its limit that walk took 33–46 ms
    /// a claim, holding the write connection every delivery waits for.
    #[tokio::test]
    async fn a_claim_searches_the_queued_runs_pipeline_by_pipeline() {
        let (_directory, store) = migrated_store().await;
        let plan = query_plan(&store, &super::CLAIM, &[0; 3]).await;
        assert!(
            plan.contains("executions_queued_idx (pipeline_id>?)"),
            "{plan}"
        );
        assert!(
            plan.contains("executions_queued_idx (pipeline_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("executions_status_idx"), "{plan}");
    }

    /// The batch's probe for tags with a QUEUED run starts from the pushed
    /// tags and searches the push-order index for each, whatever number of
    /// runs is queued: walking every QUEUED run first made it the slowest
    /// step of a batch while the engine had a backlog.
    #[tokio::test]
    async fn the_probe_for_queued_runs_starts_from_the_pushed_tags() {
        let (_directory, store) = migrated_store().await;
        let pushed = crate::store::NewEvent {
            webhook_id: 1,
            received_at: 0,
            source: app::webhook::DeliverySource::Registry,
            repository: "demo/app".into(),
            tag: "v1".into(),
            owner: String::new(),
            status: app::webhook::EventStatus::Triggered,
            reason: String::new(),
            dedupe_key: None,
            inputs: None,
            pushed_at: Some(0),
            digest: None,
        };
        let probe = super::delivery_batch::queued_runs_probe(&[&pushed, &pushed]);
        let plan = query_plan(&store, probe.sql(), &[1; 6]).await;
        let steps: Vec<&str> = plan.lines().collect();
        let tags = steps
            .iter()
            .position(|step| step.contains("VALUES") || step.contains("places"));
        let search = steps.iter().position(|step| {
            step.contains("docker_events USING INDEX docker_events_push_order_idx")
        });
        assert!(
            matches!((tags, search), (Some(tags), Some(search)) if tags < search),
            "{plan}"
        );
        assert!(!plan.contains("executions_status_idx"), "{plan}");
    }

    /// Each retention batch is a range scan of its index in the order it
    /// deletes, with no sort of the whole table, on a database without
    /// statistics (Slipway never runs `ANALYZE`): the plan a planner picks
    /// when it reads `IN` lists and `IS NULL` as "a few rows" was a scan of
    /// every finished run, sorted, for each batch of a hundred.
    #[tokio::test]
    async fn every_prune_batch_is_a_range_scan_of_its_index() {
        use crate::store::PruneTarget;
        let (_directory, store) = migrated_store().await;
        for (target, index) in [
            (PruneTarget::Runs, "executions_finished_idx (finished_at<?)"),
            (
                PruneTarget::Activity,
                "docker_events_received_idx (received_at<?)",
            ),
            (
                PruneTarget::DedupeKeys,
                "delivery_keys_claimed_idx (claimed_at<?)",
            ),
        ] {
            let statement = super::maintenance::prune_sql(target);
            let plan = query_plan(&store, &statement, &[1, 100]).await;
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{target:?}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{target:?}: {plan}");
        }
    }

    /// Only rows linked to a run are in the push-order and run indexes
    /// (migration 0017); the two statements that look rows up by them must
    /// still be served by them, not by a scan of the Activity table.
    #[tokio::test]
    async fn lookups_of_linked_activity_rows_use_their_partial_indexes() {
        let (_directory, store) = migrated_store().await;
        for (statement, index, values) in [
            (
                super::hooks::SUPERSEDE_SQL,
                "docker_events_push_order_idx (webhook_id=? AND repository=? AND tag=? AND pushed_at<?)",
                7,
            ),
            (
                super::hooks::SUPERSEDED_REASON_SQL,
                "docker_events_execution_id_idx (execution_id=?)",
                2,
            ),
        ] {
            let plan = query_plan(&store, statement, &vec![1; values]).await;
            assert!(plan.contains(&format!("USING INDEX {index}")), "{plan}");
        }
    }
}

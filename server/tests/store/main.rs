//! The store contract: every behaviour the service relies on, as one async
//! function per behaviour that takes a fresh [`SharedStore`]. A backend runs
//! the whole suite with one `contract_suite!` line below; the functions know
//! nothing of the backend.

mod audit;
mod endpoints;
mod hooks;
mod identity;
mod notifications;
mod operations;
mod projects;
mod retention;
mod runs;
mod states;
mod support;

use server::store::SharedStore;

/// SQL run on the store's database past the store, for rows the store would
/// never write. A backend's guard (see `contract_suite!`) offers it.
#[async_trait::async_trait]
pub trait RawSql: Send + Sync {
    /// Runs the statements; the database's refusal is the error.
    async fn execute(&self, sql: &str) -> Result<(), String>;
}

/// One `#[tokio::test]` per contract function, in a module named after the
/// backend; `$open` answers a fresh store and a guard that keeps it alive.
/// The functions after `raw:` also take that guard, as [`RawSql`].
macro_rules! contract_suite {
    ($backend:ident, $open:path) => {
        contract_suite!(@tests $backend, $open;
            identity::users_sessions_and_tokens,
            identity::sessions_idle_out_and_end_together,
            identity::refused_writes_name_their_constraint,
            projects::projects_and_their_contents,
            projects::memberships,
            endpoints::endpoints_and_their_users,
            runs::pipelines,
            runs::a_pipeline_keeps_its_runs_unless_their_deletion_is_asked_for,
            runs::executions_queue_claim_renew_finish_cancel,
            runs::an_expired_run_is_taken_over_by_one_of_racing_replicas,
            runs::executions_list_by_filter_newest_first,
            runs::run_numbers_stay_distinct_under_concurrency,
            runs::a_backlog_behind_one_pipelines_limit_holds_up_no_other,
            runs::racing_claimers_start_each_pipelines_limit_and_no_more,
            runs::tasks_and_logs,
            runs::approvals_park_a_run_and_decisions_resume_it,
            runs::a_waiting_run_is_canceled_with_its_approvals,
            hooks::webhooks,
            hooks::events_and_dedupe,
            hooks::dedupe_is_atomic_under_concurrency,
            hooks::pushes_are_ordered_and_newer_ones_win,
            hooks::concurrent_pushes_of_a_tag_leave_the_newest_at_its_head,
            hooks::deliveries_are_recorded_together_each_on_its_own,
            hooks::a_batch_of_rows_only_is_recorded_each_on_its_own,
            hooks::a_batch_of_pushes_of_different_tags_ends_as_push_by_push,
            audit::entries_read_back_newest_first_filtered_and_paged,
            audit::a_project_administrator_sees_only_the_projects_they_administer,
            notifications::a_runs_changes_queue_the_notifications_naming_them,
            notifications::due_notifications_are_claimed_once_and_recorded_by_their_holder,
            notifications::racing_claimers_never_share_a_notification,
            retention::old_finished_runs_and_activity_go_and_what_is_kept_stays,
            retention::keeping_forever_prunes_only_expired_dedupe_keys,
            retention::batches_are_bounded_and_a_pass_prunes_them_all,
            retention::one_replica_at_a_time_holds_the_lease,
            retention::dedupe_keys_past_their_window_go,
            operations::replicas_say_they_are_alive_and_are_forgotten_when_gone,
            operations::work_in_progress_counts_unfinished_runs_and_the_oldest_queued;
            raw: states::unknown_stored_texts_are_read_errors,
            notifications::the_outbox_keeps_one_row_per_event_and_notification,
        );
    };
    (@tests $backend:ident, $open:path;
        $($module:ident::$behaviour:ident),* ;
        raw: $($raw_module:ident::$raw_behaviour:ident),* $(,)?
    ) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let (store, _guard) = $open().await;
                    crate::$module::$behaviour(store).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw_behaviour() {
                    let (store, guard) = $open().await;
                    crate::$raw_module::$raw_behaviour(store, &guard).await;
                }
            )*
        }
    };
}

/// A SQLite database file in a temporary directory of its own, deleted with it.
struct SqliteFile {
    url: String,
    _directory: tempfile::TempDir,
}

#[async_trait::async_trait]
impl RawSql for SqliteFile {
    /// On a second connection to the same file.
    async fn execute(&self, sql: &str) -> Result<(), String> {
        let pool = sqlx::SqlitePool::connect(&self.url)
            .await
            .expect("a second connection opens");
        let done = sqlx::raw_sql(sql).execute(&pool).await;
        pool.close().await;
        done.map(drop).map_err(|error| error.to_string())
    }
}

/// A SQLite store in a file of its own temporary directory.
async fn open_sqlite() -> (SharedStore, SqliteFile) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", directory.path().join("slipway.db").display());
    let store = server::store::open(&url)
        .await
        .expect("the SQLite store opens");
    (
        store,
        SqliteFile {
            url,
            _directory: directory,
        },
    )
}

contract_suite!(sqlite, crate::open_sqlite);

/// A database of its own on the throwaway PostgreSQL cluster `scripts/test`
/// starts (`SLIPWAY_TEST_POSTGRES_URL`); the cluster goes when the run ends.
struct PostgresDatabase {
    url: String,
}

#[async_trait::async_trait]
impl RawSql for PostgresDatabase {
    async fn execute(&self, sql: &str) -> Result<(), String> {
        let pool = sqlx::PgPool::connect(&self.url)
            .await
            .expect("a second connection opens");
        let done = sqlx::raw_sql(sql).execute(&pool).await;
        pool.close().await;
        done.map(drop).map_err(|error| error.to_string())
    }
}

/// A PostgreSQL store on a fresh database.
async fn open_postgres() -> (SharedStore, PostgresDatabase) {
    let url = server::test_support::fresh_postgres_database().await;
    let store = server::store::open(&url)
        .await
        .expect("the PostgreSQL store opens");
    (store, PostgresDatabase { url })
}

contract_suite!(postgres, crate::open_postgres);

//! The store contract: every behaviour the service relies on, as one async
//! function per behaviour that takes a fresh [`SharedStore`]. A backend runs
//! the whole suite with one `contract_suite!` line below; the functions know
//! nothing of the backend.

mod endpoints;
mod hooks;
mod identity;
mod projects;
mod runs;
mod support;

use server::store::SharedStore;

/// One `#[tokio::test]` per contract function, in a module named after the
/// backend; `$open` answers a fresh store and a guard that keeps it alive.
macro_rules! contract_suite {
    ($backend:ident, $open:path) => {
        contract_suite!(@tests $backend, $open;
            identity::users_sessions_and_tokens,
            identity::refused_writes_name_their_constraint,
            projects::projects_and_their_contents,
            projects::memberships,
            endpoints::endpoints_and_their_users,
            runs::pipelines,
            runs::executions_queue_claim_renew_finish_cancel,
            runs::executions_list_by_filter_newest_first,
            runs::run_numbers_stay_distinct_under_concurrency,
            runs::tasks_and_logs,
            hooks::webhooks,
            hooks::events_and_dedupe,
            hooks::dedupe_is_atomic_under_concurrency,
        );
    };
    (@tests $backend:ident, $open:path; $($module:ident::$behaviour:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let (store, _guard) = $open().await;
                    crate::$module::$behaviour(store).await;
                }
            )*
        }
    };
}

/// A SQLite store in a file of its own temporary directory.
async fn open_sqlite() -> (SharedStore, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", directory.path().join("slipway.db").display());
    let store = server::store::open(&url)
        .await
        .expect("the SQLite store opens");
    (store, directory)
}

contract_suite!(sqlite, crate::open_sqlite);

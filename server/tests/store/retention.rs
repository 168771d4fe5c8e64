//! Retention: old finished runs (with their tasks and log lines) and old
//! Activity rows are pruned in batches under a lease one replica holds at a
//! time; what is still going, each pipeline's last run, young rows and rows
//! something kept still names stay; dedupe keys past their window go.

use std::time::Duration;

use app::execution::{ExecutionStatus, TaskStatus};
use app::webhook::EventStatus;
use server::retention::{Pruner, RetentionPolicy};
use server::service::delivery::DEDUPE_WINDOW_MILLIS;
use server::store::*;

use crate::support::*;

const DAY: i64 = 24 * 60 * 60 * 1000;
/// "Now" of these tests, and the retention: ten days.
const NOW: i64 = 100 * DAY;
const KEEP_DAYS: u32 = 10;
const HORIZON: i64 = NOW - KEEP_DAYS as i64 * DAY;

fn policy(runs_per_batch: i64, rows_per_batch: i64) -> RetentionPolicy {
    RetentionPolicy {
        runs_per_batch,
        rows_per_batch,
        ..RetentionPolicy::days(KEEP_DAYS, Duration::from_secs(3600))
    }
}

/// A pipeline that runs up to ten runs at once.
async fn roomy_pipeline(store: &SharedStore, project_id: i64, name: &str) -> PipelineRecord {
    store
        .create_pipeline(PipelineWrite {
            concurrency: 10,
            ..pipeline_write(project_id, name, &[])
        })
        .await
        .expect("the pipeline is stored")
}

/// Queues a run at `at` and claims it for "w1": RUNNING.
async fn running(store: &SharedStore, pipeline: &PipelineRecord, at: i64) -> i64 {
    let queued = store
        .queue_execution(run(pipeline, MANUAL, at))
        .await
        .unwrap();
    let claimed = store
        .claim_execution("w1", at, at + DAY)
        .await
        .unwrap()
        .expect("the run is claimed");
    assert_eq!(claimed.id, queued.id);
    queued.id
}

/// A run that ran one task with a log line and ended `status` at `finished_at`.
async fn finished(
    store: &SharedStore,
    pipeline: &PipelineRecord,
    status: ExecutionStatus,
    finished_at: i64,
) -> i64 {
    let id = running(store, pipeline, finished_at - 1).await;
    let task = store
        .start_task(task_start(id, finished_at - 1))
        .await
        .unwrap();
    store
        .append_logs(
            task,
            &[LogAppend {
                at: finished_at - 1,
                line: "deploying",
            }],
        )
        .await
        .unwrap();
    store
        .finish_task(task, TaskStatus::Completed, None, None, finished_at)
        .await
        .unwrap();
    let end = RunEndRecord {
        status,
        error: None,
        now: finished_at,
    };
    assert!(store.finish_execution(id, "w1", end).await.unwrap());
    id
}

/// An Activity row of `status` that holds no dedupe key and started nothing.
fn event(webhook_id: i64, received_at: i64, status: EventStatus) -> NewEvent {
    NewEvent {
        status,
        dedupe_key: None,
        inputs: None,
        ..push(webhook_id, received_at, "")
    }
}

/// Takes the retention lease for "replica-a" for a day from [`NOW`], as a
/// pass would, so batches can be pruned one at a time.
async fn hold_retention_lease(store: &SharedStore) -> MaintenanceLease<'static> {
    let lease = MaintenanceLease {
        name: RETENTION_LEASE,
        holder: "replica-a",
    };
    assert!(store
        .take_maintenance_lease(lease, NOW, NOW + DAY)
        .await
        .unwrap());
    lease
}

async fn exists(store: &SharedStore, id: i64) -> bool {
    store.execution_by_id(id).await.unwrap().is_some()
}

async fn event_exists(store: &SharedStore, id: i64) -> bool {
    store.event_by_id(id).await.unwrap().is_some()
}

pub async fn old_finished_runs_and_activity_go_and_what_is_kept_stays(store: SharedStore) {
    let Seed {
        project, webhook, ..
    } = seed(&store).await;
    let busy = roomy_pipeline(&store, project.id, "busy").await;
    let quiet = roomy_pipeline(&store, project.id, "quiet").await;

    // Old and finished, each way a run ends: pruned, tasks and logs along.
    let completed = finished(&store, &busy, ExecutionStatus::Completed, 10 * DAY).await;
    let failed = finished(&store, &busy, ExecutionStatus::Failed, 20 * DAY).await;
    let canceled = store
        .queue_execution(run(&busy, MANUAL, 25 * DAY))
        .await
        .unwrap()
        .id;
    assert_eq!(
        store.request_cancel(canceled, 25 * DAY).await.unwrap(),
        CancelOutcome::CanceledInQueue
    );
    // Old but still going: RUNNING, WAITING (approvals), and QUEUED.
    let still_running = running(&store, &busy, 30 * DAY).await;
    let waiting = running(&store, &busy, 31 * DAY).await;
    let gate = store
        .start_task(TaskStart {
            task_type: "approval",
            ..task_start(waiting, 31 * DAY)
        })
        .await
        .unwrap();
    let parked = store
        .park_execution(
            waiting,
            "w1",
            &[WaitingTask {
                task_run_id: gate,
                expires_at: NOW + DAY,
            }],
            None,
            31 * DAY,
        )
        .await
        .unwrap();
    assert_eq!(parked, ParkOutcome::Parked);
    // Finished within the last ten days: kept.
    let young = finished(&store, &busy, ExecutionStatus::Completed, 95 * DAY).await;
    // The quiet pipeline's last run is kept however old; the one before goes.
    let quiet_older = finished(&store, &quiet, ExecutionStatus::Completed, 3 * DAY).await;
    let quiet_last = finished(&store, &quiet, ExecutionStatus::Failed, 5 * DAY).await;
    // Queued last, so the claims above never take it.
    let queued = store
        .queue_execution(run(&busy, MANUAL, 32 * DAY))
        .await
        .unwrap()
        .id;

    // Activity: an old row of nothing, an old row of a pruned run, an old
    // row of a kept run, an old push heading its tag, a young push heading
    // a tag of another repository, a young row.
    let unlinked = store
        .record_event(event(webhook.id, DAY, EventStatus::Ignored))
        .await
        .unwrap();
    let PushRecorded::First(of_pruned_run) = store
        .record_push(push(webhook.id, 9 * DAY, "of-pruned"), &dedupe_only(0))
        .await
        .unwrap()
    else {
        panic!("the first push claims its key")
    };
    store.link_event(of_pruned_run, completed).await.unwrap();
    let of_kept_run = store
        .record_event(event(webhook.id, 4 * DAY, EventStatus::Triggered))
        .await
        .unwrap();
    store.link_event(of_kept_run, quiet_last).await.unwrap();
    let heading = NewEvent {
        pushed_at: Some(2 * DAY),
        tag: "v9".into(),
        ..push(webhook.id, 2 * DAY, "heading")
    };
    let PushRecorded::First(heading) = store.record_push(heading, &dedupe_only(0)).await.unwrap()
    else {
        panic!("the first push of its tag heads it")
    };
    let young_heading = NewEvent {
        pushed_at: Some(95 * DAY),
        repository: "demo/api".into(),
        ..push(webhook.id, 95 * DAY, "young-heading")
    };
    let PushRecorded::First(young_heading) = store
        .record_push(young_heading, &dedupe_only(0))
        .await
        .unwrap()
    else {
        panic!("the first push of its tag heads it")
    };
    let recent = store
        .record_event(event(webhook.id, 96 * DAY, EventStatus::Ignored))
        .await
        .unwrap();

    let pruner = Pruner::new(store.clone(), "replica-a", policy(100, 500));
    let pruned = pruner
        .prune_once(NOW)
        .await
        .unwrap()
        .expect("nobody else holds the lease");
    assert_eq!(
        pruned,
        PrunedCounts {
            runs: 4,
            events: 3,
            dedupe_keys: 3,
            push_heads: 1,
        }
    );
    for gone in [completed, failed, canceled, quiet_older] {
        assert!(!exists(&store, gone).await, "run {gone} is pruned");
        assert!(store.task_runs(gone).await.unwrap().is_empty());
        assert!(store.task_logs(gone).await.unwrap().is_empty());
    }
    for kept in [still_running, waiting, queued, young, quiet_last] {
        assert!(exists(&store, kept).await, "run {kept} is kept");
    }
    assert_eq!(store.task_logs(young).await.unwrap().len(), 1);
    assert_eq!(store.task_runs(waiting).await.unwrap().len(), 1);
    // The old push's tag forgot it, and its row went.
    for gone in [unlinked, of_pruned_run, heading] {
        assert!(!event_exists(&store, gone).await, "event {gone} is pruned");
    }
    for kept in [of_kept_run, young_heading, recent] {
        assert!(event_exists(&store, kept).await, "event {kept} is kept");
    }
    let linked = store.event_by_id(of_kept_run).await.unwrap().unwrap();
    assert_eq!(linked.execution_id, Some(quiet_last));

    // A later pass finds nothing more, and the last pass is on record.
    let later = NOW + 60_000;
    let again = pruner.prune_once(later).await.unwrap().unwrap();
    assert_eq!(again, PrunedCounts::default());
    let status = store
        .maintenance_status(RETENTION_LEASE)
        .await
        .unwrap()
        .expect("a pass is recorded");
    assert_eq!(status.holder, "replica-a");
    assert!(status.last_finished_at >= Some(later));
    assert_eq!(status.last_pruned, PrunedCounts::default());
}

pub async fn keeping_forever_prunes_only_expired_dedupe_keys(store: SharedStore) {
    let Seed {
        pipeline, webhook, ..
    } = seed(&store).await;
    let old = finished(&store, &pipeline, ExecutionStatus::Completed, DAY).await;
    finished(&store, &pipeline, ExecutionStatus::Completed, 2 * DAY).await;
    let ignored = store
        .record_event(event(webhook.id, DAY, EventStatus::Ignored))
        .await
        .unwrap();
    store
        .record_push(push(webhook.id, DAY, "expired"), &dedupe_only(0))
        .await
        .unwrap();
    let forever = RetentionPolicy::days(0, Duration::from_secs(3600));
    let pruned = Pruner::new(store.clone(), "replica-a", forever)
        .prune_once(NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pruned,
        PrunedCounts {
            dedupe_keys: 1,
            ..PrunedCounts::default()
        }
    );
    assert!(exists(&store, old).await);
    assert!(event_exists(&store, ignored).await);
}

pub async fn batches_are_bounded_and_a_pass_prunes_them_all(store: SharedStore) {
    let Seed {
        pipeline, webhook, ..
    } = seed(&store).await;
    const OLD_RUNS: i64 = 12;
    let mut runs = Vec::new();
    for day in 1..=OLD_RUNS + 1 {
        runs.push(finished(&store, &pipeline, ExecutionStatus::Completed, day * DAY).await);
    }
    for day in 1..=7 {
        store
            .record_event(event(webhook.id, day * DAY, EventStatus::Rejected))
            .await
            .unwrap();
    }
    let lease = hold_retention_lease(&store).await;
    let batch = |limit| PruneBatch {
        lease,
        target: PruneTarget::Runs,
        before: HORIZON,
        limit,
        lease_until: NOW + DAY,
    };
    // Oldest first, never more than the limit, the pipeline's last run never.
    let mut sizes = Vec::new();
    loop {
        let deleted = store.prune_batch(batch(5)).await.unwrap().unwrap();
        sizes.push(deleted);
        if deleted < 5 {
            break;
        }
    }
    assert_eq!(sizes, [5, 5, 2]);
    assert!(!exists(&store, runs[0]).await);
    assert!(exists(&store, runs[OLD_RUNS as usize]).await);
    store
        .finish_maintenance(lease, NOW, PrunedCounts::default())
        .await
        .unwrap();

    // A pass in batches of two takes every old Activity row all the same.
    let pruned = Pruner::new(store.clone(), "replica-a", policy(2, 2))
        .prune_once(NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned.events, 7);
    let query = EventQuery {
        webhook_id: Some(webhook.id),
        limit: 100,
        ..EventQuery::default()
    };
    assert!(store.list_events(&query).await.unwrap().is_empty());
}

pub async fn one_replica_at_a_time_holds_the_lease(store: SharedStore) {
    // Racing for a free lease, exactly one replica wins, every time.
    for round in 0..20 {
        let name = format!("race-{round}");
        let mut racers = tokio::task::JoinSet::new();
        for holder in ["replica-a", "replica-b", "replica-c"] {
            let store = store.clone();
            let name = name.clone();
            racers.spawn(async move {
                let lease = MaintenanceLease {
                    name: &name,
                    holder,
                };
                store
                    .take_maintenance_lease(lease, NOW, NOW + DAY)
                    .await
                    .unwrap()
            });
        }
        let winners = racers
            .join_all()
            .await
            .into_iter()
            .filter(|won| *won)
            .count();
        assert_eq!(winners, 1, "round {round}");
    }

    let a = MaintenanceLease {
        name: RETENTION_LEASE,
        holder: "replica-a",
    };
    let b = MaintenanceLease {
        holder: "replica-b",
        ..a
    };
    assert!(store
        .take_maintenance_lease(a, NOW, NOW + 10)
        .await
        .unwrap());
    // Held: nobody else takes it, nor prunes or finishes under it.
    assert!(!store
        .take_maintenance_lease(b, NOW + 5, NOW + 15)
        .await
        .unwrap());
    let batch = PruneBatch {
        lease: b,
        target: PruneTarget::DedupeKeys,
        before: NOW,
        limit: 10,
        lease_until: NOW + 15,
    };
    assert_eq!(store.prune_batch(batch).await.unwrap(), None);
    assert!(!store
        .finish_maintenance(b, NOW + 5, PrunedCounts::default())
        .await
        .unwrap());
    // Expired (its holder died mid-pass): the next replica takes it over,
    // and the old holder's batches are refused from then on.
    assert!(store
        .take_maintenance_lease(b, NOW + 10, NOW + 20)
        .await
        .unwrap());
    assert_eq!(
        store
            .prune_batch(PruneBatch { lease: a, ..batch })
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.prune_batch(batch).await.unwrap(), Some(0));
    let counts = PrunedCounts {
        runs: 3,
        events: 2,
        dedupe_keys: 1,
        push_heads: 4,
    };
    assert!(store.finish_maintenance(b, NOW + 12, counts).await.unwrap());
    // Finished: free at once, and the pass is on record.
    let status = store
        .maintenance_status(RETENTION_LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            status.holder.as_str(),
            status.last_started_at,
            status.last_finished_at
        ),
        ("replica-b", NOW + 10, Some(NOW + 12))
    );
    assert_eq!(status.last_pruned, counts);
    assert!(store
        .take_maintenance_lease(a, NOW + 12, NOW + 30)
        .await
        .unwrap());
    assert_eq!(store.maintenance_status("never").await.unwrap(), None);
}

pub async fn dedupe_keys_past_their_window_go(store: SharedStore) {
    let Seed { webhook, .. } = seed(&store).await;
    let window_start = NOW - DEDUPE_WINDOW_MILLIS;
    let deliver = |key: &'static str, at: i64| {
        let store = store.clone();
        async move {
            store
                .record_push(
                    push(webhook.id, at, key),
                    &dedupe_only(at - DEDUPE_WINDOW_MILLIS),
                )
                .await
                .unwrap()
        }
    };
    for key in ["a", "b", "c"] {
        assert!(matches!(
            deliver(key, window_start - 1).await,
            PushRecorded::First(_)
        ));
    }
    assert!(matches!(
        deliver("fresh", NOW - 1).await,
        PushRecorded::First(_)
    ));
    let lease = hold_retention_lease(&store).await;
    let batch = PruneBatch {
        lease,
        target: PruneTarget::DedupeKeys,
        before: window_start,
        limit: 2,
        lease_until: NOW + DAY,
    };
    assert_eq!(store.prune_batch(batch).await.unwrap(), Some(2));
    assert_eq!(store.prune_batch(batch).await.unwrap(), Some(1));
    assert_eq!(store.prune_batch(batch).await.unwrap(), Some(0));
    // The key within its window still holds: a re-delivery is a duplicate.
    assert!(matches!(
        deliver("fresh", NOW).await,
        PushRecorded::Duplicate { .. }
    ));
}

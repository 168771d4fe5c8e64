//! The notification outbox: a run's changes write one row per notification
//! naming the event, in their own transaction; delivery workers claim due
//! rows with a lease, never the same row at once, and record how it went.

use std::collections::HashSet;

use app::execution::{ExecutionStatus, NotificationState};
use app::pipeline::RunEvent;
use server::store::*;

use crate::support::*;
use crate::RawSql;

/// A spec with three notifications: 0 on started and completed, 1 on
/// failed (email), 2 on canceled and completed (Slack).
const SPEC: &str = r#"{"project":"Demo","name":"deploy","notifications":[
    {"on":["started","completed"],"webhook":{"url":"http://hooks.example/a?token=x"}},
    {"on":["failed"],"email":{"to":["ops@example.com"]}},
    {"on":["canceled","completed"],"webhook":{"url":"http://hooks.example/b","format":"slack"}}
]}"#;

fn run_with<'a>(pipeline: &PipelineRecord, spec: &'a str, now: i64) -> NewExecution<'a> {
    NewExecution {
        spec,
        ..run(pipeline, MANUAL, now)
    }
}

/// (event, notification index) of a run's rows, in order.
async fn rows_of(store: &SharedStore, execution_id: i64) -> Vec<(RunEvent, i64)> {
    store
        .execution_notifications(execution_id)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.event, row.notification_index))
        .collect()
}

pub async fn a_runs_changes_queue_the_notifications_naming_them(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let first = store
        .queue_execution(run_with(&deploy, SPEC, 10))
        .await
        .unwrap();
    let second = store
        .queue_execution(run_with(&deploy, SPEC, 11))
        .await
        .unwrap();
    assert_eq!(rows_of(&store, first.id).await, []);

    // The claim is the start.
    store.claim_execution("w1", 20, 100).await.unwrap().unwrap();
    assert_eq!(rows_of(&store, first.id).await, [(RunEvent::Started, 0)]);
    let started = &store.execution_notifications(first.id).await.unwrap()[0];
    assert_eq!(
        (
            started.state,
            started.attempts,
            started.next_attempt_at,
            started.created_at,
            started.last_error.as_deref(),
            started.sent_at
        ),
        (NotificationState::Pending, 0, 20, 20, None, None)
    );
    assert_eq!(
        started.target,
        r#"{"webhook":{"url":"http://hooks.example/a?token=x","format":"json"}}"#
    );

    // The end, once: a second end of the same run is refused and adds nothing.
    let completed = RunEndRecord {
        status: ExecutionStatus::Completed,
        error: None,
        now: 30,
    };
    assert!(store
        .finish_execution(first.id, "w1", completed)
        .await
        .unwrap());
    assert!(!store
        .finish_execution(first.id, "w1", completed)
        .await
        .unwrap());
    assert_eq!(
        rows_of(&store, first.id).await,
        [
            (RunEvent::Started, 0),
            (RunEvent::Completed, 0),
            (RunEvent::Completed, 2)
        ]
    );

    // A run canceled in the queue notifies its cancel, and never started.
    assert_eq!(
        store.request_cancel(second.id, 40).await.unwrap(),
        CancelOutcome::CanceledInQueue
    );
    assert_eq!(rows_of(&store, second.id).await, [(RunEvent::Canceled, 2)]);

    // A run of a pipeline without notifications writes none.
    let plain = store
        .queue_execution(run(&deploy, MANUAL, 50))
        .await
        .unwrap();
    store.claim_execution("w1", 51, 100).await.unwrap().unwrap();
    let failed = RunEndRecord {
        status: ExecutionStatus::Failed,
        error: Some("boom"),
        now: 52,
    };
    assert!(store
        .finish_execution(plain.id, "w1", failed)
        .await
        .unwrap());
    assert_eq!(rows_of(&store, plain.id).await, []);
}

/// Claims are leased: one claimer per row; an outcome is recorded only by
/// the holder; a retry is due again at its time; a lapsed claim is taken over.
pub async fn due_notifications_are_claimed_once_and_recorded_by_their_holder(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let execution = store
        .queue_execution(run_with(&deploy, SPEC, 10))
        .await
        .unwrap();
    store.claim_execution("w1", 20, 100).await.unwrap().unwrap();

    let claimed = store
        .claim_due_notifications("n1", 25, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let row = &claimed[0];
    assert_eq!((row.execution_id, row.attempts), (execution.id, 1));
    assert!(store
        .claim_due_notifications("n2", 25, 1_000, 10)
        .await
        .unwrap()
        .is_empty());

    // Only the holder records; a retry frees the row until its time.
    let retry = DeliveryOutcome::Retry {
        error: "HTTP 500",
        retry_at: 100,
    };
    assert!(!store
        .record_delivery(row.id, "n2", retry, 30)
        .await
        .unwrap());
    assert!(store
        .record_delivery(row.id, "n1", retry, 30)
        .await
        .unwrap());
    let after = &store.execution_notifications(execution.id).await.unwrap()[0];
    assert_eq!(
        (
            after.state,
            after.attempts,
            after.next_attempt_at,
            after.last_error.as_deref()
        ),
        (NotificationState::Pending, 1, 100, Some("HTTP 500"))
    );
    assert!(store
        .claim_due_notifications("n2", 99, 1_000, 10)
        .await
        .unwrap()
        .is_empty());

    // Taken again when due; its holder dies and the claim lapses at 1 100.
    let again = store
        .claim_due_notifications("n2", 100, 1_100, 10)
        .await
        .unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 2));
    assert!(store
        .claim_due_notifications("n3", 1_100, 2_000, 10)
        .await
        .unwrap()
        .is_empty());
    let taken_over = store
        .claim_due_notifications("n3", 1_101, 2_000, 10)
        .await
        .unwrap();
    assert_eq!(taken_over[0].attempts, 3);
    assert!(!store
        .record_delivery(row.id, "n2", DeliveryOutcome::Sent, 1_102)
        .await
        .unwrap());
    assert!(store
        .record_delivery(row.id, "n3", DeliveryOutcome::Sent, 1_103)
        .await
        .unwrap());
    let sent = &store.execution_notifications(execution.id).await.unwrap()[0];
    assert_eq!(
        (
            sent.state,
            sent.attempts,
            sent.sent_at,
            sent.last_error.as_deref()
        ),
        (NotificationState::Sent, 3, Some(1_103), None)
    );
    // Sent is final: never claimed or recorded again.
    assert!(store
        .claim_due_notifications("n4", 5_000, 6_000, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .record_delivery(row.id, "n3", DeliveryOutcome::GaveUp { error: "x" }, 5_000)
        .await
        .unwrap());

    // Giving up is final too, with the last error.
    let canceled = store
        .queue_execution(run_with(&deploy, SPEC, 40))
        .await
        .unwrap();
    store.request_cancel(canceled.id, 41).await.unwrap();
    let row = store
        .claim_due_notifications("n1", 42, 1_000, 10)
        .await
        .unwrap()
        .remove(0);
    let gave_up = DeliveryOutcome::GaveUp {
        error: "no answer within 10 s",
    };
    assert!(store
        .record_delivery(row.id, "n1", gave_up, 43)
        .await
        .unwrap());
    let failed = &store.execution_notifications(canceled.id).await.unwrap()[0];
    assert_eq!(
        (failed.state, failed.last_error.as_deref(), failed.sent_at),
        (
            NotificationState::Failed,
            Some("no answer within 10 s"),
            None
        )
    );
    assert!(store
        .claim_due_notifications("n1", 5_000, 6_000, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Workers claiming at once take different rows, and all of them.
pub async fn racing_claimers_never_share_a_notification(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let notifications: Vec<String> = (0..20)
        .map(|index| {
            format!(r#"{{"on":["canceled"],"webhook":{{"url":"http://hooks.example/{index}"}}}}"#)
        })
        .collect();
    let spec = format!(
        r#"{{"project":"Demo","name":"deploy","notifications":[{}]}}"#,
        notifications.join(",")
    );
    for now in 0..3 {
        let queued = store
            .queue_execution(run_with(&deploy, &spec, now))
            .await
            .unwrap();
        store.request_cancel(queued.id, now).await.unwrap();
    }
    let claimers = (0..6).map(|claimer| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_due_notifications(&format!("n{claimer}"), 100, 1_000, 15)
                .await
                .unwrap()
        })
    });
    let mut seen = HashSet::new();
    for claimed in futures::future::join_all(claimers).await {
        for row in claimed.unwrap() {
            assert!(seen.insert(row.id), "row {} claimed twice", row.id);
        }
    }
    assert_eq!(seen.len(), 60);
}

/// The schema itself refuses a second row for one run, event and notification.
pub async fn the_outbox_keeps_one_row_per_event_and_notification(
    store: SharedStore,
    raw: &dyn RawSql,
) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let execution = store
        .queue_execution(run_with(&deploy, SPEC, 10))
        .await
        .unwrap();
    store.request_cancel(execution.id, 11).await.unwrap();
    let duplicate = format!(
        "INSERT INTO notification_outbox (execution_id, event, notification_index, target, state, \
         attempts, next_attempt_at, created_at) VALUES ({}, 'canceled', 2, '{{}}', 'PENDING', 0, 1, 1)",
        execution.id
    );
    let refused = raw.execute(&duplicate).await.unwrap_err();
    assert!(
        refused.contains("UNIQUE") || refused.contains("notification_outbox_execution_id_event"),
        "{refused}"
    );
    let other_event = duplicate.replace("'canceled'", "'failed'");
    raw.execute(&other_event).await.unwrap();
    // An event that can happen again in a run (another approval waits) is
    // told apart by its occasion: each once.
    let waiting = |occasion: &str| {
        format!(
            "INSERT INTO notification_outbox (execution_id, event, occasion, notification_index, \
             target, state, attempts, next_attempt_at, created_at) \
             VALUES ({}, 'waiting', '{occasion}', 2, '{{}}', 'PENDING', 0, 1, 1)",
            execution.id
        )
    };
    raw.execute(&waiting("dev.approve")).await.unwrap();
    raw.execute(&waiting("prod.approve")).await.unwrap();
    raw.execute(&waiting("prod.approve")).await.unwrap_err();
    let rows = store.execution_notifications(execution.id).await.unwrap();
    let shown: Vec<(RunEvent, &str)> = rows
        .iter()
        .map(|row| (row.event, row.occasion.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (RunEvent::Canceled, ""),
            (RunEvent::Failed, ""),
            (RunEvent::Waiting, "dev.approve"),
            (RunEvent::Waiting, "prod.approve")
        ]
    );
}

//! States and kinds are stored as text: a text no state or kind has is never
//! read as some default. The schema refuses it where it checks the column;
//! elsewhere, reading the row is an error naming the column and the text.

use app::audit::{AuditAction, AuditOutcome, AuditTargetKind};
use app::execution::ExecutionStatus;
use server::store::*;

use crate::support::*;
use crate::RawSql;

/// The read failed decoding `column`, whose text was unknown.
fn assert_unknown<T: std::fmt::Debug>(result: StoreResult<T>, column: &str, message: &str) {
    match result {
        Err(StoreError::Database(sqlx::Error::ColumnDecode { index, source })) => {
            assert_eq!(
                (index.as_str(), source.to_string().as_str()),
                (column, message)
            );
        }
        other => panic!("expected column {column} to fail decoding, got {other:?}"),
    }
}

pub async fn unknown_stored_texts_are_read_errors(store: SharedStore, raw: &dyn RawSql) {
    let Seed {
        pipeline,
        webhook,
        endpoint,
        ..
    } = seed(&store).await;
    let execution = store
        .queue_execution(run(&pipeline, MANUAL, 1))
        .await
        .unwrap();
    let task = store.start_task(task_start(execution.id, 2)).await.unwrap();
    let PushRecorded::First(event) = store
        .record_push(push(webhook.id, 3, "k"), &dedupe_only(3 - WINDOW))
        .await
        .unwrap()
    else {
        panic!("the first push claims its key")
    };
    store.link_event(event, execution.id).await.unwrap();
    let audit = store
        .record_audit(NewAuditRecord {
            at: 4,
            actor_id: None,
            actor_name: "command line",
            action: AuditAction::TokenCreated,
            project_id: None,
            project_name: None,
            target_kind: Some(AuditTargetKind::ApiToken),
            target_id: Some(1),
            target_name: Some("ci"),
            outcome: AuditOutcome::Success,
            detail: "{}",
            client: None,
        })
        .await
        .unwrap();

    // Where the schema checks the column, it refuses the text outright.
    for (table, column, id) in [
        ("executions", "status", execution.id),
        ("docker_events", "status", event),
        ("endpoints", "kind", endpoint.id),
        ("audit_events", "outcome", audit),
    ] {
        let refused = raw
            .execute(&format!(
                "UPDATE {table} SET {column} = 'BOGUS' WHERE id = {id}"
            ))
            .await
            .expect_err("the schema refuses an unknown text");
        assert!(
            refused.to_lowercase().contains("check constraint"),
            "{table}.{column}: {refused}"
        );
    }
    assert_eq!(
        store
            .event_by_id(event)
            .await
            .unwrap()
            .unwrap()
            .execution_status,
        Some(ExecutionStatus::Queued)
    );

    // Elsewhere the text is stored, and every read of its row fails.
    raw.execute(&format!(
        "UPDATE task_runs SET status = 'BOGUS' WHERE id = {task}"
    ))
    .await
    .unwrap();
    assert_unknown(
        store.task_runs(execution.id).await,
        "status",
        "unknown task status 'BOGUS'",
    );

    raw.execute(&format!(
        "UPDATE docker_events SET source = 'carrier-pigeon' WHERE id = {event}"
    ))
    .await
    .unwrap();
    let unknown_source = "unknown event source 'carrier-pigeon'";
    assert_unknown(store.event_by_id(event).await, "source", unknown_source);
    assert_unknown(store.last_event(webhook.id).await, "source", unknown_source);
    let everything = EventQuery {
        limit: 50,
        ..EventQuery::default()
    };
    assert_unknown(
        store.list_events(&everything).await,
        "source",
        unknown_source,
    );

    raw.execute(&format!(
        "UPDATE docker_webhooks SET hub_sync_state = 'half_synced' WHERE id = {}",
        webhook.id
    ))
    .await
    .unwrap();
    let unknown_state = "unknown hub sync state 'half_synced'";
    assert_unknown(
        store.webhook_by_id(webhook.id).await,
        "hub_sync_state",
        unknown_state,
    );
    assert_unknown(
        store.list_webhooks(None).await,
        "hub_sync_state",
        unknown_state,
    );

    // An action or a target kind no version knows: the entry cannot be read.
    let everything = AuditQuery {
        limit: 50,
        ..AuditQuery::default()
    };
    raw.execute(&format!(
        "UPDATE audit_events SET target_kind = 'spaceship' WHERE id = {audit}"
    ))
    .await
    .unwrap();
    assert_unknown(
        store.list_audit(&everything).await,
        "target_kind",
        "unknown audit target kind 'spaceship'",
    );
    raw.execute(&format!(
        "UPDATE audit_events SET action = 'token.eaten' WHERE id = {audit}"
    ))
    .await
    .unwrap();
    assert_unknown(
        store.list_audit(&everything).await,
        "action",
        "unknown audit action 'token.eaten'",
    );
}

//! Docker webhooks, their events, and the atomic dedupe of pushes.

use app::execution::ExecutionStatus;
use app::model::ProjectRole;
use app::webhook::{DeliverySource, EventStatus, HubSyncState};
use server::store::*;

use crate::support::*;

pub async fn webhooks(store: SharedStore) {
    let Seed {
        user,
        project,
        endpoint,
        pipeline,
        token_id,
        webhook,
    } = seed(&store).await;
    assert_eq!(
        (webhook.project_name.as_str(), webhook.name.as_str()),
        ("Demo", "on-push")
    );
    assert_eq!(
        (
            webhook.endpoint_name.as_str(),
            webhook.pipeline_name.as_str(),
            webhook.api_token_name.as_str()
        ),
        ("hub", "deploy", "seed-token")
    );
    assert_eq!(
        (webhook.run_as_user_id, webhook.run_as_username.as_str()),
        (user.id, "alice")
    );
    assert_eq!(
        (
            webhook.image_pattern.as_str(),
            webhook.inputs.as_str(),
            webhook.source_cidrs.as_str()
        ),
        ("demo/app", "{}", "[]")
    );
    assert_eq!(
        (
            webhook.enabled,
            webhook.secure_token_sealed.as_str(),
            webhook.hub_sync_state
        ),
        (true, "sealed", HubSyncState::NotApplicable)
    );
    let found = store.webhook_by_token_hash("seed-hook").await.unwrap();
    assert_eq!(found, Some(webhook.clone()));
    assert_eq!(store.webhook_by_token_hash("other").await.unwrap(), None);

    let updated = store
        .update_webhook(
            webhook.id,
            WebhookWrite {
                tag_pattern: "v*",
                enabled: false,
                source_cidrs: r#"["10.0.0.0/8"]"#,
                max_deliveries_per_minute: 120,
                now: 5,
                ..webhook_write(project.id, "on-push", endpoint.id, pipeline.id, token_id)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.tag_pattern.as_str(),
            updated.enabled,
            updated.source_cidrs.as_str()
        ),
        ("v*", false, r#"["10.0.0.0/8"]"#)
    );
    assert_eq!(webhook.max_deliveries_per_minute, 6_000);
    assert_eq!(updated.max_deliveries_per_minute, 120);
    assert_eq!((updated.created_at, updated.updated_at), (1, 5));
    store
        .set_webhook_delivery_limit(webhook.id, 30, 5)
        .await
        .unwrap();
    let limited = store.webhook_by_id(webhook.id).await.unwrap().unwrap();
    assert_eq!(
        (
            limited.max_deliveries_per_minute,
            limited.tag_pattern.as_str()
        ),
        (30, "v*"),
        "only the limit changed"
    );

    store
        .set_webhook_enabled(webhook.id, true, 6)
        .await
        .unwrap();
    store
        .set_webhook_token(webhook.id, "new-hook", "resealed", 7)
        .await
        .unwrap();
    store
        .set_hub_sync(webhook.id, HubSyncState::NotSynced, "503 from Docker Hub")
        .await
        .unwrap();
    let now = store.webhook_by_id(webhook.id).await.unwrap().unwrap();
    assert_eq!((now.enabled, now.updated_at), (true, 7));
    assert_eq!(now.secure_token_sealed, "resealed");
    assert_eq!(
        (now.hub_sync_state, now.hub_sync_message.as_str()),
        (HubSyncState::NotSynced, "503 from Docker Hub")
    );
    assert_eq!(
        store.webhook_by_token_hash("seed-hook").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .webhook_by_token_hash("new-hook")
            .await
            .unwrap()
            .map(|hook| hook.id),
        Some(webhook.id)
    );

    // Lists are by project, then name; a member sees their projects' only.
    let write = webhook_write(project.id, "another", endpoint.id, pipeline.id, token_id);
    let second = crate::support::webhook(&store, write, "second-hook").await;
    let ids =
        |hooks: Vec<WebhookRecord>| -> Vec<i64> { hooks.iter().map(|hook| hook.id).collect() };
    assert_eq!(
        ids(store.list_webhooks(None).await.unwrap()),
        [second.id, webhook.id]
    );
    assert_eq!(
        ids(store.webhooks_by_name("another").await.unwrap()),
        [second.id]
    );
    let member = crate::support::user(&store, "member").await;
    assert!(store
        .list_webhooks(Some(member.id))
        .await
        .unwrap()
        .is_empty());
    store
        .set_membership(project.id, member.id, ProjectRole::Viewer)
        .await
        .unwrap();
    assert_eq!(store.list_webhooks(Some(member.id)).await.unwrap().len(), 2);

    store.delete_webhook(second.id).await.unwrap();
    assert_eq!(store.webhook_by_id(second.id).await.unwrap(), None);
}

pub async fn events_and_dedupe(store: SharedStore) {
    let Seed {
        pipeline, webhook, ..
    } = seed(&store).await;
    let record = |received_at: i64, key: &'static str| {
        let store = store.clone();
        let webhook_id = webhook.id;
        async move {
            store
                .record_push(
                    push(webhook_id, received_at, key),
                    &dedupe_only(received_at - WINDOW),
                )
                .await
                .unwrap()
        }
    };

    // Other events are recorded as given and claim nothing.
    let ignored = store
        .record_event(NewEvent {
            status: EventStatus::Ignored,
            reason: "tag 'v1' does not match 'v2*'".into(),
            inputs: None,
            ..push(webhook.id, 50, "k")
        })
        .await
        .unwrap();
    let stored = store.event_by_id(ignored).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.status,
            stored.reason.as_str(),
            stored.dedupe_key.as_deref()
        ),
        (
            EventStatus::Ignored,
            "tag 'v1' does not match 'v2*'",
            Some("k")
        )
    );
    assert_eq!(stored.deliveries, 1, "a row stands for one delivery");

    // A counted row of refusals stands for many, updated in place.
    let counted = store
        .record_counted_event(
            NewEvent {
                status: EventStatus::Rejected,
                reason: "1 refused".into(),
                dedupe_key: None,
                inputs: None,
                ..push(webhook.id, 60, "")
            },
            1,
        )
        .await
        .unwrap();
    store
        .update_counted_event(counted, 57, "57 refused")
        .await
        .unwrap();
    let stored = store.event_by_id(counted).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.reason.as_str(), stored.deliveries),
        (EventStatus::Rejected, "57 refused", 57)
    );

    // The first push of a key is TRIGGERED; the same push again is a DUPLICATE.
    let PushRecorded::First(first) = record(100, "k").await else {
        panic!("the first push claims its key")
    };
    let event = store.event_by_id(first).await.unwrap().unwrap();
    assert_eq!(
        (event.status, event.reason.as_str(), event.inputs.as_deref()),
        (EventStatus::Triggered, "", Some(r#"{"DOCKER_TAG":"v1"}"#))
    );
    assert_eq!(
        (event.webhook_name.as_str(), event.project_id, event.source),
        ("on-push", webhook.project_id, DeliverySource::Registry)
    );
    assert_eq!(
        (event.repository.as_str(), event.tag.as_str()),
        ("demo/app", "v1")
    );
    let PushRecorded::Duplicate {
        event_id,
        first_event_id,
    } = record(200, "k").await
    else {
        panic!("the same push again is a duplicate")
    };
    assert_eq!(first_event_id, first);
    let duplicate = store.event_by_id(event_id).await.unwrap().unwrap();
    assert_eq!(
        (duplicate.status, duplicate.reason, duplicate.inputs),
        (EventStatus::Duplicate, duplicate_reason(first), None)
    );
    assert_eq!(duplicate.dedupe_key.as_deref(), Some("k"));
    assert!(matches!(record(210, "other").await, PushRecorded::First(_)));

    // After the window, the next push of the key claims it again.
    let PushRecorded::First(later) = record(100 + WINDOW + 1, "k").await else {
        panic!("an expired claim is taken over")
    };
    assert_eq!(
        record(100 + WINDOW + 2, "k").await,
        PushRecorded::Duplicate {
            event_id: later + 1,
            first_event_id: later
        }
    );

    // A TRIGGERED event whose run could not start gives its claim up.
    store
        .mark_event(later, EventStatus::Rejected, "the pipeline is disabled")
        .await
        .unwrap();
    let rejected = store.event_by_id(later).await.unwrap().unwrap();
    assert_eq!(
        (rejected.status, rejected.reason.as_str()),
        (EventStatus::Rejected, "the pipeline is disabled")
    );
    let PushRecorded::First(retried) = record(100 + WINDOW + 3, "k").await else {
        panic!("a re-delivery of a rejected push is tried again")
    };

    // An event links to its run and shows the run's status.
    let execution = store
        .queue_execution(run(&pipeline, DOCKER, 1))
        .await
        .unwrap();
    store.link_event(retried, execution.id).await.unwrap();
    let linked = store.event_by_id(retried).await.unwrap().unwrap();
    assert_eq!(
        (linked.execution_id, linked.execution_status),
        (Some(execution.id), Some(ExecutionStatus::Queued))
    );

    // Lists: newest first, by webhook, status, page and member.
    let everything = EventQuery {
        limit: 50,
        ..EventQuery::default()
    };
    let listed = |query: EventQuery| {
        let store = store.clone();
        async move {
            store
                .list_events(&query)
                .await
                .unwrap()
                .iter()
                .map(|event| event.id)
                .collect::<Vec<i64>>()
        }
    };
    let all = listed(everything.clone()).await;
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|pair| pair[0] > pair[1]), "{all:?}");
    assert_eq!(
        listed(EventQuery {
            status: Some(EventStatus::Triggered),
            ..everything.clone()
        })
        .await,
        [retried, first + 2, first]
    );
    assert_eq!(
        listed(EventQuery {
            before_id: Some(first + 1),
            limit: 1,
            ..everything.clone()
        })
        .await,
        [first]
    );
    assert_eq!(
        listed(EventQuery {
            webhook_id: Some(webhook.id + 100),
            ..everything.clone()
        })
        .await,
        Vec::<i64>::new()
    );
    let stranger = crate::support::user(&store, "stranger").await;
    assert_eq!(
        listed(EventQuery {
            member: Some(stranger.id),
            ..everything.clone()
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        store
            .last_event(webhook.id)
            .await
            .unwrap()
            .map(|event| event.id),
        Some(retried)
    );
}

pub async fn dedupe_is_atomic_under_concurrency(store: SharedStore) {
    let Seed { webhook, .. } = seed(&store).await;

    // 40 deliveries of one push at once.
    let mut deliveries = tokio::task::JoinSet::new();
    for offset in 0..40 {
        let store = store.clone();
        let webhook_id = webhook.id;
        deliveries.spawn(async move {
            let received_at = 1_000 + offset;
            store
                .record_push(
                    push(webhook_id, received_at, "registry|event|1"),
                    &dedupe_only(received_at - WINDOW),
                )
                .await
        });
    }
    let mut firsts = Vec::new();
    let mut duplicates_of = Vec::new();
    while let Some(done) = deliveries.join_next().await {
        match done.unwrap().expect("every delivery is recorded") {
            PushRecorded::First(event_id) => firsts.push(event_id),
            PushRecorded::Duplicate { first_event_id, .. } => duplicates_of.push(first_event_id),
            PushRecorded::Stale { .. } => panic!("a push without a time is not ordered"),
        }
    }

    // Exactly one claimed the push; every other one names it.
    assert_eq!(firsts.len(), 1, "{firsts:?}");
    assert_eq!(duplicates_of.len(), 39);
    assert!(duplicates_of.iter().all(|first| *first == firsts[0]));
    let triggered = store
        .list_events(&EventQuery {
            status: Some(EventStatus::Triggered),
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(triggered.len(), 1);
    assert_eq!(triggered[0].id, firsts[0]);
}

/// A push of tag `v1` pushed at `pushed_at`, with its own key.
fn timed_push(webhook_id: i64, pushed_at: i64, key: &str) -> NewEvent {
    NewEvent {
        pushed_at: Some(pushed_at),
        ..push(webhook_id, pushed_at, key)
    }
}

pub async fn pushes_are_ordered_and_newer_ones_win(store: SharedStore) {
    let Seed {
        pipeline, webhook, ..
    } = seed(&store).await;
    let order = dedupe_only(0);
    let first = store
        .record_push(timed_push(webhook.id, 2_000, "a"), &order)
        .await
        .unwrap();
    let PushRecorded::First(first) = first else {
        panic!("the first push of a tag heads it: {first:?}")
    };
    // An older push of the same tag arriving later loses, saying to whom.
    let older = store
        .record_push(timed_push(webhook.id, 1_000, "b"), &order)
        .await
        .unwrap();
    let PushRecorded::Stale {
        event_id: older,
        newer_event_id,
    } = older
    else {
        panic!("an older push is stale: {older:?}")
    };
    assert_eq!(newer_event_id, first);
    let stored = store.event_by_id(older).await.unwrap().unwrap();
    assert_eq!(stored.status, EventStatus::Ignored);
    assert_eq!(stored.reason, format!("lost to event {first} (Tag)"));
    assert_eq!(stored.inputs, None, "an ignored push keeps no inputs");

    // A newer push wins, and cancels the older push's run while it is queued.
    let queued = store
        .queue_execution(run(&pipeline, MANUAL, 2_100))
        .await
        .unwrap();
    store.link_event(first, queued.id).await.unwrap();
    let PushRecorded::First(newer) = store
        .record_push(timed_push(webhook.id, 3_000, "c"), &order)
        .await
        .unwrap()
    else {
        panic!("a newer push heads the tag")
    };
    let canceled = store
        .supersede_queued_runs(&SupersedingPush {
            webhook_id: webhook.id,
            repository: "demo/app",
            tag: "v1",
            event_id: newer,
            pushed_at: 3_000,
            reason: "superseded",
            now: 3_001,
        })
        .await
        .unwrap();
    assert_eq!(canceled, [queued.id]);
    let run = store.execution_by_id(queued.id).await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.error.as_deref()),
        (ExecutionStatus::Canceled, Some("superseded"))
    );
    assert_eq!(
        store.event_by_id(first).await.unwrap().unwrap().reason,
        "superseded"
    );

    // newer_only: the repository's head decides, through the caller's comparison.
    let newer_only = PushOrder {
        newer_than: Some(Box::new(|_: &PushHead| false)),
        ..dedupe_only(0)
    };
    let PushRecorded::First(seeded) = store
        .record_push(timed_push(webhook.id, 4_000, "d"), &newer_only)
        .await
        .unwrap()
    else {
        panic!("with no repository head yet, the push is taken")
    };
    assert_eq!(
        store.repository_head(webhook.id, "demo/app").await.unwrap(),
        Some(PushHead {
            event_id: seeded,
            tag: "v1".into(),
            pushed_at: 4_000
        })
    );
    let refused = store
        .record_push(timed_push(webhook.id, 5_000, "e"), &newer_only)
        .await
        .unwrap();
    assert!(
        matches!(refused, PushRecorded::Stale { newer_event_id, .. } if newer_event_id == seeded),
        "{refused:?}"
    );
}

pub async fn concurrent_pushes_of_a_tag_leave_the_newest_at_its_head(store: SharedStore) {
    let Seed { webhook, .. } = seed(&store).await;
    let keys: Vec<&'static str> = (0..20)
        .map(|index| &*Box::leak(format!("push-{index}").into_boxed_str()))
        .collect();
    let mut pushes = tokio::task::JoinSet::new();
    for (index, key) in keys.into_iter().enumerate() {
        let store = store.clone();
        let webhook_id = webhook.id;
        pushes.spawn(async move {
            let pushed_at = 10_000 + index as i64;
            store
                .record_push(timed_push(webhook_id, pushed_at, key), &dedupe_only(0))
                .await
                .map(|recorded| (pushed_at, recorded))
        });
    }
    let mut newest_taken = None;
    while let Some(done) = pushes.join_next().await {
        let (pushed_at, recorded) = done.unwrap().expect("every push is recorded");
        if let PushRecorded::First(event_id) = recorded {
            if newest_taken.is_none_or(|(at, _)| pushed_at > at) {
                newest_taken = Some((pushed_at, event_id));
            }
        }
    }
    // Whatever order they landed in, the newest push heads the tag, and
    // every push newer than the head at its time was taken.
    let (pushed_at, event_id) = newest_taken.expect("some push was taken");
    assert_eq!(pushed_at, 10_019);
    let events = store
        .list_events(&EventQuery {
            webhook_id: Some(webhook.id),
            status: Some(EventStatus::Triggered),
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert!(events.iter().any(|event| event.id == event_id));
}

/// An IGNORED Activity row of the seed's webhook, for `record_deliveries`.
fn ignored_row(seed: &Seed, reason: &str) -> NewEvent {
    NewEvent {
        status: EventStatus::Ignored,
        reason: reason.into(),
        dedupe_key: None,
        inputs: None,
        ..push(seed.webhook.id, 900, "")
    }
}

/// A push's write for `record_deliveries`: pushed at `pushed_at` with key
/// `key`, starting a run of `pipeline_id` (or refused with `refused`).
fn push_write(
    seed: &Seed,
    pipeline_id: i64,
    pushed_at: i64,
    key: &str,
    refused: Option<&str>,
) -> DeliveryWrite {
    let run = match refused {
        Some(reason) => Err(reason.to_string()),
        None => Ok(PushRun {
            pipeline_id,
            project_id: seed.project.id,
            inputs: r#"{"DOCKER_TAG":"v1"}"#.into(),
            spec: seed.pipeline.spec.clone(),
            created_by: Some(seed.user.id),
            now: pushed_at,
            trigger: Box::new(|event_id| format!(r#"{{"kind":"docker","event_id":{event_id}}}"#)),
            superseding_reason: Box::new(|event_id| format!("superseded by event {event_id}")),
        }),
    };
    DeliveryWrite::Push(PushWrite {
        event: timed_push(seed.webhook.id, pushed_at, key),
        order: dedupe_only(0),
        run,
    })
}

/// Group commit: many deliveries' writes in one transaction, each in order
/// and on its own — a push queues its run, links it and supersedes older
/// ones; a duplicate in the same batch is a DUPLICATE; a write that fails is
/// that write's error and leaves the others recorded.
/// A batch of Activity rows only (ignored pushes, refusals) is one INSERT
/// with no transaction around it: still one row per write, in order, and a
/// row that cannot be stored is that write's error alone.
pub async fn a_batch_of_rows_only_is_recorded_each_on_its_own(store: SharedStore) {
    let seed = seed(&store).await;
    let ignored = |reason: &str| ignored_row(&seed, reason);
    let together: Vec<DeliveryWrite> = ["first", "second", "third"]
        .map(|reason| DeliveryWrite::Row(ignored(reason)))
        .into();
    let recorded = store.record_deliveries(&together).await.unwrap();
    let mut reasons = Vec::new();
    for outcome in &recorded {
        let Ok(DeliveryRecorded::Row(row)) = outcome else {
            panic!("a row is recorded as given: {outcome:?}");
        };
        reasons.push(store.event_by_id(*row).await.unwrap().unwrap().reason);
    }
    assert_eq!(
        reasons,
        ["first", "second", "third"],
        "each write answers its own row, in order"
    );

    // No such webhook: that row cannot be inserted, the others are.
    let with_a_bad_one = vec![
        DeliveryWrite::Row(ignored("before")),
        DeliveryWrite::Row(NewEvent {
            webhook_id: seed.webhook.id + 1_000,
            ..ignored("orphan")
        }),
        DeliveryWrite::Row(ignored("after")),
    ];
    let recorded = store.record_deliveries(&with_a_bad_one).await.unwrap();
    assert!(
        recorded[1].is_err(),
        "the bad row is its write's error: {:?}",
        recorded[1]
    );
    for (index, reason) in [(0, "before"), (2, "after")] {
        let Ok(DeliveryRecorded::Row(row)) = &recorded[index] else {
            panic!("a good row is recorded: {:?}", recorded[index]);
        };
        let row = store.event_by_id(*row).await.unwrap().unwrap();
        assert_eq!(row.reason, reason);
    }
}

pub async fn deliveries_are_recorded_together_each_on_its_own(store: SharedStore) {
    let seed = seed(&store).await;
    let ignored = ignored_row(&seed, "tag 'v1' does not match 'v2*'");
    let ignored_later = NewEvent {
        reason: "disabled".into(),
        ..ignored.clone()
    };
    let writes = vec![
        DeliveryWrite::Row(ignored),
        push_write(&seed, seed.pipeline.id, 1_000, "a", None),
        push_write(&seed, seed.pipeline.id, 1_001, "a", None),
        // No such pipeline: its run cannot be inserted.
        push_write(&seed, seed.pipeline.id + 1_000, 1_500, "b", None),
        push_write(
            &seed,
            seed.pipeline.id,
            2_000,
            "c",
            Some("the pipeline is disabled"),
        ),
        push_write(&seed, seed.pipeline.id, 3_000, "d", None),
        DeliveryWrite::Row(ignored_later),
    ];
    let recorded = store.record_deliveries(&writes).await.unwrap();
    assert_eq!(
        recorded.len(),
        writes.len(),
        "one outcome per write, in order"
    );

    for (index, reason) in [(0, "tag 'v1' does not match 'v2*'"), (6, "disabled")] {
        let Ok(DeliveryRecorded::Row(row)) = &recorded[index] else {
            panic!("a row is recorded as given: {:?}", recorded[index]);
        };
        let row = store.event_by_id(*row).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.reason.as_str(), row.execution_id),
            (EventStatus::Ignored, reason, None),
            "each write answers its own row"
        );
    }

    let Ok(DeliveryRecorded::Push {
        recorded: PushRecorded::First(first),
        run: Some(first_run),
    }) = &recorded[1]
    else {
        panic!("the first push queues its run: {:?}", recorded[1]);
    };
    let first_row = store.event_by_id(*first).await.unwrap().unwrap();
    assert_eq!(first_row.execution_id, Some(first_run.execution_id));
    let run = store
        .execution_by_id(first_run.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        run.trigger,
        format!(r#"{{"kind":"docker","event_id":{first}}}"#)
    );
    assert!(first_run.superseded.is_empty());

    assert!(
        matches!(
            &recorded[2],
            Ok(DeliveryRecorded::Push { recorded: PushRecorded::Duplicate { first_event_id, .. }, run: None })
                if first_event_id == first
        ),
        "the same push again in the same batch is a duplicate: {:?}",
        recorded[2]
    );
    assert!(
        recorded[3].is_err(),
        "a write that fails is that write's error"
    );

    let Ok(DeliveryRecorded::Push {
        recorded: PushRecorded::First(refused),
        run: None,
    }) = &recorded[4]
    else {
        panic!(
            "a push that cannot run is recorded without a run: {:?}",
            recorded[4]
        );
    };
    let refused = store.event_by_id(*refused).await.unwrap().unwrap();
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (EventStatus::Rejected, "the pipeline is disabled")
    );

    let Ok(DeliveryRecorded::Push {
        recorded: PushRecorded::First(newest),
        run: Some(newest_run),
    }) = &recorded[5]
    else {
        panic!(
            "a later write is recorded after a failed one: {:?}",
            recorded[5]
        );
    };
    assert_eq!(
        newest_run.superseded,
        vec![first_run.execution_id],
        "a newer push of the tag cancels the older push's QUEUED run"
    );
    let superseded = store
        .execution_by_id(first_run.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(superseded.status, ExecutionStatus::Canceled);
    assert_eq!(
        superseded.error.as_deref(),
        Some(format!("superseded by event {newest}").as_str())
    );

    // The failed write left nothing behind: its key is free, so the push is
    // taken when it comes again (later than the tag's newest, so in order).
    let again = store
        .record_deliveries(&[push_write(&seed, seed.pipeline.id, 4_000, "b", None)])
        .await
        .unwrap();
    assert!(
        matches!(
            &again[0],
            Ok(DeliveryRecorded::Push {
                recorded: PushRecorded::First(_),
                run: Some(_)
            })
        ),
        "{:?}",
        again[0]
    );
    // And the refused push gave its key up too.
    let retried = store
        .record_deliveries(&[push_write(&seed, seed.pipeline.id, 5_000, "c", None)])
        .await
        .unwrap();
    assert!(
        matches!(
            &retried[0],
            Ok(DeliveryRecorded::Push {
                recorded: PushRecorded::First(_),
                run: Some(_)
            })
        ),
        "{:?}",
        retried[0]
    );
}

/// `push_write` of its own tag: pushes of different tags are what a batch
/// records in one pass.
fn tagged_push_write(seed: &Seed, tag: &str, pushed_at: i64, key: &str) -> DeliveryWrite {
    let DeliveryWrite::Push(mut write) = push_write(seed, seed.pipeline.id, pushed_at, key, None)
    else {
        unreachable!("push_write makes a push")
    };
    write.event.tag = tag.into();
    DeliveryWrite::Push(write)
}

/// The run a write queued, with its Activity row, or a panic naming the write.
fn queued_run(outcome: &StoreResult<DeliveryRecorded>) -> (i64, &QueuedRun) {
    match outcome {
        Ok(DeliveryRecorded::Push {
            recorded: PushRecorded::First(event_id),
            run: Some(run),
        }) => (*event_id, run),
        other => panic!("the push queues its run: {other:?}"),
    }
}

/// A batch of pushes of different tags (the common case, recorded a statement
/// per step) ends as it would push by push: each row linked to its run, run
/// numbers in the batch's order, older QUEUED runs of a tag superseded; and a
/// batch where one push turns out to be a duplicate or stale is decided push
/// by push, leaving nothing of the first try behind.
pub async fn a_batch_of_pushes_of_different_tags_ends_as_push_by_push(store: SharedStore) {
    let seed = seed(&store).await;
    let ignored = ignored_row(&seed, "tag 'v1' does not match 'v2*'");
    let first_batch = vec![
        tagged_push_write(&seed, "a", 1_000, "a"),
        DeliveryWrite::Row(ignored.clone()),
        tagged_push_write(&seed, "b", 1_000, "b"),
        tagged_push_write(&seed, "c", 1_000, "c"),
    ];
    let recorded = store.record_deliveries(&first_batch).await.unwrap();
    assert!(
        matches!(recorded[1], Ok(DeliveryRecorded::Row(_))),
        "{:?}",
        recorded[1]
    );
    let mut run_numbers = Vec::new();
    let mut runs = Vec::new();
    for index in [0, 2, 3] {
        let (event_id, run) = queued_run(&recorded[index]);
        assert!(run.superseded.is_empty());
        let row = store.event_by_id(event_id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.execution_id),
            (EventStatus::Triggered, Some(run.execution_id)),
            "each row is linked to its own run"
        );
        let execution = store
            .execution_by_id(run.execution_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(execution.status, ExecutionStatus::Queued);
        assert_eq!(
            execution.trigger,
            format!(r#"{{"kind":"docker","event_id":{event_id}}}"#)
        );
        run_numbers.push(execution.run_number);
        runs.push(run.execution_id);
    }
    let first_number = run_numbers[0];
    assert_eq!(
        run_numbers,
        [first_number, first_number + 1, first_number + 2],
        "run numbers follow the batch's order"
    );

    // Tag b again, newer: its QUEUED run is superseded; tag d is new.
    let second_batch = vec![
        tagged_push_write(&seed, "d", 2_000, "d"),
        tagged_push_write(&seed, "b", 2_000, "b2"),
    ];
    let recorded = store.record_deliveries(&second_batch).await.unwrap();
    assert!(queued_run(&recorded[0]).1.superseded.is_empty());
    let (newer_b, newer_b_run) = queued_run(&recorded[1]);
    assert_eq!(
        newer_b_run.superseded,
        vec![runs[1]],
        "a newer push of tag b cancels its older QUEUED run, and only that one"
    );
    let superseded = store.execution_by_id(runs[1]).await.unwrap().unwrap();
    assert_eq!(
        (superseded.status, superseded.error),
        (
            ExecutionStatus::Canceled,
            Some(format!("superseded by event {newer_b}"))
        )
    );
    for kept in [runs[0], runs[2]] {
        let run = store.execution_by_id(kept).await.unwrap().unwrap();
        assert_eq!(run.status, ExecutionStatus::Queued, "other tags' runs stay");
    }

    // A re-delivery of a's push beside a new push of e: a's is a DUPLICATE,
    // e's queues its run, and the rolled-back first try left no row.
    let rows_before = count_rows(&store, &seed).await;
    let third_batch = vec![
        tagged_push_write(&seed, "e", 3_000, "e"),
        tagged_push_write(&seed, "a", 1_000, "a"),
        // Older than c's head: stale.
        tagged_push_write(&seed, "c", 500, "c-old"),
    ];
    let recorded = store.record_deliveries(&third_batch).await.unwrap();
    queued_run(&recorded[0]);
    assert!(
        matches!(
            &recorded[1],
            Ok(DeliveryRecorded::Push {
                recorded: PushRecorded::Duplicate { .. },
                run: None
            })
        ),
        "a re-delivery is a duplicate: {:?}",
        recorded[1]
    );
    assert!(
        matches!(
            &recorded[2],
            Ok(DeliveryRecorded::Push {
                recorded: PushRecorded::Stale { .. },
                run: None
            })
        ),
        "a push older than its tag's head is stale: {:?}",
        recorded[2]
    );
    assert_eq!(
        count_rows(&store, &seed).await,
        rows_before + 3,
        "one row per delivery: nothing of the rolled-back try is left"
    );
}

async fn count_rows(store: &SharedStore, seed: &Seed) -> usize {
    store
        .list_events(&EventQuery {
            webhook_id: Some(seed.webhook.id),
            limit: 1_000,
            ..EventQuery::default()
        })
        .await
        .unwrap()
        .len()
}

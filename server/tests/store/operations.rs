//! What operators watch: replicas' heartbeats, and the counts of work not
//! done yet that the status page and `/metrics` show.

use server::store::*;

use crate::support::*;

fn heartbeat(replica_id: &str, last_seen_at: i64) -> ReplicaHeartbeat {
    ReplicaHeartbeat {
        replica_id: replica_id.into(),
        version: "0.1.0".into(),
        started_at: 5,
        last_seen_at,
    }
}

pub async fn replicas_say_they_are_alive_and_are_forgotten_when_gone(store: SharedStore) {
    store
        .record_heartbeat(&heartbeat("a", 100), 0)
        .await
        .unwrap();
    store
        .record_heartbeat(&heartbeat("b", 150), 0)
        .await
        .unwrap();
    // A second heartbeat of one replica updates its row, never adds one.
    store
        .record_heartbeat(&heartbeat("a", 200), 0)
        .await
        .unwrap();
    let seen = store.replicas_seen_since(0).await.unwrap();
    assert_eq!(seen, vec![heartbeat("a", 200), heartbeat("b", 150)]);
    assert_eq!(
        store.replicas_seen_since(160).await.unwrap(),
        vec![heartbeat("a", 200)]
    );
    // Any replica's heartbeat forgets the ones gone since before the cut.
    store
        .record_heartbeat(&heartbeat("c", 300), 160)
        .await
        .unwrap();
    let ids: Vec<String> = store
        .replicas_seen_since(0)
        .await
        .unwrap()
        .into_iter()
        .map(|replica| replica.replica_id)
        .collect();
    assert_eq!(ids, ["c", "a"]);
}

pub async fn work_in_progress_counts_unfinished_runs_and_the_oldest_queued(store: SharedStore) {
    assert_eq!(
        store.work_in_progress().await.unwrap(),
        WorkInProgress::default()
    );
    let seed = seed(&store).await;
    let first = store
        .queue_execution(run(&seed.pipeline, MANUAL, 10))
        .await
        .unwrap();
    store
        .queue_execution(run(&seed.pipeline, MANUAL, 20))
        .await
        .unwrap();
    let third = store
        .queue_execution(run(&seed.pipeline, MANUAL, 30))
        .await
        .unwrap();
    // The seed's pipeline runs one at a time: the oldest is claimed.
    let claimed = store
        .claim_execution("w1", 40, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, first.id);
    store.request_cancel(third.id, 45).await.unwrap();
    let work = store.work_in_progress().await.unwrap();
    assert_eq!(
        (
            work.queued,
            work.running,
            work.waiting,
            work.oldest_queued_at
        ),
        (1, 1, 0, Some(20))
    );
    assert_eq!((work.outbox_pending, work.outbox_failed), (0, 0));
    assert!(store.database_size_bytes().await.unwrap() > 0);
    assert!(["sqlite", "postgresql"].contains(&store.backend_name()));
    let pools = store.pool_use();
    assert!(!pools.is_empty());
    assert!(pools
        .iter()
        .all(|pool| pool.open <= pool.max && pool.idle <= pool.open));
}

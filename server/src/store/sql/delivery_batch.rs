//! A batch of deliveries recorded a statement per step rather than a few
//! statements per push: the common case of [`HookStore::record_deliveries`].
//!
//! Recording a triggering push one at a time is eight statements in a row
//! (its row, its dedupe claim, its tag's head read and compare-and-set, the
//! run counter, the run, the link, superseding), and on SQLite each is a round
//! trip to the write connection's thread that every other write waits behind:
//! a batch of a dozen pushes held the connection about 4 ms. Here every step
//! is one statement for the whole batch, whatever its size.
//!
//! It is optimistic. It takes a batch only when nothing in it needs a choice
//! made push by push (a push that cannot run, `newer_only`, two pushes of one
//! tag or one key), and it answers `None` the moment the database says a push
//! is not the common case — a key already claimed, a head newer than the push,
//! a pipeline gone. The caller then rolls the transaction back and records the
//! batch push by push, which decides each of those exactly as before. So the
//! outcomes are the same either way; this path only gets to them in fewer
//! round trips.
//!
//! [`HookStore::record_deliveries`]: crate::store::hooks::HookStore::record_deliveries

use std::collections::{BTreeMap, HashSet};

use sqlx::QueryBuilder;

use super::{map_constraint, Backend, Db, DbConnection};
use crate::store::hooks::*;
use crate::store::StoreResult;

/// Writes one pass takes: each statement binds at most 8 values per write,
/// well within SQLite's and PostgreSQL's limits on bound values.
pub(super) const WRITES_PER_PASS: usize = 64;

/// A push the batch queues a run for, with what the steps after the
/// Activity rows need of it.
struct Queued<'a> {
    /// Its place among the batch's writes.
    index: usize,
    write: &'a PushWrite,
    run: &'a PushRun,
    event_id: i64,
}

impl Backend {
    /// Whether [`Self::record_batch_in_one_pass`] can take these writes at
    /// all: rows, and pushes that start a run with no per-push choice to
    /// make, no two of one key or one tag.
    pub(super) fn batch_is_one_pass(writes: &[DeliveryWrite]) -> bool {
        let mut keys = HashSet::new();
        let mut tags = HashSet::new();
        writes.iter().all(|write| match write {
            DeliveryWrite::Row(_) => true,
            DeliveryWrite::Push(push) => {
                let event = &push.event;
                push.run.is_ok()
                    && push.order.newer_than.is_none()
                    && event
                        .dedupe_key
                        .as_ref()
                        .is_none_or(|key| keys.insert((event.webhook_id, key)))
                    && (event.pushed_at.is_none()
                        || tags.insert((event.webhook_id, &event.repository, &event.tag)))
            }
        })
    }

    /// Records up to [`WRITES_PER_PASS`] writes that
    /// [`Self::batch_is_one_pass`] takes, inside the caller's transaction;
    /// `None` when one of them is not the common case after all (the caller
    /// rolls back and records them one by one).
    pub(super) async fn record_batch_in_one_pass(
        transaction: &mut DbConnection,
        writes: &[DeliveryWrite],
    ) -> StoreResult<Option<Vec<DeliveryRecorded>>> {
        debug_assert!(writes.len() <= WRITES_PER_PASS);
        let events: Vec<&NewEvent> = writes
            .iter()
            .map(|write| match write {
                DeliveryWrite::Row(event) => event,
                DeliveryWrite::Push(push) => &push.event,
            })
            .collect();
        let event_ids = Self::insert_events(&mut *transaction, &events).await?;
        let queued: Vec<Queued> = writes
            .iter()
            .zip(&event_ids)
            .enumerate()
            .filter_map(|(index, (write, &event_id))| match write {
                DeliveryWrite::Push(write) => Some(Queued {
                    index,
                    write,
                    run: write.run.as_ref().ok()?,
                    event_id,
                }),
                DeliveryWrite::Row(_) => None,
            })
            .collect();
        if queued.is_empty() {
            return Ok(Some(
                event_ids.into_iter().map(DeliveryRecorded::Row).collect(),
            ));
        }
        if !Self::claim_keys(&mut *transaction, &queued).await?
            || !Self::take_tag_heads(&mut *transaction, &queued).await?
        {
            return Ok(None);
        }
        // Before this batch's runs are linked, so the probe sees only runs of
        // earlier pushes; and before they are queued, since from the counter
        // on, a batch holds its pipeline's counter row (on PostgreSQL, the
        // other writers' batches of that pipeline wait for it).
        let superseding = Self::tags_with_queued_runs(&mut *transaction, &queued).await?;
        let Some(execution_ids) = Self::insert_runs(&mut *transaction, &queued).await? else {
            return Ok(None);
        };
        Self::link_runs(&mut *transaction, &queued, &execution_ids).await?;

        let mut recorded: Vec<DeliveryRecorded> =
            event_ids.into_iter().map(DeliveryRecorded::Row).collect();
        for (push, execution_id) in queued.iter().zip(execution_ids) {
            let event = &push.write.event;
            let superseded = match event.pushed_at {
                Some(pushed_at)
                    if superseding.contains(&(
                        event.webhook_id,
                        event.repository.clone(),
                        event.tag.clone(),
                    )) =>
                {
                    Self::supersede_in(
                        &mut *transaction,
                        &SupersedingPush {
                            webhook_id: event.webhook_id,
                            repository: &event.repository,
                            tag: &event.tag,
                            event_id: push.event_id,
                            pushed_at,
                            reason: &(push.run.superseding_reason)(push.event_id),
                            now: push.run.now,
                        },
                    )
                    .await?
                }
                _ => Vec::new(),
            };
            recorded[push.index] = DeliveryRecorded::Push {
                recorded: PushRecorded::First(push.event_id),
                run: Some(QueuedRun {
                    execution_id,
                    superseded,
                }),
            };
        }
        Ok(Some(recorded))
    }

    /// Claims every keyed push's key; false when a key was already held
    /// (a re-delivery, or a claim whose window may have passed: the push by
    /// push path decides which).
    async fn claim_keys(
        transaction: &mut DbConnection,
        queued: &[Queued<'_>],
    ) -> StoreResult<bool> {
        let keyed: Vec<(&Queued, &String)> = queued
            .iter()
            .filter_map(|push| Some((push, push.write.event.dedupe_key.as_ref()?)))
            .collect();
        if keyed.is_empty() {
            return Ok(true);
        }
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO delivery_keys (webhook_id, dedupe_key, event_id, claimed_at) ",
        );
        query.push_values(&keyed, |mut row, (push, key)| {
            row.push_bind(push.write.event.webhook_id)
                .push_bind(*key)
                .push_bind(push.event_id)
                .push_bind(push.write.event.received_at);
        });
        query.push(" ON CONFLICT (webhook_id, dedupe_key) DO NOTHING RETURNING event_id");
        Self::wrote_every_row(transaction, query, keyed.len()).await
    }

    /// Makes every ordered push the head of its tag, where no newer push
    /// is; false when one tag's head is newer (that push is stale). One
    /// statement decides and writes each head, so it is the compare-and-set
    /// of the push by push path.
    async fn take_tag_heads(
        transaction: &mut DbConnection,
        queued: &[Queued<'_>],
    ) -> StoreResult<bool> {
        let ordered: Vec<(&Queued, i64)> = queued
            .iter()
            .filter_map(|push| Some((push, push.write.event.pushed_at?)))
            .collect();
        if ordered.is_empty() {
            return Ok(true);
        }
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO push_heads (event_id, tag, pushed_at, webhook_id, repository, scope) ",
        );
        query.push_values(&ordered, |mut row, (push, pushed_at)| {
            let event = &push.write.event;
            row.push_bind(push.event_id)
                .push_bind(&event.tag)
                .push_bind(*pushed_at)
                .push_bind(event.webhook_id)
                .push_bind(&event.repository)
                .push_bind(&event.tag);
        });
        query.push(
            " ON CONFLICT (webhook_id, repository, scope) DO UPDATE \
                 SET event_id = excluded.event_id, tag = excluded.tag, pushed_at = excluded.pushed_at \
                 WHERE push_heads.pushed_at <= excluded.pushed_at \
             RETURNING event_id",
        );
        Self::wrote_every_row(transaction, query, ordered.len()).await
    }

    /// Runs a conditional insert that answers a row per row it wrote;
    /// whether it wrote all `expected`.
    async fn wrote_every_row(
        transaction: &mut DbConnection,
        mut query: QueryBuilder<'_, Db>,
        expected: usize,
    ) -> StoreResult<bool> {
        let written: Vec<i64> = query
            .build_query_scalar()
            .fetch_all(&mut *transaction)
            .await?;
        Ok(written.len() == expected)
    }

    /// Queues every push's run, numbered in the batch's order from its
    /// pipeline's counter; their ids in that order. `None` when a pipeline
    /// is gone.
    async fn insert_runs(
        transaction: &mut DbConnection,
        queued: &[Queued<'_>],
    ) -> StoreResult<Option<Vec<i64>>> {
        // Per pipeline: how many runs, then the first number they take. The
        // counters' rows stay locked until the transaction ends, so no other
        // run takes these numbers; they are taken in id order, so batches
        // racing on PostgreSQL lock them in one order.
        let mut next_number: BTreeMap<i64, i64> = BTreeMap::new();
        for push in queued {
            *next_number.entry(push.run.pipeline_id).or_default() += 1;
        }
        for (pipeline_id, next) in next_number.iter_mut() {
            let runs = *next;
            let last: Option<i64> = sqlx::query_scalar(
                "UPDATE pipelines SET last_run_number = last_run_number + $1 WHERE id = $2 \
                 RETURNING last_run_number",
            )
            .bind(runs)
            .bind(*pipeline_id)
            .fetch_optional(&mut *transaction)
            .await?;
            let Some(last) = last else {
                return Ok(None);
            };
            *next = last - runs + 1;
        }
        let mut numbered = Vec::with_capacity(queued.len());
        for push in queued {
            let number = next_number
                .get_mut(&push.run.pipeline_id)
                .expect("every pipeline of the batch was counted above");
            numbered.push((push, *number, (push.run.trigger)(push.event_id)));
            *number += 1;
        }
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO executions (pipeline_id, project_id, run_number, status, inputs, trigger, spec, \
             created_by, created_at) ",
        );
        query.push_values(&numbered, |mut row, (push, number, trigger)| {
            row.push_bind(push.run.pipeline_id)
                .push_bind(push.run.project_id)
                .push_bind(*number)
                .push_bind("QUEUED")
                .push_bind(&push.run.inputs)
                .push_bind(trigger)
                .push_bind(&push.run.spec)
                .push_bind(push.run.created_by)
                .push_bind(push.run.now);
        });
        query.push(" RETURNING id");
        let mut ids: Vec<i64> = query
            .build_query_scalar()
            .fetch_all(&mut *transaction)
            .await
            .map_err(map_constraint)?;
        // Ids are handed out in the order of the values; RETURNING promises
        // no order, so they are sorted back into it.
        ids.sort_unstable();
        Ok(Some(ids))
    }

    /// The tags, among the batch's ordered pushes, that hold a QUEUED run of
    /// an earlier push: the only ones worth superseding (one statement for
    /// the batch instead of one per push).
    async fn tags_with_queued_runs(
        transaction: &mut DbConnection,
        queued: &[Queued<'_>],
    ) -> StoreResult<HashSet<(i64, String, String)>> {
        let ordered: Vec<&NewEvent> = queued
            .iter()
            .map(|push| &push.write.event)
            .filter(|event| event.pushed_at.is_some())
            .collect();
        if ordered.is_empty() {
            return Ok(HashSet::new());
        }
        let mut query = queued_runs_probe(&ordered);
        let tags: Vec<(i64, String, String)> =
            query.build_query_as().fetch_all(&mut *transaction).await?;
        Ok(tags.into_iter().collect())
    }

    /// Links every push's Activity row to its run, in one statement.
    async fn link_runs(
        transaction: &mut DbConnection,
        queued: &[Queued<'_>],
        execution_ids: &[i64],
    ) -> StoreResult<()> {
        let mut query =
            QueryBuilder::<Db>::new("UPDATE docker_events SET execution_id = links.column2 FROM (");
        query.push_values(queued.iter().zip(execution_ids), |mut row, (push, id)| {
            row.push_bind(push.event_id).push_bind(*id);
        });
        query.push(") AS links WHERE docker_events.id = links.column1");
        query.build().execute(&mut *transaction).await?;
        Ok(())
    }
}

/// The probe of [`Backend::tags_with_queued_runs`]: which of these places
/// (webhook, repository, tag) have a linked Activity row whose run is still
/// QUEUED. The places come first (`CROSS JOIN` keeps SQLite to that order;
/// PostgreSQL plans the joins freely), so each is a search of the push-order
/// index: with the places as a row value's `IN` list SQLite walked every
/// QUEUED run instead, which a backlog of runs made the slowest step of a
/// batch (unit test `the_probe_for_queued_runs_starts_from_the_pushed_tags`).
pub(super) fn queued_runs_probe<'a>(places: &[&'a NewEvent]) -> QueryBuilder<'a, Db> {
    let mut query = QueryBuilder::<Db>::new(
        "SELECT DISTINCT docker_events.webhook_id, docker_events.repository, docker_events.tag FROM (",
    );
    query.push_values(places, |mut place, event| {
        place
            .push_bind(event.webhook_id)
            .push_bind(&event.repository)
            .push_bind(&event.tag);
    });
    query.push(
        ") AS places CROSS JOIN docker_events CROSS JOIN executions \
         WHERE docker_events.webhook_id = places.column1 \
         AND docker_events.repository = places.column2 AND docker_events.tag = places.column3 \
         AND docker_events.execution_id IS NOT NULL \
         AND executions.id = docker_events.execution_id AND executions.status = 'QUEUED'",
    );
    query
}

//! [`HookStore`] in the SQL both backends speak.

use app::model::Millis;
use app::webhook::{EventStatus, HubSyncState};
use sqlx::QueryBuilder;

use super::delivery_batch::WRITES_PER_PASS;
use super::rows::{EventRow, WebhookRow};
use super::{map_constraint, missing, Backend, Db, DbConnection, WriteTransaction};
use crate::store::hooks::*;
use crate::store::NewExecution;
use crate::store::{StoreResult, StoredText};

const WEBHOOK_COLUMNS: &str = "docker_webhooks.id, docker_webhooks.project_id, projects.name AS project_name, \
     docker_webhooks.name, docker_webhooks.description, docker_webhooks.endpoint_id, endpoints.name AS endpoint_name, \
     docker_webhooks.pipeline_id, pipelines.name AS pipeline_name, docker_webhooks.api_token_id, \
     api_tokens.name AS api_token_name, users.id AS run_as_user_id, users.username AS run_as_username, \
     docker_webhooks.image_pattern, docker_webhooks.tag_pattern, docker_webhooks.inputs, docker_webhooks.enabled, docker_webhooks.newer_only, \
     docker_webhooks.source_cidrs, docker_webhooks.max_deliveries_per_minute, docker_webhooks.secure_token_sealed, docker_webhooks.hub_sync_state, \
     docker_webhooks.hub_sync_message, docker_webhooks.created_at, docker_webhooks.updated_at";
const WEBHOOK_FROM: &str =
    "docker_webhooks JOIN projects ON projects.id = docker_webhooks.project_id \
     JOIN endpoints ON endpoints.id = docker_webhooks.endpoint_id \
     JOIN pipelines ON pipelines.id = docker_webhooks.pipeline_id \
     JOIN api_tokens ON api_tokens.id = docker_webhooks.api_token_id \
     JOIN users ON users.id = api_tokens.user_id";
const EVENT_COLUMNS: &str = "docker_events.id, docker_events.webhook_id, docker_webhooks.name AS webhook_name, \
     docker_webhooks.project_id, docker_events.received_at, docker_events.source, docker_events.repository, \
     docker_events.tag, docker_events.owner, docker_events.status, docker_events.reason, docker_events.deliveries, docker_events.dedupe_key, \
     docker_events.inputs, docker_events.digest, docker_events.execution_id, executions.status AS execution_status";
const EVENT_FROM: &str =
    "docker_events JOIN docker_webhooks ON docker_webhooks.id = docker_events.webhook_id \
     LEFT JOIN executions ON executions.id = docker_events.execution_id";

/// Cancels the QUEUED runs of a tag's pushes older than `$6` (but event `$7`):
/// `$1` the reason, `$2` the time. Found through the push-order index, which
/// holds only rows linked to a run (migration 0017).
pub(super) const SUPERSEDE_SQL: &str =
    "UPDATE executions SET status = 'CANCELED', error = $1, finished_at = $2 \
     WHERE status = 'QUEUED' AND id IN (SELECT execution_id FROM docker_events \
         WHERE webhook_id = $3 AND repository = $4 AND tag = $5 AND pushed_at < $6 \
         AND id <> $7 AND execution_id IS NOT NULL) \
     RETURNING id";

/// The reason on the Activity rows of run `$2`, found through the index of
/// linked rows.
pub(super) const SUPERSEDED_REASON_SQL: &str =
    "UPDATE docker_events SET reason = $1 WHERE execution_id = $2";

/// How often a push is recorded again after losing a race for a head.
const MAX_PUSH_ORDER_TRIES: usize = 16;

/// Activity rows one INSERT statement takes: 13 values each, well within
/// SQLite's and PostgreSQL's limits on bound values.
const EVENTS_PER_INSERT: usize = 64;

/// The scope of a repository's head (`newer_only`); no tag can be `*`.
const REPOSITORY_SCOPE: &str = "*";

/// The error of a push that lost the race for its heads every time.
fn heads_kept_changing() -> crate::store::StoreError {
    sqlx::Error::Protocol("the push heads kept changing while a push was recorded".into()).into()
}

/// Where a push's heads are kept.
struct HeadPlace<'a> {
    webhook_id: i64,
    repository: &'a str,
}

impl Backend {
    /// Records a push inside the caller's transaction, which holds the write
    /// lock; `None` when a head changed under it (the caller rolls back and
    /// runs it again).
    async fn try_record_push(
        transaction: &mut DbConnection,
        event: &NewEvent,
        order: &PushOrder,
    ) -> StoreResult<Option<PushRecorded>> {
        // Write first, under the write lock: the event row, then the claim on
        // its key. Whichever delivery's claim lands decides; the others find
        // the key held and turn their row into a DUPLICATE, all before commit.
        let event_id = Self::insert_event(&mut *transaction, event, 1).await?;
        if let Some(dedupe_key) = &event.dedupe_key {
            // A new key, or one whose claim is older than the window, is taken.
            let claimed = sqlx::query(
                "INSERT INTO delivery_keys (webhook_id, dedupe_key, event_id, claimed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (webhook_id, dedupe_key) DO UPDATE \
                     SET event_id = excluded.event_id, claimed_at = excluded.claimed_at \
                     WHERE delivery_keys.claimed_at < $5",
            )
            .bind(event.webhook_id)
            .bind(dedupe_key)
            .bind(event_id)
            .bind(event.received_at)
            .bind(order.window_start)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            if !claimed {
                let first_event_id: i64 = sqlx::query_scalar(
                    "SELECT event_id FROM delivery_keys WHERE webhook_id = $1 AND dedupe_key = $2",
                )
                .bind(event.webhook_id)
                .bind(dedupe_key)
                .fetch_one(&mut *transaction)
                .await?;
                Self::set_event_outcome(
                    &mut *transaction,
                    event_id,
                    EventStatus::Duplicate,
                    &(order.duplicate_reason)(first_event_id),
                )
                .await?;
                return Ok(Some(PushRecorded::Duplicate {
                    event_id,
                    first_event_id,
                }));
            }
        }
        let Some(pushed_at) = event.pushed_at else {
            return Ok(Some(PushRecorded::First(event_id)));
        };
        let place = HeadPlace {
            webhook_id: event.webhook_id,
            repository: &event.repository,
        };
        let tag_head = Self::head(&mut *transaction, &place, &event.tag).await?;
        let repository_head = match order.newer_than {
            Some(_) => Self::head(&mut *transaction, &place, REPOSITORY_SCOPE).await?,
            None => None,
        };
        let lost = match (&tag_head, &repository_head, order.newer_than.as_deref()) {
            (Some(head), _, _) if head.pushed_at > pushed_at => Some((head, HeadScope::Tag)),
            (_, Some(head), Some(newer_than)) if !newer_than(head) => {
                Some((head, HeadScope::Repository))
            }
            _ => None,
        };
        if let Some((head, scope)) = lost {
            Self::set_event_outcome(
                &mut *transaction,
                event_id,
                EventStatus::Ignored,
                &(order.stale_reason)(head, scope),
            )
            .await?;
            Self::give_up_claims(&mut *transaction, event_id).await?;
            return Ok(Some(PushRecorded::Stale {
                event_id,
                newer_event_id: head.event_id,
            }));
        }
        let new_head = PushHead {
            event_id,
            tag: event.tag.clone(),
            pushed_at,
        };
        let mut taken = Self::take_head(
            &mut *transaction,
            &place,
            &event.tag,
            tag_head.as_ref(),
            &new_head,
        )
        .await?;
        if order.newer_than.is_some() {
            taken = taken
                && Self::take_head(
                    &mut *transaction,
                    &place,
                    REPOSITORY_SCOPE,
                    repository_head.as_ref(),
                    &new_head,
                )
                .await?;
        }
        Ok(taken.then_some(PushRecorded::First(event_id)))
    }

    /// One delivery's write inside the caller's transaction; `None` when a
    /// push lost a race for a head (the caller rolls back and runs it again).
    async fn try_record_delivery(
        transaction: &mut DbConnection,
        write: &DeliveryWrite,
    ) -> StoreResult<Option<DeliveryRecorded>> {
        let push = match write {
            DeliveryWrite::Row(event) => {
                let id = Self::insert_event(&mut *transaction, event, 1).await?;
                return Ok(Some(DeliveryRecorded::Row(id)));
            }
            DeliveryWrite::Push(push) => push,
        };
        let Some(recorded) =
            Self::try_record_push(&mut *transaction, &push.event, &push.order).await?
        else {
            return Ok(None);
        };
        let PushRecorded::First(event_id) = recorded else {
            return Ok(Some(DeliveryRecorded::Push {
                recorded,
                run: None,
            }));
        };
        let run = match &push.run {
            Ok(run) => run,
            Err(reason) => {
                Self::mark_event_in(&mut *transaction, event_id, EventStatus::Rejected, reason)
                    .await?;
                return Ok(Some(DeliveryRecorded::Push {
                    recorded,
                    run: None,
                }));
            }
        };
        let execution_id = Self::insert_queued_execution(
            &mut *transaction,
            &NewExecution {
                pipeline_id: run.pipeline_id,
                project_id: run.project_id,
                inputs: &run.inputs,
                trigger: &(run.trigger)(event_id),
                spec: &run.spec,
                created_by: run.created_by,
                now: run.now,
            },
        )
        .await?;
        sqlx::query("UPDATE docker_events SET execution_id = $1 WHERE id = $2")
            .bind(execution_id)
            .bind(event_id)
            .execute(&mut *transaction)
            .await?;
        let superseded = match push.event.pushed_at {
            Some(pushed_at) => {
                Self::supersede_in(
                    &mut *transaction,
                    &SupersedingPush {
                        webhook_id: push.event.webhook_id,
                        repository: &push.event.repository,
                        tag: &push.event.tag,
                        event_id,
                        pushed_at,
                        reason: &(run.superseding_reason)(event_id),
                        now: run.now,
                    },
                )
                .await?
            }
            None => Vec::new(),
        };
        Ok(Some(DeliveryRecorded::Push {
            recorded,
            run: Some(QueuedRun {
                execution_id,
                superseded,
            }),
        }))
    }

    /// One write of [`HookStore::record_deliveries`] in a savepoint of its
    /// own: a failed write is rolled back alone, a push that lost a race for
    /// a head is run again.
    async fn record_delivery_in(
        transaction: &mut WriteTransaction,
        write: &DeliveryWrite,
    ) -> StoreResult<DeliveryRecorded> {
        for _ in 0..MAX_PUSH_ORDER_TRIES {
            sqlx::query("SAVEPOINT delivery")
                .execute(&mut **transaction)
                .await?;
            let outcome = Self::try_record_delivery(&mut *transaction, write).await;
            if !matches!(outcome, Ok(Some(_))) {
                sqlx::query("ROLLBACK TO SAVEPOINT delivery")
                    .execute(&mut **transaction)
                    .await?;
            }
            sqlx::query("RELEASE SAVEPOINT delivery")
                .execute(&mut **transaction)
                .await?;
            if let Some(recorded) = outcome.transpose() {
                return recorded;
            }
        }
        Err(heads_kept_changing())
    }

    /// [`Self::record_batch_in_one_pass`] over a batch of any size, a pass
    /// per [`WRITES_PER_PASS`] writes, in the caller's transaction.
    async fn record_in_passes(
        transaction: &mut DbConnection,
        writes: &[DeliveryWrite],
    ) -> StoreResult<Option<Vec<DeliveryRecorded>>> {
        let mut recorded = Vec::with_capacity(writes.len());
        for pass in writes.chunks(WRITES_PER_PASS) {
            match Self::record_batch_in_one_pass(&mut *transaction, pass).await? {
                Some(outcomes) => recorded.extend(outcomes),
                None => return Ok(None),
            }
        }
        Ok(Some(recorded))
    }

    /// [`HookStore::record_deliveries`] when a write of the batch failed or
    /// lost a race: every write in a savepoint of its own.
    async fn record_deliveries_each_in_a_savepoint(
        &self,
        writes: &[DeliveryWrite],
    ) -> StoreResult<Vec<StoreResult<DeliveryRecorded>>> {
        let mut transaction = self.begin_delivery_write().await?;
        let mut recorded = Vec::with_capacity(writes.len());
        for write in writes {
            recorded.push(Self::record_delivery_in(&mut transaction, write).await);
        }
        transaction.commit().await?;
        Ok(recorded)
    }

    /// Changes an event's status inside the caller's transaction; an event
    /// no longer TRIGGERED gives up its claims.
    async fn mark_event_in(
        transaction: &mut DbConnection,
        event_id: i64,
        status: EventStatus,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET status = $1, reason = $2 WHERE id = $3")
            .bind(status.text())
            .bind(reason)
            .bind(event_id)
            .execute(&mut *transaction)
            .await?;
        if status != EventStatus::Triggered {
            // It started no run: the next delivery of its push may, and it
            // is no longer the newest push of its tag.
            Self::give_up_claims(transaction, event_id).await?;
        }
        Ok(())
    }

    /// Cancels the QUEUED runs of older pushes of the tag inside the
    /// caller's transaction; answers them.
    pub(super) async fn supersede_in(
        transaction: &mut DbConnection,
        newer: &SupersedingPush<'_>,
    ) -> StoreResult<Vec<i64>> {
        // QUEUED only: a claimed run may have started its first task, and a
        // deploy under way is not cut off by a push.
        let canceled: Vec<i64> = sqlx::query_scalar(SUPERSEDE_SQL)
            .bind(newer.reason)
            .bind(newer.now)
            .bind(newer.webhook_id)
            .bind(newer.repository)
            .bind(newer.tag)
            .bind(newer.pushed_at)
            .bind(newer.event_id)
            .fetch_all(&mut *transaction)
            .await?;
        for execution_id in &canceled {
            sqlx::query(SUPERSEDED_REASON_SQL)
                .bind(newer.reason)
                .bind(execution_id)
                .execute(&mut *transaction)
                .await?;
        }
        Ok(canceled)
    }

    async fn head(
        connection: &mut DbConnection,
        place: &HeadPlace<'_>,
        scope: &str,
    ) -> StoreResult<Option<PushHead>> {
        let head: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT event_id, tag, pushed_at FROM push_heads \
             WHERE webhook_id = $1 AND repository = $2 AND scope = $3",
        )
        .bind(place.webhook_id)
        .bind(place.repository)
        .bind(scope)
        .fetch_optional(connection)
        .await?;
        Ok(head.map(|(event_id, tag, pushed_at)| PushHead {
            event_id,
            tag,
            pushed_at,
        }))
    }

    /// Makes `new` the head of `scope` if it still is `old` (compare-and-set);
    /// false when another push changed it first.
    async fn take_head(
        connection: &mut DbConnection,
        place: &HeadPlace<'_>,
        scope: &str,
        old: Option<&PushHead>,
        new: &PushHead,
    ) -> StoreResult<bool> {
        let changed = match old {
            Some(old) => sqlx::query(
                "UPDATE push_heads SET event_id = $1, tag = $2, pushed_at = $3 \
                 WHERE webhook_id = $4 AND repository = $5 AND scope = $6 AND event_id = $7",
            )
            .bind(new.event_id)
            .bind(&new.tag)
            .bind(new.pushed_at)
            .bind(place.webhook_id)
            .bind(place.repository)
            .bind(scope)
            .bind(old.event_id),
            None => sqlx::query(
                "INSERT INTO push_heads (event_id, tag, pushed_at, webhook_id, repository, scope) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (webhook_id, repository, scope) DO NOTHING",
            )
            .bind(new.event_id)
            .bind(&new.tag)
            .bind(new.pushed_at)
            .bind(place.webhook_id)
            .bind(place.repository)
            .bind(scope),
        }
        .execute(connection)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// A push stored as something other than TRIGGERED starts no run.
    async fn set_event_outcome(
        connection: &mut DbConnection,
        event_id: i64,
        status: EventStatus,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_events SET status = $1, reason = $2, inputs = NULL WHERE id = $3",
        )
        .bind(status.text())
        .bind(reason)
        .bind(event_id)
        .execute(connection)
        .await?;
        Ok(())
    }

    /// An event that starts no run holds no dedupe key and heads no tag.
    async fn give_up_claims(connection: &mut DbConnection, event_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM delivery_keys WHERE event_id = $1")
            .bind(event_id)
            .execute(&mut *connection)
            .await?;
        sqlx::query("DELETE FROM push_heads WHERE event_id = $1")
            .bind(event_id)
            .execute(&mut *connection)
            .await?;
        Ok(())
    }

    /// Inserts Activity rows of one delivery each, in as few statements as
    /// the bind limits allow; answers their ids in the order given.
    pub(super) async fn insert_events(
        connection: &mut DbConnection,
        events: &[&NewEvent],
    ) -> StoreResult<Vec<i64>> {
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO docker_events (webhook_id, received_at, source, repository, tag, owner, status, reason, \
                 dedupe_key, inputs, deliveries, pushed_at, digest) ",
            );
            query.push_values(chunk, |mut row, event| {
                row.push_bind(event.webhook_id)
                    .push_bind(event.received_at)
                    .push_bind(event.source.text())
                    .push_bind(&event.repository)
                    .push_bind(&event.tag)
                    .push_bind(&event.owner)
                    .push_bind(event.status.text())
                    .push_bind(&event.reason)
                    .push_bind(&event.dedupe_key)
                    .push_bind(&event.inputs)
                    .push_bind(1_i64)
                    .push_bind(event.pushed_at)
                    .push_bind(&event.digest);
            });
            query.push(" RETURNING id");
            let mut inserted: Vec<i64> = query
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?;
            // Ids are handed out in the order of the values; RETURNING
            // promises no order, so they are sorted back into it.
            inserted.sort_unstable();
            ids.extend(inserted);
        }
        Ok(ids)
    }

    /// Inserts an Activity row standing for `deliveries` deliveries (1 but
    /// for a counted row of refusals).
    async fn insert_event(
        connection: &mut DbConnection,
        event: &NewEvent,
        deliveries: i64,
    ) -> StoreResult<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO docker_events (webhook_id, received_at, source, repository, tag, owner, status, reason, \
             dedupe_key, inputs, deliveries, pushed_at, digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(event.webhook_id)
        .bind(event.received_at)
        .bind(event.source.text())
        .bind(&event.repository)
        .bind(&event.tag)
        .bind(&event.owner)
        .bind(event.status.text())
        .bind(&event.reason)
        .bind(&event.dedupe_key)
        .bind(&event.inputs)
        .bind(deliveries)
        .bind(event.pushed_at)
        .bind(&event.digest)
        .fetch_one(connection)
        .await?;
        Ok(id)
    }
}

#[async_trait::async_trait]
impl HookStore for Backend {
    async fn list_webhooks(&self, member: Option<i64>) -> StoreResult<Vec<WebhookRecord>> {
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM}"));
        if let Some(user_id) = member {
            query
                .push(" JOIN memberships ON memberships.project_id = docker_webhooks.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" ORDER BY projects.name, docker_webhooks.name");
        let rows: Vec<WebhookRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn webhook_by_id(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        self.record_by::<WebhookRow>(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.id = $1"),
            id,
        )
        .await
    }

    async fn webhooks_by_name(&self, name: &str) -> StoreResult<Vec<WebhookRecord>> {
        self.records_by::<WebhookRow>(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.name = $1"
            ),
            name,
        )
        .await
    }

    async fn webhook_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<WebhookRecord>> {
        self.record_by::<WebhookRow>(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.secure_token_hash = $1"
            ),
            token_hash,
        )
        .await
    }

    async fn create_webhook(
        &self,
        webhook: WebhookWrite<'_>,
        token_hash: &str,
        token_sealed: &str,
    ) -> StoreResult<WebhookRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO docker_webhooks (project_id, name, description, endpoint_id, pipeline_id, api_token_id, \
             image_pattern, tag_pattern, inputs, enabled, source_cidrs, max_deliveries_per_minute, \
             secure_token_hash, secure_token_sealed, created_at, updated_at, newer_only) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) RETURNING id",
        )
        .bind(webhook.project_id)
        .bind(webhook.name)
        .bind(webhook.description)
        .bind(webhook.endpoint_id)
        .bind(webhook.pipeline_id)
        .bind(webhook.api_token_id)
        .bind(webhook.image_pattern)
        .bind(webhook.tag_pattern)
        .bind(webhook.inputs)
        .bind(webhook.enabled)
        .bind(webhook.source_cidrs)
        .bind(webhook.max_deliveries_per_minute)
        .bind(token_hash)
        .bind(token_sealed)
        .bind(webhook.now)
        .bind(webhook.newer_only)
        .fetch_one(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        self.webhook_by_id(id).await?.ok_or_else(missing)
    }

    async fn update_webhook(
        &self,
        id: i64,
        webhook: WebhookWrite<'_>,
    ) -> StoreResult<WebhookRecord> {
        sqlx::query(
            "UPDATE docker_webhooks SET project_id = $1, name = $2, description = $3, endpoint_id = $4, \
             pipeline_id = $5, api_token_id = $6, image_pattern = $7, tag_pattern = $8, inputs = $9, \
             enabled = $10, source_cidrs = $11, max_deliveries_per_minute = $12, updated_at = $13, \
             newer_only = $15 WHERE id = $14",
        )
        .bind(webhook.project_id)
        .bind(webhook.name)
        .bind(webhook.description)
        .bind(webhook.endpoint_id)
        .bind(webhook.pipeline_id)
        .bind(webhook.api_token_id)
        .bind(webhook.image_pattern)
        .bind(webhook.tag_pattern)
        .bind(webhook.inputs)
        .bind(webhook.enabled)
        .bind(webhook.source_cidrs)
        .bind(webhook.max_deliveries_per_minute)
        .bind(webhook.now)
        .bind(id)
        .bind(webhook.newer_only)
        .execute(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        self.webhook_by_id(id).await?.ok_or_else(missing)
    }

    async fn set_webhook_enabled(&self, id: i64, enabled: bool, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE docker_webhooks SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(enabled)
            .bind(now)
            .bind(id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn set_webhook_delivery_limit(
        &self,
        id: i64,
        max_deliveries_per_minute: i64,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET max_deliveries_per_minute = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(max_deliveries_per_minute)
        .bind(now)
        .bind(id)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(())
    }

    async fn set_webhook_token(
        &self,
        id: i64,
        token_hash: &str,
        token_sealed: &str,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET secure_token_hash = $1, secure_token_sealed = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(token_hash)
        .bind(token_sealed)
        .bind(now)
        .bind(id)
        .execute(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        Ok(())
    }

    async fn set_hub_sync(&self, id: i64, state: HubSyncState, message: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET hub_sync_state = $1, hub_sync_message = $2 WHERE id = $3",
        )
        .bind(state.text())
        .bind(message)
        .bind(id)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(())
    }

    async fn delete_webhook(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM docker_webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn record_event(&self, event: NewEvent) -> StoreResult<i64> {
        let mut connection = self.write_connection().await?;
        Self::insert_event(&mut connection, &event, 1).await
    }

    async fn record_counted_event(&self, event: NewEvent, deliveries: i64) -> StoreResult<i64> {
        let mut connection = self.write_connection().await?;
        Self::insert_event(&mut connection, &event, deliveries).await
    }

    async fn update_counted_event(
        &self,
        event_id: i64,
        deliveries: i64,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET deliveries = $1, reason = $2 WHERE id = $3")
            .bind(deliveries)
            .bind(reason)
            .bind(event_id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn record_push(&self, event: NewEvent, order: &PushOrder) -> StoreResult<PushRecorded> {
        // A transaction that finds a head changed under it (another replica
        // recorded a push of the same tag at once) is run again: each retry
        // means another push was recorded, so this ends.
        for _ in 0..MAX_PUSH_ORDER_TRIES {
            let mut transaction = self.begin_write().await?;
            match Self::try_record_push(&mut transaction, &event, order).await? {
                Some(recorded) => {
                    transaction.commit().await?;
                    return Ok(recorded);
                }
                None => transaction.rollback().await?,
            }
        }
        Err(heads_kept_changing())
    }

    async fn record_deliveries(
        &self,
        writes: &[DeliveryWrite],
    ) -> StoreResult<Vec<StoreResult<DeliveryRecorded>>> {
        // Plain rows depend on nothing else in the batch: one statement
        // inserts them all.
        let rows: Vec<&NewEvent> = writes
            .iter()
            .filter_map(|write| match write {
                DeliveryWrite::Row(event) => Some(event),
                DeliveryWrite::Push(_) => None,
            })
            .collect();
        if rows.len() == writes.len() && rows.len() <= EVENTS_PER_INSERT {
            // A batch of rows only (ignored pushes, refusals) is one INSERT,
            // atomic on its own: no BEGIN and COMMIT around it, two round
            // trips fewer to the database (on SQLite, to its connection's
            // thread) for the commonest batch.
            let inserted =
                Self::insert_events(&mut *self.delivery_connection().await?, &rows).await;
            return match inserted {
                Ok(ids) => Ok(ids
                    .into_iter()
                    .map(|id| Ok(DeliveryRecorded::Row(id)))
                    .collect()),
                Err(_) => self.record_deliveries_each_in_a_savepoint(writes).await,
            };
        }
        if Self::batch_is_one_pass(writes) {
            // The common case: a statement per step for the whole batch.
            let mut transaction = self.begin_delivery_write().await?;
            if let Ok(Some(recorded)) = Self::record_in_passes(&mut transaction, writes).await {
                transaction.commit().await?;
                return Ok(recorded.into_iter().map(Ok).collect());
            }
            // A push that is not the common case after all, or a write that
            // failed: recorded again, push by push, below.
            transaction.rollback().await?;
        }
        // Else every write straight in the transaction: a write that fails
        // or a push that loses a race for its heads is rare (a webhook
        // deleted meanwhile, another replica's push of the same tag). Then
        // the batch is rolled back and recorded again, each write in a
        // savepoint of its own, two statements more per write.
        let mut transaction = self.begin_delivery_write().await?;
        let mut row_ids = match Self::insert_events(&mut transaction, &rows).await {
            Ok(ids) => ids.into_iter(),
            Err(_) => {
                transaction.rollback().await?;
                return self.record_deliveries_each_in_a_savepoint(writes).await;
            }
        };
        let mut recorded = Vec::with_capacity(writes.len());
        for write in writes {
            let outcome = match write {
                DeliveryWrite::Row(_) => Ok(row_ids.next().map(DeliveryRecorded::Row)),
                DeliveryWrite::Push(_) => Self::try_record_delivery(&mut transaction, write).await,
            };
            match outcome {
                Ok(Some(outcome)) => recorded.push(Ok(outcome)),
                Ok(None) | Err(_) => {
                    transaction.rollback().await?;
                    return self.record_deliveries_each_in_a_savepoint(writes).await;
                }
            }
        }
        transaction.commit().await?;
        Ok(recorded)
    }

    async fn repository_head(
        &self,
        webhook_id: i64,
        repository: &str,
    ) -> StoreResult<Option<PushHead>> {
        let mut connection = self.reader().await?;
        let place = HeadPlace {
            webhook_id,
            repository,
        };
        Self::head(&mut connection, &place, REPOSITORY_SCOPE).await
    }

    async fn supersede_queued_runs(&self, newer: &SupersedingPush<'_>) -> StoreResult<Vec<i64>> {
        let mut transaction = self.begin_write().await?;
        let canceled = Self::supersede_in(&mut transaction, newer).await?;
        transaction.commit().await?;
        Ok(canceled)
    }

    async fn mark_event(
        &self,
        event_id: i64,
        status: EventStatus,
        reason: &str,
    ) -> StoreResult<()> {
        let mut transaction = self.begin_write().await?;
        Self::mark_event_in(&mut transaction, event_id, status, reason).await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn set_event_digest(&self, event_id: i64, digest: &str) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET digest = $1 WHERE id = $2 AND digest IS NULL")
            .bind(digest)
            .bind(event_id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn link_event(&self, event_id: i64, execution_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET execution_id = $1 WHERE id = $2")
            .bind(execution_id)
            .bind(event_id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn event_by_id(&self, id: i64) -> StoreResult<Option<EventRecord>> {
        self.record_by::<EventRow>(
            &format!("SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE docker_events.id = $1"),
            id,
        )
        .await
    }

    async fn list_events(&self, filter: &EventQuery) -> StoreResult<Vec<EventRecord>> {
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}"));
        if let Some(user_id) = filter.member {
            query
                .push(" JOIN memberships ON memberships.project_id = docker_webhooks.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" WHERE TRUE");
        if let Some(webhook_id) = filter.webhook_id {
            query
                .push(" AND docker_events.webhook_id = ")
                .push_bind(webhook_id);
        }
        if let Some(status) = filter.status {
            query
                .push(" AND docker_events.status = ")
                .push_bind(status.text());
        }
        if let Some(source) = filter.source {
            query
                .push(" AND docker_events.source = ")
                .push_bind(source.text());
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND docker_events.id < ").push_bind(before_id);
        }
        query
            .push(" ORDER BY docker_events.id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows: Vec<EventRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn last_event(&self, webhook_id: i64) -> StoreResult<Option<EventRecord>> {
        self.record_by::<EventRow>(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE docker_events.webhook_id = $1 \
             ORDER BY docker_events.id DESC LIMIT 1"
            ),
            webhook_id,
        )
        .await
    }
}

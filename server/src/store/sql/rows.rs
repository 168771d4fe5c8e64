//! How rows become the store's records: one wrapper per record with a
//! [`FromRow`] that reads every column with `try_get`, so a column the code
//! and the schema disagree on is an error, never a panic.

use app::model::{ApiTokenInfo, ProjectRole};
use sqlx::{FromRow, Row};

use super::DbRow;
use crate::store::states::{read_stored, read_stored_option};
use crate::store::{
    AuditRecord, EndpointRecord, EventRecord, ExecutionRecord, LogRecord, MemberRecord,
    NotificationRecord, PipelineRecord, ProjectContents, ProjectRecord, TaskRunRecord, UserRecord,
    WebhookRecord,
};

/// A row wrapper, and the record it carries.
pub(super) trait RecordRow: for<'r> FromRow<'r, DbRow> + Send + Unpin {
    type Record;
    fn record(self) -> Self::Record;
}

/// Wrappers whose record fields are read from the columns of the same name.
/// A field marked `parsed` (`parsed_option` for a nullable column) is stored
/// text read into its [`StoredText`](crate::store::states::StoredText) enum.
macro_rules! rows {
    ($($(#[$doc:meta])* $wrapper:ident => $record:ident {
        $($field:ident $(: $how:ident)?),* $(,)?
    })*) => {$(
        $(#[$doc])*
        pub(super) struct $wrapper(pub $record);

        impl FromRow<'_, DbRow> for $wrapper {
            fn from_row(row: &DbRow) -> sqlx::Result<Self> {
                Ok(Self($record {
                    $($field: column!(row, $field $(: $how)?),)*
                }))
            }
        }

        impl RecordRow for $wrapper {
            type Record = $record;
            fn record(self) -> $record {
                self.0
            }
        }
    )*};
}

/// One field of [`rows!`]: its column read as is, or parsed.
macro_rules! column {
    ($row:ident, $field:ident) => {
        $row.try_get(stringify!($field))?
    };
    ($row:ident, $field:ident: parsed) => {
        read_stored($row, stringify!($field))?
    };
    ($row:ident, $field:ident: parsed_option) => {
        read_stored_option($row, stringify!($field))?
    };
}

rows! {
    UserRow => UserRecord { id, username, password_hash, is_admin }
    TokenRow => ApiTokenInfo { id, name, prefix, created_at, last_used_at, revoked_at, expires_at }
    ProjectRow => ProjectRecord { id, name, description, created_at, updated_at }
    /// The three counts as columns `endpoints`, `pipelines`, `webhooks`.
    ContentsRow => ProjectContents { endpoints, pipelines, webhooks }
    EndpointRow => EndpointRecord {
        id, project_id, project_name, name, description, kind: parsed, url, settings,
        sealed_secrets, last_validation, created_at, updated_at,
    }
    PipelineRow => PipelineRecord {
        id, project_id, project_name, name, description, enabled, concurrency, spec,
        created_at, updated_at,
    }
    ExecutionRow => ExecutionRecord {
        id, pipeline_id, pipeline_name, project_id, project_name, run_number, status: parsed,
        inputs, trigger, spec, error, created_at, started_at, finished_at, cancel_requested,
        lease_owner,
    }
    TaskRunRow => TaskRunRecord {
        id, execution_id, stage_index, stage_name, task_index, task_name, task_type,
        status: parsed, inputs, output, error, started_at, finished_at, expires_at,
    }
    LogRow => LogRecord { id, task_run_id, at, line }
    WebhookRow => WebhookRecord {
        id, project_id, project_name, name, description, endpoint_id, endpoint_name,
        pipeline_id, pipeline_name, api_token_id, api_token_name, run_as_user_id,
        run_as_username, image_pattern, tag_pattern, inputs, enabled, newer_only, source_cidrs,
        max_deliveries_per_minute, secure_token_sealed, hub_sync_state: parsed, hub_sync_message, created_at, updated_at,
    }
    AuditRow => AuditRecord {
        id, at, actor_id, actor_name, action: parsed, project_id, project_name,
        target_kind: parsed_option, target_id, target_name, outcome: parsed, detail, client,
    }
    EventRow => EventRecord {
        id, webhook_id, webhook_name, project_id, received_at, source: parsed,
        repository, tag, owner, status: parsed, reason, deliveries, dedupe_key, inputs, digest, execution_id,
        execution_status: parsed_option,
    }
    NotificationRow => NotificationRecord {
        id, execution_id, event: parsed, occasion, notification_index, target, state: parsed, attempts,
        next_attempt_at, last_error, sent_at, created_at,
    }
}

/// A project with the reader's role there (column `role`, NULL for none).
pub(super) struct ProjectRoleRow(pub ProjectRecord, pub Option<ProjectRole>);

impl FromRow<'_, DbRow> for ProjectRoleRow {
    fn from_row(row: &DbRow) -> sqlx::Result<Self> {
        Ok(Self(
            ProjectRow::from_row(row)?.0,
            read_stored_option(row, "role")?,
        ))
    }
}

/// A member: columns `id` (the user's), `username` and `role`.
pub(super) struct MemberRow(pub MemberRecord);

impl RecordRow for MemberRow {
    type Record = MemberRecord;
    fn record(self) -> MemberRecord {
        self.0
    }
}

impl FromRow<'_, DbRow> for MemberRow {
    fn from_row(row: &DbRow) -> sqlx::Result<Self> {
        Ok(Self(MemberRecord {
            user_id: row.try_get("id")?,
            username: row.try_get("username")?,
            role: read_stored(row, "role")?,
        }))
    }
}

/// A session's user and when the session was last used (`last_seen_at`).
pub(super) struct SessionUserRow {
    pub user: UserRecord,
    pub last_seen_at: app::model::Millis,
}

impl FromRow<'_, DbRow> for SessionUserRow {
    fn from_row(row: &DbRow) -> sqlx::Result<Self> {
        Ok(SessionUserRow {
            user: UserRow::from_row(row)?.0,
            last_seen_at: row.try_get("last_seen_at")?,
        })
    }
}

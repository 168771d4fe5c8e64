//! States and kinds as the database stores them: text columns holding the
//! same strings as the JSON. The records carry the enums; each backend binds
//! [`StoredText::text`] and reads columns back with [`read_stored`] or
//! [`read_stored_option`], so a stored text no enum knows is a decode error
//! of its column, never a default.

use app::audit::{AuditAction, AuditOutcome, AuditTargetKind};
use app::endpoint::EndpointKind;
use app::execution::{ExecutionStatus, NotificationState, TaskStatus};
use app::model::ProjectRole;
use app::pipeline::RunEvent;
use app::webhook::{DeliverySource, EventStatus, HubSyncState};
use sqlx::{ColumnIndex, Decode, Row, Type};

/// An enum stored as one of a fixed set of texts.
pub trait StoredText: Sized {
    /// What a stored value is, for the decode error: "unknown {COLUMN_KIND} 'x'".
    const COLUMN_KIND: &'static str;
    fn from_text(text: &str) -> Option<Self>;
    fn text(&self) -> &'static str;
}

macro_rules! stored_text {
    ($($enum:ty => $kind:literal,)*) => {$(
        impl StoredText for $enum {
            const COLUMN_KIND: &'static str = $kind;
            fn from_text(text: &str) -> Option<Self> {
                <$enum>::parse(text)
            }
            fn text(&self) -> &'static str {
                self.as_str()
            }
        }
    )*};
}

stored_text! {
    ExecutionStatus => "execution status",
    TaskStatus => "task status",
    EventStatus => "event status",
    DeliverySource => "event source",
    HubSyncState => "hub sync state",
    EndpointKind => "endpoint kind",
    ProjectRole => "project role",
    AuditAction => "audit action",
    AuditOutcome => "audit outcome",
    AuditTargetKind => "audit target kind",
    RunEvent => "run event",
    NotificationState => "notification state",
}

/// The value a stored text in `column` names, or the column's decode error.
pub fn from_stored<T: StoredText>(column: &str, text: &str) -> sqlx::Result<T> {
    T::from_text(text).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.into(),
        source: format!("unknown {} '{text}'", T::COLUMN_KIND).into(),
    })
}

/// Reads a text column of any backend's row as `T`.
pub fn read_stored<'r, R, T>(row: &'r R, column: &'r str) -> sqlx::Result<T>
where
    R: Row,
    T: StoredText,
    &'r str: ColumnIndex<R> + Decode<'r, R::Database> + Type<R::Database>,
{
    from_stored(column, row.try_get::<&str, _>(column)?)
}

/// Reads a nullable text column of any backend's row: NULL is `None`.
pub fn read_stored_option<'r, R, T>(row: &'r R, column: &'r str) -> sqlx::Result<Option<T>>
where
    R: Row,
    T: StoredText,
    &'r str: ColumnIndex<R> + Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get::<Option<&str>, _>(column)?
        .map(|text| from_stored(column, text))
        .transpose()
}

//! Records of the audit trail, and the [`AuditStore`] part of the store.
//! Entries are only ever added: nothing here changes or deletes one.

use app::audit::{AuditAction, AuditOutcome, AuditTargetKind};
use app::model::Millis;

use super::StoreResult;

/// An entry as stored. Names are copies taken when it was recorded, so an
/// entry still reads right after its user or object was renamed or deleted
/// (there are no foreign keys to them for the same reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Millis,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: AuditAction,
    pub project_id: Option<i64>,
    pub project_name: Option<String>,
    pub target_kind: Option<AuditTargetKind>,
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub outcome: AuditOutcome,
    /// A JSON object.
    pub detail: String,
    pub client: Option<String>,
}

/// An entry to add.
#[derive(Clone, Copy, Debug)]
pub struct NewAuditRecord<'a> {
    pub at: Millis,
    pub actor_id: Option<i64>,
    pub actor_name: &'a str,
    pub action: AuditAction,
    pub project_id: Option<i64>,
    pub project_name: Option<&'a str>,
    pub target_kind: Option<AuditTargetKind>,
    pub target_id: Option<i64>,
    pub target_name: Option<&'a str>,
    pub outcome: AuditOutcome,
    pub detail: &'a str,
    pub client: Option<&'a str>,
}

/// Which entries to list: every filter given must hold. Newest first by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries of projects this user administers (`administrator`
    /// role); entries of no project are left out too. None: all entries.
    pub administered_by: Option<i64>,
    pub project_id: Option<i64>,
    pub actor_id: Option<i64>,
    /// The actor's name as recorded (for names no user has any more).
    pub actor_name: Option<String>,
    pub action: Option<AuditAction>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Adds an entry; answers its id (increasing with every entry).
    async fn record_audit(&self, entry: NewAuditRecord<'_>) -> StoreResult<i64>;
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
}

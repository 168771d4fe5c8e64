//! [`AuditStore`] in the SQL both backends speak: the audit trail, appended to and
//! listed newest first.

use sqlx::QueryBuilder;

use super::rows::AuditRow;
use super::{Backend, Db};
use crate::store::states::StoredText;
use crate::store::{AuditQuery, AuditRecord, AuditStore, NewAuditRecord, StoreResult};

const AUDIT_COLUMNS: &str = "id, at, actor_id, actor_name, action, project_id, project_name, \
     target_kind, target_id, target_name, outcome, detail, client";

#[async_trait::async_trait]
impl AuditStore for Backend {
    async fn record_audit(&self, entry: NewAuditRecord<'_>) -> StoreResult<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO audit_events (at, actor_id, actor_name, action, project_id, project_name, \
             target_kind, target_id, target_name, outcome, detail, client) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(entry.at)
        .bind(entry.actor_id)
        .bind(entry.actor_name)
        .bind(entry.action.text())
        .bind(entry.project_id)
        .bind(entry.project_name)
        .bind(entry.target_kind.map(|kind| kind.text()))
        .bind(entry.target_id)
        .bind(entry.target_name)
        .bind(entry.outcome.text())
        .bind(entry.detail)
        .bind(entry.client)
        .fetch_one(&mut *self.write_connection().await?)
        .await?;
        Ok(id)
    }

    async fn list_audit(&self, filter: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut query = QueryBuilder::<Db>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE TRUE"
        ));
        if let Some(user_id) = filter.administered_by {
            query
                .push(
                    " AND project_id IN (SELECT project_id FROM memberships \
                     WHERE role = 'administrator' AND user_id = ",
                )
                .push_bind(user_id)
                .push(")");
        }
        if let Some(project_id) = filter.project_id {
            query.push(" AND project_id = ").push_bind(project_id);
        }
        if let Some(actor_id) = filter.actor_id {
            query.push(" AND actor_id = ").push_bind(actor_id);
        }
        if let Some(actor_name) = &filter.actor_name {
            query
                .push(" AND actor_name = ")
                .push_bind(actor_name.clone());
        }
        if let Some(action) = filter.action {
            query.push(" AND action = ").push_bind(action.text());
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND id < ").push_bind(before_id);
        }
        // Newest first by id; each filter's index ends in `id` (migration 0009).
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows: Vec<AuditRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }
}

//! Lookups every store method uses, in the SQL both backends speak.

use super::rows::RecordRow;
use super::{Backend, Db};
use crate::store::{StoreError, StoreResult};

/// A value a lookup binds as `$1`.
pub(super) trait Key<'q>: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send {}

impl<'q, T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send> Key<'q> for T {}

impl Backend {
    /// The record of the row `sql` selects with `$1 = key`, if any.
    pub(super) async fn record_by<'q, R: RecordRow>(
        &self,
        sql: &'q str,
        key: impl Key<'q>,
    ) -> StoreResult<Option<R::Record>> {
        let row: Option<R> = sqlx::query_as(sql)
            .bind(key)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        Ok(row.map(R::record))
    }

    /// The records of the rows `sql` selects with `$1 = key`.
    pub(super) async fn records_by<'q, R: RecordRow>(
        &self,
        sql: &'q str,
        key: impl Key<'q>,
    ) -> StoreResult<Vec<R::Record>> {
        let rows: Vec<R> = sqlx::query_as(sql)
            .bind(key)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(R::record).collect())
    }
}

/// The answer when a row just written cannot be read back.
pub(super) fn missing() -> StoreError {
    StoreError::Database(sqlx::Error::RowNotFound)
}

-- The retention's batches of finished runs are a range scan of finished_at
-- (server/src/store/sql/maintenance.rs). The partial index of 0014 served
-- only a query naming `status IN (final statuses)`, and a planner without
-- statistics reads such a list through executions_status_idx instead, then
-- sorts every finished run for each batch. The prune now says `status NOT IN
-- (unfinished statuses)`, which no index serves, so the range scan of this
-- index is its plan; runs still going have no finished_at and sit apart at
-- the NULL end of it.
DROP INDEX executions_finished_idx;
CREATE INDEX executions_finished_idx ON executions (finished_at);

-- What the last pass pruned of push-order heads (tags and repositories not
-- pushed within --keep-days forget their order, and their Activity rows go).
ALTER TABLE maintenance_leases ADD COLUMN last_pruned_heads INTEGER NOT NULL DEFAULT 0;

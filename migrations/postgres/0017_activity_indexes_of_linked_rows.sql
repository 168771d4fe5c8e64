-- Only Activity rows linked to a run are looked up by their run or by their
-- push's order (the same schema as migrations/sqlite/0017): superseding finds
-- the older pushes of a tag that have a run ("execution_id IS NOT NULL"), and
-- a deleted run, or one canceled by a newer push, finds its rows by
-- "execution_id = ?", which implies the same. Rows that never start a run —
-- ignored pushes, refusals, duplicates, most of a busy webhook's Activity —
-- no longer go into either index: each such row was two more index writes,
-- the push-order one at a random place of its index (tags do not arrive in
-- order), on the one write connection every delivery waits for.
DROP INDEX docker_events_push_order_idx;
CREATE INDEX docker_events_push_order_idx ON docker_events (webhook_id, repository, tag, pushed_at)
    WHERE execution_id IS NOT NULL;
DROP INDEX docker_events_execution_id_idx;
CREATE INDEX docker_events_execution_id_idx ON docker_events (execution_id)
    WHERE execution_id IS NOT NULL;

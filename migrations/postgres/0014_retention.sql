-- Retention (the same schema as migrations/sqlite/0014): finished runs, their
-- task logs and Activity rows older than --keep-days are pruned in small
-- batches, and dedupe keys past their window are dropped, by one replica at a time.

-- Finished runs by when they finished: each prune batch is a range scan of
-- this index. Partial, on exactly the final statuses the prune names, so the
-- runs still going are not even in it.
CREATE INDEX executions_finished_idx ON executions (finished_at)
    WHERE status IN ('COMPLETED', 'FAILED', 'CANCELED');
-- Activity rows by age, for the same range scan.
CREATE INDEX docker_events_received_idx ON docker_events (received_at);
-- Deleting a run sets the link of its Activity rows to NULL (ON DELETE SET
-- NULL): without this index each deleted run scanned the whole Activity table.
CREATE INDEX docker_events_execution_id_idx ON docker_events (execution_id);
-- Dedupe keys by when they were claimed: expired ones are found by range.
CREATE INDEX delivery_keys_claimed_idx ON delivery_keys (claimed_at);

-- Leases of background jobs that one replica at a time does (`retention`),
-- and how their last pass went (an operator's "last prune"). A lease is taken
-- with one conditional INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <=
-- now, so of replicas racing exactly one wins; every batch renews it in its
-- own transaction, and a replica that lost it stops.
CREATE TABLE maintenance_leases (
    name               TEXT   PRIMARY KEY,
    -- The replica holding the lease, or that held it last.
    holder             TEXT   NOT NULL,
    -- Milliseconds since 1970; the lease is free from then on.
    expires_at         BIGINT NOT NULL,
    last_started_at    BIGINT NOT NULL,
    -- NULL until a pass finished.
    last_finished_at   BIGINT,
    last_pruned_runs   BIGINT NOT NULL DEFAULT 0,
    last_pruned_events BIGINT NOT NULL DEFAULT 0,
    last_pruned_keys   BIGINT NOT NULL DEFAULT 0
);

-- Two races closed by construction (see migrations/postgres/0006, the same schema).

-- Run numbers come from a counter on the pipeline, taken by the transaction
-- that queues the run, instead of MAX(run_number) + 1: runs queued at once
-- never share a number.
ALTER TABLE pipelines ADD COLUMN last_run_number INTEGER NOT NULL DEFAULT 0;
UPDATE pipelines SET last_run_number = COALESCE(
    (SELECT MAX(run_number) FROM executions WHERE executions.pipeline_id = pipelines.id), 0);

-- A push's claim on its dedupe key: the first delivery inserts the row and
-- starts the run; a re-delivery finds the key held (the primary key refuses
-- a second row) and is a DUPLICATE of `event_id`. A claim older than the
-- dedupe window (24 h) is taken over by the next delivery. An event that
-- could not start its run gives its claim up.
CREATE TABLE delivery_keys (
    webhook_id INTEGER NOT NULL REFERENCES docker_webhooks (id) ON DELETE CASCADE,
    dedupe_key TEXT    NOT NULL,
    event_id   INTEGER NOT NULL REFERENCES docker_events (id) ON DELETE CASCADE,
    claimed_at INTEGER NOT NULL,
    CONSTRAINT delivery_keys_pkey PRIMARY KEY (webhook_id, dedupe_key)
);
CREATE INDEX delivery_keys_event_id_idx ON delivery_keys (event_id);

-- The claims already made: the latest TRIGGERED event of each key.
INSERT INTO delivery_keys (webhook_id, dedupe_key, event_id, claimed_at)
SELECT webhook_id, dedupe_key, id, received_at FROM docker_events
WHERE id IN (
    SELECT MAX(id) FROM docker_events
    WHERE status = 'TRIGGERED' AND dedupe_key IS NOT NULL
    GROUP BY webhook_id, dedupe_key
);

-- Dedupe no longer searches the events.
DROP INDEX docker_events_dedupe_idx;

-- Notifications of runs (the same schema as migrations/postgres/0013).

-- The outbox: one row per run, event (and occasion) and notification of the run's pipeline
-- (its index in the spec the run was queued with), written in the same
-- transaction as the run's change, so an event is notified exactly when it
-- happened and never twice (the unique key: inserts say ON CONFLICT DO NOTHING).
-- A delivery worker claims due PENDING rows with a lease (owner and until),
-- so replicas never deliver one row at once and a dead replica's claim lapses.
CREATE TABLE notification_outbox (
    id                 INTEGER PRIMARY KEY,
    execution_id       INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    event              TEXT   NOT NULL CHECK (event IN ('started', 'waiting', 'completed', 'failed', 'canceled')),
    -- What tells two events of one kind in one run apart: for `waiting`,
    -- the approval task that waits (`stage.task`); empty for the others.
    occasion           TEXT   NOT NULL DEFAULT '',
    notification_index INTEGER NOT NULL,
    -- The notification's target as JSON ({"webhook":{…}} or {"email":{…}}),
    -- copied from the run's spec.
    target             TEXT   NOT NULL,
    state              TEXT   NOT NULL CHECK (state IN ('PENDING', 'SENT', 'FAILED')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL,
    last_error         TEXT,
    sent_at            INTEGER,
    created_at         INTEGER NOT NULL,
    lease_owner        TEXT,
    lease_expires_at   INTEGER,
    CONSTRAINT notification_outbox_execution_id_event_occasion_notification_index_key
        UNIQUE (execution_id, event, occasion, notification_index)
);
-- What the worker looks for: due PENDING rows, oldest first.
CREATE INDEX notification_outbox_due_idx ON notification_outbox (state, next_attempt_at);

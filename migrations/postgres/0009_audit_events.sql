-- PostgreSQL twin of migrations/sqlite/0009: the audit trail, only ever added
-- to; names copied in as they were and no foreign keys, so an entry outlives
-- the user or object it names.

CREATE TABLE audit_events (
    -- An identity never gives an id out twice, also after old entries are pruned.
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_id     BIGINT,
    actor_name   TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    project_id   BIGINT,
    project_name TEXT,
    target_kind  TEXT,
    target_id    BIGINT,
    target_name  TEXT,
    outcome      TEXT   NOT NULL CHECK (outcome IN ('success', 'failure', 'refused')),
    detail       TEXT   NOT NULL DEFAULT '{}',
    client       TEXT
);
CREATE INDEX audit_events_project_idx ON audit_events (project_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_actor_name_idx ON audit_events (actor_name, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

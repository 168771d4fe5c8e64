-- The audit trail: who did what, when, from where, and how it ended. Rows are
-- only ever added. Names are copied in as they were (actor, project, target),
-- and there are no foreign keys: an entry outlives the user or object it names.
-- `action` and `target_kind` are not CHECKed, so a new action needs no
-- migration; the store reads an unknown text as an error, never as a default.

CREATE TABLE audit_events (
    -- AUTOINCREMENT: an id is never given out twice, also after old entries
    -- are pruned, so `before=<id>` paging and references to an entry stay true.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    -- NULL for the command line, a registry's sender, or a name tried at
    -- sign-in that no user has.
    actor_id     INTEGER,
    actor_name   TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    -- NULL for events of no project (sign-in, API tokens, users).
    project_id   INTEGER,
    project_name TEXT,
    target_kind  TEXT,
    target_id    INTEGER,
    target_name  TEXT,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('success', 'failure', 'refused')),
    -- A small JSON object, never a secret.
    detail       TEXT    NOT NULL DEFAULT '{}',
    client       TEXT
);
-- Newest first by id, filtered by project, actor or action: each filter's
-- index ends in `id`, so a page is a short range scan whatever the history size.
CREATE INDEX audit_events_project_idx ON audit_events (project_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_actor_name_idx ON audit_events (actor_name, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- Pushes in order (the same schema as migrations/sqlite/0011).

-- When each push was made (the registry's time, else when it was received,
-- milliseconds since 1970) and the digest it deployed, so a push older than
-- one already deployed is ignored and a newer one supersedes an older one's
-- run that has not started.
ALTER TABLE docker_events ADD COLUMN pushed_at BIGINT;
ALTER TABLE docker_events ADD COLUMN digest TEXT;
CREATE INDEX docker_events_push_order_idx ON docker_events (webhook_id, repository, tag, pushed_at);

-- A webhook's `newer_only` policy: a push whose version (semver tag) or push
-- time is not newer than the repository's last TRIGGERED push is IGNORED.
ALTER TABLE docker_webhooks ADD COLUMN newer_only BOOLEAN NOT NULL DEFAULT FALSE;

-- The newest TRIGGERED push per webhook and repository: per tag (`scope` is
-- the tag: newest wins), and for the whole repository (`scope` '*', which no
-- tag can be: `newer_only`). Changed by compare-and-set on `event_id`, so of
-- concurrent pushes exactly one takes a head.
CREATE TABLE push_heads (
    webhook_id BIGINT  NOT NULL REFERENCES docker_webhooks (id) ON DELETE CASCADE,
    repository TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    event_id   BIGINT  NOT NULL REFERENCES docker_events (id) ON DELETE CASCADE,
    tag        TEXT    NOT NULL,
    pushed_at  BIGINT  NOT NULL,
    CONSTRAINT push_heads_pkey PRIMARY KEY (webhook_id, repository, scope)
);
CREATE INDEX push_heads_event_id_idx ON push_heads (event_id);

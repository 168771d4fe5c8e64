-- Docker webhooks (triggers) and the events they receive (the Activity tab).
CREATE TABLE docker_webhooks (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id         BIGINT NOT NULL REFERENCES projects (id),
    name               TEXT    NOT NULL,
    description        TEXT    NOT NULL DEFAULT '',
    endpoint_id        BIGINT NOT NULL REFERENCES endpoints (id),
    pipeline_id        BIGINT NOT NULL REFERENCES pipelines (id),
    -- The API token the runs are attributed to (its user must be an executor).
    api_token_id       BIGINT NOT NULL REFERENCES api_tokens (id),
    image_pattern      TEXT    NOT NULL DEFAULT '',
    tag_pattern        TEXT    NOT NULL DEFAULT '',
    inputs             TEXT    NOT NULL DEFAULT '{}',
    enabled            BOOLEAN NOT NULL DEFAULT TRUE,
    source_cidrs       TEXT    NOT NULL DEFAULT '[]',
    -- The secure token: its hash finds the webhook, its sealed copy lets the
    -- server send the hook URL to Docker Hub again on edits.
    secure_token_hash  TEXT    NOT NULL,
    secure_token_sealed TEXT   NOT NULL,
    hub_sync_state     TEXT    NOT NULL DEFAULT 'not_applicable',
    hub_sync_message   TEXT    NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    CONSTRAINT docker_webhooks_project_id_name_key UNIQUE (project_id, name),
    CONSTRAINT docker_webhooks_secure_token_hash_key UNIQUE (secure_token_hash)
);
CREATE INDEX docker_webhooks_pipeline_id_idx ON docker_webhooks (pipeline_id);
CREATE INDEX docker_webhooks_endpoint_id_idx ON docker_webhooks (endpoint_id);

CREATE TABLE docker_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id   BIGINT NOT NULL REFERENCES docker_webhooks (id) ON DELETE CASCADE,
    received_at  BIGINT NOT NULL,
    source       TEXT    NOT NULL,
    repository   TEXT    NOT NULL DEFAULT '',
    tag          TEXT    NOT NULL DEFAULT '',
    owner        TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL CHECK (status IN ('TRIGGERED', 'IGNORED', 'REJECTED', 'DUPLICATE')),
    reason       TEXT    NOT NULL DEFAULT '',
    dedupe_key   TEXT,
    inputs       TEXT,
    execution_id BIGINT REFERENCES executions (id) ON DELETE SET NULL
);
CREATE INDEX docker_events_webhook_id_idx ON docker_events (webhook_id, id);
CREATE INDEX docker_events_dedupe_idx ON docker_events (webhook_id, dedupe_key, received_at);

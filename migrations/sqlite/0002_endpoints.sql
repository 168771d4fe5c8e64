-- Endpoints: Docker registries and Kubernetes clusters. Non-secret settings are
-- JSON; every secret of an endpoint is sealed together in `sealed_secrets`.
CREATE TABLE endpoints (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects (id),
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    kind            TEXT    NOT NULL CHECK (kind IN ('docker-registry', 'kubernetes')),
    url             TEXT    NOT NULL,
    settings        TEXT    NOT NULL DEFAULT '{}',
    sealed_secrets  TEXT,
    last_validation TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT endpoints_project_id_name_key UNIQUE (project_id, name)
);

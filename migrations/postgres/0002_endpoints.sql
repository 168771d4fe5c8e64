CREATE TABLE endpoints (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      BIGINT NOT NULL REFERENCES projects (id),
    name            TEXT   NOT NULL,
    description     TEXT   NOT NULL DEFAULT '',
    kind            TEXT   NOT NULL CHECK (kind IN ('docker-registry', 'kubernetes')),
    url             TEXT   NOT NULL,
    settings        JSONB  NOT NULL DEFAULT '{}',
    sealed_secrets  TEXT,
    last_validation JSONB,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT endpoints_project_id_name_key UNIQUE (project_id, name)
);

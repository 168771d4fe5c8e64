-- PostgreSQL twin of migrations/sqlite/0002. JSON documents are TEXT, as in
-- SQLite: the store writes and reads them as strings, unchanged (JSONB would
-- refuse a text parameter and re-order keys).
CREATE TABLE endpoints (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      BIGINT NOT NULL REFERENCES projects (id),
    name            TEXT   NOT NULL,
    description     TEXT   NOT NULL DEFAULT '',
    kind            TEXT   NOT NULL CHECK (kind IN ('docker-registry', 'kubernetes')),
    url             TEXT   NOT NULL,
    settings        TEXT   NOT NULL DEFAULT '{}',
    sealed_secrets  TEXT,
    last_validation TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT endpoints_project_id_name_key UNIQUE (project_id, name)
);

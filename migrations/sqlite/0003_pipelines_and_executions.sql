-- Pipelines and their runs. A run keeps a snapshot of the pipeline it ran
-- (`spec`) so editing a pipeline never changes history.
CREATE TABLE pipelines (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects (id),
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    concurrency INTEGER NOT NULL DEFAULT 1 CHECK (concurrency >= 1),
    spec        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT pipelines_project_id_name_key UNIQUE (project_id, name)
);

-- Which endpoints a pipeline's tasks use: an endpoint in use cannot be deleted.
CREATE TABLE pipeline_endpoints (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id),
    PRIMARY KEY (pipeline_id, endpoint_id)
);
CREATE INDEX pipeline_endpoints_endpoint_id_idx ON pipeline_endpoints (endpoint_id);

CREATE TABLE executions (
    id               INTEGER PRIMARY KEY,
    pipeline_id      INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    project_id       INTEGER NOT NULL REFERENCES projects (id),
    run_number       INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELED')),
    inputs           TEXT    NOT NULL DEFAULT '{}',
    trigger          TEXT    NOT NULL DEFAULT '{}',
    spec             TEXT    NOT NULL,
    error            TEXT,
    created_by       INTEGER REFERENCES users (id),
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    -- The worker holding the run, and until when: an expired lease means the
    -- worker died (see the recovery sweep).
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT executions_pipeline_id_run_number_key UNIQUE (pipeline_id, run_number)
);
CREATE INDEX executions_status_idx ON executions (status, id);
CREATE INDEX executions_pipeline_status_idx ON executions (pipeline_id, status);
CREATE INDEX executions_project_idx ON executions (project_id, id);

CREATE TABLE task_runs (
    id           INTEGER PRIMARY KEY,
    execution_id INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    stage_index  INTEGER NOT NULL,
    stage_name   TEXT    NOT NULL,
    task_index   INTEGER NOT NULL,
    task_name    TEXT    NOT NULL,
    task_type    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    inputs       TEXT,
    output       TEXT,
    error        TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    CONSTRAINT task_runs_execution_id_stage_index_task_index_key UNIQUE (execution_id, stage_index, task_index)
);

CREATE TABLE task_logs (
    id          INTEGER PRIMARY KEY,
    task_run_id INTEGER NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    line        TEXT    NOT NULL
);
CREATE INDEX task_logs_task_run_id_idx ON task_logs (task_run_id, id);

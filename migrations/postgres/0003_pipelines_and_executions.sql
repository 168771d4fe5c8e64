-- Pipelines and their runs. A run keeps a snapshot of the pipeline it ran
-- (`spec`) so editing a pipeline never changes history.
CREATE TABLE pipelines (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id),
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    concurrency BIGINT NOT NULL DEFAULT 1 CHECK (concurrency >= 1),
    spec        TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT pipelines_project_id_name_key UNIQUE (project_id, name)
);

-- Which endpoints a pipeline's tasks use: an endpoint in use cannot be deleted.
CREATE TABLE pipeline_endpoints (
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL REFERENCES endpoints (id),
    PRIMARY KEY (pipeline_id, endpoint_id)
);
CREATE INDEX pipeline_endpoints_endpoint_id_idx ON pipeline_endpoints (endpoint_id);

CREATE TABLE executions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id      BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects (id),
    run_number       BIGINT NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELED')),
    inputs           TEXT    NOT NULL DEFAULT '{}',
    trigger          TEXT    NOT NULL DEFAULT '{}',
    spec             TEXT    NOT NULL,
    error            TEXT,
    created_by       BIGINT REFERENCES users (id),
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    -- The worker holding the run, and until when: an expired lease means the
    -- worker died (see the recovery sweep).
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT executions_pipeline_id_run_number_key UNIQUE (pipeline_id, run_number)
);
CREATE INDEX executions_status_idx ON executions (status, id);
CREATE INDEX executions_pipeline_status_idx ON executions (pipeline_id, status);
CREATE INDEX executions_project_idx ON executions (project_id, id);

CREATE TABLE task_runs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id BIGINT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    stage_index  BIGINT NOT NULL,
    stage_name   TEXT    NOT NULL,
    task_index   BIGINT NOT NULL,
    task_name    TEXT    NOT NULL,
    task_type    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    inputs       TEXT,
    output       TEXT,
    error        TEXT,
    started_at   BIGINT,
    finished_at  BIGINT,
    CONSTRAINT task_runs_execution_id_stage_index_task_index_key UNIQUE (execution_id, stage_index, task_index)
);

CREATE TABLE task_logs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_run_id BIGINT NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    line        TEXT    NOT NULL
);
CREATE INDEX task_logs_task_run_id_idx ON task_logs (task_run_id, id);

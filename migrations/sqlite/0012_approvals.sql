-- Approval tasks (the same schema as migrations/postgres/0012).

-- When a WAITING approval task expires (milliseconds since 1970): the expiry
-- sweep of every replica fails it then ("approval expired") and the run
-- goes on to its end. NULL for every other task.
ALTER TABLE task_runs ADD COLUMN expires_at INTEGER;
CREATE INDEX task_runs_waiting_idx ON task_runs (expires_at) WHERE status = 'WAITING';

-- The queued runs of each pipeline, oldest first (the same schema as the other
-- backend's 0018). A claim walks the pipelines that have queued runs, one index
-- search each, and takes the oldest run of one under its concurrency limit;
-- before, it walked the queued runs themselves, so a pipeline with thousands
-- of runs waiting behind its limit made every claim read all of them (SQLite,
-- holding the write connection) or hid the other pipelines' runs behind them
-- (PostgreSQL, which looked at the oldest sixteen). Only QUEUED rows are in it:
-- a run enters at its insert and leaves when it is claimed or canceled.
CREATE INDEX executions_queued_idx ON executions (pipeline_id, id) WHERE status = 'QUEUED';

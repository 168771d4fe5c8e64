-- The Executions list: newest first by id, filtered by project, pipeline,
-- status or trigger kind, and paged by id (`id < before`). Each filter gets an
-- index ending in `id`, so a page is a short range scan whatever the history size.

-- What started a run (`manual`, `docker`), read out of the trigger JSON by the
-- database itself, so no writer can let it drift from `trigger`.
ALTER TABLE executions ADD COLUMN trigger_kind TEXT
    GENERATED ALWAYS AS ((trigger::jsonb) ->> 'kind') STORED;
CREATE INDEX executions_trigger_kind_idx ON executions (trigger_kind, id);
-- (pipeline_id, status) serves the concurrency count of the claim; the list
-- filtered by pipeline wants the pipeline's runs in id order.
CREATE INDEX executions_pipeline_idx ON executions (pipeline_id, id);

-- Limits on what one webhook takes (see migrations/postgres/0008, the same schema).

-- Deliveries a minute the webhook takes before its receiver answers 429
-- (app::webhook::DEFAULT_MAX_DELIVERIES_PER_MINUTE; 1..=100000 is checked on save).
ALTER TABLE docker_webhooks ADD COLUMN max_deliveries_per_minute INTEGER NOT NULL DEFAULT 6000;

-- How many deliveries an Activity row stands for: 1, or for the one counted
-- row of the deliveries refused in a window (over the limit, or from a
-- sender off the allow-list), how many were refused. A flood is a counter
-- updated in place, never a row per request.
ALTER TABLE docker_events ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 1;

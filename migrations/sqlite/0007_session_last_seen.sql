-- Sessions end after a while without use (the idle timeout) as well as at
-- their absolute expiry: the time of a session's last use, written at most
-- once a minute (see migrations/postgres/0007, the same schema).
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;

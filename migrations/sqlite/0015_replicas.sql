-- The replicas serving this database (the same schema as migrations/postgres/0015).
-- Each one says it is alive every few seconds (`last_seen_at`); the operators'
-- status page lists those seen lately. A replica gone for a day is forgotten
-- by the next heartbeat of any other, so the table stays as small as the fleet.
CREATE TABLE replicas (
    replica_id   TEXT    PRIMARY KEY,
    version      TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);

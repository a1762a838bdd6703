-- Alert groups and their notification log. An alert's firing or resolved transition
-- is written as a group member in the same transaction as its state; a flush turns a
-- group into one notification (an outbox row) and records what it sent, so a restart
-- or a second replica neither repeats nor drops a notification. Times are unix ms.
CREATE TABLE IF NOT EXISTS notify_groups (
    group_key      TEXT PRIMARY KEY,
    receiver       TEXT NOT NULL,
    route          TEXT NOT NULL,
    group_labels   TEXT NOT NULL,
    settings       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    next_flush_at  BIGINT,
    last_sent_at   BIGINT,
    sent_firing    TEXT NOT NULL DEFAULT '[]',
    version        BIGINT NOT NULL DEFAULT 0,
    holding        BIGINT NOT NULL DEFAULT 0,
    claimed_until  BIGINT
);
CREATE INDEX IF NOT EXISTS notify_groups_due ON notify_groups (next_flush_at);
CREATE TABLE IF NOT EXISTS notify_group_alerts (
    group_key    TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    body         TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (group_key, fingerprint)
);
-- A silence may end by itself once the alerts it muted have resolved.
ALTER TABLE silences ADD COLUMN expire_on_resolve BIGINT NOT NULL DEFAULT 0;

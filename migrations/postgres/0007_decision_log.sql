-- The decision log: every step that decided what became of an alert's notifications
-- (grouped, held by which silence, inhibition, time interval or flap hold, sent as
-- which notification), and every delivery attempt of a notification, kept for a
-- bounded time ([notify] decision_log_retention).
CREATE TABLE IF NOT EXISTS decision_log (
    id          BIGSERIAL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    rule        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    receiver    TEXT,
    group_key   TEXT,
    message_id  TEXT,
    cause       TEXT,
    until_at    BIGINT,
    text        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decision_log_fp ON decision_log (fingerprint, at);
CREATE INDEX IF NOT EXISTS decision_log_rule ON decision_log (rule, at);
CREATE INDEX IF NOT EXISTS decision_log_at ON decision_log (at);

CREATE TABLE IF NOT EXISTS delivery_attempts (
    id          BIGSERIAL PRIMARY KEY,
    message_id  TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT,
    next_at     BIGINT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_message ON delivery_attempts (message_id, at);
CREATE INDEX IF NOT EXISTS delivery_attempts_at ON delivery_attempts (at);

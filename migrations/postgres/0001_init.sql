-- driftwatch store, PostgreSQL flavour. Times are unix milliseconds.
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule);

CREATE TABLE IF NOT EXISTS alert_history (
    id          BIGSERIAL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    rule        TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    value       DOUBLE PRECISION,
    summary     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_fp ON alert_history (fingerprint, at);

CREATE TABLE IF NOT EXISTS baselines (
    fingerprint TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox (
    id            TEXT PRIMARY KEY,
    receiver      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    due_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    status        TEXT NOT NULL DEFAULT 'pending',
    claimed_until BIGINT,
    last_error    TEXT,
    delivered_at  BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, due_at);

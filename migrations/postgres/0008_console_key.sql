-- The web console's signing key: one row, made by the first replica that needs it and
-- read by every other, so a session cookie signed by one replica is accepted by all.
CREATE TABLE IF NOT EXISTS console_key (
    id         INTEGER PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

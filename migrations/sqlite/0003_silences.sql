-- Silences: matchers (JSON array of "name=value"-style strings) muting the notifications
-- of matching alerts between starts_at and ends_at (unix milliseconds).
CREATE TABLE IF NOT EXISTS silences (
    id          TEXT PRIMARY KEY,
    matchers    TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

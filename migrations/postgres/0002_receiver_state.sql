-- Receiver health: since when a receiver has failed without a success in between, and
-- whether it is disabled (HTTP 410 Gone, or failing for longer than its disable_after).
-- Times are unix milliseconds.
CREATE TABLE IF NOT EXISTS receiver_state (
    receiver        TEXT PRIMARY KEY,
    failing_since   BIGINT,
    disabled_at     BIGINT,
    disabled_reason TEXT
);
CREATE INDEX IF NOT EXISTS outbox_receiver_status ON outbox (receiver, status);

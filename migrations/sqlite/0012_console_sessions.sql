-- The web console's sessions, kept in the store so that logging out ends a session on
-- every replica: a signed session cookie is accepted only while its row is here and
-- unexpired. A logout deletes the row; expired rows are purged at the next login.
CREATE TABLE IF NOT EXISTS console_sessions (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);

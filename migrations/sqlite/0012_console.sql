-- The web console: its sessions, kept in the store so that logging out ends a session on
-- every replica: a signed session cookie is accepted only while its row is here and
-- unexpired. A logout deletes the row; expired rows are purged at the next login.
CREATE TABLE IF NOT EXISTS console_sessions (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);

-- The console's alert listing: what the alerts page sorts, filters and groups by (state,
-- all labels, resolve time), kept beside each stored alert by triggers, so a page reads
-- these short rows instead of parsing every alert's body, and no writer has to know.
CREATE TABLE IF NOT EXISTS alert_listing (
    fingerprint TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL,
    labels      TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS alert_listing_state ON alert_listing (state);

INSERT OR REPLACE INTO alert_listing (fingerprint, rule, state, labels, resolved_at)
SELECT fingerprint, rule, state, COALESCE(json_extract(body, '$.labels'), '{}'),
       json_extract(body, '$.resolved_at')
FROM alerts;

CREATE TRIGGER IF NOT EXISTS alert_listing_insert AFTER INSERT ON alerts
BEGIN
    INSERT OR REPLACE INTO alert_listing (fingerprint, rule, state, labels, resolved_at)
    VALUES (NEW.fingerprint, NEW.rule, NEW.state,
            COALESCE(json_extract(NEW.body, '$.labels'), '{}'),
            json_extract(NEW.body, '$.resolved_at'));
END;

CREATE TRIGGER IF NOT EXISTS alert_listing_update AFTER UPDATE ON alerts
BEGIN
    DELETE FROM alert_listing WHERE fingerprint = OLD.fingerprint;
    INSERT OR REPLACE INTO alert_listing (fingerprint, rule, state, labels, resolved_at)
    VALUES (NEW.fingerprint, NEW.rule, NEW.state,
            COALESCE(json_extract(NEW.body, '$.labels'), '{}'),
            json_extract(NEW.body, '$.resolved_at'));
END;

CREATE TRIGGER IF NOT EXISTS alert_listing_delete AFTER DELETE ON alerts
BEGIN
    DELETE FROM alert_listing WHERE fingerprint = OLD.fingerprint;
END;

-- The web console: its sessions, kept in the store so that logging out ends a session on
-- every replica: a signed session cookie is accepted only while its row is here and
-- unexpired. A logout deletes the row; expired rows are purged at the next login.
CREATE TABLE IF NOT EXISTS console_sessions (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);

-- The console's alert listing: what the alerts page sorts, filters and groups by (state,
-- all labels, resolve time), kept beside each stored alert by a trigger, so a page reads
-- these short rows instead of parsing every alert's body, and no writer has to know.
CREATE TABLE IF NOT EXISTS alert_listing (
    fingerprint TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL,
    labels      TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS alert_listing_state ON alert_listing (state);

INSERT INTO alert_listing (fingerprint, rule, state, labels, resolved_at)
SELECT fingerprint, rule, state, COALESCE((body::jsonb -> 'labels')::text, '{}'),
       body::jsonb ->> 'resolved_at'
FROM alerts
ON CONFLICT (fingerprint) DO NOTHING;

CREATE OR REPLACE FUNCTION alert_listing_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    j jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM alert_listing WHERE fingerprint = OLD.fingerprint;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        j := NEW.body::jsonb;
        INSERT INTO alert_listing (fingerprint, rule, state, labels, resolved_at)
        VALUES (NEW.fingerprint, NEW.rule, NEW.state, COALESCE((j -> 'labels')::text, '{}'),
                j ->> 'resolved_at')
        ON CONFLICT (fingerprint) DO UPDATE SET rule = EXCLUDED.rule, state = EXCLUDED.state,
            labels = EXCLUDED.labels, resolved_at = EXCLUDED.resolved_at;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS alert_listing_sync ON alerts;
CREATE TRIGGER alert_listing_sync AFTER INSERT OR UPDATE OR DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION alert_listing_sync();

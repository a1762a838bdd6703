-- Flap-control records get a table of their own: the notification intake owns them,
-- the engine's alert no longer carries them. Records written inside alert bodies by
-- earlier versions move here, so an alert held as flapping stays held.
CREATE TABLE IF NOT EXISTS alert_flaps (
    fingerprint TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    record      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_flaps_rule ON alert_flaps (rule);

INSERT INTO alert_flaps (fingerprint, rule, record, updated_at)
SELECT fingerprint, rule,
       json_build_object(
           'changes', COALESCE(body::json -> 'changes', '[]'::json),
           'flapping', COALESCE((body::json ->> 'flapping')::boolean, false)
       )::text,
       updated_at
FROM alerts
WHERE body::json -> 'changes' IS NOT NULL OR body::json -> 'flapping' IS NOT NULL;

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
       json_object(
           'changes', json(COALESCE(json_extract(body, '$.changes'), '[]')),
           'flapping', CASE WHEN json_extract(body, '$.flapping') THEN json('true') ELSE json('false') END
       ),
       updated_at
FROM alerts
WHERE json_extract(body, '$.changes') IS NOT NULL OR json_extract(body, '$.flapping') IS NOT NULL;

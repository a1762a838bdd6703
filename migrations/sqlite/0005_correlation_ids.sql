-- Correlation ids: the evaluation that made each alert change, and the evaluations
-- behind each notification, so one id links an evaluation, its alert changes and every
-- delivery attempt of the notifications they caused.
ALTER TABLE alert_history ADD COLUMN evaluation_id TEXT;
ALTER TABLE outbox ADD COLUMN evaluation_ids TEXT NOT NULL DEFAULT '[]';

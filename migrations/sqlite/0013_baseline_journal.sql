-- The baseline journal: between whole baselines (written every ten minutes per series),
-- each evaluation writes what changed in its series' baselines as one packed record, so
-- a tick over 10,000 series writes one row of a few dozen KB instead of ~1,700 rows of
-- ~0.7 KB. A restore applies the records written after each series' whole state; records
-- older than any series still needs are deleted by the rule's next commit.
CREATE TABLE IF NOT EXISTS baseline_journal (
    id     INTEGER PRIMARY KEY,
    rule   TEXT NOT NULL,
    at_ms  BIGINT NOT NULL,
    deltas BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS baseline_journal_rule ON baseline_journal (rule, at_ms);

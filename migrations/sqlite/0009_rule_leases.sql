-- Rule leases for replicas sharing one store ([cluster] leases = true): each rule is
-- evaluated by the replica holding its lease; the token grows with every new holder and
-- an evaluation's commit is refused unless its token is still the rule's (fencing).
CREATE TABLE IF NOT EXISTS rule_leases (
    rule        TEXT PRIMARY KEY,
    owner       TEXT,
    token       BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT NOT NULL DEFAULT 0
);

-- The replicas alive: each writes its heartbeat; the live ones share the rules evenly.
CREATE TABLE IF NOT EXISTS replicas (
    id          TEXT PRIMARY KEY,
    seen_at     BIGINT NOT NULL
);

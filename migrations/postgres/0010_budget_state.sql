-- Budgets (issue 18): what a budget keeps across restarts besides its alerts, which the
-- alerts table holds: the weekly shape its even pace and forecast follow and the local
-- day it was learnt for, as JSON. Spend itself is always read again from the source.
CREATE TABLE budget_state (
    budget TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

#!/usr/bin/env bash
# The test command: makes sure the PostgreSQL server the tests use is up, then runs
# every test (unit and integration) against real SQLite, PostgreSQL and HTTP.
# Fails, never skips, when PostgreSQL cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${DRIFTWATCH_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if ! pg_up; then
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
    echo "test: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! pg_up; then
  echo "test: PostgreSQL is not reachable on 127.0.0.1:5432; the tests need it (set DRIFTWATCH_TEST_PG to use another server)" >&2
  exit 1
fi

export DRIFTWATCH_TEST_PG="$PG_URL"
exec cargo test --locked "$@"

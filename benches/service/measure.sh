#!/usr/bin/env bash
# The service's own evaluation time, as issue 17 measures it: `driftwatch run` with a
# SQLite store scrapes N gauges every 10 s from exporter.py and judges each with a 7-day
# z-score (rules/latency.toml); after a 40 s warm-up, the mean of
# driftwatch_evaluation_duration_seconds over SECS seconds (scrape excluded, commit and
# baseline writes included). With WEEK_OLD=1 the store starts with a week-old baseline
# per series (examples/seed_week_old.rs, built by `cargo build --release --examples`;
# SEEDER=path overrides where it is looked for), the steady state; otherwise a fresh store.
#
#   benches/service/measure.sh target/release/driftwatch 10000
#   WEEK_OLD=1 SECS=120 benches/service/measure.sh target/release/driftwatch 100000
set -euo pipefail
BIN=$(realpath "$1"); N=${2:-10000}; SECS=${SECS:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r "$HERE/rules" "$WORK/"
cat > "$WORK/dw.toml" <<TOML
[server]
listen = "127.0.0.1:9187"
[store]
url = "sqlite://$WORK/store.db"
[sources.exporter]
kind = "scrape"
url = "http://127.0.0.1:9464/metrics"
interval = "10s"
TOML
if [ "${WEEK_OLD:-0}" = 1 ]; then
  # Let the service create the store's tables, then replace its baselines.
  "$BIN" run --config "$WORK/dw.toml" > "$WORK/seed.log" 2>&1 & DW=$!
  sleep 3; kill $DW; wait $DW 2>/dev/null || true
  NOW=$(python3 -c "import time; print(int(time.time() * 1000))")
  SEEDER=${SEEDER:-$(dirname "$BIN")/examples/seed_week_old}
  "$SEEDER" "$N" "$NOW" > "$WORK/seed.tsv"
  python3 - "$WORK" "$NOW" <<'PY'
import sqlite3, sys
work, now = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"{work}/store.db")
c.execute("DELETE FROM baselines"); c.execute("DELETE FROM alerts")
# In fingerprint order, as the service's first write lays them out.
rows = sorted((fp, "latency_z", state, now) for fp, state in
              (line.rstrip("\n").split("\t", 1) for line in open(f"{work}/seed.tsv")))
c.executemany("INSERT INTO baselines (fingerprint, rule, state, updated_at) VALUES (?, ?, ?, ?)", rows)
c.commit()
PY
fi
python3 "$HERE/exporter.py" "$N" & sleep 2
"$BIN" run --config "$WORK/dw.toml" > "$WORK/run.log" 2>&1 &
read_sum_count() {
  curl -s 127.0.0.1:9187/metrics | awk '
    /^driftwatch_evaluation_duration_seconds_sum\{rule="latency_z"/ { s = $2 }
    /^driftwatch_evaluation_duration_seconds_count\{rule="latency_z"/ { c = $2 }
    END { print s, c }'
}
sleep 40; read -r s1 c1 < <(read_sum_count)
sleep "$SECS"; read -r s2 c2 < <(read_sum_count)
python3 -c "print('evaluations', int($c2 - $c1), 'mean %.2f ms' % (1000 * ($s2 - $s1) / ($c2 - $c1)))"

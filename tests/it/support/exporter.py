"""A workflow exporter for the tests, built on the official Prometheus Python client.

Serves llm_call_duration_seconds (histogram, by model and agent), llm_calls_total
(counter) and llm_cost_usd_total (counter of spend, by model: $0.001 a gpt-4o call,
$0.00001 a claude call) on 127.0.0.1:PORT. Latencies are drawn around 2 s times the
factor written in CONTROL (a file holding a number; 1 when missing), 100 calls a second.
"""
import random
import sys
import time

from prometheus_client import Counter, Histogram, start_http_server

PORT = int(sys.argv[1])
CONTROL = sys.argv[2]

BUCKETS = (0.5, 1, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 60)
DURATION = Histogram(
    "llm_call_duration_seconds", "LLM call duration", ["model", "agent"], buckets=BUCKETS
)
CALLS = Counter("llm_calls", "LLM calls", ["model", "agent"])
COST = Counter("llm_cost_usd", "LLM spend in USD", ["model"])


def factor():
    try:
        with open(CONTROL) as f:
            return float(f.read().strip() or "1")
    except (OSError, ValueError):
        return 1.0


start_http_server(PORT, addr="127.0.0.1")
print("exporter ready", flush=True)
while True:
    f = factor()
    for _ in range(10):
        seconds = random.uniform(1.6, 2.4) * f
        DURATION.labels("gpt-4o", "engineer").observe(seconds)
        CALLS.labels("gpt-4o", "engineer").inc()
        COST.labels("gpt-4o").inc(0.001)
        COST.labels("claude").inc(0.00001)
        DURATION.labels("claude", "researcher").observe(random.uniform(1.6, 2.4))
    time.sleep(0.1)

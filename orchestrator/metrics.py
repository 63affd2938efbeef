"""Prometheus metrics of the orchestrator, on a registry of its own.

With several gunicorn workers, each is a process with its own counters, and a scrape reaches one of them.
`python -m orchestrator serve --workers N` (N > 1) therefore sets PROMETHEUS_MULTIPROC_DIR before any
worker starts: prometheus_client then keeps every value in a file per process, and `render` adds them up
(gauges as their multiprocess_mode says).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

REGISTRY = CollectorRegistry(auto_describe=True)

CHECKOUTS = Counter("orchestrator_checkouts_total", "Checkouts by outcome and reason",
                    ["outcome", "reason"], registry=REGISTRY)
CHECKOUT_SECONDS = Histogram("orchestrator_checkout_seconds", "placeOrder latency", registry=REGISTRY,
                             buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PROVIDER_CALLS = Counter("orchestrator_provider_calls_total", "Provider HTTP attempts by outcome",
                         ["provider", "operation", "outcome"], registry=REGISTRY)
PROVIDER_SECONDS = Histogram("orchestrator_provider_call_seconds", "Provider HTTP attempt latency",
                             ["provider", "operation"], registry=REGISTRY,
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
PROVIDER_RETRIES = Counter("orchestrator_provider_retries_total", "Provider call retries",
                           ["provider", "operation", "reason"], registry=REGISTRY)
# each worker has its own breakers: the worst state among live workers
BREAKER_STATE = Gauge("orchestrator_breaker_state", "Circuit breaker state (0 closed, 1 half-open, 2 open)",
                      ["provider"], registry=REGISTRY, multiprocess_mode="livemax")
# read from the database by the worker answering the scrape: its latest reading
OUTBOX_DEPTH = Gauge("orchestrator_outbox_depth", "Outbox messages waiting", ["topic"], registry=REGISTRY,
                     multiprocess_mode="livemostrecent")
DEAD_LETTERS = Gauge("orchestrator_dead_letters", "Outbox messages in dead letters", registry=REGISTRY,
                     multiprocess_mode="livemostrecent")
OUTBOX_PROCESSED = Counter("orchestrator_outbox_processed_total", "Outbox deliveries by outcome",
                           ["topic", "outcome"], registry=REGISTRY)
WEBHOOKS = Counter("orchestrator_webhooks_total", "Webhook receipts by provider and outcome",
                   ["provider", "outcome"], registry=REGISTRY)
WEBHOOK_LAG = Histogram("orchestrator_webhook_lag_seconds", "Receipt time minus event created_at",
                        ["provider"], registry=REGISTRY,
                        buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600))
CATALOG_DRIFT = Counter("orchestrator_catalog_drift_total", "Catalog fields that drifted from the contract",
                        ["field", "kind"], registry=REGISTRY)
CATALOG_SYNCED = Counter("orchestrator_catalog_products_synced_total", "Products written by catalog sync",
                         ["mode"], registry=REGISTRY)

BREAKER_CODES = {"closed": 0, "half-open": 1, "open": 2}


def render() -> bytes:
    """The Prometheus text exposition of every orchestrator metric (of every worker process)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn's child_exit hook)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)

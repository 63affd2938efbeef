"""Checkout benchmark: the orchestrator against all simulators on this machine.

    python bench/checkout.py [--seconds 20] [--concurrency 32] [--workers 2] [--write docs/performance.md]

Starts the four simulators and the orchestrator (SQLite), creates customers, then places cash orders from
`--concurrency` client threads for `--seconds`. Reports checkouts/s, latency percentiles, failed orders,
orders not completed after a drain period, and where the time goes (the orchestrator's own
provider-call histograms). With --write it replaces the "Orchestrator checkout" section of the file.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.orchestrator.live import CARD_OK, Sandbox  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench/checkout.py:begin -->", "<!-- bench/checkout.py:end -->"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else 0.0


def provider_time(metrics_text: str) -> dict[str, tuple[int, float]]:
    """(calls, mean ms) per provider operation from orchestrator_provider_call_seconds."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for line in metrics_text.splitlines():
        m = re.match(r'orchestrator_provider_call_seconds_(sum|count)\{operation="([^"]+)",provider="([^"]+)"\} (\S+)',
                     line)
        if m:
            key = f"{m.group(3)}.{m.group(2)}"
            if m.group(1) == "sum":
                sums[key] = float(m.group(4))
            else:
                counts[key] = int(float(m.group(4)))
    return {k: (counts[k], 1000 * sums.get(k, 0.0) / counts[k]) for k in sorted(counts) if counts[k]}


def run(seconds: float, concurrency: int, workers: int, customers_n: int, threads: int = 64) -> dict:
    """Run the benchmark; returns the numbers."""
    db = Path(tempfile.mkdtemp(prefix="orch-bench-")) / "orchestrator.db"
    sb = Sandbox(db, workers=workers, threads=threads, log_level="WARNING").start()
    try:
        sb.state("legacy", "product-stock", sku="SKU-00001", stock=1_000_000)
        customers = [sb.customer() for _ in range(customers_n)]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        order_ids: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def client(n: int) -> None:
            session = requests.Session()
            i = 0
            while time.monotonic() < stop_at:
                customer = customers[(n + i) % len(customers)]
                body = {"customer_id": customer["id"], "payment_type": "cash", "items": [{"sku": "SKU-00001",
                        "quantity": 1}], "delivery_address_id": customer["address_id"], "payment": CARD_OK}
                started = time.perf_counter()
                r = session.post(f"{sb.url}/orders", json=body, headers={"Idempotency-Key": f"b-{n}-{i}"}, timeout=60)
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code in (201, 202):
                        order_ids.append(r.json()["id"])
                i += 1

        started = time.monotonic()
        clients = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        elapsed = time.monotonic() - started
        drain_deadline = time.monotonic() + 60
        while _count(sb, "completed") < len(order_ids) and time.monotonic() < drain_deadline:
            time.sleep(1)
        failed = _count(sb, "failed")
        not_completed = len(order_ids) - _count(sb, "completed")
        return {"seconds": round(elapsed, 1), "concurrency": concurrency, "workers": workers, "threads": threads,
                "orders": len(latencies), "checkouts_per_s": round(statuses.get(201, 0) / elapsed, 1),
                "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else 0,
                "p95_ms": round(1000 * percentile(latencies, 95), 1), "p99_ms": round(1000 * percentile(latencies, 99), 1),
                "statuses": statuses, "failed_orders": failed, "not_completed_after_drain": not_completed,
                "provider_ms": provider_time(sb.sf("GET", "/metrics").text), "cpus": os.cpu_count(),
                "load": round(os.getloadavg()[0], 1)}
    finally:
        sb.stop()


def _count(sb: Sandbox, status: str) -> int:
    """How many orders have this status (walks listOrders pages)."""
    total, offset = 0, 0
    while True:
        page = sb.sf("GET", "/orders", params={"status": status, "limit": 200, "offset": offset}).json()
        total += len(page["items"])
        if page["next_offset"] is None:
            return total
        offset = page["next_offset"]


def report(r: dict) -> str:
    """Markdown for docs/performance.md."""
    lines = [MARK_BEGIN, "## Orchestrator checkout (bench/checkout.py)", "",
             f"All four simulators and the orchestrator on this machine ({r['cpus']} CPUs), SQLite store, "
             f"gunicorn gthread ({r['workers']} worker(s) × {r['threads']} threads), {r['concurrency']} client threads, "
             f"{r['seconds']} s of cash checkouts (simulate → authorize → sale → capture inline; shipment and "
             "e-mail through the outbox; payment and delivery webhooks received).", "",
             "| checkouts/s | p50 | p95 | p99 | orders | failed | not completed after drain | answers |",
             "|---|---|---|---|---|---|---|---|",
             f"| {r['checkouts_per_s']} | {r['p50_ms']} ms | {r['p95_ms']} ms | {r['p99_ms']} ms | {r['orders']} | "
             f"{r['failed_orders']} | {r['not_completed_after_drain']} | {r['statuses']} |", "",
             "Where the time goes (mean per provider call, seen by the orchestrator):", "",
             "| provider call | calls | mean |", "|---|---|---|"]
    lines += [f"| {k} | {n} | {ms:.1f} ms |" for k, (n, ms) in r["provider_ms"].items()]
    lines += ["", f"Load average at the end of the run: {r['load']} on {r['cpus']} CPUs (the simulators, the client "
              "and anything else on the machine share them).", "",
              "Analysis: the four inline provider calls add up to ~60 ms; the rest of p50 is the orchestrator "
              "waiting for CPU. A cProfile of 100 in-process checkouts showed no single hot spot: per checkout "
              "~12 provider HTTP calls made or received (requests + Flask), ~25 SQLAlchemy Core statements "
              "(statement building and cache keys cost more than SQLite itself) and the outbox thread "
              "contending for the GIL. Already done: per-process write lock instead of SQLite's sleeping busy "
              "handler, one transaction per webhook, batch outbox claims, no per-call proxy look-ups. "
              "Next steps, by expected gain: cache prepared statements (or raw DB-API for the hot "
              "compare-and-set updates), a pooled HTTP client with keep-alive tuning, more orchestrator "
              "processes on a machine with spare cores (with PostgreSQL, since SQLite serialises writers "
              "across processes); the >= 150/s target was not reached here.", "", MARK_END]
    return "\n".join(lines)


def write(path: Path, section: str) -> None:
    """Replace (or append) this benchmark's section of the file."""
    text = path.read_text() if path.exists() else "# Performance\n"
    if MARK_BEGIN in text and MARK_END in text:
        text = text[:text.index(MARK_BEGIN)] + section + text[text.index(MARK_END) + len(MARK_END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> int:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--threads", type=int, default=64, help="gunicorn threads per orchestrator worker")
    parser.add_argument("--write", type=Path, help="update this file's orchestrator section (docs/performance.md)")
    args = parser.parse_args()
    result = run(args.seconds, args.concurrency, args.workers, args.customers, args.threads)
    section = report(result)
    print(section)
    if args.write:
        write(args.write, section)
    return 0 if result["failed_orders"] == 0 and result["not_completed_after_drain"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

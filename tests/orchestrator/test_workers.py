"""The orchestrator served by two worker processes: one database, one outbox, one set of metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.orchestrator.live import Sandbox


@pytest.fixture(scope="module")
def sb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(Path(tmp_path_factory.mktemp("workers")) / "orch.db", workers=2).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _counter(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == want:
            return float(match.group(2))
    return 0.0


def test_metrics_add_up_every_worker(sb2: Sandbox) -> None:
    for i in range(30):  # a new connection each: the kernel spreads them over both workers
        r = requests.post(f"{sb2.url}/webhooks/payment", data=b'{"id": "evt_1"}', timeout=10,
                          headers={"Sandbox-Signature": f"t=1,v1={i:064x}", "Content-Type": "application/json",
                                   "Connection": "close"})
        assert r.status_code == 401, r.text
    for _ in range(6):  # whichever worker answers the scrape reports all 30
        text = requests.get(f"{sb2.url}/metrics", timeout=10, headers={"Connection": "close"}).text
        assert _counter(text, "orchestrator_webhooks_total", provider="payment", outcome="bad_signature") == 30


def test_checkouts_complete_across_workers(sb2: Sandbox) -> None:
    customer = sb2.customer()
    ids = []
    for i in range(12):
        r = requests.post(f"{sb2.url}/orders", json=sb2.order_body(customer), timeout=30,
                          headers={"Idempotency-Key": f"two-workers-{i}", "Connection": "close"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = {sb2.order(order_id)["status"] for order_id in ids}
        if statuses == {"completed"}:
            break
        time.sleep(0.2)
    assert statuses == {"completed"}

"""The engine's delivery thread: a behaviour's webhook goes out without the ticker, the thread ends when idle
and the next event starts it again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from simulators.core import engine
from simulators.core.contract import load_contract
from simulators.core.engine import RawRequest, Simulator
from simulators.core.store import MemoryStore
from simulators.providers import REGISTRY
from tests.support.receiver import WebhookReceiver

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "payment.openapi.yaml"
CARD = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver("whsec_sandbox")
    yield r
    r.stop()


def couriers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "payment-webhooks"]


def authorize(sim: Simulator, key: str) -> int:
    body = orjson.dumps({"amount": 2500, "currency": "EUR", "reference": key, "card": CARD})
    raw = RawRequest("POST", "/payments", headers={"content-type": "application/json", "idempotency-key": key},
                     body=body)
    return sim.handle(raw).status


def test_a_behaviours_webhook_is_delivered_by_one_thread_that_ends_when_idle(
        receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "COURIER_IDLE_S", 0.2)
    sim = Simulator(load_contract(CONTRACT), name="payment", store=MemoryStore(), behaviours=REGISTRY["payment"])
    assert sim.webhooks is not None
    sim.webhooks.set_target(receiver.url)
    assert [authorize(sim, f"k{i}") for i in range(3)] == [201, 201, 201]
    assert len(couriers()) == 1  # three events, one thread (no ticker runs here)
    assert [r["event"]["type"] for r in receiver.wait_for(3, timeout=5)] == ["payment.authorized"] * 3
    deadline = time.monotonic() + 5
    while couriers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert couriers() == []
    assert authorize(sim, "k-after-idle") == 201
    assert len(receiver.wait_for(4, timeout=5)) == 4 and all(r["valid"] for r in receiver.received)

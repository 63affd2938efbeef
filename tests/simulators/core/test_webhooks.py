"""Webhook signing, delivery, retry schedule and fault effects, against a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from simulators.core.clock import Clock, parse_instant
from simulators.core.errors import ProblemError
from simulators.core.faults import FaultEngine
from simulators.core.store import MemoryStore, SQLiteStore, StateStore
from simulators.core.webhooks import WebhookDispatcher, sign, verify_signature
from tests.support.receiver import WebhookReceiver

SECRET = "whsec_test"


def Receiver() -> WebhookReceiver:
    """The shared receiver, verifying with this file's secret."""
    return WebhookReceiver(SECRET)


class OneShotFaults:
    """A real FaultEngine; `faults.next = [...]` adds a webhook rule that fires on the next event only."""

    def __init__(self) -> None:
        self.engine: FaultEngine | None = None

    def bind(self, store: StateStore, clock: Clock) -> None:
        self.engine = FaultEngine(store, clock)

    @property
    def next(self) -> list[dict[str, Any]]:
        return []

    @next.setter
    def next(self, effects: list[dict[str, Any]]) -> None:
        assert self.engine is not None
        self.engine.clear()
        self.engine.add({"match": {"event": "*", "times": 1}, "effects": effects})

    def webhook_effects(self, event_type: str, payload: Any) -> Any:
        assert self.engine is not None
        return self.engine.webhook_effects(event_type, payload)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def make(store: StateStore | None = None, faults: Any = None) -> tuple[WebhookDispatcher, Clock, StateStore]:
    store = store or MemoryStore()
    clock = Clock(store)
    clock.freeze(parse_instant("2026-03-01T10:00:00Z"))
    if isinstance(faults, OneShotFaults):
        faults.bind(store, clock)
    d = WebhookDispatcher("payment", None, store, clock, store.journal_append, SECRET, faults=faults)
    return d, clock, store


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, 1700000000, body)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify_signature(SECRET, header, body)
    assert not verify_signature(SECRET, header, body + b" ")
    assert not verify_signature("other", header, body)
    assert not verify_signature(SECRET, "garbage", body)
    assert not verify_signature(SECRET, header, body, now=1700000400, tolerance_s=300)


def test_event_is_signed_delivered_and_journaled(receiver: Receiver) -> None:
    d, _, store = make()
    d.set_target(receiver.url)
    event = d.emit("payment.captured", {"id": "pay_1", "status": "captured"}, correlation_id="corr-1")
    assert event["id"].startswith("evt_") and event["sequence"] == 1
    assert event["data"]["object"]["id"] == "pay_1" and event["created_at"] == "2026-03-01T10:00:00Z"
    assert d.tick() == 1
    [got] = receiver.received
    assert got["valid"] and got["event"] == event
    assert got["headers"]["Sandbox-Event-Id"] == event["id"]
    assert got["headers"]["Sandbox-Event-Type"] == "payment.captured"
    assert got["headers"]["X-Correlation-ID"] == "corr-1"
    assert got["headers"]["Sandbox-Signature"].startswith("t=1772359200,v1=")
    [entry] = [e for e in store.journal_entries() if e["kind"] == "webhook"]
    assert entry["webhook"] == {"delivery_id": event["id"], "event_id": event["id"], "event_type": "payment.captured",
                                "attempt": 1, "target": receiver.url}
    assert entry["status"] == 200 and entry["error"] is None and entry["path"] == "/hooks"
    assert entry["request"]["body"] == event and entry["correlation_id"] == "corr-1"
    assert d.get(event["id"])["status"] == "delivered"
    assert d.tick() == 0  # nothing left to send


def test_without_target_events_stay_pending(receiver: Receiver) -> None:
    d, _, _ = make()
    event = d.emit("payment.authorized", {"id": "pay_1"})
    assert d.tick() == 0
    assert d.get(event["id"])["status"] == "pending"
    d.set_target(receiver.url)
    assert d.tick() == 1 and d.get(event["id"])["status"] == "delivered"


def test_sequence_counts_per_resource() -> None:
    d, _, _ = make()
    assert [d.emit("payment.authorized", {"id": r})["sequence"] for r in ("a", "b", "a", "a")] == [1, 1, 2, 3]
    assert d.emit("payment.captured", {"id": "x"}, key="a")["sequence"] == 4


def test_retry_schedule_runs_on_the_simulator_clock(receiver: Receiver) -> None:
    d, clock, store = make()
    d.set_target(receiver.url)
    receiver.statuses = [500, 503, 500, 502, 500]
    event = d.emit("payment.failed", {"id": "pay_9"})
    assert d.tick() == 1
    for wait in (60, 300, 1800, 7200):
        clock.advance(wait - 1)
        assert d.tick() == 0, f"retry before {wait}s"
        assert d.get(event["id"])["status"] == "retrying"
        clock.advance(1)
        assert d.tick() == 1, f"no retry after {wait}s"
    info = d.get(event["id"])
    assert info["status"] == "failed" and info["next_attempt_at"] is None
    assert [a["status"] for a in info["attempts"]] == [500, 503, 500, 502, 500]
    journal = [e for e in store.journal_entries() if e["kind"] == "webhook"]
    assert [e["webhook"]["attempt"] for e in journal] == [1, 2, 3, 4, 5]
    clock.advance(86400)
    assert d.tick() == 0
    d.redeliver(event["id"])
    assert d.tick() == 1 and d.get(event["id"])["status"] == "delivered"


def test_retry_succeeds_after_one_failure(receiver: Receiver) -> None:
    d, clock, _ = make()
    d.set_target(receiver.url)
    receiver.statuses = [500]
    event = d.emit("payment.voided", {"id": "pay_2"})
    d.tick()
    clock.advance(60)
    d.tick()
    info = d.get(event["id"])
    assert info["status"] == "delivered" and len(info["attempts"]) == 2


def test_unreachable_target_counts_as_failed_attempt() -> None:
    d, _, _ = make()
    d.set_target("http://127.0.0.1:9/closed")
    event = d.emit("payment.refunded", {"id": "pay_3"})
    d.tick()
    info = d.get(event["id"])
    assert info["status"] == "retrying" and info["attempts"][0]["status"] is None
    assert "Error" in info["attempts"][0]["error"] or "error" in info["attempts"][0]["error"]


def test_effect_duplicate_delivers_extra_copies(receiver: Receiver) -> None:
    faults = OneShotFaults()
    d, _, _ = make(faults=faults)
    d.set_target(receiver.url)
    faults.next = [{"type": "duplicate"}]
    event = d.emit("payment.captured", {"id": "pay_1"})
    d.tick()
    assert [r["event"]["id"] for r in receiver.received] == [event["id"], event["id"]]
    faults.next = [{"type": "duplicate", "count": 2}]
    d.emit("payment.captured", {"id": "pay_2"})
    d.tick()
    assert len(receiver.received) == 5
    assert all(r["valid"] for r in receiver.received)


def test_effect_drop_loses_first_attempt_then_retries(receiver: Receiver) -> None:
    faults = OneShotFaults()
    d, clock, _ = make(faults=faults)
    d.set_target(receiver.url)
    faults.next = [{"type": "drop"}]
    event = d.emit("payment.captured", {"id": "pay_1"})
    d.tick()
    assert receiver.received == []
    assert "drop" in d.get(event["id"])["attempts"][0]["error"]
    clock.advance(60)
    d.tick()
    assert len(receiver.received) == 1 and d.get(event["id"])["status"] == "delivered"


def test_effect_bad_signature_is_rejected_by_receiver_then_retried(receiver: Receiver) -> None:
    faults = OneShotFaults()
    d, clock, _ = make(faults=faults)
    d.set_target(receiver.url)
    faults.next = [{"type": "bad_signature"}]
    d.emit("payment.captured", {"id": "pay_1"})
    d.tick()
    assert [r["valid"] for r in receiver.received] == [False]
    clock.advance(60)
    d.tick()
    assert [r["valid"] for r in receiver.received] == [False, True]


def test_effect_delay_makes_event_due_later(receiver: Receiver) -> None:
    faults = OneShotFaults()
    d, clock, _ = make(faults=faults)
    d.set_target(receiver.url)
    faults.next = [{"type": "webhook_delay", "ms": 30000}]
    d.emit("payment.captured", {"id": "pay_1"})
    assert d.tick() == 0
    clock.advance(30)
    assert d.tick() == 1


def test_effect_reorder_holds_event_until_the_next_one_of_its_resource(receiver: Receiver) -> None:
    faults = OneShotFaults()
    d, _, _ = make(faults=faults)
    d.set_target(receiver.url)
    faults.next = [{"type": "reorder"}]
    first = d.emit("payment.authorized", {"id": "pay_1"})
    other = d.emit("payment.authorized", {"id": "pay_2"})
    d.tick()
    assert [r["event"]["id"] for r in receiver.received] == [other["id"]]
    second = d.emit("payment.captured", {"id": "pay_1"})
    d.tick()
    d.tick()
    assert [r["event"]["id"] for r in receiver.received] == [other["id"], second["id"], first["id"]]


def test_redeliver_unknown_event_is_404() -> None:
    d, _, _ = make()
    with pytest.raises(ProblemError) as err:
        d.redeliver("evt_nope")
    assert err.value.status == 404


def test_list_filters_and_describes() -> None:
    d, _, _ = make()
    d.emit("payment.authorized", {"id": "pay_1"})
    d.emit("payment.captured", {"id": "pay_1"})
    listing = d.list()
    assert listing["target"] is None
    assert [w["event_type"] for w in listing["deliveries"]] == ["payment.authorized", "payment.captured"]
    assert [w["event_type"] for w in d.list(event_type="payment.captured")["deliveries"]] == ["payment.captured"]
    assert listing["deliveries"][0]["next_attempt_at"] == "2026-03-01T10:00:00Z"
    assert listing["deliveries"][0]["status"] == "pending" and listing["deliveries"][0]["payload"]["sequence"] == 1


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_two_workers_never_send_one_attempt_twice(receiver: Receiver, backend: str, tmp_path: Any) -> None:
    store: StateStore = MemoryStore() if backend == "memory" else SQLiteStore(str(tmp_path / "s.db"))
    d1, _, _ = make(store)
    d2 = WebhookDispatcher("payment", None, store, Clock(store), store.journal_append, SECRET)
    d1.set_target(receiver.url)
    ids = {d1.emit("payment.authorized", {"id": f"pay_{i}"})["id"] for i in range(20)}
    threads = [threading.Thread(target=w.tick) for w in (d1, d2, d1, d2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [r["event"]["id"] for r in receiver.received]
    assert sorted(got) == sorted(ids)
    store.close()

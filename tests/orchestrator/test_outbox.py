"""The outbox on SQLite and PostgreSQL: same-transaction writes, retries, dead letters, replay, worker."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.errors import ProviderUnavailable
from orchestrator.outbox import Defer, Outbox, OutboxWorker
from orchestrator.store import Store


def _outbox(store: Store, **kw: float) -> tuple[Outbox, list[dict]]:
    seen: list[dict] = []
    box = Outbox(store, backoff_s=0.01, max_backoff_s=0.02, **kw)  # type: ignore[arg-type]
    box.register("t.ok", seen.append)
    return box, seen


def _due_all(box: Outbox) -> None:
    """Make every pending message due now (skips backoff waits in tests)."""
    with box.store.tx() as conn:
        conn.execute(box.t.update().values(available_at=0.0))


def test_message_is_written_only_when_the_transaction_commits(store: Store) -> None:
    box, seen = _outbox(store)
    with pytest.raises(RuntimeError), store.tx() as conn:
        box.enqueue(conn, "t.ok", "k1", {"n": 1})
        raise RuntimeError("order insert failed")
    assert box.run_once() == 0
    with store.tx() as conn:
        assert box.enqueue(conn, "t.ok", "k1", {"n": 1})
        assert not box.enqueue(conn, "t.ok", "k1", {"n": 1}), "same key queued twice"
    assert box.run_once() == 1
    assert seen == [{"n": 1}]
    assert box.stats() == {"pending": {}, "dead_letters": 0}


def test_unknown_topic_is_refused_at_enqueue(store: Store) -> None:
    box, _ = _outbox(store)
    with pytest.raises(ValueError, match=r"t\.ok"), store.tx() as conn:
        box.enqueue(conn, "t.nope", "k", {})


def test_failures_retry_then_dead_letter_then_replay(store: Store) -> None:
    box, _ = _outbox(store, max_attempts=3)
    calls: list[int] = []
    healthy = threading.Event()

    def flaky(payload: dict) -> None:
        calls.append(payload["n"])
        if not healthy.is_set():
            raise ProviderUnavailable("legacy", "createCashSale", "HTTP 503")

    box.register("t.flaky", flaky)
    with store.tx() as conn:
        box.enqueue(conn, "t.flaky", "poison", {"n": 7})
    for _ in range(3):
        _due_all(box)
        box.run_once()
    assert len(calls) == 3
    dead = box.dead_letters()
    assert [(m["key"], m["attempts"]) for m in dead] == [("poison", 3)]
    assert "HTTP 503" in dead[0]["last_error"]
    _due_all(box)
    assert box.run_once() == 0, "a dead letter is not delivered again by itself"
    healthy.set()
    assert box.replay([]) == 0, "an empty list of ids names no dead letter"
    assert box.replay() == 1
    assert box.run_once() == 1
    assert box.dead_letters() == [] and len(calls) == 4


def test_defer_does_not_count_an_attempt(store: Store) -> None:
    box, _ = _outbox(store, max_attempts=1)
    box.register("t.defer", lambda p: (_ for _ in ()).throw(Defer(0.0, "leased")))
    with store.tx() as conn:
        box.enqueue(conn, "t.defer", "d", {})
    for _ in range(3):
        assert box.dispatch(box.claim()[0]) == "deferred"
    assert box.dead_letters() == []


def test_a_leased_message_is_not_claimed_twice(store: Store) -> None:
    box, _ = _outbox(store)
    with store.tx() as conn:
        for i in range(20):
            box.enqueue(conn, "t.ok", f"k{i}", {"n": i})
    claimed: list[int] = []
    lock = threading.Lock()

    def grab() -> None:
        got = [m["id"] for m in box.claim(limit=20)]
        with lock:
            claimed.extend(got)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20


def test_worker_thread_delivers_at_least_once(store: Store) -> None:
    box, seen = _outbox(store)
    worker = OutboxWorker(box, poll_s=0.01).start()
    try:
        with store.tx() as conn:
            for i in range(5):
                box.enqueue(conn, "t.ok", f"w{i}", {"n": i})
        deadline = time.time() + 10
        while len(seen) < 5 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert sorted(p["n"] for p in seen) == [0, 1, 2, 3, 4]

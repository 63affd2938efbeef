"""The store on SQLite and PostgreSQL: unique keys, compare-and-set, receipts, settings, JSON."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestrator.store import Conflict, Store, normalize_url


def _order(order_id: str, key: str) -> dict:
    now = time.time()
    return {"id": order_id, "idempotency_key": key, "request_hash": "h", "customer_id": "CUS-1",
            "payment_type": "cash", "status": "pending", "step": "new", "request": {"items": [{"sku": "S", "n": 1}]},
            "captured_minor": 0, "refunded_minor": 0, "payment_seq": 0, "fulfilment_status": "unfulfilled",
            "lease_until": 0.0, "created_at": now, "updated_at": now}


def test_url_normalization_selects_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def test_json_round_trip_and_unique_idempotency_key(store: Store) -> None:
    store.insert("orders", _order("ord_1", "key-1"))
    assert store.get("orders", "ord_1")["request"] == {"items": [{"sku": "S", "n": 1}]}
    with pytest.raises(Conflict):
        store.insert("orders", _order("ord_2", "key-1"))


def test_compare_and_set_lets_one_writer_win(store: Store) -> None:
    store.insert("orders", _order("ord_1", "key-1"))
    step = store.t["orders"].c.step
    assert store.update("orders", "ord_1", {"step": "simulated"}, where=step == "new")
    assert not store.update("orders", "ord_1", {"step": "simulated"}, where=step == "new")
    assert store.get("orders", "ord_1")["step"] == "simulated"


def test_concurrent_compare_and_set_has_exactly_one_winner(store: Store) -> None:
    store.insert("orders", _order("ord_1", "key-1"))
    lease = store.t["orders"].c.lease_until
    wins: list[bool] = []

    def claim() -> None:
        wins.append(store.update("orders", "ord_1", {"lease_until": time.time() + 30}, where=lease <= time.time()))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_transaction_rolls_back_everything(store: Store) -> None:
    with pytest.raises(RuntimeError), store.tx() as conn:
        store.insert("orders", _order("ord_1", "key-1"), conn=conn)
        raise RuntimeError("boom")
    assert store.get("orders", "ord_1") is None


def test_receipts_make_consumers_idempotent(store: Store) -> None:
    assert store.claim_receipt("shipment.book", "ord_1")
    assert not store.claim_receipt("shipment.book", "ord_1")
    assert store.claim_receipt("notify", "ord_1")
    with store.tx() as conn:  # inside a transaction the duplicate does not poison it
        assert not store.claim_receipt("notify", "ord_1", conn)
        store.insert("orders", _order("ord_9", "key-9"), conn=conn)
    assert store.get("orders", "ord_9") is not None


def test_settings_and_upsert(store: Store) -> None:
    assert store.get_setting("catalog.since") is None
    store.set_setting("catalog.since", "a")
    store.set_setting("catalog.since", "b")
    assert store.get_setting("catalog.since") == "b"
    assert store.ping()


def test_statements_run_on_the_driver_with_types_converted(store: Store) -> None:
    """What the compiled statements must keep from SQLAlchemy: JSON, booleans, floats, column defaults."""
    store.insert("webhook_events", {"event_id": "evt_1", "provider": "payment", "type": "t", "sequence": 2,
                                    "applied": False, "payload": {"n": [1, 2], "big": 2**70}, "received_at": 1.5})
    row = store.get("webhook_events", "evt_1")
    assert row["applied"] is False and row["payload"] == {"n": [1, 2], "big": 2**70} and row["received_at"] == 1.5
    assert store.update("webhook_events", "evt_1", {"applied": True})
    assert store.get("webhook_events", "evt_1")["applied"] is True
    t = store.t["outbox"]
    with store.tx() as conn:  # column defaults (status, attempts, lease_until) are filled in
        conn.execute(t.insert(), {"topic": "x", "key": "k1", "payload": {}, "available_at": 0.0, "created_at": 0.0,
                                  "updated_at": 0.0})
    row = store.one(t.select().where(t.c.key == "k1"))
    assert (row["status"], row["attempts"], row["lease_until"]) == ("pending", 0, 0.0)


def test_in_lists_work_once_and_are_refused_in_reused_statements(store: Store) -> None:
    t = store.t["outbox"]
    with store.tx() as conn:
        for key in ("a", "b", "c"):
            conn.execute(t.insert(), {"topic": "x", "key": key, "payload": {}, "available_at": 0.0,
                                      "created_at": 0.0, "updated_at": 0.0})
    assert [r["key"] for r in store.all(t.select().where(t.c.key.in_(["a", "c"])).order_by(t.c.key))] == ["a", "c"]
    reused = store.statement("test.in", lambda: t.select().where(t.c.key.in_(["a"]), t.c.id > sa.bindparam("n")))
    with pytest.raises(ValueError, match="IN list"), store.read() as conn:
        conn.execute(reused, {"n": 0})


def test_a_savepoint_rolls_back_only_its_block(store: Store) -> None:
    with store.tx() as conn:
        store.insert("orders", _order("ord_1", "key-1"), conn=conn)
        with pytest.raises(Conflict), conn.begin_nested():
            store.insert("orders", _order("ord_2", "key-2"), conn=conn)
            store.insert("orders", _order("ord_3", "key-1"), conn=conn)
    assert store.get("orders", "ord_1") is not None
    assert store.get("orders", "ord_2") is None


def test_sqlite_writers_share_one_connection_and_every_write_lands(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'writers.db'}")
    store.create_all()
    try:
        def write(n: int) -> None:
            for i in range(25):
                with store.tx() as conn:
                    store.insert("orders", _order(f"ord_{n}_{i}", f"key-{n}-{i}"), conn=conn)
                    if i % 5 == 4:  # a read on this thread's own connection sees the writer's commits
                        assert store.get("orders", f"ord_{n}_{i - 1}") is not None

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # one writer connection, plus one reading connection per thread that read outside a transaction
        assert len(store._opened) == 1 + len(threads)
        assert store.one(sa.select(sa.func.count()).select_from(store.t["orders"]))["count_1"] == 150
    finally:
        store.close()

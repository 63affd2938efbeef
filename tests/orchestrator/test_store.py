"""The store on SQLite and PostgreSQL: unique keys, compare-and-set, receipts, settings, JSON."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from orchestrator.store import Store, normalize_url


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
    with pytest.raises(sa.exc.IntegrityError):
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

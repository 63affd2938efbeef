"""The idempotency rules, on both store backends (the HTTP side is in tests/simulators/test_app_live.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.core import idempotency
from simulators.core.errors import ProblemError
from simulators.core.store import MemoryStore, SQLiteStore, StateStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return MemoryStore() if request.param == "memory" else SQLiteStore(str(tmp_path / "s.db"))


def claim(store: StateStore, key: str | None, body: object, mode: str | None = "required") -> idempotency.Claim:
    return idempotency.claim(store, mode=mode, operation_id="capture", path="/p/1", key=key, body=body, now=0)


def test_missing_required_key_is_400(store: StateStore) -> None:
    with pytest.raises(ProblemError) as e:
        claim(store, None, {})
    assert e.value.status == 400


def test_missing_optional_key_claims_nothing(store: StateStore) -> None:
    assert claim(store, None, {}, mode="optional").key is None


def test_in_flight_duplicate_is_409_then_replayed_once_done(store: StateStore) -> None:
    first = claim(store, "k", {"amount": 1})
    with pytest.raises(ProblemError) as e:
        claim(store, "k", {"amount": 1})
    assert e.value.status == 409 and e.value.headers["Retry-After"] == "1"
    idempotency.complete(store, first.key, 201, {"Content-Type": "application/json"}, b'{"id": "cap_1"}')
    replay = claim(store, "k", {"amount": 1}).replay
    assert replay == {"status": 201, "headers": {"Content-Type": "application/json"}, "body": '{"id": "cap_1"}'}


def test_same_key_different_body_is_422(store: StateStore) -> None:
    first = claim(store, "k", {"amount": 1})
    idempotency.complete(store, first.key, 201, {}, b"{}")
    with pytest.raises(ProblemError) as e:
        claim(store, "k", {"amount": 2})
    assert e.value.status == 422


def test_body_key_order_does_not_matter(store: StateStore) -> None:
    first = claim(store, "k", {"a": 1, "b": 2})
    idempotency.complete(store, first.key, 200, {}, b"{}")
    assert claim(store, "k", {"b": 2, "a": 1}).replay is not None


def test_a_5xx_frees_the_key_for_a_real_retry(store: StateStore) -> None:
    first = claim(store, "k", {})
    idempotency.complete(store, first.key, 503, {}, b"{}")
    assert claim(store, "k", {}).replay is None

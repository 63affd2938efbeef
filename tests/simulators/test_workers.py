"""Several workers, one view: state, idempotency, faults, clock and journal agree whichever worker answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.servers import Server, start_simulator

CARD = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2031, "cvc": "123"}


@pytest.fixture(scope="module")
def payment2() -> Iterator[Server]:
    server = start_simulator("payment", args=["--workers", "2"])
    yield server
    server.stop()


def authorize(url: str, key: str) -> requests.Response:
    body = {"amount": 1000, "currency": "EUR", "reference": key, "capture_method": "manual", "card": CARD}
    # a new connection per request, so requests spread over both workers
    return requests.post(f"{url}/payments", json=body, headers={"Idempotency-Key": key, "Connection": "close"},
                         timeout=10)


def test_create_then_read_sees_no_misses_across_workers(payment2: Server) -> None:
    payment2.control("POST", "/reset")
    misses = 0
    for i in range(150):
        created = authorize(payment2.url, f"k-{i}")
        assert created.status_code == 201, created.text
        read = requests.get(f"{payment2.url}/payments/{created.json()['id']}", headers={"Connection": "close"},
                            timeout=10)
        misses += read.status_code != 200
    assert misses == 0
    journal = payment2.control("GET", "/journal", params={"operation": "getPayment"}).json()
    assert len(journal["entries"]) == 150
    pids = {e["worker"] for e in journal["entries"]}
    assert len(pids) == 2  # both workers answered: the test would catch per-worker state


def test_idempotency_faults_and_clock_are_shared(payment2: Server) -> None:
    payment2.control("POST", "/reset")
    first = authorize(payment2.url, "same")
    replays = [authorize(payment2.url, "same") for _ in range(10)]
    assert all(r.headers.get("Idempotent-Replayed") == "true" and r.json() == first.json() for r in replays)
    payment2.control("POST", "/faults", json={"match": {"operation": "getPayment", "times": 3},
                                               "effects": [{"type": "status", "status": 503}]})
    statuses = [requests.get(f"{payment2.url}/payments/{first.json()['id']}", headers={"Connection": "close"},
                             timeout=10).status_code for _ in range(6)]
    assert statuses == [503, 503, 503, 200, 200, 200]
    payment2.control("POST", "/clock", json={"now": "2031-05-01T00:00:00Z"})
    payment2.control("POST", "/clock", json={"freeze": True})
    times = {payment2.control("GET", "/clock", headers={"Connection": "close"}).json()["now"] for _ in range(6)}
    assert len(times) == 1 and times.pop().startswith("2031-05-01T00:00:00")

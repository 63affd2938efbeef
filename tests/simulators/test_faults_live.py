"""Every fault effect, for real over a socket: what a client of the simulator actually experiences."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.servers import ROOT, Server, start_simulator

SPEC = ROOT / "tests" / "data" / "specs" / "engine-test.openapi.yaml"
ORDER = {"sku": "SKU-1", "quantity": 2, "email": "ann@example.com"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Server]:
    server = start_simulator("engine", contract=SPEC, args=["--no-behaviours"])
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(sim: Server) -> None:
    sim.control("POST", "/reset")


def rule(sim: Server, operation: str, *effects: dict[str, Any], **match: Any) -> dict[str, Any]:
    r = sim.control("POST", "/faults", json={"match": {"operation": operation, **match}, "effects": list(effects)})
    assert r.status_code == 201, r.text
    return r.json()


def journal(sim: Server, **params: Any) -> list[dict[str, Any]]:
    return sim.control("GET", "/journal", params=params).json()["entries"]


def list_orders(sim: Server, timeout: float = 10) -> requests.Response:
    return requests.get(f"{sim.url}/orders", timeout=timeout)


def test_fixed_delay_is_journaled(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "delay", "distribution": {"type": "fixed", "ms": 300}})
    started = time.monotonic()
    assert list_orders(sim).status_code == 200
    assert time.monotonic() - started >= 0.3
    entry = journal(sim)[-1]
    assert entry["duration_ms"] >= 300 and len(entry["faults"]) == 1


def test_status_with_retry_after_and_problem_body(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "status", "status": 503, "retry_after": 7}, times=1)
    r = list_orders(sim)
    assert (r.status_code, r.headers["Retry-After"]) == (503, "7")
    assert r.headers["Content-Type"].startswith("application/problem+json") and r.json()["status"] == 503
    assert list_orders(sim).status_code == 200  # times: 1 spent


def test_rate_limit_answers_429_with_seconds_to_the_window_end(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "rate_limit", "limit": 2, "window_s": 60})
    statuses = [list_orders(sim).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = list_orders(sim)
    assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_timeout_holds_the_connection_past_the_client_timeout(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "timeout", "ms": 2000})
    with pytest.raises(requests.ReadTimeout):
        list_orders(sim, timeout=0.5)


def test_reset_is_a_real_tcp_reset(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "reset"})
    with pytest.raises(requests.ConnectionError) as e:
        list_orders(sim)
    assert "reset" in str(e.value).lower()
    assert journal(sim)[-1]["status"] is None and journal(sim)[-1]["response"] is None


def test_empty_closes_with_no_bytes(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "empty"})
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"GET /orders HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert s.recv(1024) == b""


@pytest.mark.parametrize("mode", ["truncate", "garbage", "wrong_content_type"])
def test_malformed_bodies(sim: Server, mode: str) -> None:
    rule(sim, "listOrders", {"type": "malformed", "mode": mode})
    r = list_orders(sim)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.content)
    if mode == "wrong_content_type":
        assert r.headers["Content-Type"].startswith("text/html")


def test_drift_renames_a_field(sim: Server) -> None:
    rule(sim, "getOrder", {"type": "drift", "op": "rename", "field": "/status", "to": "state"})
    body = requests.get(f"{sim.url}/orders/ord_1", timeout=10).json()
    assert "status" not in body and "state" in body


def test_drift_unknown_enum_and_retype(sim: Server) -> None:
    rule(sim, "getOrder", {"type": "drift", "op": "unknown_enum", "field": "/status"},
         {"type": "drift", "op": "retype", "field": "/quantity"})
    body = requests.get(f"{sim.url}/orders/ord_1", timeout=10).json()
    assert body["status"].startswith("UNKNOWN") and isinstance(body["quantity"], str)


def test_slow_body_trickles(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "slow_body", "bytes_per_s": 200})
    started = time.monotonic()
    r = list_orders(sim)
    assert r.status_code == 200 and r.json()["items"] is not None
    assert time.monotonic() - started >= (len(r.content) / 200) * 0.8


def test_commit_then_fail_does_the_work_then_loses_the_answer(sim: Server) -> None:
    rule(sim, "createOrder", {"type": "commit_then_fail", "then": "reset"}, times=1)
    headers = {"Idempotency-Key": "order-42"}
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sim.url}/orders", json=ORDER, headers=headers, timeout=10)
    retry = requests.post(f"{sim.url}/orders", json=ORDER, headers=headers, timeout=10)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    entries = journal(sim, operation="createOrder")
    assert [e["idempotent_replay"] for e in entries] == [False, True]
    assert entries[0]["response"] is None  # the client never got it


def test_commit_then_fail_with_a_status(sim: Server) -> None:
    rule(sim, "createOrder", {"type": "commit_then_fail", "then": "status", "status": 504}, times=1)
    r = requests.post(f"{sim.url}/orders", json=ORDER, headers={"Idempotency-Key": "k"}, timeout=10)
    assert r.status_code == 504
    again = requests.post(f"{sim.url}/orders", json=ORDER, headers={"Idempotency-Key": "k"}, timeout=10)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


def test_nth_fires_on_the_nth_call_only(sim: Server) -> None:
    rule(sim, "listOrders", {"type": "status", "status": 500}, nth=2)
    assert [list_orders(sim).status_code for _ in range(3)] == [200, 500, 200]


def test_body_and_header_predicates(sim: Server) -> None:
    rule(sim, "createOrder", {"type": "status", "status": 422}, body={"quantity": {"gt": 10}},
         headers={"x-tenant": "acme"})
    post = lambda q, tenant: requests.post(  # noqa: E731
        f"{sim.url}/orders", json={**ORDER, "quantity": q}, timeout=10,
        headers={"Idempotency-Key": f"{q}-{tenant}", "X-Tenant": tenant}).status_code
    assert [post(5, "acme"), post(50, "other"), post(50, "acme")] == [201, 201, 422]


def test_probability_replays_with_the_seed(sim: Server) -> None:
    def run() -> list[int]:
        sim.control("POST", "/reset")
        rule(sim, "listOrders", {"type": "status", "status": 503}, probability=0.5)
        return [list_orders(sim).status_code for _ in range(20)]

    first = run()
    assert 0 < first.count(503) < 20
    assert run() == first


def test_profile_loaded_through_the_control_api_replaces_rules(sim: Server, tmp_path: Any) -> None:
    rule(sim, "listOrders", {"type": "status", "status": 500})
    r = sim.control("POST", "/profiles/flaky-payments")
    assert r.status_code == 200
    # flaky-payments targets payment operations only, so none apply here, and the old rule is gone
    assert list_orders(sim).status_code == 200

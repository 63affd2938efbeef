"""Payment simulator over HTTP: the contract's example flow, clock, signed webhooks to a real receiver,
webhook retries and fault effects, idempotency with commit_then_fail, provider states."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulators.core.webhooks import verify_signature
from tests.simulators.providers.harness import Receiver, contract, set_target
from tests.support.servers import Server, start_simulator

CARD = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = start_simulator("payment")
    yield s
    s.stop()


@pytest.fixture
def sim(server: Server) -> Server:
    assert server.control("POST", "/reset").status_code in (200, 204)
    return server


@pytest.fixture
def receiver(sim: Server) -> Iterator[Receiver]:
    r = Receiver()
    set_target(sim, r.url)
    yield r
    r.stop()


_keys = iter(range(1, 1_000_000))


def post(sim: Server, path: str, body: Any = None, key: str | None = None) -> requests.Response:
    headers = {"Idempotency-Key": key or f"test-{next(_keys)}-{time.time_ns()}", "X-Correlation-ID": "corr-http"}
    return requests.post(sim.url + path, json=body, headers=headers, timeout=10)


def authorize(sim: Server, amount: int = 2500, number: str = "4242424242424242") -> requests.Response:
    return post(sim, "/payments", {"amount": amount, "currency": "EUR", "reference": "order-1",
                                   "card": {**CARD, "number": number}})


def test_contract_examples_walk_the_flow_over_http(sim: Server) -> None:
    ops = contract("payment")[0].operations
    example = ops["authorizePayment"].request_body["application/json"].examples
    r = post(sim, "/payments", example["approved"])
    assert r.status_code == 201 and r.json()["status"] == "authorized"
    pid = r.json()["id"]
    cap = post(sim, f"/payments/{pid}/captures", ops["capturePayment"].request_body["application/json"].examples["full"])
    assert cap.status_code == 201 and cap.json()["payment"]["status"] == "captured"
    ref = post(sim, f"/payments/{pid}/refunds", ops["refundPayment"].request_body["application/json"].examples["partial"])
    assert ref.status_code == 201 and ref.json()["amount"] == 1000
    for name in ("do_not_honor", "insufficient_funds", "fraud_suspected", "expired_card"):
        r = post(sim, "/payments", example[name])
        assert r.status_code == 402 and r.json()["decline_code"] == name
        assert r.headers["Content-Type"].startswith("application/problem+json")


def test_wrong_transitions_and_limits_over_http(sim: Server) -> None:
    pid = authorize(sim, 5000).json()["id"]
    assert post(sim, f"/payments/{pid}/refunds", {}).json()["state"] == "authorized"
    assert post(sim, f"/payments/{pid}/captures", {"amount": 5001}).status_code == 422
    assert post(sim, f"/payments/{pid}/captures", {"amount": 2000}).status_code == 201
    r = post(sim, f"/payments/{pid}/void")
    assert r.status_code == 409 and r.json()["state"] == "partially_captured"
    assert authorize(sim, 1_000_001).status_code == 422
    assert authorize(sim, 0).status_code == 400
    assert post(sim, "/payments/pay_000000000bad/captures", {}).status_code == 404


def test_authorization_expires_when_the_clock_moves_8_days(sim: Server) -> None:
    pid = authorize(sim).json()["id"]
    assert sim.control("POST", "/clock", json={"advance": "8d"}).status_code == 200
    assert requests.get(f"{sim.url}/payments/{pid}", timeout=10).json()["status"] == "expired"
    r = post(sim, f"/payments/{pid}/captures", {})
    assert r.status_code == 409 and r.json()["state"] == "expired"


def test_3ds_then_confirm_over_http(sim: Server) -> None:
    p = authorize(sim, number="4000000000003220").json()
    assert p["status"] == "requires_action"
    r = post(sim, f"/payments/{p['id']}/confirm", {"authentication_result": "success"})
    assert r.status_code == 200 and r.json()["status"] == "authorized"


def test_webhooks_are_signed_and_verified_by_a_real_receiver(sim: Server, receiver: Receiver) -> None:
    pid = authorize(sim).json()["id"]
    post(sim, f"/payments/{pid}/captures", {"amount": 1000})
    post(sim, f"/payments/{pid}/refunds", {"amount": 500})
    got = receiver.wait_for(3)
    assert [r["event"]["type"] for r in got] == ["payment.authorized", "payment.captured", "payment.refunded"]
    assert all(r["valid"] for r in got)
    assert [r["event"]["sequence"] for r in got] == [1, 2, 3]
    assert got[0]["headers"]["X-Correlation-ID"] == "corr-http"
    assert got[1]["headers"]["Sandbox-Event-Id"] == got[1]["event"]["id"]
    assert not verify_signature("wrong-secret", got[0]["headers"]["Sandbox-Signature"], b"{}")
    journal = sim.control("GET", "/journal", params={"kind": "webhook"}).json()["entries"]
    assert [e["webhook"]["attempt"] for e in journal] == [1, 1, 1] and {e["status"] for e in journal} == {200}


def test_webhook_retry_schedule_follows_the_simulator_clock(sim: Server, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    authorize(sim)
    receiver.wait_for(1)
    time.sleep(1.2)  # several ticks: nothing is due before 1 minute of simulator time
    assert len(receiver.received) == 1
    sim.control("POST", "/clock", json={"advance": "1m"})
    receiver.wait_for(2)
    sim.control("POST", "/clock", json={"advance": "4m"})
    time.sleep(0.8)
    assert len(receiver.received) == 2  # the third attempt is due 5 minutes after the second
    sim.control("POST", "/clock", json={"advance": "1m"})
    got = receiver.wait_for(3)
    assert [r["status"] for r in got] == [500, 503, 200]
    [delivery] = sim.control("GET", "/webhooks").json()["deliveries"]
    assert delivery["status"] == "delivered" and [a["n"] for a in delivery["attempts"]] == [1, 2, 3]


def test_webhook_fault_effects_from_the_fault_engine(sim: Server, receiver: Receiver) -> None:
    rule = {"name": "dup-captures", "match": {"event": "payment.captured"}, "effects": [{"type": "duplicate"}]}
    assert sim.control("POST", "/faults", json=rule).status_code == 201
    bad = {"name": "bad-sig", "match": {"event": "payment.voided"}, "effects": [{"type": "bad_signature"}]}
    assert sim.control("POST", "/faults", json=bad).status_code == 201
    pid = authorize(sim).json()["id"]
    post(sim, f"/payments/{pid}/captures", {})
    pid2 = authorize(sim).json()["id"]
    post(sim, f"/payments/{pid2}/void")
    got = receiver.wait_for(5)
    captured = [r for r in got if r["event"]["type"] == "payment.captured"]
    assert len(captured) == 2 and captured[0]["event"]["id"] == captured[1]["event"]["id"]
    voided = [r for r in got if r["event"]["type"] == "payment.voided"]
    assert [r["valid"] for r in voided] == [False]  # rejected by the receiver; retried after 1 minute
    sim.control("POST", "/clock", json={"advance": "1m"})
    receiver.wait_for(6)
    assert [r["valid"] for r in receiver.received if r["event"]["type"] == "payment.voided"] == [False, True]


def test_commit_then_fail_retry_with_same_key_makes_one_charge(sim: Server) -> None:
    pid = authorize(sim).json()["id"]
    rule = {"name": "lose-capture", "match": {"operation": "capturePayment", "times": 1},
            "effects": [{"type": "commit_then_fail", "then": "reset"}]}
    assert sim.control("POST", "/faults", json=rule).status_code == 201
    with pytest.raises(requests.ConnectionError):
        post(sim, f"/payments/{pid}/captures", {"amount": 2500}, key="order-1-capture")
    retry = post(sim, f"/payments/{pid}/captures", {"amount": 2500}, key="order-1-capture")
    assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["payment"]["amount_captured"] == 2500
    captures = sim.control("GET", "/resources/captures").json()
    assert captures["count"] == 1 and captures["items"][0]["id"] == retry.json()["id"]
    today = requests.get(f"{sim.url}/__sandbox/clock", timeout=10).json()["now"][:10]
    report = requests.get(f"{sim.url}/settlements", params={"date": today}, timeout=10).json()
    assert [(e["type"], e["amount"]) for e in report["entries"]] == [("capture", 2500)]


def test_provider_states_over_the_control_api(sim: Server) -> None:
    r = sim.control("POST", "/states/payment-authorized", json={"payment_id": "pay_0000000000aa", "amount": 700})
    assert r.status_code == 200 and r.json()["result"]["payment_id"] == "pay_0000000000aa"
    assert post(sim, "/payments/pay_0000000000aa/captures", {"amount": 700}).status_code == 201
    names = {s["name"] for s in sim.control("GET", "/states").json()["states"]}
    assert {"payment-authorized", "payment-captured"} <= names
    wrong = sim.control("POST", "/states/payment-autorized")
    assert wrong.status_code == 400 and "payment-authorized" in wrong.text

"""Fault tests: simulator fault rules over the control API, the orchestrator over HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from .live import Sandbox

SECRET = "whsec_sandbox"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path_factory.mktemp("orch") / "orchestrator.db", outbox_max_attempts=3,
                      env={"ORCH_BREAKER_RESET_S": "1", "ORCH_BREAKER_FAIL_MAX": "5"}).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def _clear_faults(sb: Sandbox) -> Iterator[None]:
    yield
    for sim in sb.sims:
        sb.control(sim, "DELETE", "/faults")


def _ts(entry: dict) -> float:
    return dt.datetime.fromisoformat(entry["real_time"].replace("Z", "+00:00")).timestamp()


def test_capture_commit_then_fail_charges_exactly_once(sb: Sandbox) -> None:
    sb.fault("payment", {"match": {"operation": "capturePayment", "times": 1},
                         "effects": [{"type": "commit_then_fail", "then": "reset"}]})
    customer = sb.customer()
    r = sb.place(sb.order_body(customer))
    assert r.status_code in (201, 202), r.text
    order = sb.wait_order(r.json()["id"], lambda o: o["status"] == "completed")
    calls = [e for e in sb.journal("payment", "capturePayment") if e["idempotency_key"] == f"{order['id']}:capture"]
    assert len(calls) >= 2, "the lost answer was retried"
    payment = requests.get(f"{sb.sims['payment'].url}/payments/{order['payment_id']}", timeout=10).json()
    assert payment["amount_captured"] == order["amount"], "captured once, not twice"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    report = requests.get(f"{sb.sims['payment'].url}/settlements", params={"date": today}, timeout=10).json()
    assert len([e for e in report["entries"] if e["reference"] == order["id"] and e["type"] == "capture"]) == 1


def test_rate_limit_retry_after_is_honoured(sb: Sandbox) -> None:
    sb.fault("payment", {"match": {"operation": "authorizePayment", "times": 1},
                         "effects": [{"type": "status", "status": 429, "retry_after": 1}]})
    customer = sb.customer()
    r = sb.place(sb.order_body(customer))
    assert r.status_code == 201, r.text
    calls = [e for e in sb.journal("payment", "authorizePayment")
             if e["idempotency_key"] == f"{r.json()['id']}:authorize"]
    assert [c["status"] for c in calls] == [429, 201]
    assert _ts(calls[1]) - _ts(calls[0]) >= 0.95, "the retry came before Retry-After"


def test_legacy_down_order_pending_then_completed(sb: Sandbox) -> None:
    customer = sb.customer()
    sb.state("legacy", "legacy-down", retry_after=1)
    try:
        r = sb.place(sb.order_body(customer))
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        time.sleep(1.5)
        assert sb.order(r.json()["id"])["status"] == "pending"
    finally:
        sb.state("legacy", "legacy-up")
    done = sb.wait_order(r.json()["id"], lambda o: o["status"] == "completed", timeout=30)
    assert done["captured_amount"] == done["amount"] and done["legacy_order_id"]


def test_sale_rejected_voids_the_authorization(sb: Sandbox) -> None:
    sb.fault("legacy", {"match": {"operation": "createCashSale", "times": 1},
                        "effects": [{"type": "status", "status": 409,
                                     "body": {"type": "about:blank", "title": "Out of stock", "status": 409}}]})
    customer = sb.customer()
    r = sb.place(sb.order_body(customer))
    assert r.status_code == 409, r.text
    order = sb.order(r.json()["order_id"])
    assert order["status"] == "failed" and order["reason"].startswith("out_of_stock")
    voids = [e for e in sb.journal("payment", "voidPayment") if e["idempotency_key"] == f"{order['id']}:void"]
    assert voids and voids[-1]["status"] == 200
    payment = requests.get(f"{sb.sims['payment'].url}/payments/{order['payment_id']}", timeout=10).json()
    assert payment["status"] == "voided" and payment["amount_captured"] == 0


def _signed(event: dict) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(event).encode()
    t = int(time.time())
    sig = hmac.new(SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Sandbox-Signature": f"t={t},v1={sig}", "Sandbox-Event-Id": event["id"],
                 "Content-Type": "application/json"}


def test_duplicate_and_reordered_webhooks_end_in_the_right_state(sb: Sandbox) -> None:
    customer = sb.customer()
    order = sb.wait_order(sb.place(sb.order_body(customer)).json()["id"], lambda o: len(o["shipments"]) == 1)
    ship = requests.get(f"{sb.sims['delivery'].url}/shipments/{order['shipments'][0]['id']}", timeout=10).json()

    def event(eid: str, seq: int, status: str) -> dict:
        return {"id": eid, "type": "shipment.updated", "created_at": "2030-01-01T00:00:00Z", "sequence": seq,
                "data": {"object": {**ship, "status": status}}}

    results = []
    for ev in (event("evt_00000000d003", 1003, "delivered"), event("evt_00000000d002", 1002, "in_transit"),
               event("evt_00000000d003", 1003, "delivered")):
        raw, headers = _signed(ev)
        resp = sb.sf("POST", "/webhooks/delivery", data=raw, headers=headers)
        assert resp.status_code == 200, resp.text
        results.append(resp.json()["status"])
    assert results == ["applied", "stale", "duplicate"]
    final = sb.order(order["id"])
    assert final["shipments"][0]["status"] == "delivered" and final["fulfilment_status"] == "delivered"


def test_bad_signature_is_rejected_with_401(sb: Sandbox) -> None:
    raw, headers = _signed({"id": "evt_00000000e001", "type": "payment.captured", "sequence": 1,
                            "data": {"object": {"id": "pay_000000000000"}}})
    headers["Sandbox-Signature"] = headers["Sandbox-Signature"][:-4] + "0000"
    r = sb.sf("POST", "/webhooks/payment", data=raw, headers=headers)
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"


def test_payment_down_answers_503_with_retry_after_then_retry_succeeds(sb: Sandbox) -> None:
    sb.fault("payment", {"match": {"operation": "authorizePayment"}, "effects": [{"type": "status", "status": 503}]})
    customer = sb.customer()
    body = sb.order_body(customer)
    first = sb.place(body, key="breaker-1")
    assert first.status_code == 503 and int(first.headers["Retry-After"]) >= 1, first.text
    assert first.headers["Content-Type"] == "application/problem+json"
    second = sb.place(sb.order_body(sb.customer()))
    assert second.status_code == 503 and "Retry-After" in second.headers
    assert sb.sf("GET", "/health").json()["breakers"]["payment"] == "open"
    sb.control("payment", "DELETE", "/faults")
    time.sleep(1.2)
    again = sb.place(body, key="breaker-1")
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["order_id"]


def test_poison_notification_goes_to_dead_letters_and_replays(sb: Sandbox) -> None:
    sb.fault("notifications", {"match": {"operation": "sendEmail"},
                               "effects": [{"type": "status", "status": 500}]})
    customer = sb.customer()
    order = sb.place(sb.order_body(customer)).json()
    key = f"notify:{order['id']}:order_confirmed"

    def dead() -> list[dict]:
        return [d for d in sb.sf("GET", "/admin/dead-letters").json()["items"] if d["key"] == key]

    deadline = time.monotonic() + 20
    while not dead() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dead() and dead()[0]["attempts"] == 3
    sb.control("notifications", "DELETE", "/faults")
    assert sb.sf("POST", "/admin/dead-letters/replay", json={"ids": [dead()[0]["id"]]}).json()["replayed"] == 1
    deadline = time.monotonic() + 10
    sent: list = []
    while not sent and time.monotonic() < deadline:
        sent = [e for e in sb.journal("notifications", "sendEmail")
                if e["status"] == 202 and (e["idempotency_key"] or "").startswith(f"{order['id']}:notify")]
        time.sleep(0.2)
    assert sent and not dead()


def test_kill_9_mid_checkout_then_restart_completes_and_reconciles(sb: Sandbox) -> None:
    customer = sb.customer()
    sb.fault("payment", {"match": {"operation": "capturePayment", "times": 1},
                         "effects": [{"type": "delay", "distribution": {"type": "fixed", "ms": 3000}}]})
    body = sb.order_body(customer)
    outcome: dict = {}

    def place() -> None:
        try:
            outcome["response"] = sb.place(body, key="crash-1")
        except requests.RequestException as exc:
            outcome["error"] = exc

    sales_before = {e["idempotency_key"] for e in sb.journal("legacy", "createCashSale")}

    def sale_recorded() -> bool:
        return any(e["status"] == 201 and e["idempotency_key"] not in sales_before
                   for e in sb.journal("legacy", "createCashSale"))

    thread = threading.Thread(target=place)
    thread.start()
    deadline = time.monotonic() + 10
    while not sale_recorded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sale_recorded(), "the checkout never reached the capture step"
    time.sleep(0.3)  # the capture is in flight (delayed 3 s by the payment simulator)
    assert sb.orch is not None
    sb.orch.kill9()
    thread.join(10)
    assert "error" in outcome, f"the checkout answered before the crash: {outcome}"
    sb.start_orchestrator()
    orders = sb.sf("GET", "/orders", params={"customer_id": customer["id"]}).json()["items"]
    assert len(orders) == 1, orders
    done = sb.wait_order(orders[0]["id"], lambda o: o["status"] in {"completed", "failed"}, timeout=30)
    assert done["status"] == "completed" and done["captured_amount"] == done["amount"]
    recon = sb.sf("GET", "/reconciliation").json()
    assert recon["clean"], recon["mismatches"]

"""The orchestrator's payment adapter as a Pact consumer: authorize, read, capture, void, refund, decline, settle."""

from __future__ import annotations

import json

import pytest
from pact import match

from orchestrator.adapters.base import ClientPolicy, ProviderRejected
from orchestrator.adapters.payment import PaymentClient
from tests.pact.consumer import IDEMPOTENCY_KEY, ISO, new_pact, write

AUTHORIZED = "payment pay_00000000a001 is authorized"
CAPTURED = "payment pay_00000000c001 is captured"
CARD = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}


def payment(status: str, *, captured: int = 0, capturable: int = 2500, pid: str = "pay_00000000a001") -> object:
    """The fields of a payment the orchestrator reads."""
    return {"id": match.regex(pid, regex=r"^pay_[0-9a-f]{12}$"), "status": status,
            "amount": match.int(2500), "currency": "EUR", "amount_captured": match.int(captured),
            "amount_capturable": match.int(capturable), "created_at": match.regex("2026-01-01T10:00:00Z", regex=ISO)}


def test_payment_adapter_pact() -> None:
    pact = new_pact("payment")
    (pact.upon_receiving("an authorization of an approved card")
     .with_request("POST", "/payments")
     .with_header("Idempotency-Key", match.regex("order-10042-authorize", regex=IDEMPOTENCY_KEY))
     .with_body({"amount": 2500, "currency": "EUR", "reference": "order-10042", "capture_method": "manual",
                 "card": CARD}, "application/json")
     .will_respond_with(201)
     .with_body(payment("authorized"), "application/json"))
    (pact.upon_receiving("an authorization of a card the issuer declines")
     .with_request("POST", "/payments")
     .with_header("Idempotency-Key", match.regex("order-10043-authorize", regex=IDEMPOTENCY_KEY))
     .with_body({"amount": 2500, "currency": "EUR", "reference": "order-10043", "capture_method": "manual",
                 "card": {**CARD, "number": "4000000000000002"}}, "application/json")
     .will_respond_with(402)
     .with_body({"status": 402, "title": match.str("Card declined"), "decline_code": "do_not_honor",
                 "payment_id": match.regex("pay_0123456789ab", regex=r"^pay_[0-9a-f]{12}$")},
                "application/problem+json"))
    (pact.upon_receiving("a read of an authorized payment").given(AUTHORIZED)
     .with_request("GET", "/payments/pay_00000000a001")
     .will_respond_with(200).with_body(payment("authorized"), "application/json"))
    (pact.upon_receiving("a full capture of an authorized payment").given(AUTHORIZED)
     .with_request("POST", "/payments/pay_00000000a001/captures")
     .with_header("Idempotency-Key", match.regex("order-10042-capture", regex=IDEMPOTENCY_KEY))
     .with_body({"amount": 2500}, "application/json")
     .will_respond_with(201)
     .with_body({"id": match.regex("cap_0123456789ab", regex=r"^cap_[0-9a-f]{12}$"),
                 "payment_id": "pay_00000000a001", "amount": 2500, "status": match.str("succeeded")},
                "application/json"))
    (pact.upon_receiving("a void of an authorized payment").given(AUTHORIZED)
     .with_request("POST", "/payments/pay_00000000a001/void")
     .with_header("Idempotency-Key", match.regex("order-10042-void", regex=IDEMPOTENCY_KEY))
     .with_body({"reason": "order_cancelled"}, "application/json")
     .will_respond_with(200).with_body(payment("voided", capturable=0), "application/json"))
    (pact.upon_receiving("a partial refund of a captured payment").given(CAPTURED)
     .with_request("POST", "/payments/pay_00000000c001/refunds")
     .with_header("Idempotency-Key", match.regex("order-10042-refund-1", regex=IDEMPOTENCY_KEY))
     .with_body({"reason": "requested_by_customer", "amount": 1000}, "application/json")
     .will_respond_with(201)
     .with_body({"id": match.regex("ref_0123456789ab", regex=r"^ref_[0-9a-f]{12}$"),
                 "payment_id": "pay_00000000c001", "amount": 1000, "status": match.str("succeeded")},
                "application/json"))
    (pact.upon_receiving("a settlement report for one day")
     .with_request("GET", "/settlements").with_query_parameter("date", "2026-01-01")
     .will_respond_with(200)
     .with_body({"from": "2026-01-01", "to": "2026-01-01", "days": match.like([]), "entries": match.like([])},
                "application/json"))

    with pact.serve(addr="127.0.0.1") as srv:
        client = PaymentClient(str(srv.url), ClientPolicy(retries=0))
        approved = client.authorize(amount=2500, currency="EUR", reference="order-10042",
                                    instrument={"card": CARD}, idempotency_key="order-10042-authorize")
        assert approved["status"] == "authorized"
        with pytest.raises(ProviderRejected) as declined:
            client.authorize(amount=2500, currency="EUR", reference="order-10043",
                             instrument={"card": {**CARD, "number": "4000000000000002"}},
                             idempotency_key="order-10043-authorize")
        assert declined.value.status == 402
        assert client.get("pay_00000000a001")["amount_capturable"] == 2500
        assert client.capture("pay_00000000a001", amount=2500, idempotency_key="order-10042-capture")["amount"] == 2500
        assert client.void("pay_00000000a001", reason="order_cancelled",
                           idempotency_key="order-10042-void")["status"] == "voided"
        refund = client.refund("pay_00000000c001", amount=1000, reason="requested_by_customer",
                               idempotency_key="order-10042-refund-1")
        assert refund["amount"] == 1000
        assert client.settlements(date_from="2026-01-01", date_to="2026-01-01")["from"] == "2026-01-01"
    path = write(pact)
    written = json.loads(path.read_text())
    assert len(written["interactions"]) == 7
    assert {s["name"] for i in written["interactions"] for s in i.get("providerStates", [])} == {AUTHORIZED, CAPTURED}

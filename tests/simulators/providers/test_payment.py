"""Payment behaviours in-process: every transition, limit, test card and clock rule, held to the contract."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.providers.payment import luhn_ok, payment
from tests.simulators.providers.harness import Harness

CARD = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}


@pytest.fixture
def h() -> Harness:
    return Harness("payment", payment)


def authorize(h: Harness, amount: int = 2500, number: str = "4242424242424242", **extra: Any) -> tuple[int, Any]:
    body = {"amount": amount, "currency": "EUR", "reference": "order-1", "card": {**CARD, "number": number}, **extra}
    return h.call("authorizePayment", body)


def authorized(h: Harness, amount: int = 2500) -> str:
    status, body = authorize(h, amount)
    assert status == 201 and body["status"] == "authorized"
    return str(body["id"])


def test_contract_examples_walk_the_flow(h: Harness) -> None:
    ops = h.contract.operations
    auth = ops["authorizePayment"].request_body["application/json"].examples["approved"]
    status, p = h.call("authorizePayment", auth)
    assert status == 201 and p["status"] == "authorized" and p["amount_capturable"] == 2500
    cap = ops["capturePayment"].request_body["application/json"].examples["full"]
    status, c = h.call("capturePayment", cap, payment_id=p["id"])
    assert status == 201 and c["payment"]["status"] == "captured"
    ref = ops["refundPayment"].request_body["application/json"].examples["partial"]
    status, r = h.call("refundPayment", ref, payment_id=p["id"])
    assert status == 201 and r["amount"] == 1000
    assert h.call("getPayment", payment_id=p["id"])[1]["status"] == "partially_refunded"


@pytest.mark.parametrize(("number", "code"), [
    ("4000000000000002", "do_not_honor"), ("4000000000009995", "insufficient_funds"),
    ("4100000000000019", "fraud_suspected"), ("4000000000000069", "expired_card"),
])
def test_decline_cards_answer_402_and_leave_a_declined_payment(h: Harness, number: str, code: str) -> None:
    status, problem = authorize(h, number=number)
    assert status == 402 and problem["decline_code"] == code
    status, p = h.call("getPayment", payment_id=problem["payment_id"])
    assert p["status"] == "declined" and p["decline_code"] == code and p["expires_at"] is None
    [event] = h.events("payment.failed")
    assert event["data"]["object"]["id"] == problem["payment_id"]


def test_past_expiry_date_is_expired_card(h: Harness) -> None:
    status, problem = h.call("authorizePayment", {"amount": 100, "currency": "GBP", "reference": "r",
                                                  "card": {**CARD, "expiry_year": 2025, "expiry_month": 1}})
    assert status == 402 and problem["decline_code"] == "expired_card"


def test_luhn_failure_is_422_and_other_valid_numbers_are_approved(h: Harness) -> None:
    assert luhn_ok("4242424242424242") and not luhn_ok("4242424242424241")
    assert authorize(h, number="4242424242424241")[0] == 422
    status, p = authorize(h, number="5555555555554444")
    assert status == 201 and p["card"]["brand"] == "mastercard" and p["card"]["last4"] == "4444"


def test_token_is_approved(h: Harness) -> None:
    status, p = h.call("authorizePayment", {"amount": 4999, "currency": "GBP", "reference": "o",
                                            "token": "tok_4f1c9a2e7b3d"})
    assert status == 201 and p["status"] == "authorized"


@pytest.mark.parametrize("currency", ["EUR", "GBP", "USD", "PLN", "SEK"])
def test_supported_currencies(h: Harness, currency: str) -> None:
    status, _ = h.call("authorizePayment", {"amount": 1, "currency": currency, "reference": "o", "card": CARD})
    assert status == 201


def test_amount_limits(h: Harness) -> None:
    assert authorize(h, amount=1_000_000)[0] == 201
    status, problem = authorize(h, amount=1_000_001)
    assert status == 422 and problem["errors"][0]["pointer"] == "/amount"
    from simulators.core.errors import ProblemError

    with pytest.raises(ProblemError) as err:  # below 1 or another currency: the contract rejects it (400)
        h.call("authorizePayment", {"amount": 0, "currency": "EUR", "reference": "o", "card": CARD})
    assert err.value.status == 400
    with pytest.raises(ProblemError):
        h.call("authorizePayment", {"amount": 10, "currency": "CHF", "reference": "o", "card": CARD})


def test_3ds_requires_action_then_confirm(h: Harness) -> None:
    status, p = authorize(h, number="4000000000003220")
    assert status == 201 and p["status"] == "requires_action" and p["next_action"]["type"] == "redirect_to_3ds"
    assert h.call("capturePayment", {}, payment_id=p["id"])[0] == 409
    status, p2 = h.call("confirmPayment", {"authentication_result": "success"}, payment_id=p["id"])
    assert status == 200 and p2["status"] == "authorized" and p2["amount_capturable"] == 2500
    assert p2["next_action"] is None
    status, problem = h.call("confirmPayment", {"authentication_result": "success"}, payment_id=p["id"])
    assert status == 409 and problem["payment_status"] == "authorized"
    assert [e["type"] for e in h.events()] == ["payment.authorized"]


def test_3ds_failure_declines(h: Harness) -> None:
    _, p = authorize(h, number="4000000000003220")
    status, problem = h.call("confirmPayment", {"authentication_result": "failure"}, payment_id=p["id"])
    assert status == 402 and problem["decline_code"] == "authentication_failed"
    assert h.call("getPayment", payment_id=p["id"])[1]["status"] == "declined"


def test_several_partial_captures_up_to_the_authorized_amount(h: Harness) -> None:
    pid = authorized(h, 10000)
    status, c1 = h.call("capturePayment", {"amount": 3000}, payment_id=pid)
    assert status == 201 and c1["payment"]["status"] == "partially_captured"
    assert c1["payment"]["amount_capturable"] == 7000
    status, problem = h.call("capturePayment", {"amount": 7001}, payment_id=pid)
    assert status == 422 and "7000" in problem["detail"]
    status, c2 = h.call("capturePayment", {"amount": 5000}, payment_id=pid)
    assert c2["payment"]["status"] == "partially_captured"
    status, c3 = h.call("capturePayment", None, payment_id=pid)  # the rest
    assert status == 201 and c3["amount"] == 2000 and c3["payment"]["status"] == "captured"
    status, problem = h.call("capturePayment", {"amount": 1}, payment_id=pid)
    assert status == 409 and problem["state"] == "captured" and problem["payment_status"] == "captured"
    assert [e["sequence"] for e in h.events("payment.captured")] == [2, 3, 4]


def test_several_partial_refunds_up_to_the_captured_amount(h: Harness) -> None:
    pid = authorized(h, 10000)
    assert h.call("refundPayment", {}, payment_id=pid)[0] == 409  # nothing captured yet
    h.call("capturePayment", {"amount": 6000}, payment_id=pid)
    status, r1 = h.call("refundPayment", {"amount": 2000}, payment_id=pid)
    assert status == 201 and r1["reason"] is None
    p = h.call("getPayment", payment_id=pid)[1]
    assert p["status"] == "partially_refunded" and p["amount_capturable"] == 0  # remainder released
    assert h.call("capturePayment", {"amount": 100}, payment_id=pid)[0] == 409
    status, problem = h.call("refundPayment", {"amount": 4001}, payment_id=pid)
    assert status == 422 and problem["type"].endswith("amount-exceeds-refundable")
    h.call("refundPayment", {"amount": 3000}, payment_id=pid)
    status, r3 = h.call("refundPayment", {"reason": "requested_by_customer"}, payment_id=pid)
    assert r3["amount"] == 1000
    assert h.call("getPayment", payment_id=pid)[1]["status"] == "refunded"
    status, problem = h.call("refundPayment", {"amount": 1}, payment_id=pid)
    assert status == 409 and problem["state"] == "refunded"
    _, page = h.call("listRefunds", query={"limit": 2}, payment_id=pid)
    assert [r["amount"] for r in page["data"]] == [2000, 3000] and page["next_cursor"]
    _, page2 = h.call("listRefunds", query={"limit": 2, "cursor": page["next_cursor"]}, payment_id=pid)
    assert [r["amount"] for r in page2["data"]] == [1000] and page2["next_cursor"] is None


def test_void_only_before_capture(h: Harness) -> None:
    pid = authorized(h)
    status, p = h.call("voidPayment", {"reason": "order_cancelled"}, payment_id=pid)
    assert status == 200 and p["status"] == "voided" and p["amount_capturable"] == 0
    for op in ("voidPayment", "capturePayment", "refundPayment"):
        status, problem = h.call(op, {}, payment_id=pid)
        assert status == 409 and problem["state"] == "voided", op
    pid2 = authorized(h)
    h.call("capturePayment", {"amount": 100}, payment_id=pid2)
    status, problem = h.call("voidPayment", None, payment_id=pid2)
    assert status == 409 and problem["state"] == "partially_captured"
    assert [e["type"] for e in h.events()][:2] == ["payment.authorized", "payment.voided"]


def test_unknown_payment_is_404(h: Harness) -> None:
    for op in ("getPayment", "capturePayment", "voidPayment", "refundPayment", "listRefunds"):
        assert h.call(op, payment_id="pay_000000000bad")[0] == 404, op


def test_authorization_expires_after_7_days_of_simulator_clock(h: Harness) -> None:
    pid = authorized(h)
    h.tick("6d")
    assert h.call("getPayment", payment_id=pid)[1]["status"] == "authorized"
    h.tick("1d")
    assert h.call("getPayment", payment_id=pid)[1]["status"] == "expired"
    status, problem = h.call("capturePayment", {"amount": 100}, payment_id=pid)
    assert status == 409 and problem["state"] == "expired"
    failed = h.events("payment.failed")
    assert failed[-1]["data"]["object"]["status"] == "expired"


def test_expiry_is_seen_on_read_even_without_a_tick(h: Harness) -> None:
    pid = authorized(h)
    h.clock.apply({"advance": "8d"})
    assert h.call("capturePayment", {}, payment_id=pid)[1]["state"] == "expired"


def test_partially_captured_payment_stops_capturing_after_expiry(h: Harness) -> None:
    pid = authorized(h, 5000)
    h.call("capturePayment", {"amount": 1000}, payment_id=pid)
    h.tick("8d")
    status, problem = h.call("capturePayment", {"amount": 100}, payment_id=pid)
    assert status == 409 and problem["state"] == "partially_captured" and "expired" in problem["detail"]
    assert h.call("refundPayment", {}, payment_id=pid)[0] == 201


def test_settlement_report_groups_the_ledger_by_day_and_currency(h: Harness) -> None:
    a, b = authorized(h, 5000), authorized(h, 3000)
    h.call("capturePayment", {}, payment_id=a)
    h.call("refundPayment", {"amount": 1500}, payment_id=a)
    h.tick("1d")
    h.call("capturePayment", {"amount": 3000}, payment_id=b)
    _, usd = h.call("authorizePayment", {"amount": 700, "currency": "USD", "reference": "u", "card": CARD})
    h.call("capturePayment", {}, payment_id=usd["id"])
    status, report = h.call("getSettlementReport", query={"from": "2026-03-01", "to": "2026-03-03"})
    assert status == 200
    by_day = {d["date"]: {t["currency"]: t for t in d["totals"]} for d in report["days"]}
    assert by_day["2026-03-02"]["EUR"] == {"currency": "EUR", "captured": 5000, "refunded": 1500, "net": 3500,
                                           "capture_count": 1, "refund_count": 1}
    assert by_day["2026-03-03"]["EUR"]["captured"] == 3000 and by_day["2026-03-03"]["USD"]["net"] == 700
    assert [e["type"] for e in report["entries"]] == ["capture", "refund", "capture", "capture"]
    _, one = h.call("getSettlementReport", query={"date": "2026-03-03", "currency": "USD"})
    assert [e["amount"] for e in one["entries"]] == [700]


@pytest.mark.parametrize("query", [{}, {"from": "2026-03-01"}, {"date": "2026-03-01", "to": "2026-03-02"},
                                   {"from": "2026-03-05", "to": "2026-03-01"}])
def test_settlement_report_range_rules(h: Harness, query: dict[str, str]) -> None:
    assert h.call("getSettlementReport", query=query)[0] == 400


def test_settlement_range_longer_than_31_days_is_422(h: Harness) -> None:
    assert h.call("getSettlementReport", query={"from": "2026-01-01", "to": "2026-03-01"})[0] == 422
    assert h.call("getSettlementReport", query={"from": "2026-01-01", "to": "2026-01-31"})[0] == 200


def test_provider_states(h: Harness) -> None:
    result = h.state("payment pay_0000000000aa is authorized", amount=9000)
    assert result["payment_id"] == "pay_0000000000aa"
    assert h.call("capturePayment", {"amount": 9000}, payment_id="pay_0000000000aa")[0] == 201
    result = h.state("payment-captured")
    assert h.call("refundPayment", {}, payment_id=result["payment_id"])[0] == 201
    _, report = h.call("getSettlementReport", query={"date": "2026-03-02"})
    assert len(report["entries"]) == 3


def test_webhooks_carry_sequence_and_validate(h: Harness) -> None:
    pid = authorized(h)
    h.call("capturePayment", {"amount": 1000}, payment_id=pid)
    h.call("refundPayment", {"amount": 500}, payment_id=pid)
    events = h.events()
    assert [(e["type"], e["sequence"]) for e in events] == [
        ("payment.authorized", 1), ("payment.captured", 2), ("payment.refunded", 3)]
    h.tick()
    assert [c["headers"]["Sandbox-Event-Type"] for c in h.sent.calls] == [e["type"] for e in events]
    assert h.sent.calls[0]["headers"]["X-Correlation-ID"] == "corr-test"

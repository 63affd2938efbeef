"""Payment provider behaviours: authorize -> capture (partial, several) -> refund; void; 3-D Secure; ledger.

State (namespaces of `sim.store`): "payments" (one record per payment), "captures" and "refunds" (one
per operation), "ledger" (captures and refunds in the order they happened: the settlement report's
source) and "payment_expiry" (payments whose authorization can still lapse, with when it does).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from simulators.core.behaviours import Behaviours, Reply, Request, SimContext
from simulators.core.errors import ProblemError

payment = Behaviours("payment")

CURRENCIES = ("EUR", "GBP", "USD", "PLN", "SEK")
MIN_AMOUNT, MAX_AMOUNT = 1, 1_000_000
AUTH_TTL_S = 7 * 86400
MAX_REPORT_DAYS = 31
PROBLEM = "https://payments.sandbox.example/problems/"

APPROVED, REQUIRES_3DS = "approved", "requires_action"
TEST_CARDS: dict[str, str] = {
    "4242424242424242": APPROVED,
    "4000000000000002": "do_not_honor",
    "4000000000009995": "insufficient_funds",
    "4100000000000019": "fraud_suspected",
    "4000000000003220": REQUIRES_3DS,
    "4000000000000069": "expired_card",
}
DECLINE_DETAILS = {
    "do_not_honor": "The issuer declined the payment (do_not_honor).",
    "insufficient_funds": "The card has insufficient funds.",
    "fraud_suspected": "The payment was blocked as suspected fraud.",
    "expired_card": "The card has expired.",
    "authentication_failed": "3-D Secure authentication failed.",
}
CAPTURABLE = ("authorized", "partially_captured")
REFUNDABLE = ("captured", "partially_captured", "partially_refunded")
VOIDABLE = ("authorized", "requires_action")


def luhn_ok(number: str) -> bool:
    """True when a card number passes the Luhn checksum."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_outcome(number: str) -> str:
    """What a card number does: 'approved', 'requires_action', a decline code, or 'invalid' (Luhn)."""
    if number in TEST_CARDS:
        return TEST_CARDS[number]
    return APPROVED if luhn_ok(number) else "invalid"


def brand(number: str) -> str:
    """The card scheme by its leading digits."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    return "amex" if number[:2] in {"34", "37"} else "unknown"


# ----------------------------------------------------------------------------------------------- helpers
def problem(status: int, kind: str, title: str, detail: str, **ext: Any) -> ProblemError:
    """A payment problem document with a typed `type` URI."""
    return ProblemError(status, title, detail, type_=PROBLEM + kind, **ext)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def view(p: dict[str, Any]) -> dict[str, Any]:
    """The payment as the contract shows it (internal fields start with '_')."""
    return {k: v for k, v in p.items() if not k.startswith("_")}


def _emit(sim: SimContext, event_type: str, p: dict[str, Any], req: Request | None) -> None:
    if sim.webhooks is not None:
        sim.webhooks.emit(event_type, view(p), key=p["id"], correlation_id=req.correlation_id if req else None)


def _touch(sim: SimContext, p: dict[str, Any]) -> None:
    p["updated_at"] = sim.clock.iso()
    sim.store.put("payments", p["id"], p)


def _load(sim: SimContext, payment_id: str) -> dict[str, Any]:
    p = sim.store.get("payments", payment_id)
    if p is None:
        raise problem(404, "not-found", "Payment not found", f"No payment with id {payment_id}.",
                      payment_id=payment_id)
    return lapse_if_due(sim, p)


def lapse_if_due(sim: SimContext, p: dict[str, Any]) -> dict[str, Any]:
    """After 7 days of simulator clock an uncaptured authorization expires; a partial one stops capturing."""
    due = p.get("_expires_ts")
    if due is None or sim.clock.timestamp() < due:
        return p
    p["_expires_ts"] = None
    sim.store.delete("payment_expiry", p["id"])
    if p["status"] in ("authorized", "requires_action"):
        p["status"], p["amount_capturable"], p["next_action"] = "expired", 0, None
        _touch(sim, p)
        _emit(sim, "payment.failed", p, None)
    else:
        p["amount_capturable"] = 0
        _touch(sim, p)
    return p


def _wrong_state(p: dict[str, Any], verb: str, allowed: tuple[str, ...], detail: str | None = None) -> ProblemError:
    return problem(
        409, "invalid-state", f"Payment cannot be {verb}",
        detail or f"Payment {p['id']} is {p['status']}; only {' or '.join(allowed)} payments can be {verb}.",
        payment_id=p["id"], payment_status=p["status"], state=p["status"],
    )


def _too_much(p: dict[str, Any], amount: int, left: int, what: str) -> ProblemError:
    return problem(
        422, f"amount-exceeds-{what}", f"Amount exceeds {what} amount",
        f"Payment {p['id']} has {left} {what}; {amount} was requested.", payment_id=p["id"],
        errors=[{"pointer": "/amount", "expected": f"integer <= {left}", "received": amount,
                 "message": f"amount exceeds amount_{what}"}],
    )


def _ledger(sim: SimContext, kind: str, p: dict[str, Any], op_id: str, amount: int) -> None:
    sim.store.put("ledger", op_id, {
        "id": op_id, "payment_id": p["id"], "reference": p["reference"], "type": kind, "amount": amount,
        "currency": p["currency"], "at": sim.clock.iso(), "date": sim.clock.now().date().isoformat(),
    })


def new_payment(sim: SimContext, amount: int, currency: str, reference: str, card: dict[str, Any],
                **extra: Any) -> dict[str, Any]:
    """A fresh authorized payment record (not yet stored)."""
    now = sim.clock.timestamp()
    return {
        "id": sim.new_id("pay"), "status": "authorized", "amount": amount, "currency": currency,
        "amount_captured": 0, "amount_refunded": 0, "amount_capturable": amount, "capture_method": "manual",
        "reference": reference, "customer_id": extra.get("customer_id"), "card": card, "decline_code": None,
        "next_action": None, "metadata": extra.get("metadata") or {}, "created_at": sim.clock.iso(),
        "updated_at": sim.clock.iso(), "expires_at": _iso(now + AUTH_TTL_S), "_expires_ts": now + AUTH_TTL_S,
        "_description": extra.get("description"),
    }


# ----------------------------------------------------------------------------------------------- operations
@payment.operation("authorizePayment")
def authorize(req: Request, sim: SimContext) -> Reply:
    """Authorize an amount on a card or token; test card numbers decide the outcome."""
    body = req.body
    amount = body["amount"]
    if amount > MAX_AMOUNT:
        raise problem(422, "amount-too-large", "Amount too large",
                      f"The maximum amount of a payment is {MAX_AMOUNT} minor units.",
                      errors=[{"pointer": "/amount", "expected": f"integer <= {MAX_AMOUNT}", "received": amount,
                               "message": f"amount exceeds the maximum of {MAX_AMOUNT}"}])
    now = sim.clock.now()
    if "card" in body:
        raw = body["card"]
        number = raw["number"]
        card = {"brand": brand(number), "last4": number[-4:], "expiry_month": raw["expiry_month"],
                "expiry_year": raw["expiry_year"]}
        outcome = card_outcome(number)
        if outcome == "invalid":
            raise problem(422, "invalid-card-number", "Invalid card number",
                          "The card number fails the Luhn check.",
                          errors=[{"pointer": "/card/number", "expected": "a number passing the Luhn check",
                                   "received": f"...{number[-4:]}", "message": "card number fails the Luhn check"}])
        if outcome == APPROVED and (raw["expiry_year"], raw["expiry_month"]) < (now.year, now.month):
            outcome = "expired_card"
    else:
        card = {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": min(now.year + 4, 2099)}
        outcome = APPROVED
    p = new_payment(sim, amount, body["currency"], body["reference"], card, customer_id=body.get("customer_id"),
                    metadata=body.get("metadata"), description=body.get("description"))
    if outcome == REQUIRES_3DS:
        p["status"], p["amount_capturable"] = "requires_action", 0
        p["next_action"] = {"type": "redirect_to_3ds",
                            "url": f"https://3ds.payments.sandbox.example/challenge/{p['id']}"}
    elif outcome != APPROVED:
        p.update(status="declined", decline_code=outcome, amount_capturable=0, expires_at=None, _expires_ts=None)
    with sim.store.transaction():
        sim.store.put("payments", p["id"], p)
        if p["_expires_ts"] is not None:
            sim.store.put("payment_expiry", p["id"], p["_expires_ts"])
    if p["status"] == "declined":
        _emit(sim, "payment.failed", p, req)
        raise problem(402, "card-declined", "Card declined", DECLINE_DETAILS[outcome],
                      decline_code=outcome, payment_id=p["id"])
    if p["status"] == "authorized":
        _emit(sim, "payment.authorized", p, req)
    return Reply(201, view(p))


@payment.operation("confirmPayment")
def confirm(req: Request, sim: SimContext) -> Reply:
    """Post the 3-D Secure outcome of a requires_action payment: authorized, or declined."""
    with sim.store.transaction():
        p = _load(sim, req.path_params["payment_id"])
        if p["status"] != "requires_action":
            raise _wrong_state(p, "confirmed", ("requires_action",))
        p["next_action"] = None
        failed = req.body["authentication_result"] == "failure"
        if failed:
            p.update(status="declined", decline_code="authentication_failed", expires_at=None, _expires_ts=None)
            sim.store.delete("payment_expiry", p["id"])
        else:
            p.update(status="authorized", amount_capturable=p["amount"])
        _touch(sim, p)
    if failed:
        _emit(sim, "payment.failed", p, req)
        raise problem(402, "card-declined", "Card declined", DECLINE_DETAILS["authentication_failed"],
                      decline_code="authentication_failed", payment_id=p["id"])
    _emit(sim, "payment.authorized", p, req)
    return Reply(200, view(p))


@payment.operation("getPayment")
def get_payment(req: Request, sim: SimContext) -> Reply:
    """One payment as it is now (an overdue authorization shows as expired)."""
    with sim.store.transaction():
        return Reply(200, view(_load(sim, req.path_params["payment_id"])))


@payment.operation("capturePayment")
def capture(req: Request, sim: SimContext) -> Reply:
    """Capture all or part of what is still capturable; several partial captures are allowed."""
    body = req.body or {}
    with sim.store.transaction():
        p = _load(sim, req.path_params["payment_id"])
        if p["status"] not in CAPTURABLE:
            raise _wrong_state(p, "captured", CAPTURABLE)
        left = p["amount_capturable"]
        if left == 0:
            raise _wrong_state(p, "captured", CAPTURABLE,
                               f"Payment {p['id']} is {p['status']} and its authorization expired at "
                               f"{p['expires_at']}; nothing more can be captured.")
        amount = body.get("amount", left)
        if amount > left:
            raise _too_much(p, amount, left, "capturable")
        cap = {"id": sim.new_id("cap"), "payment_id": p["id"], "amount": amount, "currency": p["currency"],
               "status": "succeeded", "metadata": body.get("metadata") or {}, "created_at": sim.clock.iso()}
        p["amount_captured"] += amount
        p["amount_capturable"] -= amount
        p["status"] = "captured" if p["amount_capturable"] == 0 else "partially_captured"
        if p["status"] == "captured":
            p["_expires_ts"] = None
            sim.store.delete("payment_expiry", p["id"])
        _touch(sim, p)
        sim.store.put("captures", cap["id"], cap)
        _ledger(sim, "capture", p, cap["id"], amount)
    _emit(sim, "payment.captured", p, req)
    return Reply(201, {**cap, "payment": view(p)})


@payment.operation("voidPayment")
def void(req: Request, sim: SimContext) -> Reply:
    """Release an authorization; only before anything was captured."""
    with sim.store.transaction():
        p = _load(sim, req.path_params["payment_id"])
        if p["status"] not in VOIDABLE:
            raise _wrong_state(p, "voided", VOIDABLE)
        p.update(status="voided", amount_capturable=0, next_action=None, _expires_ts=None)
        if req.body and req.body.get("reason"):
            p["_void_reason"] = req.body["reason"]
        sim.store.delete("payment_expiry", p["id"])
        _touch(sim, p)
    _emit(sim, "payment.voided", p, req)
    return Reply(200, view(p))


@payment.operation("refundPayment")
def refund(req: Request, sim: SimContext) -> Reply:
    """Refund all or part of what was captured and not yet refunded; releases the uncaptured rest."""
    body = req.body or {}
    with sim.store.transaction():
        p = _load(sim, req.path_params["payment_id"])
        if p["status"] not in REFUNDABLE:
            raise _wrong_state(p, "refunded", REFUNDABLE)
        left = p["amount_captured"] - p["amount_refunded"]
        amount = body.get("amount", left)
        if amount > left:
            raise _too_much(p, amount, left, "refundable")
        ref = {"id": sim.new_id("ref"), "payment_id": p["id"], "amount": amount, "currency": p["currency"],
               "reason": body.get("reason"), "status": "succeeded", "metadata": body.get("metadata") or {},
               "created_at": sim.clock.iso()}
        p["amount_refunded"] += amount
        p["amount_capturable"], p["_expires_ts"] = 0, None
        p["status"] = "refunded" if p["amount_refunded"] == p["amount_captured"] else "partially_refunded"
        sim.store.delete("payment_expiry", p["id"])
        _touch(sim, p)
        sim.store.put("refunds", ref["id"], {**ref, "_seq": sim.store.incr("payment_meta", f"refunds:{p['id']}")})
        _ledger(sim, "refund", p, ref["id"], amount)
    _emit(sim, "payment.refunded", p, req)
    return Reply(201, ref)


@payment.operation("listRefunds")
def list_refunds(req: Request, sim: SimContext) -> Reply:
    """The refunds of one payment, oldest first, a page at a time (cursor = index of the next one)."""
    p = _load(sim, req.path_params["payment_id"])
    limit = int(req.query.get("limit", 20))
    refunds = [r for _, r in sim.store.items("refunds") if r["payment_id"] == p["id"]]
    cursor = req.query.get("cursor")
    start = int(cursor[2:]) if cursor and cursor.startswith("r_") and cursor[2:].isdigit() else 0
    if cursor and not (cursor.startswith("r_") and cursor[2:].isdigit()):
        raise problem(400, "invalid-cursor", "Invalid cursor", "Pass the next_cursor of a previous page.",
                      errors=[{"pointer": "/cursor", "message": "not a cursor this API returned"}])
    page = refunds[start:start + limit]
    more = start + limit < len(refunds)
    return Reply(200, {"data": [view(r) for r in page], "next_cursor": f"r_{start + limit}" if more else None})


@payment.operation("getSettlementReport")
def settlement_report(req: Request, sim: SimContext) -> Reply:
    """Captured and refunded totals per UTC day and currency, with every ledger entry of the range."""
    q = req.query
    if q.get("date") and not (q.get("from") or q.get("to")):
        start = end = str(q["date"])
    elif q.get("from") and q.get("to") and not q.get("date"):
        start, end = str(q["from"]), str(q["to"])
    else:
        raise problem(400, "invalid-range", "Invalid date range",
                      "Give either `date`, or both `from` and `to`.",
                      errors=[{"pointer": "/date", "message": "give either date, or both from and to"}])
    if start > end:
        raise problem(400, "invalid-range", "Invalid date range", f"`from` ({start}) is after `to` ({end}).",
                      errors=[{"pointer": "/from", "message": "from must not be after to"}])
    if (date.fromisoformat(end) - date.fromisoformat(start)).days >= MAX_REPORT_DAYS:
        raise problem(422, "range-too-long", "Settlement range too long",
                      f"A report covers at most {MAX_REPORT_DAYS} days; {start}..{end} is longer.",
                      errors=[{"pointer": "/to", "message": f"at most {MAX_REPORT_DAYS} days after from"}])
    currency = q.get("currency")
    days: dict[str, dict[str, dict[str, Any]]] = {}
    entries = []
    for _, e in sim.store.items("ledger"):
        if not start <= e["date"] <= end or (currency and e["currency"] != currency):
            continue
        entries.append({k: v for k, v in e.items() if k != "date"})
        t = days.setdefault(e["date"], {}).setdefault(e["currency"], {
            "currency": e["currency"], "captured": 0, "refunded": 0, "net": 0, "capture_count": 0,
            "refund_count": 0})
        if e["type"] == "capture":
            t["captured"] += e["amount"]
            t["capture_count"] += 1
        else:
            t["refunded"] += e["amount"]
            t["refund_count"] += 1
        t["net"] = t["captured"] - t["refunded"]
    report_days = [{"date": d, "totals": [days[d][c] for c in sorted(days[d])]} for d in sorted(days)]
    return Reply(200, {"from": start, "to": end, "generated_at": sim.clock.iso(), "days": report_days,
                       "entries": entries})


# ----------------------------------------------------------------------------------------------- clock
@payment.on_tick
def expire_authorizations(sim: SimContext) -> None:
    """Lapse authorizations 7 days old (simulator clock): expired, with a payment.failed webhook."""
    now = sim.clock.timestamp()
    for payment_id, due in sim.store.items("payment_expiry"):
        if due is not None and float(due) <= now:
            with sim.store.transaction():
                p = sim.store.get("payments", payment_id)
                sim.store.delete("payment_expiry", payment_id)
                if p is not None:
                    lapse_if_due(sim, p)


# ----------------------------------------------------------------------------------------------- states
def _seed(sim: SimContext, params: dict[str, Any], captured: bool) -> dict[str, Any]:
    amount, currency = int(params.get("amount", 2500)), str(params.get("currency", "EUR"))
    card = {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030}
    p = new_payment(sim, amount, currency, str(params.get("reference", "order-10042")), card)
    if params.get("payment_id"):
        p["id"] = str(params["payment_id"])
    result: dict[str, Any] = {"payment_id": p["id"], "amount": amount, "currency": currency}
    if captured:
        cap_id = sim.new_id("cap")
        p.update(status="captured", amount_captured=amount, amount_capturable=0, _expires_ts=None)
        sim.store.put("captures", cap_id, {"id": cap_id, "payment_id": p["id"], "amount": amount,
                                           "currency": currency, "status": "succeeded", "metadata": {},
                                           "created_at": sim.clock.iso()})
        _ledger(sim, "capture", p, cap_id, amount)
        result["capture_id"] = cap_id
    else:
        sim.store.put("payment_expiry", p["id"], p["_expires_ts"])
    sim.store.put("payments", p["id"], p)
    return {**result, "status": p["status"]}


@payment.state("payment-authorized", "payment {payment_id} is authorized", payment_id="pay_00000000a001",
               amount=2500, currency="EUR")
def state_authorized(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """An approved authorization of `amount` `currency`, nothing captured yet."""
    return _seed(sim, params, captured=False)


@payment.state("payment-captured", "payment {payment_id} is captured", payment_id="pay_00000000c001",
               amount=2500, currency="EUR")
def state_captured(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """A payment captured in full (one capture in the ledger), ready to refund."""
    return _seed(sim, params, captured=True)

"""Checkout as a persisted state machine: simulate → authorize → record sale → capture → fulfil.

Every step is a compare-and-set on the order row's `step`; every provider call carries an idempotency
key derived from the order (`{order_id}:authorize`, `:sale`, `:capture`, `:void`), so a step re-run after
a crash or a lost answer replays instead of repeating. The order row and its `order.process` outbox
message are written in one transaction: if the process dies mid-checkout, the worker picks the message
up once the order's lease lapses and resumes (or compensates) from the recorded step.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

import sqlalchemy as sa

from .. import logs, metrics
from ..errors import ProblemError, ProviderRejected, ProviderUnavailable
from ..outbox import Defer
from ..services import Services
from ..store import Conflict
from . import orders

log = logs.get("checkout")
PROCESS = "order.process"
AFTER_CAPTURE = frozenset({"fulfilling", "completed"})


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of the placeOrder body (same key + different body is refused)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validate(body: dict[str, Any]) -> None:
    """The rules the schema cannot say; answers 422 problems."""
    kind = body.get("payment_type")
    if kind == "hp" and not isinstance(body.get("hp"), dict):
        raise ProblemError(422, "HP terms missing", "payment_type 'hp' needs 'hp': {term_months, deposit}",
                           type_="/problems/validation")
    needs_payment = kind == "cash" or (kind == "hp" and int((body.get("hp") or {}).get("deposit") or 0) > 0)
    if needs_payment and not isinstance(body.get("payment"), dict):
        raise ProblemError(422, "Payment details missing", "this order needs 'payment': {card} or {token}",
                           type_="/problems/validation")
    if not body.get("items") and not body.get("from_basket"):
        raise ProblemError(422, "Nothing to order", "give 'items' or 'from_basket': true",
                           type_="/problems/validation")


def place(svc: Services, idempotency_key: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """placeOrder: create (or find) the order for this key and run it as far as it can go now."""
    validate(body)
    digest = request_hash(body)
    now = time.time()
    order_id = "ord_" + secrets.token_hex(8)
    lease = svc.config.checkout_lease_s
    row: dict[str, Any] = dict.fromkeys(c.name for c in svc.store.t["orders"].columns)
    row.update({
        "id": order_id, "idempotency_key": idempotency_key, "request_hash": digest,
        "customer_id": body["customer_id"], "payment_type": body["payment_type"], "status": "pending",
        "step": "new", "request": body, "currency": svc.config.currency, "captured_minor": 0,
        "refunded_minor": 0, "payment_seq": 0, "fulfilment_status": "unfulfilled",
        "lease_until": now + lease, "created_at": now, "updated_at": now})  # born leased to this runner
    try:
        with svc.store.tx() as conn:
            svc.store.insert("orders", row, conn=conn)
            svc.outbox.enqueue(conn, PROCESS, f"{PROCESS}:{order_id}", {"order_id": order_id}, delay_s=lease)
    except Conflict:
        t = svc.store.t["orders"]
        existing = svc.store.one(sa.select(t).where(t.c.idempotency_key == idempotency_key))
        if existing is None:
            raise
        if existing["request_hash"] != digest:
            raise ProblemError(422, "Idempotency-Key reused with a different body",
                               f"key '{idempotency_key}' belongs to order {existing['id']}",
                               type_="/problems/idempotency-key-reused", order_id=existing["id"]) from None
        if not _retry_unavailable(svc, existing):
            return existing, True
        return advance(svc, existing["id"], inline=True) or orders.load(svc, existing["id"]), False
    return advance(svc, order_id, inline=True, leased=row) or orders.load(svc, order_id), False


def _retry_unavailable(svc: Services, order: dict[str, Any]) -> bool:
    """A client retry of an order that failed only because payment was unavailable runs it again."""
    if order["status"] != "failed" or order["reason"] != "payment_unavailable":
        return False
    ok = svc.store.update("orders", order["id"], orders.touch({"status": "pending", "step": "simulated",
                                                               "reason": None}),
                          where=svc.store.t["orders"].c.reason == "payment_unavailable")
    if ok:
        svc.outbox.requeue(f"{PROCESS}:{order['id']}", svc.config.checkout_lease_s)
    return ok


def advance(svc: Services, order_id: str, *, inline: bool,
            leased: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Run the order's remaining steps under its lease; raises Defer when another runner holds it.

    `leased` is the row of an order this runner has just created (born with its lease: no lease to take).
    Returns the order as it now stands, or None when the caller should read it again.
    """
    now = time.time()
    order = leased
    if order is None:
        with svc.store.tx() as conn:
            got = conn.execute(_lease_statement(svc), {"lease_until": now + svc.config.checkout_lease_s,
                                                      "_pk": order_id, "_now": now}).rowcount == 1
            order = svc.store.get("orders", order_id, conn)
        if order is None:
            raise ProblemError(404, "Order not found", f"no order '{order_id}'")
        if not got:
            raise Defer(max(0.1, order["lease_until"] - now), "order leased by another runner")
    try:
        while True:
            if order.pop("_stale", False):
                order = orders.load(svc, order_id)
            if order["status"] in orders.TERMINAL or order["step"] in AFTER_CAPTURE:
                return order
            step = STEPS[order["step"]]
            try:
                step(svc, order)  # moves `order` on in place (or marks it _stale)
            except ProviderUnavailable as exc:
                _unavailable(svc, order, exc, inline=inline)
                return None
    finally:
        if order.get("lease_until") != 0.0:  # the last transition may have released it already
            svc.store.update("orders", order_id, {"lease_until": 0.0})
            order["lease_until"] = 0.0


def _unavailable(svc: Services, order: dict[str, Any], exc: ProviderUnavailable, *, inline: bool) -> None:
    """A provider is down: authorization cannot wait (503); every other step waits for the worker."""
    if inline and order["step"] == "simulated":
        with svc.store.tx() as conn:
            _fail(svc, order, "payment_unavailable", str(exc), conn=conn)
        metrics.CHECKOUTS.labels("failed", "payment_unavailable").inc()
        raise ProblemError(503, "Payment provider unavailable", "the card could not be authorized now; retry "
                           "with the same Idempotency-Key", type_="/problems/provider-unavailable",
                           retry_after=int(max(1, exc.retry_after or 5)), order_id=order["id"])
    svc.store.update("orders", order["id"], orders.touch({"reason": f"waiting_for_{exc.provider}"}))
    log.warning("checkout waiting for provider", extra={"order_id": order["id"], "step": order["step"],
                                                        "provider": exc.provider, "error": str(exc)})
    if inline:
        svc.outbox.reschedule(f"{PROCESS}:{order['id']}", max(0.2, exc.retry_after or svc.config.outbox_backoff_s))
    else:
        raise exc


def _lease_statement(svc: Services) -> Any:
    """Take the order's lease if nobody holds it (a compare-and-set on lease_until)."""
    t = svc.store.t["orders"]
    return svc.store.statement("checkout.lease", lambda: sa.update(t).where(
        t.c.id == sa.bindparam("_pk"), t.c.lease_until <= sa.bindparam("_now")))


def _fail(svc: Services, order: dict[str, Any], reason: str, detail: str, *, conn: Any,
          step: str = "failed", **values: Any) -> None:
    """End the order as failed with a reason (nothing is left charged by the caller's contract)."""
    final = orders.touch({"status": "failed", "step": step, "lease_until": 0.0,
                          "reason": f"{reason}: {detail}"[:500] if reason != "payment_unavailable" else reason,
                          **values})
    svc.store.update("orders", order["id"], final, conn=conn)
    order.update(final)
    svc.outbox.complete(f"{PROCESS}:{order['id']}", conn)
    if reason != "payment_unavailable":
        metrics.CHECKOUTS.labels("failed", reason).inc()
        log.info("checkout failed", extra={"order_id": order["id"], "reason": reason, "detail": detail})


def _cas(svc: Services, order: dict[str, Any], values: dict[str, Any], conn: Any = None) -> bool:
    """Move the order on from the step it was read at; False when someone else already did."""
    values = orders.touch({"lease_until": time.time() + svc.config.checkout_lease_s, **values})
    ok = svc.store.update("orders", order["id"], values, expect={"step": order["step"]}, conn=conn)
    if ok:
        order.update(values)
    else:
        order["_stale"] = True
    return ok


# -- the steps -----------------------------------------------------------------------------------

def sale_base(svc: Services, req: dict[str, Any]) -> dict[str, Any]:
    """The customer and delivery address of a legacy sale: the storefront may leave the address out, the
    backend may not, so the customer's default address stands in."""
    sale: dict[str, Any] = {"customer_id": req["customer_id"]}
    address_id = req.get("delivery_address_id")
    if not address_id:
        addresses = svc.legacy.list_addresses(req["customer_id"]).get("items") or []
        default = next((a for a in addresses if a.get("default")), addresses[0] if addresses else None)
        address_id = default["id"] if default else None
    if address_id:
        sale["delivery_address_id"] = address_id
    return sale


def _simulate(svc: Services, order: dict[str, Any]) -> None:
    """Ask the legacy backend for totals (promotions are computed there, never here)."""
    req = order["request"]
    sale = sale_base(svc, req)
    try:
        if order["payment_type"] == "hp":
            if not req.get("items"):
                req = {**req, "items": _basket_items(svc, req["customer_id"])}
            sim = svc.legacy.simulate_hp({**sale, "items": req["items"], "term_months": req["hp"]["term_months"],
                                          "deposit": int(req["hp"].get("deposit") or 0)})
            amount = int(sim["hp"]["deposit"])
        else:
            sim = svc.legacy.simulate_cash({**sale, "items": req["items"]} if req.get("items")
                                           else {**sale, "from_basket": True})
            amount = int(sim["totals"]["total"])
    except ProviderRejected as exc:
        reason = {403: "kyc_not_approved", 409: "out_of_stock"}.get(exc.status or 0, "invalid_order")
        with svc.store.tx() as conn:
            _fail(svc, order, reason, _detail(exc), conn=conn)
        return
    items = req.get("items") or [{"sku": line["sku"], "quantity": line["quantity"]} for line in sim["lines"]]
    totals = {**sim["totals"], **({"hp": sim["hp"]} if "hp" in sim else {})}
    _cas(svc, order, {"step": "simulated", "totals": totals, "amount_minor": amount,
                      "currency": sim["totals"].get("currency", svc.config.currency),
                      "request": {**req, "items": items}})


def _basket_items(svc: Services, customer_id: str) -> list[dict[str, Any]]:
    """The customer's basket as sale items."""
    basket = svc.legacy.get_basket(customer_id)
    return [{"sku": i["sku"], "quantity": i["quantity"]} for i in basket.get("items") or []]


def _authorize(svc: Services, order: dict[str, Any]) -> None:
    """Reserve the amount on the card; a decline ends the order with the decline code."""
    req = order["request"]
    if not order["amount_minor"]:
        _cas(svc, order, {"step": "authorized"})
        return
    try:
        pay = svc.payment.authorize(amount=order["amount_minor"], currency=order["currency"],
                                    reference=order["id"], instrument=req["payment"],
                                    idempotency_key=f"{order['id']}:authorize", customer_id=order["customer_id"])
    except ProviderRejected as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        reason = "declined" if exc.status == 402 else "payment_rejected"
        with svc.store.tx() as conn:
            _fail(svc, order, reason, body.get("decline_code") or _detail(exc), conn=conn,
                  payment_id=body.get("payment_id"), payment_status="declined" if exc.status == 402 else None,
                  request=_scrub(req))
        return
    values = {"step": "authorized", "payment_id": pay["id"], "payment_status": pay["status"],
              "request": _scrub(req)}
    if pay["status"] == "requires_action":
        values.update(step="compensating", reason="authentication_required: 3-D Secure is not supported here")
    _cas(svc, order, values)


def _scrub(req: dict[str, Any]) -> dict[str, Any]:
    """The request without the card number and CVC (kept only until authorization)."""
    payment = dict(req.get("payment") or {})
    card = payment.get("card")
    if isinstance(card, dict):
        payment["card"] = {"last4": str(card.get("number", ""))[-4:], "expiry_month": card.get("expiry_month"),
                           "expiry_year": card.get("expiry_year")}
    return {**req, "payment": payment} if req.get("payment") else req


def _record_sale(svc: Services, order: dict[str, Any]) -> None:
    """Record the sale in the legacy backend; if it refuses, compensate by voiding the authorization."""
    req = order["request"]
    base = {"customer_id": order["customer_id"], "items": req["items"],
            "delivery_address_id": req.get("delivery_address_id")}
    key = f"{order['id']}:sale"
    try:
        if order["payment_type"] == "hp":
            sale = svc.legacy.create_hp_sale({**base, "term_months": req["hp"]["term_months"],
                                              "deposit": int(req["hp"].get("deposit") or 0),
                                              "agreement_accepted": True, "payment_reference": order["payment_id"]},
                                             idempotency_key=key)
        else:
            sale = svc.legacy.create_cash_sale({**base, "payment_reference": order["payment_id"],
                                                "expected_total": order["amount_minor"]}, idempotency_key=key)
    except ProviderRejected as exc:
        reason = {409: "out_of_stock", 403: "kyc_not_approved"}.get(exc.status or 0, "sale_rejected")
        _cas(svc, order, {"step": "compensating", "reason": f"{reason}: {_detail(exc)}"[:500]})
        return
    _cas(svc, order, {"step": "sale_recorded", "legacy_order_id": sale["order_id"]})


def _capture(svc: Services, order: dict[str, Any]) -> None:
    """Capture the authorized amount (the key makes a lost answer safe to retry)."""
    if not order["payment_id"]:
        _cas(svc, order, {"step": "captured"})
        return
    try:
        cap = svc.payment.capture(order["payment_id"], amount=order["amount_minor"],
                                  idempotency_key=f"{order['id']}:capture")
    except ProviderRejected as exc:
        with svc.store.tx() as conn:
            _fail(svc, order, "capture_failed", _detail(exc), conn=conn)
            if order["legacy_order_id"]:
                svc.outbox.enqueue(conn, "legacy.cancel_order", f"legacy.cancel:{order['id']}",
                                   {"order_id": order["id"], "reason": "payment_failed"})
        return
    _cas(svc, order, {"step": "captured", "captured_minor": cap["amount"],
                      "payment_status": (cap.get("payment") or {}).get("status", "captured")})


def _confirm(svc: Services, order: dict[str, Any]) -> None:
    """Paid and recorded: queue shipment booking and the confirmation, in the same transaction."""
    with svc.store.tx() as conn:
        # the last inline transition: it also releases the order's lease (the rest is the outbox's)
        if not _cas(svc, order, {"step": "fulfilling", "status": "confirmed", "reason": None, "lease_until": 0.0},
                    conn=conn):
            return
        svc.outbox.enqueue(conn, "shipment.book", f"shipment.book:{order['id']}", {"order_id": order["id"]})
        svc.outbox.enqueue(conn, "notify.customer", f"notify:{order['id']}:order_confirmed",
                           {"order_id": order["id"], "template": "order_confirmed"})
        svc.outbox.complete(f"{PROCESS}:{order['id']}", conn)
    metrics.CHECKOUTS.labels("confirmed", "ok").inc()


def _compensate(svc: Services, order: dict[str, Any]) -> None:
    """Void the authorization so nothing is left charged, then end the order as failed."""
    if order["payment_id"]:
        try:
            pay = svc.payment.void(order["payment_id"], reason="order_cancelled",
                                   idempotency_key=f"{order['id']}:void")
            status = pay.get("status", "voided")
        except ProviderRejected as exc:  # already voided or expired: nothing is reserved any more
            status = (exc.body or {}).get("status") if isinstance(exc.body, dict) else None
            log.warning("void refused during compensation", extra={"order_id": order["id"], "error": str(exc)})
        order_reason = order["reason"] or "sale_rejected: unknown"
    else:
        status, order_reason = order["payment_status"], order["reason"] or "sale_rejected: unknown"
    reason, _, detail = order_reason.partition(": ")
    with svc.store.tx() as conn:
        _fail(svc, order, reason, detail, conn=conn, step="voided", payment_status=status or "voided")


def _detail(exc: ProviderRejected) -> str:
    """A short reason from a provider problem document."""
    body = exc.body if isinstance(exc.body, dict) else {}
    return str(body.get("detail") or body.get("title") or exc)[:300]


STEPS = {"new": _simulate, "simulated": _authorize, "authorized": _record_sale,
         "sale_recorded": _capture, "captured": _confirm, "compensating": _compensate}


def process_message(svc: Services, payload: dict[str, Any]) -> None:
    """Outbox handler of `order.process`: resume the order from its recorded step."""
    advance(svc, payload["order_id"], inline=False)

"""Webhook receivers: verify the signature, deduplicate by event id, apply in provider sequence order."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from typing import Any

import orjson
import sqlalchemy as sa

from .. import logs, metrics
from ..errors import ProblemError
from ..services import Services
from ..store import Conflict, Tx
from . import orders

log = logs.get("webhooks")
FINAL_SHIPMENT = frozenset({"delivered", "returned", "cancelled"})


def verify(secret: str, header: str | None, raw: bytes, *, tolerance_s: float = 0.0,
           now: float | None = None) -> bool:
    """Check `Sandbox-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` in constant time."""
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    stamp = (parts.get("t") or [""])[0]
    if not stamp.isdigit() or not parts.get("v1"):
        return False
    if tolerance_s and abs((now or time.time()) - int(stamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, sig) for sig in parts["v1"])


def _parse_time(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 string."""
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def receive(svc: Services, provider: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    """Handle one delivery: 401 on a bad signature, 'duplicate' on a seen event id, else apply."""
    if not verify(svc.config.webhook_secret, headers.get("Sandbox-Signature"), raw,
                  tolerance_s=svc.config.webhook_tolerance_s):
        metrics.WEBHOOKS.labels(provider, "bad_signature").inc()
        raise ProblemError(401, "Invalid webhook signature", "Sandbox-Signature does not match the body",
                           type_="/problems/bad-signature")
    try:
        event = orjson.loads(raw)
        obj = event["data"]["object"]
        event_id = headers.get("Sandbox-Event-Id") or event["id"]
        sequence = int(event.get("sequence") or 0)
    except (ValueError, KeyError, TypeError) as exc:
        metrics.WEBHOOKS.labels(provider, "malformed").inc()
        raise ProblemError(400, "Malformed webhook event", str(exc), type_="/problems/validation") from exc
    created = _parse_time(event.get("created_at"))
    if created is not None:
        metrics.WEBHOOK_LAG.labels(provider).observe(max(0.0, time.time() - created))
    apply = _apply_payment if provider == "payment" else _apply_shipment
    try:
        with svc.store.tx() as conn:  # dedup record and state change commit together
            svc.store.insert("webhook_events", {
                "event_id": event_id, "provider": provider, "type": str(event.get("type")),
                "object_id": obj.get("id"), "sequence": sequence, "applied": False, "payload": event,
                "received_at": time.time()}, conn=conn)
            outcome = apply(svc, conn, obj, sequence)
            if outcome == "applied":
                svc.store.update("webhook_events", event_id, {"applied": True}, conn=conn)
    except Conflict:
        metrics.WEBHOOKS.labels(provider, "duplicate").inc()
        return {"status": "duplicate", "event_id": event_id}
    metrics.WEBHOOKS.labels(provider, outcome).inc()
    log.info("webhook received", extra={"provider": provider, "event_id": event_id, "type": event.get("type"),
                                        "sequence": sequence, "outcome": outcome})
    return {"status": outcome, "event_id": event_id}


def _apply_payment(svc: Services, conn: Tx, payment: dict[str, Any], sequence: int) -> str:
    """Record the payment's status on its order unless a later event was already applied."""
    t = svc.store.t["orders"]
    find = svc.store.statement("webhooks.payment.find", lambda: sa.select(t.c.id, t.c.payment_seq).where(
        sa.or_(t.c.payment_id == sa.bindparam("payment_id"), t.c.id == sa.bindparam("reference"))))
    row = conn.execute(find, {"payment_id": payment.get("id"), "reference": payment.get("reference")}).first()
    if row is None:
        return "ignored"
    apply = svc.store.statement("webhooks.payment.apply", lambda: sa.update(t).where(
        t.c.id == sa.bindparam("_id"), t.c.payment_seq < sa.bindparam("_seq")))
    changed = conn.execute(apply, {"_id": row["id"], "_seq": sequence, "payment_status": payment.get("status"),
                                   "payment_seq": sequence, "updated_at": time.time()}).rowcount
    return "applied" if changed else "stale"


def _apply_shipment(svc: Services, conn: Tx, shipment: dict[str, Any], sequence: int) -> str:
    """Move a shipment on, never backwards (a late `in_transit` never overwrites `delivered`)."""
    t = svc.store.t["shipments"]
    status = shipment.get("status")
    row = svc.store.get("shipments", shipment.get("id"), conn)
    if row is None:
        order = svc.store.get("orders", shipment.get("order_reference"), conn)
        if order is None:
            return "ignored"
        svc.store.insert("shipments", {"id": shipment["id"], "order_id": order["id"], "status": status,
                                       "last_sequence": sequence, "items": [],
                                       "data": {"tracking_number": shipment.get("tracking_number")},
                                       "updated_at": time.time()}, conn=conn)
        order_id = order["id"]
    else:
        order_id = row["order_id"]
        forward = svc.store.statement("webhooks.shipment.forward", lambda: sa.update(t).where(
            t.c.id == sa.bindparam("_id"), t.c.last_sequence < sa.bindparam("_seq"),
            *[t.c.status != final for final in FINAL_SHIPMENT]))
        changed = conn.execute(forward, {"status": status, "last_sequence": sequence, "updated_at": time.time(),
                                         "_id": row["id"], "_seq": sequence}).rowcount
        if not changed:
            return "stale"
    statuses = [s["status"] for s in orders.shipments_of(svc, order_id, conn)]
    ot = svc.store.t["orders"]
    fulfil = svc.store.statement("webhooks.order.fulfilment", lambda: sa.update(ot).where(
        ot.c.id == sa.bindparam("_id"), ot.c.status != "cancelled"))
    conn.execute(fulfil, {"fulfilment_status": orders.fulfilment_status(statuses), "updated_at": time.time(),
                          "_id": order_id})
    if status == "in_transit":
        svc.outbox.enqueue(conn, "notify.customer", f"notify:{order_id}:shipment_dispatched:{shipment['id']}",
                           {"order_id": order_id, "template": "shipment_dispatched", "suffix": shipment["id"],
                            "variables": {"tracking_number": shipment.get("tracking_number", "")}})
    return "applied"

"""Refunds (full or partial) and order cancellation."""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa

from .. import logs
from ..errors import ProblemError, ProviderRejected, ProviderUnavailable
from ..services import Services
from . import orders

log = logs.get("refunds")
REFUNDABLE = frozenset({"confirmed", "completed", "partially_refunded"})


def refund(svc: Services, order_id: str, body: dict[str, Any], idempotency_key: str | None) -> tuple[dict, int]:
    """refundOrder: refund `amount` (default: everything left) of the captured money."""
    order = orders.load(svc, order_id)
    t = svc.store.t["refunds"]
    key = f"{order_id}:refund:{idempotency_key}" if idempotency_key else None
    if key:
        existing = svc.store.one(sa.select(t).where(t.c.idempotency_key == key))
        if existing:
            return _view(existing), 200
    if order["status"] not in REFUNDABLE or not order["payment_id"]:
        raise ProblemError(409, "Order cannot be refunded", f"order is {order['status']}",
                           type_="/problems/order-state", status_of_order=order["status"])
    left = (order["captured_minor"] or 0) - (order["refunded_minor"] or 0)
    amount = int(body.get("amount") or left)
    if amount <= 0 or amount > left:
        raise ProblemError(422, "Refund amount not allowed", f"{amount} requested, {left} refundable",
                           type_="/problems/refund-amount", refundable=left)
    refund_id = "rfd_" + secrets.token_hex(8)
    key = key or f"{order_id}:refund:{refund_id}"
    with svc.store.tx() as conn:
        svc.store.insert("refunds", {"id": refund_id, "order_id": order_id, "idempotency_key": key,
                                     "amount_minor": amount, "status": "pending",
                                     "reason": body.get("reason", "requested_by_customer"),
                                     "created_at": time.time()}, conn=conn)
        svc.outbox.enqueue(conn, "refund.process", f"refund.process:{refund_id}", {"refund_id": refund_id},
                           delay_s=svc.config.checkout_lease_s)
    try:
        row = execute(svc, refund_id)
    except ProviderUnavailable as exc:
        svc.outbox.reschedule(f"refund.process:{refund_id}", max(0.5, exc.retry_after or 1.0))
        return _view(svc.store.get("refunds", refund_id) or {}), 202
    if row["status"] == "failed":
        raise ProblemError(422, "Refund refused by the payment provider", row["reason"],
                           type_="/problems/refund-refused", refund_id=refund_id)
    return _view(row), 201


def execute(svc: Services, refund_id: str) -> dict[str, Any]:
    """Send a pending refund to the payment provider (same key every time) and record the outcome."""
    row = svc.store.get("refunds", refund_id)
    if row is None or row["status"] != "pending":
        return row or {}
    order = orders.load(svc, row["order_id"])
    reason = row["reason"] if row["reason"] in {"requested_by_customer", "duplicate", "fraudulent",
                                                "order_cancelled", "other"} else "other"
    try:
        result = svc.payment.refund(order["payment_id"], amount=row["amount_minor"], reason=reason,
                                    idempotency_key=row["idempotency_key"])
    except ProviderRejected as exc:
        svc.store.update("refunds", refund_id, {"status": "failed", "reason": str(exc)[:300]},
                         where=svc.store.t["refunds"].c.status == "pending")
        return svc.store.get("refunds", refund_id) or {}
    ot = svc.store.t["orders"]
    with svc.store.tx() as conn:
        if svc.store.update("refunds", refund_id, {"status": "succeeded", "provider_refund_id": result["id"]},
                            where=svc.store.t["refunds"].c.status == "pending", conn=conn):
            conn.execute(sa.update(ot).where(ot.c.id == order["id"]).values(
                refunded_minor=ot.c.refunded_minor + row["amount_minor"], updated_at=time.time()))
            fresh = svc.store.get("orders", order["id"], conn) or order
            if fresh["status"] != "cancelled":
                full = fresh["refunded_minor"] >= (fresh["captured_minor"] or 0)
                svc.store.update("orders", order["id"], {"status": "refunded" if full else "partially_refunded"},
                                 conn=conn)
                svc.outbox.enqueue(conn, "notify.customer", f"notify:{order['id']}:refund_issued:{refund_id}",
                                   {"order_id": order["id"], "template": "refund_issued", "suffix": refund_id,
                                    "variables": {"refund_amount": row["amount_minor"]}})
            svc.outbox.complete(f"refund.process:{refund_id}", conn)
    return svc.store.get("refunds", refund_id) or {}


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """The storefront Refund."""
    return {"id": row.get("id"), "order_id": row.get("order_id"), "amount": row.get("amount_minor"),
            "status": row.get("status"), "reason": row.get("reason"), "created_at": orders.iso(row.get("created_at"))}


def cancel(svc: Services, order_id: str, reason: str = "customer_request") -> dict[str, Any]:
    """cancelOrder: cancel shipments not yet moving, give the money back, cancel the backend order."""
    order = orders.load(svc, order_id)
    if order["status"] == "cancelled":
        return order
    if order["status"] == "pending" or order["step"] == "fulfilling":  # wait for shipments to be booked
        raise ProblemError(409, "Order still being placed", "retry when it is confirmed or failed",
                           type_="/problems/order-in-progress", retry_after=2)
    if order["status"] == "failed":
        raise ProblemError(409, "Order cannot be cancelled", "the order failed; nothing is charged",
                           type_="/problems/order-state", status_of_order="failed")
    for ship in orders.shipments_of(svc, order_id):
        if orders.SHIPMENT_RANK.get(ship["status"], 0) >= 2 and ship["status"] != "cancelled":
            raise ProblemError(409, "Order already shipped", f"shipment {ship['id']} is {ship['status']}",
                               type_="/problems/already-shipped", shipment_id=ship["id"])
    for ship in orders.shipments_of(svc, order_id):
        if ship["status"] == "cancelled":
            continue
        try:
            svc.delivery.cancel_shipment(ship["id"], reason="order_cancelled",
                                         idempotency_key=f"{order_id}:cancel:{ship['id']}")
        except ProviderRejected as exc:
            raise ProblemError(409, "Order already shipped", str(exc), type_="/problems/already-shipped",
                               shipment_id=ship["id"]) from exc
        svc.store.update("shipments", ship["id"], {"status": "cancelled", "updated_at": time.time()})
    left = (order["captured_minor"] or 0) - (order["refunded_minor"] or 0)
    if left > 0:
        refund(svc, order_id, {"amount": left, "reason": "order_cancelled"}, "cancel")
    elif order["payment_id"] and order["payment_status"] in {"authorized", "requires_action"}:
        svc.payment.void(order["payment_id"], reason="order_cancelled", idempotency_key=f"{order_id}:void")
    with svc.store.tx() as conn:
        svc.store.update("orders", order_id, orders.touch({"status": "cancelled", "reason": reason,
                                                           "fulfilment_status": "cancelled"}), conn=conn)
        svc.outbox.enqueue(conn, "legacy.cancel_order", f"legacy.cancel:{order_id}",
                           {"order_id": order_id, "reason": "customer_request"})
        svc.outbox.enqueue(conn, "notify.customer", f"notify:{order_id}:order_cancelled",
                           {"order_id": order_id, "template": "order_cancelled"})
    return orders.load(svc, order_id)


def register(svc: Services) -> None:
    """Attach the refund consumer to the outbox."""
    svc.outbox.register("refund.process", lambda p: _retry(svc, p))


def _retry(svc: Services, payload: dict[str, Any]) -> None:
    """`refund.process`: finish a refund whose first attempt could not reach the provider."""
    execute(svc, payload["refund_id"])

"""Order reads and representation; shared helpers of the order flows."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import sqlalchemy as sa

from ..errors import ProblemError
from ..services import Services

TERMINAL = frozenset({"failed", "cancelled"})
SHIPMENT_RANK = {"pending": 0, "label_created": 1, "in_transit": 2, "out_for_delivery": 3,
                 "exception": 3, "delivered": 4, "returned": 4, "cancelled": 4}


def iso(ts: float | None) -> str | None:
    """Unix seconds as an RFC 3339 UTC string."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def load(svc: Services, order_id: str) -> dict[str, Any]:
    """The order row, or a 404 problem."""
    row = svc.store.get("orders", order_id)
    if row is None:
        raise ProblemError(404, "Order not found", f"no order '{order_id}'", type_="/problems/not-found")
    return row


def shipments_of(svc: Services, order_id: str, conn: Any = None) -> list[dict[str, Any]]:
    """The order's shipments, oldest first."""
    return svc.store.rows_by("shipments", "order_id", order_id, order_by="id", conn=conn)


def refunds_of(svc: Services, order_id: str, conn: Any = None) -> list[dict[str, Any]]:
    """The order's refunds, oldest first."""
    return svc.store.rows_by("refunds", "order_id", order_id, order_by="created_at", conn=conn)


def view(svc: Services, row: dict[str, Any], *, detail: bool = True) -> dict[str, Any]:
    """The storefront representation of an order (storefront.openapi.yaml `Order`)."""
    req = row["request"] or {}
    doc: dict[str, Any] = {
        "id": row["id"], "status": row["status"], "step": row["step"], "reason": row["reason"],
        "customer_id": row["customer_id"], "payment_type": row["payment_type"],
        "items": req.get("items") or [], "amount": row["amount_minor"], "currency": row["currency"],
        "totals": row["totals"], "payment_id": row["payment_id"], "payment_status": row["payment_status"],
        "captured_amount": row["captured_minor"] or 0, "refunded_amount": row["refunded_minor"] or 0,
        "legacy_order_id": row["legacy_order_id"], "fulfilment_status": row["fulfilment_status"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
    }
    if detail:
        with svc.store.read() as conn:  # one read transaction for both
            shipments, refunds = shipments_of(svc, row["id"], conn), refunds_of(svc, row["id"], conn)
        doc["shipments"] = [{"id": s["id"], "status": s["status"], "items": s["items"],
                             "tracking_number": (s["data"] or {}).get("tracking_number")}
                            for s in shipments]
        doc["refunds"] = [{"id": r["id"], "amount": r["amount_minor"], "status": r["status"],
                           "reason": r["reason"], "created_at": iso(r["created_at"])}
                          for r in refunds]
    return doc


def list_orders(svc: Services, *, customer_id: str | None, status: str | None, limit: int,
                offset: int) -> dict[str, Any]:
    """A page of orders, newest first."""
    t = svc.store.t["orders"]
    stmt = sa.select(t).order_by(t.c.created_at.desc(), t.c.id).limit(limit + 1).offset(offset)
    if customer_id:
        stmt = stmt.where(t.c.customer_id == customer_id)
    if status:
        stmt = stmt.where(t.c.status == status)
    rows = svc.store.all(stmt)
    more = len(rows) > limit
    return {"items": [view(svc, r, detail=False) for r in rows[:limit]],
            "next_offset": offset + limit if more else None}


def touch(values: dict[str, Any]) -> dict[str, Any]:
    """Values plus updated_at."""
    return {**values, "updated_at": time.time()}


def fulfilment_status(shipment_statuses: list[str]) -> str:
    """An order's fulfilment status from its shipments' statuses."""
    live = [s for s in shipment_statuses if s != "cancelled"]
    if not live:
        return "cancelled" if shipment_statuses else "unfulfilled"
    if all(s == "delivered" for s in live):
        return "delivered"
    if any(s == "delivered" for s in live):
        return "partially_delivered"
    if any(SHIPMENT_RANK.get(s, 0) >= 2 for s in live):
        return "shipped" if all(SHIPMENT_RANK.get(s, 0) >= 2 for s in live) else "partially_shipped"
    return "booked"

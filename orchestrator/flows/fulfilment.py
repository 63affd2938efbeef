"""Outbox consumers after payment: book shipments, notify the customer, cancel legacy orders."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import logs
from ..errors import ProviderRejected
from ..services import Services
from . import orders
from .onboarding import customer_record

log = logs.get("fulfilment")
PARCEL = {"length_cm": 30, "width_cm": 20, "height_cm": 10}
TEMPLATES = {"order_confirmed": "order_confirmation", "order_cancelled": "order_cancelled",
             "refund_issued": "refund_issued", "shipment_dispatched": "shipment_dispatched",
             "delivery_exception": "delivery_exception"}


def parcels_of(order: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The order's parcels as item lists: as the channel split them, else one parcel for all."""
    req = order["request"]
    split = [p.get("items") for p in req.get("parcels") or [] if p.get("items")]
    return split or [req.get("items") or []]


def _order_and_customer(svc: Services, order_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The order (404 problem if absent) and its cached customer record, read in one transaction."""
    with svc.store.read() as conn:
        order = svc.store.get("orders", order_id, conn)
        if order is None:
            return orders.load(svc, order_id), None  # raises the 404 problem
        row = svc.store.get("customers", order["customer_id"], conn)
    return order, dict(row["data"]) if row else None


def _recipient(svc: Services, order: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any]:
    """The delivery recipient from the legacy customer and the order's delivery address."""
    customer = customer or customer_record(svc, order["customer_id"])
    address_id = order["request"].get("delivery_address_id")
    addresses = svc.legacy.list_addresses(order["customer_id"]).get("items") or []
    address = next((a for a in addresses if a["id"] == address_id), None) or next(
        (a for a in addresses if a.get("default")), addresses[0] if addresses else None)
    if address is None:
        raise ProviderRejected("legacy", "listAddresses", f"customer {order['customer_id']} has no address")
    dest = {"line1": address["line1"], "city": address["city"], "postal_code": address["postcode"],
            "country": address["country"]}
    if address.get("line2"):
        dest["line2"] = address["line2"]
    recipient: dict[str, Any] = {"name": f"{customer.get('first_name', '')} {customer.get('last_name', '')}".strip()
                                 or order["customer_id"], "address": dest}
    if customer.get("email"):
        recipient["email"] = customer["email"]
    return recipient


def book_shipments(svc: Services, payload: dict[str, Any]) -> None:
    """`shipment.book`: one shipment per parcel, each with key `{order_id}:shipment:{n}`.

    Each shipment is recorded in its own transaction; the last one also moves the order to `completed`.
    """
    order, customer = _order_and_customer(svc, payload["order_id"])
    if order["status"] in orders.TERMINAL or order["step"] != "fulfilling":
        return  # cancelled meanwhile, or already booked: consumer idempotency
    recipient = _recipient(svc, order, customer)
    parcels = parcels_of(order)
    for n, items in enumerate(parcels, start=1):
        weight = min(30000, max(1, 500 * sum(int(i.get("quantity", 1)) for i in items)))
        body = {"service": order["request"].get("delivery_service", "standard"), "order_reference": order["id"],
                "recipient": recipient, "parcels": [{"weight_grams": weight, **PARCEL}]}
        ship = svc.delivery.create_shipment(body, idempotency_key=f"{order['id']}:shipment:{n}")
        data = {"tracking_number": ship.get("tracking_number"), "parcel": n}
        with svc.store.tx() as conn:
            if svc.store.get("shipments", ship["id"], conn) is None:
                svc.store.insert("shipments", {
                    "id": ship["id"], "order_id": order["id"], "status": ship["status"], "last_sequence": 0,
                    "items": items, "data": data, "updated_at": orders.touch({})["updated_at"]}, conn=conn)
            else:  # a webhook got here first: keep its status, add what only the booking knows
                svc.store.update("shipments", ship["id"], {"items": items, "data": data}, conn=conn)
            if n == len(parcels):
                _complete(svc, order["id"], conn)


def _complete(svc: Services, order_id: str, conn: Any) -> None:
    """Every parcel booked: the order's fulfilment status from its shipments, and `completed`."""
    statuses = [s["status"] for s in orders.shipments_of(svc, order_id, conn)]
    ot = svc.store.t["orders"]
    # a refund may have landed meanwhile: only a still-`confirmed` order becomes `completed`
    complete = svc.store.statement("fulfilment.complete", lambda: sa.update(ot).where(
        ot.c.id == sa.bindparam("_id"), ot.c.step == "fulfilling").values(
        status=sa.case((ot.c.status == "confirmed", "completed"), else_=ot.c.status)))
    conn.execute(complete, orders.touch({"step": "completed", "fulfilment_status": orders.fulfilment_status(statuses),
                                         "_id": order_id}))


def notify_customer(svc: Services, payload: dict[str, Any]) -> None:
    """`notify.customer`: one templated e-mail, sent at most once per (order, template)."""
    order, cached = _order_and_customer(svc, payload["order_id"])
    customer = cached or customer_record(svc, order["customer_id"])
    if not customer.get("email"):
        log.warning("customer has no e-mail; notification skipped", extra={"order_id": order["id"]})
        return
    template = TEMPLATES.get(payload["template"], payload["template"])
    variables: dict[str, Any] = {"order_id": order["id"], "amount": order["amount_minor"] or 0,
                                 "currency": order["currency"] or svc.config.currency}
    variables.update({k: v for k, v in (payload.get("variables") or {}).items()
                      if isinstance(v, str | int | float | bool)})
    key = f"{order['id']}:notify:{payload['template']}:{payload.get('suffix', '')}".rstrip(":")
    svc.notifications.send_email({"to": customer["email"], "template": template, "variables": variables},
                                 idempotency_key=key)


def cancel_legacy_order(svc: Services, payload: dict[str, Any]) -> None:
    """`legacy.cancel_order`: cancel the backend order (a 409 'already cancelled' counts as done)."""
    order = orders.load(svc, payload["order_id"])
    if not order["legacy_order_id"]:
        return
    try:
        svc.legacy.cancel_order(order["legacy_order_id"], reason=payload.get("reason", "customer_request"))
    except ProviderRejected as exc:
        if exc.status != 409:
            raise
        log.info("legacy order already cancelled or closed", extra={"order_id": order["id"], "error": str(exc)})


def register(svc: Services) -> None:
    """Attach these consumers to the outbox."""
    svc.outbox.register("shipment.book", lambda p: book_shipments(svc, p))
    svc.outbox.register("notify.customer", lambda p: notify_customer(svc, p))
    svc.outbox.register("legacy.cancel_order", lambda p: cancel_legacy_order(svc, p))

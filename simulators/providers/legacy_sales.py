"""Legacy backend: cash and hire-purchase (HP) sales with side-effect-free simulations, and orders.

A sale reserves stock atomically (two sales of the last item: one wins, the other is a 409) and creates
an order: placed -> processing (10 min) -> shipped (`order_ship_after`, 2 h) -> delivered
(`order_deliver_after`, 3 d), all on the simulator clock. HP needs approved KYC.
"""

from __future__ import annotations

import calendar
import math
from datetime import date
from typing import Any

from simulators.core.behaviours import Reply, Request, SimContext
from simulators.core.clock import utc_iso

from .legacy import (
    decode_cursor,
    encode_cursor,
    legacy,
    next_id,
    not_found,
    operation,
    page_size,
    problem,
    public,
    remember,
    rule,
    seconds,
    setting,
    stale,
)
from .legacy_catalog import check_stock, priced_lines, promotions
from .legacy_customers import customer_for_rule

FREE_DELIVERY_FROM, DELIVERY_FEE = 5000, 499
MIN_CREDIT, MAX_CREDIT = 10000, 2500000
SALE_START = 100  # the first sale is SAL-00000101 / ORD-00000101, as in the contract's examples
PROCESSING_AFTER_S = 600


def totals(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Subtotal, the promotions computed here, delivery (free from £50) and the VAT inside the total."""
    subtotal = sum(line["line_total"] for line in lines)
    discounts = [{k: p[k] for k in ("promotion_id", "description", "amount")} for p in promotions(lines)]
    discount_total = sum(d["amount"] for d in discounts)
    goods = subtotal - discount_total
    delivery = 0 if goods >= FREE_DELIVERY_FROM else DELIVERY_FEE
    total = goods + delivery
    return {"subtotal": subtotal, "discounts": discounts, "discount_total": discount_total, "delivery": delivery,
            "tax": round(total / 6), "total": total, "currency": "GBP"}


def order_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: line[k] for k in ("sku", "name", "quantity", "unit_price", "line_total")} for line in lines]


def _address(sim: SimContext, customer_id: str, address_id: str | None) -> None:
    if address_id and sim.store.get("address_owner", address_id) != customer_id:
        raise rule("/delivery_address_id", f"an address of {customer_id}", address_id,
                   "unknown address for this customer", "The delivery address does not belong to this customer.")


def _customer(sim: SimContext, customer_id: str) -> dict[str, Any]:
    c = customer_for_rule(sim, customer_id)
    if c["status"] != "active":
        raise rule("/customer_id", "an active customer", customer_id, f"customer is {c['status']}",
                   f"Customer {customer_id} is {c['status']}.")
    return c


def _lines(sim: SimContext, body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("from_basket"):
        basket = sim.store.get("baskets", body["customer_id"]) or {"items": []}
        if not basket["items"]:
            raise rule("/from_basket", "a basket with items", True, "the basket is empty", "The basket is empty.")
        return priced_lines(sim, basket["items"], "/from_basket")
    return priced_lines(sim, body["items"])


def add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def hp_plan(sim: SimContext, body: dict[str, Any], total: int) -> dict[str, Any]:
    """Instalments of an annuity at the APR (annual effective rate), rounded up to the penny."""
    deposit, term = body["deposit"], body["term_months"]
    credit = total - deposit
    if deposit * 2 > total:
        raise rule("/deposit", f"at most half the total ({total // 2})", deposit, "deposit over half the total",
                   f"The deposit may be at most half of the total {total}.")
    if not MIN_CREDIT <= credit <= MAX_CREDIT:
        raise rule("/deposit", f"credit between {MIN_CREDIT} and {MAX_CREDIT}", credit, "credit amount out of range",
                   f"The credit amount (total minus deposit) must be between £100 and £25,000; it is {credit}.")
    apr = float(setting(sim, "hp_apr"))
    r = (1 + apr / 100) ** (1 / 12) - 1
    instalment = math.ceil(credit * r / (1 - (1 + r) ** -term)) if r else math.ceil(credit / term)
    interest = instalment * term - credit
    return {"term_months": term, "deposit": deposit, "credit_amount": credit, "apr": apr,
            "instalments": {"count": term, "amount": instalment,
                            "first_due_date": add_months(sim.clock.now().date(), 1).isoformat()},
            "interest_total": interest, "total_payable": credit + interest + deposit}


def _kyc_approved(c: dict[str, Any]) -> None:
    if c["kyc_status"] != "approved":
        detail = {"not_submitted": "Hire purchase needs approved KYC; none was submitted.",
                  "pending_review": "KYC documents are still under review.",
                  "rejected": "KYC was rejected; hire purchase is not available."}[c["kyc_status"]]
        raise problem(403, "kyc-not-approved", "KYC not approved", detail, kyc_status=c["kyc_status"])


# ----------------------------------------------------------------------------------------------- sales
@operation("simulateCashSale")
def simulate_cash(req: Request, sim: SimContext) -> Reply:
    """The totals a cash sale would have; nothing reserved or created."""
    c = _customer(sim, req.body["customer_id"])
    _address(sim, c["id"], req.body["delivery_address_id"])
    lines = _lines(sim, req.body)
    check_stock(sim, lines)
    return Reply(200, {"customer_id": c["id"], "lines": order_lines(lines), "totals": totals(lines)})


@operation("simulateHpSale")
def simulate_hp(req: Request, sim: SimContext) -> Reply:
    """The HP plan a sale would have (approved KYC only); nothing reserved or created."""
    c = _customer(sim, req.body["customer_id"])
    _kyc_approved(c)
    _address(sim, c["id"], req.body.get("delivery_address_id"))
    lines = _lines(sim, req.body)
    check_stock(sim, lines)
    t = totals(lines)
    return Reply(200, {"customer_id": c["id"], "lines": order_lines(lines), "totals": t,
                       "hp": hp_plan(sim, req.body, t["total"])})


def _record_sale(sim: SimContext, req: Request, kind: str) -> dict[str, Any]:
    """Check, reserve stock and create the sale and its order in one transaction."""
    body = req.body
    with sim.store.transaction():
        c = _customer(sim, body["customer_id"])
        if kind == "hp":
            _kyc_approved(c)
            if not body["agreement_accepted"]:
                raise rule("/agreement_accepted", "true", False, "the agreement was not accepted",
                           "The customer must accept the HP agreement.")
        _address(sim, c["id"], body["delivery_address_id"])
        lines = priced_lines(sim, body["items"])
        t = totals(lines)
        if body.get("expected_total") is not None and body["expected_total"] != t["total"]:
            raise problem(409, "total-changed", "Total changed",
                          f"The sale total is now {t['total']}, not the expected {body['expected_total']}.")
        plan = hp_plan(sim, body, t["total"]) if kind == "hp" else None
        check_stock(sim, lines)
        for line in lines:
            p = sim.store.get("products", line["sku"])
            assert p is not None
            from .legacy_catalog import change_product

            change_product(sim, p, stock=p["stock"] - line["quantity"], _reserved=p["_reserved"] + line["quantity"])
        sale_id, order_id = next_id(sim, "SAL", SALE_START), next_id(sim, "ORD", SALE_START)
        if plan is not None:
            plan = {"agreement_id": next_id(sim, "AGR"), **plan}
        now = sim.clock.iso()
        sale = {"id": sale_id, "order_id": order_id, "customer_id": c["id"], "kind": kind, "totals": t, "hp": plan,
                "payment_reference": body.get("payment_reference"), "created_at": now}
        order = {"id": order_id, "sale_id": sale_id, "customer_id": c["id"], "status": "placed", "kind": kind,
                 "lines": order_lines(lines), "totals": t, "delivery_address_id": body["delivery_address_id"],
                 "payment_reference": body.get("payment_reference"), "cancellation_reason": None,
                 "created_at": now, "updated_at": now, "_created_ts": sim.clock.timestamp()}
        sim.store.put("sales", sale_id, sale)
        sim.store.put("orders", order_id, order)
        sim.store.put("orders_open", order_id, open_entry(order))
        sim.store.delete("baskets", c["id"])
    return sale


@operation("createCashSale")
def create_cash(req: Request, sim: SimContext) -> Reply:
    """Record a paid cash sale: stock reserved atomically (409 when short), order placed, basket emptied."""
    return Reply(201, _record_sale(sim, req, "cash"))


@operation("createHpSale")
def create_hp(req: Request, sim: SimContext) -> Reply:
    """Record an HP sale (approved KYC and an accepted agreement only)."""
    return Reply(201, _record_sale(sim, req, "hp"))


# ----------------------------------------------------------------------------------------------- orders
def order_timing(sim: SimContext) -> tuple[float, float, float]:
    """(now, ship after, deliver after) in seconds of simulator time, read once for many orders."""
    return sim.clock.timestamp(), seconds(sim, "order_ship_after"), seconds(sim, "order_deliver_after")


def due_status(age: float, ship: float, deliver: float) -> str:
    """The status an order of this age has by the clock."""
    return ("delivered" if age >= ship + deliver else "shipped" if age >= ship
            else "processing" if age >= PROCESSING_AFTER_S else "placed")


def progress(sim: SimContext, o: dict[str, Any], timing: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """Move an open order along placed -> processing -> shipped -> delivered by the simulator clock."""
    if o["status"] in ("cancelled", "delivered") or o.get("_held"):
        return o
    now, ship, deliver = timing or order_timing(sim)
    target = due_status(now - o["_created_ts"], ship, deliver)
    if target != o["status"]:
        set_order_status(sim, o, target)
    return o


def set_order_status(sim: SimContext, o: dict[str, Any], status: str) -> None:
    """Change an order's status; shipping releases the reservation, cancelling returns the stock."""
    from .legacy_catalog import change_product

    shipped_before = o["status"] in ("shipped", "delivered")
    remember(sim, o)
    if status in ("shipped", "delivered", "cancelled") and not shipped_before:
        for line in o["lines"]:
            p = sim.store.get("products", line["sku"])
            if p is not None:
                back = line["quantity"] if status == "cancelled" else 0
                change_product(sim, p, stock=p["stock"] + back, _reserved=max(0, p["_reserved"] - line["quantity"]))
    o["status"], o["updated_at"] = status, sim.clock.iso()
    sim.store.put("orders", o["id"], o)
    if status in ("delivered", "cancelled"):
        sim.store.delete("orders_open", o["id"])
    elif sim.store.get("orders_open", o["id"]) is not None:
        sim.store.put("orders_open", o["id"], open_entry(o))


def open_entry(o: dict[str, Any]) -> dict[str, Any]:
    """What the clock tick needs to know of an open order without loading it."""
    return {"created_ts": o["_created_ts"], "status": o["status"]}


def _order(sim: SimContext, order_id: str) -> dict[str, Any]:
    o = sim.store.get("orders", order_id)
    if o is None:
        raise not_found("Order", order_id)
    return progress(sim, o)


@operation("listOrders")
def list_orders(req: Request, sim: SimContext) -> Reply:
    """Orders newest first, page by page; a just-created order may be missing for a moment (replica lag)."""
    after = decode_cursor(req.query.get("cursor"), "ord")
    orders = [o for _, o in sim.store.items("orders")]
    orders.sort(key=lambda o: o["id"], reverse=True)
    cid, status = req.query.get("customer_id"), req.query.get("status")
    shown = []
    for o in orders:
        if (after and o["id"] >= after) or (cid and o["customer_id"] != cid):
            continue
        o = progress(sim, o)
        if (status and o["status"] != status) or stale(sim, {**o, "_prev": {"_hidden": True}}).get("_hidden"):
            continue
        shown.append(o)
    size = page_size(sim, req)
    page = shown[:size]
    return Reply(200, {"items": [public(o) for o in page],
                       "next_cursor": encode_cursor(f"ord:{page[-1]['id']}") if len(shown) > size else None})


@operation("getOrder")
def get_order(req: Request, sim: SimContext) -> Reply:
    """One order as it is now (status moved along by the clock)."""
    with sim.store.transaction():
        return Reply(200, public(stale(sim, _order(sim, req.path_params["order_id"]))))


@operation("cancelOrder")
def cancel_order(req: Request, sim: SimContext) -> Reply:
    """Cancel before shipping (stock returned); again is a no-op; shipped or delivered is a 409."""
    with sim.store.transaction():
        o = _order(sim, req.path_params["order_id"])
        if o["status"] == "cancelled":
            return Reply(200, public(o))
        if o["status"] in ("shipped", "delivered"):
            raise problem(409, "order-not-cancellable", "Order cannot be cancelled",
                          f"{o['id']} has {o['status'] if o['status'] == 'shipped' else 'been delivered'}; "
                          "start a return instead.", order_status=o["status"], state=o["status"])
        o["cancellation_reason"] = (req.body or {}).get("reason", "other")
        set_order_status(sim, o, "cancelled")
    return Reply(200, public(o))


@legacy.on_tick
def progress_orders(sim: SimContext) -> None:
    """Move open orders along by the simulator clock. An order is loaded only when the clock says its status
    must change: its index entry carries the status and creation time. (Loading every open order twice a
    second was the legacy simulator's largest cost under load; skipping only the young `placed` ones still
    loaded every `processing` order, 11 % of the simulator's CPU after 3,000 checkouts.)"""
    timing = None
    for order_id, entry in sim.store.items("orders_open"):
        timing = timing or order_timing(sim)
        now, ship, deliver = timing
        if isinstance(entry, dict) and entry.get("status") == due_status(now - entry["created_ts"], ship, deliver):
            continue
        with sim.store.transaction():
            o = sim.store.get("orders", order_id)
            if o is None:
                sim.store.delete("orders_open", order_id)
            else:
                progress(sim, o, timing)


@legacy.state("order-shipped", "order {order_id} has shipped", order_id="ORD-00000101")
def state_order_shipped(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """Mark an existing order shipped now (and keep it there: the clock no longer moves it)."""
    o = sim.store.get("orders", str(params["order_id"]))
    if o is None:
        raise not_found("Order", str(params["order_id"]))
    set_order_status(sim, o, "shipped")
    o["_held"] = True
    sim.store.put("orders", o["id"], o)
    sim.store.delete("orders_open", o["id"])  # the clock no longer moves it
    return {"order_id": o["id"], "status": "shipped", "shipped_at": utc_iso(sim.clock.timestamp())}

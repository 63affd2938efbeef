"""Delivery (parcel carrier) behaviours: quotes, shipments with labels, cancel, tracking moved by the clock.

A shipment follows a plan fixed when it is booked (offsets from its creation, simulator clock):
label_created -> in_transit (1 h) -> depot scan (12 h) -> out_for_delivery (24 h) -> delivered (36 h).
Magic recipient postal codes change the plan (docs/providers.md): `EXC...` -> exception at 24 h, then
in_transit (48 h), out_for_delivery (60 h), delivered (72 h); `RTS...` -> exception at 24 h, returned at 72 h.
State: "quotes", "shipments" and "shipments_active" (shipments whose plan is not finished yet, each with the
simulator time its next step is due).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulators.core.behaviours import Behaviours, Reply, Request, SimContext
from simulators.core.errors import ProblemError

delivery = Behaviours("delivery")

PROBLEM = "https://delivery.sandbox.example/problems/"
QUOTE_TTL_S = 86400
HOUR = 3600
ORIGIN = {"city": "Reading", "country": "GB"}
# country -> (currency, standard base price in minor units, standard working days, express working days)
COUNTRIES: dict[str, tuple[str, int, int, int]] = {
    "GB": ("GBP", 495, 3, 1), "IE": ("EUR", 995, 4, 2), "FR": ("EUR", 1095, 4, 2), "DE": ("EUR", 1095, 4, 2),
    "NL": ("EUR", 1095, 4, 2), "BE": ("EUR", 1095, 4, 2), "AT": ("EUR", 1295, 5, 2), "DK": ("EUR", 1295, 5, 2),
    "ES": ("EUR", 1295, 5, 2), "IT": ("EUR", 1295, 5, 2), "PT": ("EUR", 1395, 6, 3), "FI": ("EUR", 1495, 6, 3),
    "PL": ("PLN", 5995, 5, 2), "SE": ("SEK", 14995, 5, 2),
}
SUPPORTED = ", ".join(sorted(COUNTRIES))
PER_KG = 0.10  # each started kg above 2 kg adds 10 % of the base price, per parcel
EXAMPLE_QUOTE_ID = "quo_5a7e1c90d3b2"  # the contract's example quote: seeded, never expires

# (hours after booking, status, description, where) -- where: None, "origin" or "destination"
Step = tuple[float, str, str, str | None]
NORMAL: list[Step] = [
    (1, "in_transit", "Collected from the sender.", "origin"),
    (12, "in_transit", "Arrived at the delivery depot.", "destination"),
    (24, "out_for_delivery", "Out for delivery.", "destination"),
    (36, "delivered", "Delivered, signed for by the recipient.", "destination"),
]
EXCEPTION_THEN_DELIVERED: list[Step] = [
    *NORMAL[:2],
    (24, "exception", "Recipient not available; a card was left, next attempt tomorrow.", "destination"),
    (48, "in_transit", "Back at the delivery depot for a second attempt.", "destination"),
    (60, "out_for_delivery", "Out for delivery (second attempt).", "destination"),
    (72, "delivered", "Delivered at the second attempt.", "destination"),
]
EXCEPTION_THEN_RETURNED: list[Step] = [
    *NORMAL[:2],
    (24, "exception", "Address not found; the parcel will be returned to the sender.", "destination"),
    (72, "returned", "Returned to the sender.", "origin"),
]

PLANS = {"normal": NORMAL, "exception": EXCEPTION_THEN_DELIVERED, "returned": EXCEPTION_THEN_RETURNED}


def plan_for(postal_code: str) -> tuple[str, list[Step]]:
    """The plan a recipient postal code selects: ('normal'|'exception'|'returned', steps)."""
    code = postal_code.strip().upper()
    if code.startswith("EXC"):
        return "exception", EXCEPTION_THEN_DELIVERED
    if code.startswith("RTS"):
        return "returned", EXCEPTION_THEN_RETURNED
    return "normal", NORMAL


def problem(status: int, kind: str, title: str, detail: str, **ext: Any) -> ProblemError:
    """A delivery problem document with a typed `type` URI."""
    return ProblemError(status, title, detail, type_=PROBLEM + kind, **ext)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def add_working_days(start: date, days: int) -> date:
    """`days` working days (Mon-Fri) after `start`."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _unsupported(country: str, pointer: str) -> ProblemError:
    return problem(422, "unsupported-destination", "Destination not supported",
                   f"We do not deliver to {country}. Supported countries: {SUPPORTED}.",
                   errors=[{"pointer": pointer, "expected": f"one of {SUPPORTED}", "received": country,
                            "message": "destination country is not served"}])


def price_options(country: str, parcels: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """The standard and express options for a destination and parcels."""
    currency, base, std_days, exp_days = COUNTRIES[country]
    standard = sum(base + round(base * PER_KG * max(0, math.ceil(p["weight_grams"] / 1000) - 2)) for p in parcels)
    return [
        {"service": "standard", "price": {"amount": standard, "currency": currency}, "eta_days": std_days,
         "estimated_delivery": add_working_days(today, std_days).isoformat()},
        {"service": "express", "price": {"amount": standard * 2 + 5 * len(parcels), "currency": currency},
         "eta_days": exp_days, "estimated_delivery": add_working_days(today, exp_days).isoformat()},
    ]


def view(s: dict[str, Any]) -> dict[str, Any]:
    """The shipment as the contract shows it (internal fields start with '_')."""
    return {k: v for k, v in s.items() if not k.startswith("_")}


def _load(sim: SimContext, shipment_id: str) -> dict[str, Any]:
    s = sim.store.get("shipments", shipment_id)
    if s is None:
        raise problem(404, "not-found", "Shipment not found", f"No shipment with id {shipment_id}.",
                      shipment_id=shipment_id)
    return advance(sim, s)


def _emit(sim: SimContext, s: dict[str, Any], event: dict[str, Any], correlation_id: str | None) -> None:
    """shipment.updated on every status change, plus shipment.delivered / shipment.exception."""
    if sim.webhooks is None:
        return
    data = {**view(s), "status": event["status"], "updated_at": event["at"]}
    types = ["shipment.updated"]
    if event["status"] in ("delivered", "exception"):
        types.append(f"shipment.{event['status']}")
    for event_type in types:
        sim.webhooks.emit(event_type, data, key=s["id"], correlation_id=correlation_id,
                          extra={"tracking_event": event})


def next_due(s: dict[str, Any]) -> float:
    """Simulator time at which the shipment's next step is due (the value kept in "shipments_active")."""
    return float(s["_created_ts"] + PLANS[s["_plan"]][s["_step"]][0] * HOUR)


def advance(sim: SimContext, s: dict[str, Any], correlation_id: str | None = None) -> dict[str, Any]:
    """Apply every step of the shipment's plan that is due by the simulator clock (events, webhooks)."""
    if s["status"] == "cancelled" or s.get("_step") is None:
        return s
    plan = PLANS[s["_plan"]]
    now = sim.clock.timestamp()
    changed: list[dict[str, Any]] = []
    start = s["_step"]
    while s["_step"] < len(plan) and s["_created_ts"] + plan[s["_step"]][0] * HOUR <= now:
        hours, status, description, where = plan[s["_step"]]
        at = _iso(s["_created_ts"] + hours * HOUR)
        location = ORIGIN if where == "origin" else (
            {"city": s["recipient"]["address"]["city"], "country": s["recipient"]["address"]["country"]}
            if where else None)
        event = {"status": status, "at": at, "location": dict(location) if location else None,
                 "description": description}
        s["_events"].append(event)
        s["_step"] += 1
        if status != s["status"]:
            s["status"], s["updated_at"] = status, at
            if status == "exception":
                s["estimated_delivery"] = add_working_days(date.fromisoformat(at[:10]), 1).isoformat()
            changed.append(event)
    if s["_step"] >= len(plan):
        s["_step"] = None
    if s["_step"] != start:  # a step applied (a depot scan changes no status but is an event)
        sim.store.put("shipments", s["id"], s)
        if s["_step"] is None:
            sim.store.delete("shipments_active", s["id"])
        else:
            sim.store.put("shipments_active", s["id"], next_due(s))
    for event in changed:
        _emit(sim, s, event, correlation_id)
    return s


# ----------------------------------------------------------------------------------------------- operations
@delivery.operation("createQuote")
def create_quote(req: Request, sim: SimContext) -> Reply:
    """Price standard and express delivery for a destination and parcels (valid 24 hours)."""
    dest, parcels = req.body["destination"], req.body["parcels"]
    if dest["country"] not in COUNTRIES:
        raise _unsupported(dest["country"], "/destination/country")
    now = sim.clock.timestamp()
    quote = {"id": sim.new_id("quo"), "destination": dest, "parcels": parcels,
             "options": price_options(dest["country"], parcels, sim.clock.now().date()),
             "created_at": _iso(now), "expires_at": _iso(now + QUOTE_TTL_S)}
    sim.store.put("quotes", quote["id"], {**quote, "_expires_ts": now + QUOTE_TTL_S})
    return Reply(201, quote)


@delivery.operation("createShipment")
def create_shipment(req: Request, sim: SimContext) -> Reply:
    """Book a shipment (from a quote or the price list): label, tracking number, status label_created."""
    body = req.body
    address = body["recipient"]["address"]
    country = address["country"]
    if country not in COUNTRIES:
        raise _unsupported(country, "/recipient/address/country")
    today = sim.clock.now().date()
    options = {o["service"]: o for o in price_options(country, body["parcels"], today)}
    quote_id = body.get("quote_id")
    if quote_id:
        quote = sim.store.get("quotes", quote_id)
        if quote is None:
            raise problem(422, "unknown-quote", "Unknown quote", f"No quote with id {quote_id}; request a quote first.",
                          errors=[{"pointer": "/quote_id", "expected": "the id of a quote", "received": quote_id,
                                   "message": "unknown quote"}])
        if quote["_expires_ts"] is not None and sim.clock.timestamp() >= quote["_expires_ts"]:
            raise problem(422, "quote-expired", "Quote expired",
                          f"Quote {quote_id} expired at {quote['expires_at']}; request a new quote.",
                          errors=[{"pointer": "/quote_id", "expected": "a quote that has not expired",
                                   "received": quote_id, "message": "quote expired"}])
        if quote["destination"]["country"] != country:
            raise problem(422, "quote-mismatch", "Quote is for another destination",
                          f"Quote {quote_id} is for {quote['destination']['country']}, the recipient is in {country}.",
                          errors=[{"pointer": "/recipient/address/country", "expected": quote["destination"]["country"],
                                   "received": country, "message": "recipient country differs from the quote"}])
        options = {o["service"]: o for o in quote["options"]}
    option = options.get(body["service"])
    if option is None:
        raise problem(422, "service-not-offered", "Service not offered",
                      f"The quote offers {', '.join(options)}; {body['service']} was requested.",
                      errors=[{"pointer": "/service", "expected": f"one of {', '.join(options)}",
                               "received": body["service"], "message": "service not offered by the quote"}])
    now = sim.clock.timestamp()
    sid = sim.new_id("shp")
    label_format = body.get("label_format", "pdf")
    kind, _ = plan_for(address["postal_code"])
    recipient = {"name": body["recipient"]["name"], "phone": body["recipient"].get("phone"),
                 "email": body["recipient"].get("email"),
                 "address": {"line1": address["line1"], "line2": address.get("line2"), "city": address["city"],
                             "postal_code": address["postal_code"], "country": country}}
    created = {"status": "label_created", "at": _iso(now), "location": None,
               "description": "Shipment booked, label created."}
    s = {
        "id": sid, "status": "label_created", "service": body["service"],
        "tracking_number": f"SBX{sim.rng.randrange(10**9, 10**10)}{country}",
        "label": {"url": f"https://labels.delivery.sandbox.example/{sid}.{label_format}", "format": label_format},
        "order_reference": body["order_reference"], "quote_id": quote_id, "recipient": recipient,
        "parcels": body["parcels"], "price": option["price"], "estimated_delivery": option["estimated_delivery"],
        "created_at": _iso(now), "updated_at": _iso(now),
        "_created_ts": now, "_plan": kind, "_step": 0, "_events": [created],
    }
    with sim.store.transaction():
        sim.store.put("shipments", sid, s)
        sim.store.put("shipments_active", sid, next_due(s))
    _emit(sim, s, created, req.correlation_id)
    return Reply(201, view(s))


@delivery.operation("getShipment")
def get_shipment(req: Request, sim: SimContext) -> Reply:
    """One shipment as it is now (moved along by the simulator clock)."""
    with sim.store.transaction():
        return Reply(200, view(_load(sim, req.path_params["shipment_id"])))


@delivery.operation("cancelShipment")
def cancel_shipment(req: Request, sim: SimContext) -> Reply:
    """Cancel while label_created; cancelling again is a no-op; later statuses are 409."""
    with sim.store.transaction():
        s = _load(sim, req.path_params["shipment_id"])
        if s["status"] == "cancelled":
            return Reply(200, view(s))
        if s["status"] != "label_created":
            raise problem(409, "invalid-state", "Shipment cannot be cancelled",
                          f"Shipment {s['id']} is {s['status']}; only shipments in label_created can be cancelled.",
                          shipment_id=s["id"], shipment_status=s["status"], state=s["status"])
        event = {"status": "cancelled", "at": sim.clock.iso(), "location": None,
                 "description": f"Shipment cancelled by the sender ({(req.body or {}).get('reason', 'other')})."}
        s.update(status="cancelled", estimated_delivery=None, updated_at=event["at"], _step=None)
        s["_events"].append(event)
        sim.store.put("shipments", s["id"], s)
        sim.store.delete("shipments_active", s["id"])
    _emit(sim, s, event, req.correlation_id)
    return Reply(200, view(s))


@delivery.operation("getTracking")
def get_tracking(req: Request, sim: SimContext) -> Reply:
    """Every scan of the shipment so far, oldest first."""
    with sim.store.transaction():
        s = _load(sim, req.path_params["shipment_id"])
    return Reply(200, {"shipment_id": s["id"], "tracking_number": s["tracking_number"], "status": s["status"],
                       "events": s["_events"][-100:]})


# ----------------------------------------------------------------------------------------------- clock, reset
@delivery.on_tick
def progress_shipments(sim: SimContext) -> None:
    """Move every unfinished shipment along its plan (emits a webhook per status change); one whose next step
    is not due yet is not loaded (the value kept in "shipments_active" is when that step is due)."""
    now = None
    for sid, due in sim.store.items("shipments_active"):
        now = sim.clock.timestamp() if now is None else now
        if isinstance(due, int | float) and now < due:
            continue
        with sim.store.transaction():
            s = sim.store.get("shipments", sid)
            if s is None:
                sim.store.delete("shipments_active", sid)
            else:
                advance(sim, s)


@delivery.on_reset
def seed_example_quote(sim: SimContext) -> None:
    """The contract's example quote (GB, 1.2 kg) exists and never expires, so its examples work with curl."""
    parcels = [{"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}]
    now = sim.clock.timestamp()
    sim.store.put("quotes", EXAMPLE_QUOTE_ID, {
        "id": EXAMPLE_QUOTE_ID, "destination": {"country": "GB", "postal_code": "SW1A 1AA", "city": "London"},
        "parcels": parcels, "options": price_options("GB", parcels, sim.clock.now().date()),
        "created_at": _iso(now), "expires_at": _iso(now + QUOTE_TTL_S), "_expires_ts": None})


# ----------------------------------------------------------------------------------------------- states
@delivery.state("shipment-in-transit", "shipment {shipment_id} is in transit", shipment_id="shp_00000000b001",
                order_reference="order-10042", postal_code="SW1A 1AA", country="GB")
def state_in_transit(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """A shipment booked 2 hours ago and collected (in_transit); it keeps moving with the clock."""
    return _seed_shipment(sim, params, hours_ago=2)


@delivery.state("shipment-label-created", "shipment {shipment_id} has a label", shipment_id="shp_00000000b002",
                order_reference="order-10042", postal_code="SW1A 1AA", country="GB")
def state_label_created(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """A shipment just booked (label_created): it can still be cancelled."""
    return _seed_shipment(sim, params, hours_ago=0)


def _seed_shipment(sim: SimContext, params: dict[str, Any], hours_ago: float) -> dict[str, Any]:
    country = str(params.get("country", "GB"))
    parcels = [{"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}]
    option = price_options(country, parcels, sim.clock.now().date())[0]
    created_ts = sim.clock.timestamp() - hours_ago * HOUR
    sid = str(params.get("shipment_id") or sim.new_id("shp"))
    s = {
        "id": sid, "status": "label_created", "service": "standard", "tracking_number": f"SBX{sid[-10:]}{country}",
        "label": {"url": f"https://labels.delivery.sandbox.example/{sid}.pdf", "format": "pdf"},
        "order_reference": str(params.get("order_reference", "order-10042")), "quote_id": None,
        "recipient": {"name": "Amelia Clarke", "phone": None, "email": None,
                      "address": {"line1": "10 Downing Street", "line2": None, "city": "London",
                                  "postal_code": str(params.get("postal_code", "SW1A 1AA")), "country": country}},
        "parcels": parcels, "price": option["price"], "estimated_delivery": option["estimated_delivery"],
        "created_at": _iso(created_ts), "updated_at": _iso(created_ts), "_created_ts": created_ts,
        "_plan": plan_for(str(params.get("postal_code", "SW1A 1AA")))[0], "_step": 0,
        "_events": [{"status": "label_created", "at": _iso(created_ts), "location": None,
                     "description": "Shipment booked, label created."}],
    }
    sim.store.put("shipments", sid, s)
    sim.store.put("shipments_active", sid, next_due(s))
    s = advance(sim, s)
    return {"shipment_id": sid, "status": s["status"], "tracking_number": s["tracking_number"]}

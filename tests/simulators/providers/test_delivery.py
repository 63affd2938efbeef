"""Delivery behaviours in-process: quotes, booking rules, cancel, clock-driven progress, magic postcodes."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.providers.delivery import EXAMPLE_QUOTE_ID, add_working_days, delivery
from tests.simulators.providers.harness import Harness

PARCEL = {"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}


@pytest.fixture
def h() -> Harness:
    return Harness("delivery", delivery)


def quote(h: Harness, country: str = "GB", parcels: list[dict[str, Any]] | None = None) -> tuple[int, Any]:
    return h.call("createQuote", {"destination": {"country": country, "postal_code": "SW1A 1AA", "city": "X"},
                                  "parcels": parcels or [PARCEL]})


def book(h: Harness, postal_code: str = "SW1A 1AA", country: str = "GB", order: str = "order-1",
         **extra: Any) -> tuple[int, Any]:
    body = {"service": "standard", "order_reference": order, "parcels": [PARCEL],
            "recipient": {"name": "Amelia Clarke", "address": {"line1": "10 Downing Street", "city": "London",
                                                               "postal_code": postal_code, "country": country}},
            **extra}
    return h.call("createShipment", body)


def statuses(h: Harness, sid: str) -> list[str]:
    return [e["status"] for e in h.call("getTracking", shipment_id=sid)[1]["events"]]


def test_contract_examples_work(h: Harness) -> None:
    ops = h.contract.operations
    for name in ("domestic_gb", "two_parcels_de"):
        assert h.call("createQuote", ops["createQuote"].request_body["application/json"].examples[name])[0] == 201
    status, problem = h.call("createQuote", ops["createQuote"].request_body["application/json"]
                             .examples["unsupported_destination"])
    assert status == 422 and problem["errors"][0]["received"] == "AU"
    for name in ("standard_gb", "express_de_no_quote"):
        status, s = h.call("createShipment", ops["createShipment"].request_body["application/json"].examples[name])
        assert status == 201 and s["status"] == "label_created", name
    assert s["label"]["format"] == "zpl" and s["quote_id"] is None


def test_quote_prices_by_destination_and_weight(h: Harness) -> None:
    _, gb = quote(h)
    std, exp = gb["options"]
    assert std["price"] == {"amount": 495, "currency": "GBP"} and exp["price"]["amount"] == 995
    assert std["estimated_delivery"] == add_working_days(h.clock.now().date(), 3).isoformat()
    _, heavy = quote(h, "DE", [{**PARCEL, "weight_grams": 5500}, PARCEL])
    assert heavy["options"][0]["price"] == {"amount": 1095 + 1095 + round(1095 * 0.1 * 4), "currency": "EUR"}
    assert quote(h, "SE")[1]["options"][0]["price"]["currency"] == "SEK"
    status, problem = quote(h, "US")
    assert status == 422 and problem["type"].endswith("unsupported-destination")


def test_booking_from_a_quote_uses_its_price_and_checks_it(h: Harness) -> None:
    _, q = quote(h, "DE")
    status, s = book(h, "10115", "DE", quote_id=q["id"], service="express")
    assert status == 201 and s["price"] == q["options"][1]["price"] and s["quote_id"] == q["id"]
    assert book(h, quote_id=q["id"])[1]["type"].endswith("quote-mismatch")  # GB recipient, DE quote
    assert book(h, quote_id="quo_000000000000")[1]["type"].endswith("unknown-quote")
    h.tick("25h")
    status, problem = book(h, "10115", "DE", quote_id=q["id"])
    assert status == 422 and problem["type"].endswith("quote-expired")
    assert book(h, quote_id=EXAMPLE_QUOTE_ID)[0] == 201  # the example quote never expires
    assert book(h, "1000", "CH")[0] == 422


def test_shipment_progresses_with_the_clock_and_sends_webhooks(h: Harness) -> None:
    _, s = book(h)
    sid = s["id"]
    timeline = [("59m", "label_created"), ("1m", "in_transit"), ("23h", "out_for_delivery"),
                ("11h59m", "out_for_delivery"), ("1m", "delivered")]
    for step, expected in timeline:
        for part in step.replace("h", "h ").split():
            h.tick(part)
        assert h.call("getShipment", shipment_id=sid)[1]["status"] == expected, step
    assert statuses(h, sid) == ["label_created", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    events = h.events()
    assert [e["type"] for e in events] == ["shipment.updated"] * 4 + ["shipment.delivered"]
    assert [e["data"]["object"]["status"] for e in events if e["type"] == "shipment.updated"] == [
        "label_created", "in_transit", "out_for_delivery", "delivered"]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    assert events[-1]["data"]["tracking_event"]["status"] == "delivered"


def test_the_tick_loads_a_shipment_only_when_its_next_step_is_due(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    sids = [book(h, order=f"order-{n}")[1]["id"] for n in range(2)]
    loaded: list[str] = []
    get = h.store.get
    monkeypatch.setattr(h.store, "get", lambda ns, key: (loaded.append(key) if ns == "shipments" else None,
                                                           get(ns, key))[1])
    h.tick("59m")
    assert loaded == []
    h.tick("1m")  # in_transit: both loaded once
    assert sorted(loaded) == sorted(sids)
    loaded.clear()
    for _ in range(10):  # the depot scan is due at 12 h
        h.tick("1h")
    assert loaded == []
    h.tick("1h")  # the depot scan (no status change) is recorded and the next step is due at 24 h
    assert sorted(loaded) == sorted(sids)
    loaded.clear()
    h.tick("11h")
    assert loaded == []
    assert statuses(h, sids[0]) == ["label_created", "in_transit", "in_transit"]


def test_a_big_clock_jump_replays_every_step_at_its_own_time(h: Harness) -> None:
    _, s = book(h)
    h.clock.apply({"advance": "3d"})
    _, t = h.call("getTracking", shipment_id=s["id"])
    assert t["status"] == "delivered"
    assert [e["at"][11:16] for e in t["events"]] == ["09:00", "10:00", "21:00", "09:00", "21:00"]


def test_exc_postcode_gives_an_exception_then_a_second_attempt(h: Harness) -> None:
    _, s = book(h, "EXC 123")
    h.tick("30h")
    assert h.call("getShipment", shipment_id=s["id"])[1]["status"] == "exception"
    assert [e["type"] for e in h.events()][-2:] == ["shipment.updated", "shipment.exception"]
    h.tick("2d")
    assert statuses(h, s["id"])[-4:] == ["exception", "in_transit", "out_for_delivery", "delivered"]


def test_rts_postcode_is_returned_to_sender(h: Harness) -> None:
    _, s = book(h, "RTS 1")
    h.tick("4d")
    assert statuses(h, s["id"])[-2:] == ["exception", "returned"]


def test_cancel_only_before_in_transit(h: Harness) -> None:
    _, s = book(h)
    status, c = h.call("cancelShipment", {"reason": "order_cancelled"}, shipment_id=s["id"])
    assert status == 200 and c["status"] == "cancelled" and c["estimated_delivery"] is None
    assert h.call("cancelShipment", None, shipment_id=s["id"])[1]["status"] == "cancelled"  # again: no-op
    h.tick("2d")
    assert h.call("getShipment", shipment_id=s["id"])[1]["status"] == "cancelled"
    _, s2 = book(h)
    h.tick("1h")
    status, problem = h.call("cancelShipment", None, shipment_id=s2["id"])
    assert status == 409 and problem["state"] == "in_transit" and problem["shipment_status"] == "in_transit"


def test_partial_fulfilment_several_shipments_per_order(h: Harness) -> None:
    ids = [book(h, order="order-77")[1]["id"] for _ in range(3)]
    h.call("cancelShipment", None, shipment_id=ids[2])
    h.tick("2d")
    mine = [s for _, s in h.store.items("shipments") if s["order_reference"] == "order-77"]
    assert sorted(s["status"] for s in mine) == ["cancelled", "delivered", "delivered"]


def test_unknown_shipment_is_404(h: Harness) -> None:
    for op in ("getShipment", "cancelShipment", "getTracking"):
        assert h.call(op, shipment_id="shp_000000000000")[0] == 404


def test_provider_state_in_transit(h: Harness) -> None:
    result = h.state("shipment shp_0000000000c1 is in transit")
    assert result == {"shipment_id": "shp_0000000000c1", "status": "in_transit",
                      "tracking_number": "SBX00000000c1GB"}
    assert h.call("cancelShipment", None, shipment_id="shp_0000000000c1")[0] == 409
    h.tick("2d")
    assert h.call("getShipment", shipment_id="shp_0000000000c1")[1]["status"] == "delivered"

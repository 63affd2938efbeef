"""The orchestrator's delivery adapter as a Pact consumer: quote, book, track, cancel."""

from __future__ import annotations

import json

from pact import match

from orchestrator.adapters.base import ClientPolicy
from orchestrator.adapters.delivery import DeliveryClient
from tests.pact.consumer import IDEMPOTENCY_KEY, ISO, new_pact, write

IN_TRANSIT = "shipment shp_00000000b001 is in transit"
HAS_LABEL = "shipment shp_00000000b002 has a label"
PARCELS = [{"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}]
QUOTE = {"destination": {"country": "GB", "postal_code": "SW1A 1AA", "city": "London"}, "parcels": PARCELS}
BOOKING = {"quote_id": "quo_5a7e1c90d3b2", "service": "standard", "order_reference": "order-10042",
           "label_format": "pdf",
           "recipient": {"name": "Amelia Clarke", "phone": "+447700900123", "email": "amelia.clarke@example.com",
                         "address": {"line1": "10 Downing Street", "city": "London", "postal_code": "SW1A 1AA",
                                     "country": "GB"}},
           "parcels": PARCELS}
SHIPMENT_ID = r"^shp_[0-9a-f]{12}$"


def test_delivery_adapter_pact() -> None:
    pact = new_pact("delivery")
    (pact.upon_receiving("a quote for one parcel to GB")
     .with_request("POST", "/quotes").with_body(QUOTE, "application/json")
     .will_respond_with(201)
     .with_body({"id": match.regex("quo_0123456789ab", regex=r"^quo_[0-9a-f]{12}$"),
                 "options": match.each_like({"service": match.str("standard"),
                                             "price": {"amount": match.int(495), "currency": match.str("GBP")},
                                             "eta_days": match.int(3)}),
                 "expires_at": match.regex("2026-01-02T10:00:00Z", regex=ISO)}, "application/json"))
    (pact.upon_receiving("a shipment booked from the example quote")
     .with_request("POST", "/shipments")
     .with_header("Idempotency-Key", match.regex("order-10042-shipment-1", regex=IDEMPOTENCY_KEY))
     .with_body(BOOKING, "application/json")
     .will_respond_with(201)
     .with_body({"id": match.regex("shp_0123456789ab", regex=SHIPMENT_ID), "status": "label_created",
                 "tracking_number": match.str("SBX000000b002GB"), "order_reference": "order-10042"},
                "application/json"))
    (pact.upon_receiving("the tracking of a shipment in transit").given(IN_TRANSIT)
     .with_request("GET", "/shipments/shp_00000000b001/tracking")
     .will_respond_with(200)
     .with_body({"shipment_id": "shp_00000000b001", "status": "in_transit",
                 "events": match.each_like({"status": match.str("in_transit"),
                                            "at": match.regex("2026-01-01T10:00:00Z", regex=ISO)})},
                "application/json"))
    (pact.upon_receiving("a cancellation of a shipment that has a label").given(HAS_LABEL)
     .with_request("POST", "/shipments/shp_00000000b002/cancel")
     .with_header("Idempotency-Key", match.regex("order-10042-cancel", regex=IDEMPOTENCY_KEY))
     .with_body({"reason": "order_cancelled"}, "application/json")
     .will_respond_with(200)
     .with_body({"id": "shp_00000000b002", "status": "cancelled"}, "application/json"))

    with pact.serve(addr="127.0.0.1") as srv:
        client = DeliveryClient(str(srv.url), ClientPolicy(retries=0))
        quote = client.quote(QUOTE)
        assert quote["options"][0]["price"]["amount"] == 495
        booked = client.create_shipment(BOOKING, idempotency_key="order-10042-shipment-1")
        assert booked["status"] == "label_created"
        assert client.tracking("shp_00000000b001")["events"][0]["status"] == "in_transit"
        cancelled = client.cancel_shipment("shp_00000000b002", reason="order_cancelled",
                                           idempotency_key="order-10042-cancel")
        assert cancelled["status"] == "cancelled"
    written = json.loads(write(pact).read_text())
    assert [i["description"] for i in written["interactions"]] and len(written["interactions"]) == 4

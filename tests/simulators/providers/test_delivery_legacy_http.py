"""Delivery and legacy simulators over HTTP: clock-driven tracking with signed webhooks, KYC auto-approval,
HP gated by KYC, the last-item race, order cancel after shipping, outage state."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.simulators.providers.harness import Receiver, set_target
from tests.support.servers import Server, start_simulator


@pytest.fixture(scope="module")
def delivery() -> Iterator[Server]:
    s = start_simulator("delivery")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def legacy() -> Iterator[Server]:
    s = start_simulator("legacy")
    yield s
    s.stop()


def call(sim: Server, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
    headers = {"Idempotency-Key": f"k-{time.time_ns()}-{threading.get_ident()}"}
    return requests.request(method, sim.url + path, json=body, params=params or None, headers=headers, timeout=10)


def test_shipment_moves_with_the_clock_and_webhooks_are_signed(delivery: Server) -> None:
    delivery.control("POST", "/reset")
    receiver = Receiver()
    try:
        set_target(delivery, receiver.url)
        body = {"service": "standard", "order_reference": "order-9", "parcels": [
            {"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}],
            "recipient": {"name": "Amelia", "address": {"line1": "1 Road", "city": "London",
                                                        "postal_code": "SW1A 1AA", "country": "GB"}}}
        s = call(delivery, "POST", "/shipments", body).json()
        second = call(delivery, "POST", "/shipments", body).json()  # partial fulfilment: a second parcel
        assert call(delivery, "POST", f"/shipments/{second['id']}/cancel").json()["status"] == "cancelled"
        delivery.control("POST", "/clock", json={"advance": "1h"})
        assert call(delivery, "POST", f"/shipments/{s['id']}/cancel").status_code == 409
        delivery.control("POST", "/clock", json={"advance": "2d"})
        tracking = call(delivery, "GET", f"/shipments/{s['id']}/tracking").json()
        assert [e["status"] for e in tracking["events"]] == [
            "label_created", "in_transit", "in_transit", "out_for_delivery", "delivered"]
        got = receiver.wait_for(7)
        mine = [r for r in got if r["event"]["data"]["object"]["id"] == s["id"]]
        assert [r["event"]["type"] for r in mine] == ["shipment.updated"] * 4 + ["shipment.delivered"]
        assert all(r["valid"] for r in got)
    finally:
        receiver.stop()


def test_unsupported_destination_over_http(delivery: Server) -> None:
    r = call(delivery, "POST", "/quotes", {"destination": {"country": "AU", "postal_code": "2000", "city": "Sydney"},
                                           "parcels": [{"weight_grams": 10, "length_cm": 1, "width_cm": 1,
                                                        "height_cm": 1}]})
    assert r.status_code == 422 and r.json()["type"].endswith("unsupported-destination")


def _customer(legacy: Server, kyc: str | None = None) -> tuple[str, str]:
    state = f"kyc-{kyc}" if kyc else "customer-exists"
    result = legacy.control("POST", f"/states/{state}", json={"customer_id": ""}).json()["result"]
    return result["customer_id"], result["address_id"]


def test_kyc_auto_approval_then_hp_sale(legacy: Server) -> None:
    legacy.control("POST", "/reset")
    cid, adr = _customer(legacy)
    assert call(legacy, "POST", f"/customers/{cid}/kyc", {"document_type": "passport", "document_number": "533401372",
                                                          "issuing_country": "GB"}).status_code == 202
    hp = {"customer_id": cid, "items": [{"sku": "SKU-00002", "quantity": 1}], "term_months": 12, "deposit": 0,
          "delivery_address_id": adr, "agreement_accepted": True}
    r = call(legacy, "POST", "/sales/hp", hp)
    assert r.status_code == 403 and r.json()["kyc_status"] == "pending_review"
    legacy.control("POST", "/clock", json={"advance": "10m"})
    assert call(legacy, "GET", f"/customers/{cid}/kyc").json()["status"] == "approved"
    r = call(legacy, "POST", "/sales/hp", hp)
    assert r.status_code == 201 and r.json()["hp"]["term_months"] == 12


def test_two_sales_of_the_last_item_one_wins(legacy: Server) -> None:
    legacy.control("POST", "/reset")
    cid, adr = _customer(legacy)
    legacy.control("POST", "/states/product-stock", json={"sku": "SKU-00002", "stock": 1})
    body = {"customer_id": cid, "items": [{"sku": "SKU-00002", "quantity": 1}], "delivery_address_id": adr,
            "payment_reference": "pay_1"}
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(call(legacy, "POST", "/sales/cash", body).status_code))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    assert call(legacy, "GET", "/products/SKU-00002/stock").json()["available"] == 0


def test_order_cannot_be_cancelled_once_shipped(legacy: Server) -> None:
    legacy.control("POST", "/reset")
    cid, adr = _customer(legacy)
    body = {"customer_id": cid, "items": [{"sku": "SKU-00001", "quantity": 1}], "delivery_address_id": adr,
            "payment_reference": "pay_1"}
    oid = call(legacy, "POST", "/sales/cash", body).json()["order_id"]
    legacy.control("POST", "/clock", json={"advance": "3h"})
    r = call(legacy, "POST", f"/orders/{oid}/cancel", {"reason": "customer_request"})
    assert r.status_code == 409 and r.json()["order_status"] == "shipped"


def test_legacy_down_state(legacy: Server) -> None:
    legacy.control("POST", "/reset")
    assert legacy.control("POST", "/states/legacy-down", json={"retry_after": 7}).status_code == 200
    r = call(legacy, "GET", "/products")
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    legacy.control("POST", "/states/legacy-up")
    assert call(legacy, "GET", "/products").status_code == 200

"""Journeys through the orchestrator against the real simulators, over HTTP only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from .live import CARD_DECLINED, Sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path_factory.mktemp("orch") / "orchestrator.db").start()
    yield sandbox
    sandbox.stop()


def test_place_order_contract_example_works_against_the_default_sandbox(sb: Sandbox) -> None:
    """First in the module, so the legacy simulator is still as `sandbox up` starts it."""
    assert not sb.journal("legacy", "registerCustomer"), "this test needs an untouched sandbox"
    doc = yaml.safe_load((ROOT / "contracts" / "storefront.openapi.yaml").read_text())
    example = doc["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["examples"]["cash"]
    customer = example["value"]["customer_id"]
    seeded = requests.get(f"{sb.sims['legacy'].url}/customers/{customer}", timeout=10).status_code == 200
    if not seeded:  # still prove the example itself is right, then report the missing seed honestly
        assert sb.state("legacy", "customer-exists", customer_id=customer)["result"]["address_id"] == \
            example["value"]["delivery_address_id"]
    r = sb.place(example["value"], key="contract-example")
    assert r.status_code == 201, r.text
    if not seeded:
        pytest.xfail(f"the default legacy sandbox seeds no customer: {customer} exists only after the "
                     "'customer-exists' provider state (the example works once it is applied)")


def test_new_customer_onboarding_with_manual_kyc_approval(sb: Sandbox) -> None:
    customer = sb.customer()
    assert customer["source"] == "new" and customer["kyc_status"] == "not_submitted"
    r = sb.sf("POST", f"/customers/{customer['id']}/kyc",
              json={"document_type": "passport", "document_number": "123456789", "issuing_country": "GB"})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending_review" and r.json()["manual_approval_required"] is True
    assert sb.sf("GET", f"/customers/{customer['id']}/kyc").json()["hp_allowed"] is False
    sb.state("legacy", "kyc-approved", customer_id=customer["id"])  # the back office approves
    kyc = sb.sf("GET", f"/customers/{customer['id']}/kyc").json()
    assert kyc["status"] == "approved" and kyc["hp_allowed"] is True and not kyc["manual_approval_required"]


def test_migrated_customer_is_mapped_and_waits_for_manual_kyc(sb: Sandbox) -> None:
    r = sb.sf("POST", "/customers/migrations", json={
        "legacy_id": "LEG-004217", "email": "grace.hopper@example.com", "first_name": "Grace", "last_name": "Hopper",
        "phone": "+447700900456", "date_of_birth": "1966-12-09", "status": "active"})
    assert r.status_code == 201, r.text
    customer = r.json()
    assert (customer["source"], customer["legacy_id"]) == ("migrated", "LEG-004217")
    assert (customer["first_name"], customer["last_name"], customer["date_of_birth"]) == ("Grace", "Hopper",
                                                                                          "1966-12-09")
    migration = sb.journal("legacy", "migrateCustomer")[-1]["request"]["body"]
    assert migration["FULL_NAME"] == "HOPPER, Grace" and migration["DOB"] == "09/12/1966"
    sb.state("legacy", "kyc-pending", customer_id=customer["id"])
    kyc = sb.sf("GET", f"/customers/{customer['id']}/kyc").json()
    assert kyc["status"] == "pending_review" and kyc["manual_approval_required"] is True


def test_catalog_bulk_then_delta_with_drift(sb: Sandbox) -> None:
    bulk = sb.sf("POST", "/catalog/sync", json={"mode": "bulk"}).json()
    assert bulk["mode"] == "bulk" and bulk["upserted"] == bulk["fetched"] > 25, bulk  # pages were followed
    assert len(sb.journal("legacy", "listProducts")) >= 2
    sb.state("legacy", "product-stock", sku="SKU-00002", stock=3)
    sb.fault("legacy", {"match": {"operation": "listProductChanges", "times": 1},
                        "effects": [{"type": "drift", "op": "unknown_enum", "field": "/items/0/product/category"}]})
    delta = sb.sf("POST", "/catalog/sync", json={"mode": "delta"})
    assert delta.status_code == 200, delta.text
    delta_body = delta.json()
    assert delta_body["mode"] == "delta" and delta_body["upserted"] >= 1
    assert any(d["kind"] == "unknown_enum" for d in delta_body["drift"]), delta_body
    products = {p["sku"]: p for p in sb.sf("GET", "/products", params={"limit": 200}).json()["items"]}
    assert products["SKU-00002"]["stock"] == 3
    assert "orchestrator_catalog_drift_total" in sb.sf("GET", "/metrics").text


def test_cash_checkout_end_to_end(sb: Sandbox) -> None:
    customer = sb.customer()
    r = sb.place(sb.order_body(customer), key="cash-1")
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "confirmed" and order["captured_amount"] == order["amount"] > 0
    assert order["legacy_order_id"].startswith("ORD-")
    replay = sb.place(sb.order_body(customer), key="cash-1")
    assert replay.json()["id"] == order["id"] and replay.headers.get("Idempotent-Replayed") == "true"
    done = sb.wait_order(order["id"], lambda o: o["status"] == "completed" and o["shipments"])
    assert done["fulfilment_status"] in {"booked", "shipped", "partially_shipped"}
    captures = [e for e in sb.journal("payment", "capturePayment") if e["idempotency_key"] == f"{order['id']}:capture"]
    assert len(captures) == 1
    emails = [e for e in sb.journal("notifications", "sendEmail")
              if (e["idempotency_key"] or "").startswith(f"{order['id']}:notify:order_confirmed")]
    assert len(emails) == 1
    different = sb.place(sb.order_body(customer, items=[{"sku": "SKU-00001", "quantity": 2}]), key="cash-1")
    assert different.status_code == 422 and different.headers["Content-Type"] == "application/problem+json"


def test_hp_checkout_needs_approved_kyc(sb: Sandbox) -> None:
    customer = sb.customer()
    body = {**sb.order_body(customer, items=[{"sku": "SKU-00002", "quantity": 1}]), "payment_type": "hp",
            "hp": {"term_months": 12, "deposit": 10000}}
    sim = sb.sf("POST", "/checkout/simulations", json={k: body[k] for k in ("customer_id", "payment_type",
                                                                             "items", "hp")})
    assert sim.status_code == 409 and sim.json()["type"] == "/problems/kyc-not-approved"
    refused = sb.place(body)
    assert refused.status_code == 409 and refused.json()["reason"] == "kyc_not_approved", refused.text
    sb.state("legacy", "kyc-approved", customer_id=customer["id"])
    sim = sb.sf("POST", "/checkout/simulations", json={k: body[k] for k in ("customer_id", "payment_type",
                                                                             "items", "hp")})
    assert sim.status_code == 200 and sim.json()["hp"]["instalments"]["count"] == 12
    r = sb.place(body)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["payment_type"] == "hp" and order["amount"] == 10000 and order["captured_amount"] == 10000
    assert order["totals"]["hp"]["term_months"] == 12


def test_declined_card_fails_the_order_and_charges_nothing(sb: Sandbox) -> None:
    customer = sb.customer()
    r = sb.place(sb.order_body(customer, payment=CARD_DECLINED))
    assert r.status_code == 402 and r.headers["Content-Type"] == "application/problem+json"
    problem = r.json()
    assert problem["decline_code"] == "do_not_honor" and problem["reason"] == "declined"
    order = sb.order(problem["order_id"])
    assert order["status"] == "failed" and order["captured_amount"] == 0 and order["legacy_order_id"] is None


def test_partial_refund(sb: Sandbox) -> None:
    customer = sb.customer()
    order = sb.place(sb.order_body(customer)).json()
    r = sb.sf("POST", f"/orders/{order['id']}/refunds", json={"amount": 1000}, headers={"Idempotency-Key": "r1"})
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    again = sb.sf("POST", f"/orders/{order['id']}/refunds", json={"amount": 1000}, headers={"Idempotency-Key": "r1"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    after = sb.order(order["id"])
    assert after["refunded_amount"] == 1000 and after["status"] == "partially_refunded"
    too_much = sb.sf("POST", f"/orders/{order['id']}/refunds", json={"amount": order["amount"]})
    assert too_much.status_code == 422
    refunds = [e for e in sb.journal("payment", "refundPayment") if e["status"] == 201
               and (e["idempotency_key"] or "").startswith(order["id"])]
    assert len(refunds) == 1


def test_cancel_before_shipping_refunds_and_cancels_everything(sb: Sandbox) -> None:
    customer = sb.customer()
    order = sb.place(sb.order_body(customer)).json()
    sb.wait_order(order["id"], lambda o: o["status"] == "completed" and o["shipments"])
    r = sb.sf("POST", f"/orders/{order['id']}/cancel", json={"reason": "customer_request"})
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["status"] == "cancelled" and cancelled["refunded_amount"] == order["amount"]
    assert all(s["status"] == "cancelled" for s in cancelled["shipments"])
    assert sb.journal("delivery", "cancelShipment")
    legacy_cancels = [e for e in sb.journal("legacy", "cancelOrder")
                      if e["path"].endswith(f"{order['legacy_order_id']}/cancel")]
    deadline_order = sb.wait_order(order["id"], lambda o: True)
    assert deadline_order["status"] == "cancelled"
    assert legacy_cancels or _eventually(lambda: [e for e in sb.journal("legacy", "cancelOrder")
                                                  if e["path"].endswith(f"{order['legacy_order_id']}/cancel")])


def _eventually(fn, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    return fn()


def test_partial_fulfilment_via_webhooks(sb: Sandbox) -> None:
    customer = sb.customer()
    items = [{"sku": "SKU-00001", "quantity": 1}, {"sku": "SKU-00004", "quantity": 1}]
    body = sb.order_body(customer, items=items, parcels=[{"items": items[:1]}, {"items": items[1:]}])
    r = sb.place(body)
    assert r.status_code == 201, r.text
    order = sb.wait_order(r.json()["id"], lambda o: len(o["shipments"]) == 2)
    assert order["fulfilment_status"] == "booked"
    sb.control("delivery", "POST", "/clock", json={"advance": "7d"})
    done = sb.wait_order(order["id"], lambda o: o["fulfilment_status"] == "delivered", timeout=30)
    assert {s["status"] for s in done["shipments"]} == {"delivered"}


def test_simulate_checkout_without_an_address_uses_the_default_one(sb: Sandbox) -> None:
    r = sb.sf("POST", "/checkout/simulations", json={
        "customer_id": "CUS-00000042", "payment_type": "cash", "items": [{"sku": "SKU-00001", "quantity": 1}]})
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["total"] > 0
    sent = sb.journal("legacy", "simulateCashSale")[-1]["request"]["body"]
    assert sent["delivery_address_id"] == "ADR-00000001"  # the customer's default, looked up by the layer


def test_out_of_range_and_unknown_hp_terms_are_a_400_not_a_crash(sb: Sandbox) -> None:
    base = {"customer_id": "CUS-00000042", "payment_type": "hp", "items": [{"sku": "SKU-00001", "quantity": 1}]}
    huge = sb.sf("POST", "/checkout/simulations", json={**base, "hp": {"term_months": 36, "deposit": 10**23}})
    assert huge.status_code == 400 and huge.json()["errors"][0]["pointer"] == "/hp/deposit"  # found by fuzzing
    extra = sb.sf("POST", "/checkout/simulations", json={**base, "hp": {"term_months": 36, "P": {}}})
    assert extra.status_code == 400 and extra.json()["errors"][0]["pointer"] == "/hp"

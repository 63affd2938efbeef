"""The orchestrator's legacy-backend adapter as a Pact consumer: register, read customer and KYC, basket."""

from __future__ import annotations

import json

from pact import match

from orchestrator.adapters.base import ClientPolicy
from orchestrator.adapters.legacy import LegacyClient
from tests.pact.consumer import ISO, new_pact, write

EXISTS = "customer CUS-00000042 exists"
KYC_APPROVED = "customer CUS-00000042 has approved KYC"
CUSTOMER_ID = r"^CUS-[0-9]{8}$"
REGISTRATION = {"email": "ada.lovelace@example.com", "first_name": "Ada", "last_name": "Lovelace",
                "phone": "+447700900123", "date_of_birth": "1985-12-10", "password": "correct-horse-battery"}


def customer(kyc: str) -> dict[str, object]:
    """The fields of a customer the orchestrator reads."""
    return {"id": match.regex("CUS-00000042", regex=CUSTOMER_ID), "email": match.str("ada.lovelace@example.com"),
            "first_name": match.str("Ada"), "last_name": match.str("Lovelace"), "status": "active",
            "kyc_status": kyc, "created_at": match.regex("2026-01-01T10:00:00Z", regex=ISO)}


def test_legacy_adapter_pact() -> None:
    pact = new_pact("legacy")
    (pact.upon_receiving("a registration of a new customer")
     .with_request("POST", "/customers").with_body(REGISTRATION, "application/json")
     .will_respond_with(201).with_body(customer("not_submitted"), "application/json"))
    (pact.upon_receiving("a read of an existing customer").given(EXISTS)
     .with_request("GET", "/customers/CUS-00000042")
     .will_respond_with(200).with_body(customer(match.str("not_submitted")), "application/json"))
    (pact.upon_receiving("a read of an approved KYC").given(KYC_APPROVED)
     .with_request("GET", "/customers/CUS-00000042/kyc")
     .will_respond_with(200).with_body({"customer_id": "CUS-00000042", "status": "approved"}, "application/json"))
    (pact.upon_receiving("one phone added to the basket").given(EXISTS)
     .with_request("POST", "/customers/CUS-00000042/basket/items")
     .with_body({"sku": "SKU-00001", "quantity": 1}, "application/json")
     .will_respond_with(200)
     .with_body({"customer_id": "CUS-00000042",
                 "items": match.each_like({"sku": "SKU-00001", "quantity": 1, "unit_price": match.int(49900),
                                           "line_total": match.int(49900)}),
                 "total": match.int(49900), "currency": "GBP"}, "application/json"))

    with pact.serve(addr="127.0.0.1") as srv:
        client = LegacyClient(str(srv.url), ClientPolicy(retries=0))
        assert client.register_customer(REGISTRATION)["kyc_status"] == "not_submitted"
        assert client.get_customer("CUS-00000042")["status"] == "active"
        assert client.get_kyc("CUS-00000042")["status"] == "approved"
        assert client.add_basket_item("CUS-00000042", "SKU-00001", 1)["items"][0]["sku"] == "SKU-00001"
    written = json.loads(write(pact).read_text())
    assert len(written["interactions"]) == 4

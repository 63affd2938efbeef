"""Legacy backend behaviours in-process: mapping, KYC, catalog paging and delta, promotions, sales, orders."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.core.behaviours import Request
from simulators.core.errors import ProblemError
from simulators.providers import REGISTRY
from simulators.providers.legacy_catalog import SEED, promotions
from tests.simulators.providers.harness import Harness

ADA = {"email": "ada.lovelace@example.com", "first_name": "Ada", "last_name": "Lovelace", "phone": "+447700900123",
       "date_of_birth": "1985-12-10", "password": "correct-horse-battery"}
ADDRESS = {"line1": "12 Analytical Row", "city": "London", "postcode": "SW1A 1AA", "country": "GB"}


@pytest.fixture
def h() -> Harness:
    return Harness("legacy", REGISTRY["legacy"])


def customer(h: Harness, kyc: str | None = None) -> tuple[str, str]:
    """(customer id, address id) of a fresh customer, optionally with a KYC state applied."""
    result = h.state(f"kyc-{kyc}" if kyc else "customer-exists", customer_id="")
    return result["customer_id"], result["address_id"]


def test_the_example_customer_is_seeded_on_reset(h: Harness) -> None:
    status, c = h.call("getCustomer", customer_id="CUS-00000042")
    assert status == 200 and c["email"] == "customer42@example.com"
    status, addresses = h.call("listAddresses", customer_id="CUS-00000042")
    assert status == 200 and [a["id"] for a in addresses["items"]] == ["ADR-00000001"]


def test_register_then_login_and_duplicate_email(h: Harness) -> None:
    status, c = h.call("registerCustomer", ADA)
    # CUS-00000042 is the contracts' example customer, seeded on reset: the next id goes to Ada
    assert status == 201 and c["id"] == "CUS-00000043" and c["source"] == "new" and c["kyc_status"] == "not_submitted"
    assert h.call("registerCustomer", ADA)[0] == 409
    status, session = h.call("login", {"email": ADA["email"], "password": ADA["password"]})
    assert status == 200 and session["customer_id"] == c["id"] and session["token"].startswith("tok_")
    assert h.call("login", {"email": ADA["email"], "password": "wrong-password"})[0] == 401
    assert h.call("login", {"email": "nobody@example.com", "password": "x"})[0] == 401
    assert h.call("requestPasswordReset", {"email": "nobody@example.com"})[0] == 202
    assert h.call("requestPasswordReset", {"email": ADA["email"]})[0] == 202
    assert len(h.store.items("password_resets")) == 1


def test_migration_maps_the_legacy_fields(h: Harness) -> None:
    record = {"legacy_id": "LEG-004217", "FULL_NAME": "O'BRIEN-SMITH, Mary Ann", "EMAIL_ADDR": "mary@example.org",
              "TEL": "0161 496 0000", "DOB": "09/02/1971", "CUST_STATUS": "S"}
    status, c = h.call("migrateCustomer", record)
    assert status == 201
    assert (c["first_name"], c["last_name"], c["date_of_birth"], c["phone"], c["status"], c["source"],
            c["legacy_id"]) == ("Mary Ann", "O'Brien-Smith", "1971-02-09", "+441614960000", "suspended",
                                "migrated", "LEG-004217")
    status, problem = h.call("migrateCustomer", {**record, "EMAIL_ADDR": "other@example.org"})
    assert status == 409 and c["id"] in problem["detail"]
    bad_date = {**record, "legacy_id": "LEG-000001", "EMAIL_ADDR": "x@example.org", "DOB": "31/02/1980"}
    assert h.call("migrateCustomer", bad_date)[1]["errors"][0]["pointer"] == "/DOB"
    closed = {**record, "legacy_id": "LEG-000002", "EMAIL_ADDR": "c@example.org", "CUST_STATUS": "C"}
    assert h.call("migrateCustomer", closed)[1]["status"] == "closed"


def test_registration_skips_ids_taken_by_provider_states(h: Harness) -> None:
    h.state("customer CUS-00000042 exists")
    status, c = h.call("registerCustomer", ADA | {"email": "new@example.com"})
    assert status == 201 and c["id"] == "CUS-00000043"


def test_suspended_customer_cannot_log_in(h: Harness) -> None:
    cid, _ = customer(h)
    c = h.store.get("customers", cid)
    c["status"] = "suspended"
    h.store.put("customers", cid, c)
    assert h.call("login", {"email": c["email"], "password": "correct-horse-battery"})[0] == 403


def test_kyc_auto_approval_after_the_review_delay(h: Harness) -> None:
    cid, _ = customer(h)
    body = {"document_type": "passport", "document_number": "533401372", "issuing_country": "GB"}
    status, kyc = h.call("submitKyc", body, customer_id=cid)
    assert status == 202 and kyc["status"] == "pending_review"
    assert h.call("submitKyc", body, customer_id=cid)[1]["kyc_status"] == "pending_review"
    h.tick("9m")
    assert h.call("getKycStatus", customer_id=cid)[1]["status"] == "pending_review"
    h.tick("1m")
    _, kyc = h.call("getKycStatus", customer_id=cid)
    assert kyc["status"] == "approved" and kyc["reviewed_at"] == "2026-03-02T09:10:00Z"
    assert h.call("getCustomer", customer_id=cid)[1]["kyc_status"] == "approved"
    assert h.call("submitKyc", body, customer_id=cid)[0] == 409


def test_kyc_magic_document_number_is_rejected_then_resubmitted(h: Harness) -> None:
    cid, _ = customer(h)
    h.call("submitKyc", {"document_type": "id_card", "document_number": "REJECT0001", "issuing_country": "GB"},
           customer_id=cid)
    h.tick("10m")
    _, kyc = h.call("getKycStatus", customer_id=cid)
    assert kyc["status"] == "rejected" and kyc["rejection_reason"]
    status, kyc = h.call("submitKyc", {"document_type": "passport", "document_number": "533401372",
                                       "issuing_country": "GB"}, customer_id=cid)
    assert status == 202 and kyc["status"] == "pending_review"


def test_kyc_review_delay_is_configurable_and_pending_state_waits_for_a_person(h: Harness) -> None:
    h.state("legacy-quirks", kyc_review_delay="1h")
    cid, _ = customer(h)
    h.call("submitKyc", {"document_type": "passport", "document_number": "533401372", "issuing_country": "GB"},
           customer_id=cid)
    h.tick("30m")
    assert h.call("getKycStatus", customer_id=cid)[1]["status"] == "pending_review"
    h.tick("30m")
    assert h.call("getKycStatus", customer_id=cid)[1]["status"] == "approved"
    pending = h.state("customer CUS-00000777 has pending KYC")
    h.tick("2d")
    assert h.call("getKycStatus", customer_id=pending["customer_id"])[1]["status"] == "pending_review"
    h.state("kyc-approved", customer_id=pending["customer_id"])
    assert h.call("getKycStatus", customer_id=pending["customer_id"])[1]["status"] == "approved"


def test_catalog_pages_must_be_followed(h: Harness) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        _, page = h.call("listProducts", query={"limit": 100, **({"cursor": cursor} if cursor else {})})
        assert len(page["items"]) <= 25
        seen += [p["sku"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 2 and len(seen) == len(SEED) == 40 and seen == sorted(seen)
    _, audio = h.call("listProducts", query={"category": "audio"})
    assert {p["category"] for p in audio["items"]} == {"audio"}
    assert h.call("listProducts", query={"cursor": "QUJD"})[0] == 400  # "ABC": not a cursor we issued


def test_delta_since_timestamp(h: Harness) -> None:
    since = h.clock.iso()
    h.tick("1h")
    _, empty = h.call("listProductChanges", query={"since": since})
    assert empty["items"] == [] and empty["next_cursor"] is None
    h.state("product-price", sku="SKU-00001", amount=44900)
    h.state("product-deleted", sku="SKU-00003")
    _, delta = h.call("listProductChanges", query={"since": since})
    assert [(i["change"], i["sku"]) for i in delta["items"]] == [("updated", "SKU-00001"), ("deleted", "SKU-00003")]
    assert delta["items"][0]["product"]["price"]["amount"] == 44900 and delta["items"][1]["product"] is None
    _, later = h.call("listProductChanges", query={"since": delta["server_time"]})
    assert later["items"] == []
    assert h.call("getPrice", sku="SKU-00003")[0] == 404
    h.tick("31d")
    assert h.call("listProductChanges", query={"since": since})[0] == 410


def test_price_and_stock(h: Harness) -> None:
    _, price = h.call("getPrice", sku="SKU-00006")
    assert price["was_price"]["amount"] == 69900 and price["price"]["amount"] == 64900 and price["valid_until"]
    assert h.call("getPrice", sku="SKU-00001")[1]["was_price"] is None
    assert h.call("getStock", sku="SKU-00003")[1]["status"] == "out_of_stock"
    assert h.call("getStock", sku="SKU-00008")[1]["status"] == "low_stock"
    assert h.call("getStock", sku="SKU-00099")[0] == 404


@pytest.mark.parametrize(("items", "expected"), [
    ([("audio", 7999, 2)], [("PRM-0001", 1600)]),
    ([("accessories", 1999, 2), ("accessories", 999, 1)], [("PRM-0002", 999)]),
    ([("accessories", 999, 6)], [("PRM-0002", 1998)]),
    ([("phones", 49900, 1)], []),
    ([("phones", 50000, 1)], [("PRM-0003", 5000)]),
    ([("audio", 55000, 1)], [("PRM-0001", 5500)]),  # 49500 after 10 % off: below the threshold
])
def test_promotions(items: list[tuple[str, int, int]], expected: list[tuple[str, int]]) -> None:
    lines = [{"category": c, "unit_price": p, "quantity": q, "line_total": p * q} for c, p, q in items]
    assert [(p["promotion_id"], p["amount"]) for p in promotions(lines)] == expected


def test_basket_lifecycle(h: Harness) -> None:
    cid, _ = customer(h)
    assert h.call("getBasket", customer_id=cid)[1]["items"] == []
    h.call("addBasketItem", {"sku": "SKU-00001", "quantity": 1}, customer_id=cid)
    _, b = h.call("addBasketItem", {"sku": "SKU-00005", "quantity": 3}, customer_id=cid)
    assert (b["subtotal"], b["discount_total"], b["total"]) == (55897, 6999, 48898)
    assert [p["kind"] for p in b["promotions"]] == ["buy_2_get_1", "threshold_discount"]
    _, b = h.call("updateBasketItem", {"quantity": 2}, customer_id=cid, sku="SKU-00005")
    assert [p["kind"] for p in b["promotions"]] == ["threshold_discount"]  # 2 chargers: none free
    assert h.call("addBasketItem", {"sku": "SKU-00005", "quantity": 98}, customer_id=cid)[0] == 422  # > 99
    assert h.call("addBasketItem", {"sku": "SKU-00003", "quantity": 1}, customer_id=cid)[0] == 409  # no stock
    assert h.call("addBasketItem", {"sku": "SKU-00099", "quantity": 1}, customer_id=cid)[0] == 422
    assert h.call("removeBasketItem", customer_id=cid, sku="SKU-00004")[0] == 404
    _, b = h.call("removeBasketItem", customer_id=cid, sku="SKU-00005")
    _, b = h.call("updateBasketItem", {"quantity": 0}, customer_id=cid, sku="SKU-00001")
    assert b["items"] == [] and b["total"] == 0
    assert h.call("getBasket", customer_id="CUS-99999999")[0] == 404


def test_addresses(h: Harness) -> None:
    cid, _ = customer(h)
    status, a = h.call("addAddress", {**ADDRESS, "default": True}, customer_id=cid)
    assert status == 201 and a["default"]
    _, listing = h.call("listAddresses", customer_id=cid)
    assert listing["items"][0]["id"] == a["id"] and [x["default"] for x in listing["items"]] == [True, False]
    assert h.call("addAddress", {**ADDRESS, "country": "FR"}, customer_id=cid)[0] == 422
    for _ in range(18):
        h.call("addAddress", ADDRESS, customer_id=cid)
    assert h.call("addAddress", ADDRESS, customer_id=cid)[0] == 409


def sale(cid: str, address: str, sku: str = "SKU-00001", qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {"customer_id": cid, "items": [{"sku": sku, "quantity": qty}], "delivery_address_id": address,
            "payment_reference": "pay_7HcJ2vQ9xK", **extra}


def test_cash_simulation_has_no_side_effect_and_sale_decrements_stock(h: Harness) -> None:
    cid, adr = customer(h)
    before = h.call("getStock", sku="SKU-00001")[1]["available"]
    status, sim = h.call("simulateCashSale", {"customer_id": cid, "items": [{"sku": "SKU-00001", "quantity": 2}],
                                              "delivery_address_id": adr})
    assert status == 200 and sim["totals"]["total"] == 94800 and sim["totals"]["tax"] == 15800
    assert h.call("getStock", sku="SKU-00001")[1]["available"] == before
    assert h.call("simulateCashSale", {"customer_id": cid, "from_basket": True, "delivery_address_id": adr})[0] == 422
    _, small = h.call("simulateCashSale", {"customer_id": cid, "items": [{"sku": "SKU-00024", "quantity": 1}],
                                           "delivery_address_id": adr})
    assert small["totals"]["delivery"] == 499 and small["totals"]["total"] == 999 + 499
    status, s = h.call("createCashSale", sale(cid, adr, expected_total=49900))
    assert status == 201 and s["kind"] == "cash" and s["order_id"].startswith("ORD-")
    _, stock = h.call("getStock", sku="SKU-00001")
    assert (stock["available"], stock["reserved"]) == (before - 1, 1)
    status, problem = h.call("createCashSale", sale(cid, adr, expected_total=1))
    assert status == 409 and problem["type"].endswith("total-changed")
    assert h.call("createCashSale", sale(cid, "ADR-00009999"))[1]["errors"][0]["pointer"] == "/delivery_address_id"
    assert h.call("createCashSale", sale("CUS-99999999", adr))[0] == 422


def test_last_item_goes_to_one_sale_only(h: Harness) -> None:
    cid, adr = customer(h)
    h.state("product SKU-00002 has stock 1")
    assert h.call("createCashSale", sale(cid, adr, "SKU-00002"))[0] == 201
    status, problem = h.call("createCashSale", sale(cid, adr, "SKU-00002"))
    assert status == 409 and problem["sku"] == "SKU-00002" and problem["available"] == 0


def test_hp_needs_approved_kyc(h: Harness) -> None:
    cid, adr = customer(h, "pending")
    body = {"customer_id": cid, "items": [{"sku": "SKU-00002", "quantity": 1}], "term_months": 24, "deposit": 9900,
            "delivery_address_id": adr}
    status, problem = h.call("simulateHpSale", body)
    assert status == 403 and problem["kyc_status"] == "pending_review"
    assert h.call("createHpSale", {**body, "agreement_accepted": True})[1]["kyc_status"] == "pending_review"
    h.state("kyc-approved", customer_id=cid)
    status, plan = h.call("simulateHpSale", body)
    hp = plan["hp"]
    assert plan["totals"]["total"] == 84900  # £50 off over £500, computed here
    assert status == 200 and hp["credit_amount"] == 75000 and hp["apr"] == 19.9 and hp["instalments"]["count"] == 24
    assert hp["total_payable"] == hp["instalments"]["amount"] * 24 + 9900 and hp["instalments"]["amount"] == 3755
    assert "agreement_id" not in hp
    assert h.call("simulateHpSale", {**body, "deposit": 60000})[0] == 422  # over half the total
    assert h.call("simulateHpSale", {**body, "items": [{"sku": "SKU-00024", "quantity": 1}], "deposit": 0})[0] == 422
    assert h.call("createHpSale", {**body, "agreement_accepted": False})[0] == 422
    status, s = h.call("createHpSale", {**body, "agreement_accepted": True, "payment_reference": None})
    assert status == 201 and s["kind"] == "hp" and s["hp"]["agreement_id"].startswith("AGR-")


def test_orders_list_get_cancel_and_clock(h: Harness) -> None:
    cid, adr = customer(h)
    ids = [h.call("createCashSale", sale(cid, adr, "SKU-00024"))[1]["order_id"] for _ in range(3)]
    _, page = h.call("listOrders", query={"customer_id": cid, "limit": 2})
    assert [o["id"] for o in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    _, rest = h.call("listOrders", query={"customer_id": cid, "cursor": page["next_cursor"]})
    assert [o["id"] for o in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    before = h.call("getStock", sku="SKU-00024")[1]["available"]
    status, o = h.call("cancelOrder", {"reason": "customer_request"}, order_id=ids[0])
    assert status == 200 and o["status"] == "cancelled" and o["cancellation_reason"] == "customer_request"
    assert h.call("getStock", sku="SKU-00024")[1]["available"] == before + 1
    assert h.call("cancelOrder", None, order_id=ids[0])[1]["status"] == "cancelled"
    h.tick("10m")
    assert h.call("getOrder", order_id=ids[1])[1]["status"] == "processing"
    h.tick("2h")
    status, problem = h.call("cancelOrder", None, order_id=ids[1])
    assert status == 409 and problem["order_status"] == "shipped"
    h.tick("3d")
    assert h.call("getOrder", order_id=ids[1])[1]["status"] == "delivered"
    assert [o["id"] for o in h.call("listOrders", query={"status": "cancelled"})[1]["items"]] == [ids[0]]
    assert h.call("getOrder", order_id="ORD-99999999")[0] == 404


def test_the_clock_alone_moves_open_orders_and_releases_stock(h: Harness) -> None:
    # no reads in between: what the store holds is the tick's doing
    cid, adr = customer(h)
    young = h.call("createCashSale", sale(cid, adr, "SKU-00024"))[1]["order_id"]
    h.tick("9m")
    old = h.call("createCashSale", sale(cid, adr, "SKU-00024"))[1]["order_id"]
    reserved = h.store.get("products", "SKU-00024")["_reserved"]
    h.tick("1m")
    assert [h.store.get("orders", o)["status"] for o in (young, old)] == ["processing", "placed"]
    h.state("legacy-quirks", order_ship_after="15m")  # run-time settings are read at every tick
    h.tick("6m")
    assert [h.store.get("orders", o)["status"] for o in (young, old)] == ["shipped", "placed"]
    assert h.store.get("products", "SKU-00024")["_reserved"] == reserved - 1
    h.tick("4m")
    assert [h.store.get("orders", o)["status"] for o in (young, old)] == ["shipped", "processing"]
    h.tick("4d")
    assert [h.store.get("orders", o)["status"] for o in (young, old)] == ["delivered", "delivered"]
    assert h.store.items("orders_open") == []


def test_the_tick_loads_only_orders_whose_status_the_clock_changes(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    cid, adr = customer(h)
    ids = [h.call("createCashSale", sale(cid, adr, "SKU-00024"))[1]["order_id"] for _ in range(3)]
    h.state(f"order {ids[2]} has shipped")  # held: the clock no longer moves it
    assert sorted(k for k, _ in h.store.items("orders_open")) == sorted(ids[:2])
    loaded: list[str] = []
    get = h.store.get
    monkeypatch.setattr(h.store, "get", lambda ns, key: (loaded.append(key) if ns == "orders" else None, get(ns, key))[1])
    h.tick("10m")  # placed -> processing: both loaded once
    assert sorted(loaded) == sorted(ids[:2])
    loaded.clear()
    h.tick("10m")  # still processing: nothing to load
    h.tick("1h")
    assert loaded == []
    assert [h.store.get("orders", o)["status"] for o in ids] == ["processing", "processing", "shipped"]


def test_order_shipped_state(h: Harness) -> None:
    cid, adr = customer(h)
    oid = h.call("createCashSale", sale(cid, adr))[1]["order_id"]
    h.state(f"order {oid} has shipped")
    assert h.call("cancelOrder", None, order_id=oid)[1]["order_status"] == "shipped"


def test_stale_read_after_write_quirk(h: Harness) -> None:
    cid, _ = customer(h)
    h.state("legacy-quirks", stale_read_rate=1.0)
    h.state("kyc-approved", customer_id=cid)
    assert h.call("getCustomer", customer_id=cid)[1]["kyc_status"] == "not_submitted"  # the replica lags
    h.tick("3s")
    assert h.call("getCustomer", customer_id=cid)[1]["kyc_status"] == "approved"
    h.state("legacy-quirks", stale_read_rate=0.0)
    h.state("kyc-rejected", customer_id=cid)
    assert h.call("getCustomer", customer_id=cid)[1]["kyc_status"] == "rejected"


def test_legacy_down_answers_503_with_retry_after(h: Harness) -> None:
    cid, _ = customer(h)
    h.state("legacy backend is down", retry_after=12, duration="5m")
    with pytest.raises(ProblemError) as err:
        h.behaviours.operations["getCustomer"](Request("getCustomer", "GET", "/", {"customer_id": cid}), h.sim)
    assert err.value.status == 503 and err.value.headers["Retry-After"] == "12"
    assert h.call("getCustomer", customer_id=cid)[0] == 503
    h.tick("5m")
    assert h.call("getCustomer", customer_id=cid)[0] == 200
    h.state("legacy-down")
    assert h.call("listProducts")[0] == 503
    h.state("legacy-up")
    assert h.call("listProducts")[0] == 200

"""The orchestrator answers as contracts/storefront.openapi.yaml says, over plain HTTP (bugs found by fuzzing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask import Flask

from orchestrator.api import ops, validation

from .live import CARD_OK, Sandbox

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = yaml.safe_load((ROOT / "contracts" / "storefront.openapi.yaml").read_text())
METHODS = ("get", "put", "post", "delete", "patch")
NO_SUCH_CUSTOMER = "CUS-99999999"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path_factory.mktemp("conformance") / "orchestrator.db").start()
    yield sandbox
    sandbox.stop()


def problem_of(r: requests.Response) -> dict[str, Any]:
    """The problem document of a 400 validation answer."""
    assert r.status_code == 400, f"{r.status_code}: {r.text}"
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == "/problems/validation" and body["errors"], body
    return body


# sut-lenient-validation: requests the contract forbids are refused, naming the parameter, value and fix
@pytest.mark.parametrize(("method", "path", "kw", "location", "name", "received", "fix"), [
    ("GET", f"/customers/{NO_SUCH_CUSTOMER}", {"headers": {"X-Correlation-ID": "c" * 129}},
     "header", "X-Correlation-ID", "c" * 79 + "…", "{1,128}"),
    ("GET", "/orders", {"params": {"status": "AAA"}}, "query", "status", "AAA", "one of pending, confirmed"),
    ("GET", "/orders", {"params": {"limit": "ten"}}, "query", "limit", "ten", "an integer from 1 to 200"),
    ("GET", "/products", {"params": {"limit": "0"}}, "query", "limit", 0, "an integer from 1 to 200"),
    ("GET", "/reconciliation", {"params": {"to": ""}}, "query", "to", "", "a date (YYYY-MM-DD)"),
    ("POST", "/orders", {"json": {}}, "header", "Idempotency-Key", None, "the same on every retry"),
])
def test_parameters_that_break_the_contract_are_a_400_naming_them(
        sb: Sandbox, method: str, path: str, kw: dict[str, Any], location: str, name: str, received: Any,
        fix: str) -> None:
    problem = problem_of(sb.sf(method, path, **kw))
    error = next(e for e in problem["errors"] if e.get("location") == location and e.get("name") == name)
    assert error["received"] == received and error["pointer"] == f"/{name}"
    assert fix in error["message"] and name in error["message"], error
    assert problem["detail"] == problem["errors"][0]["message"]


@pytest.mark.parametrize(("path", "body", "pointer"), [
    ("/orders/ord_0000000000000000/cancel", {"reason": "r" * 201}, "/reason"),
    ("/admin/dead-letters/replay", {"ids": [{}]}, "/ids/0"),
    ("/admin/dead-letters/replay", {"ids": "all"}, "/ids"),
    ("/admin/dead-letters/replay", {"ids": [10**30]}, "/ids/0"),  # no row has it; the database cannot hold it
    ("/catalog/sync", {"mode": "everything"}, "/mode"),
    ("/orders/ord_0000000000000000/cancel", None, "/"),  # JSON null is a body, and not the object asked for
])
def test_bodies_that_break_the_contract_are_a_400_naming_the_field(
        sb: Sandbox, path: str, body: Any, pointer: str) -> None:
    problem = problem_of(sb.sf("POST", path, data=json.dumps(body), headers={"Content-Type": "application/json"}))
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("body", pointer)], problem


def test_an_optional_body_may_be_left_out(sb: Sandbox) -> None:
    assert sb.sf("POST", "/admin/dead-letters/replay").json() == {"replayed": 0}
    assert sb.sf("POST", "/orders/ord_0000000000000000/cancel").status_code == 404


# sut-undocumented-422: a path id the backend could never know is a documented 400, not a provider's 422
@pytest.mark.parametrize(("method", "path", "name"), [
    ("GET", "/customers/%25", "customer_id"),
    ("GET", "/customers/QK%C2%84/kyc", "customer_id"),
    ("GET", "/customers/%25/basket", "customer_id"),
    ("DELETE", "/customers/%C3%8D/basket/items/SKU-00005", "customer_id"),
    ("DELETE", f"/customers/{NO_SUCH_CUSTOMER}/basket/items/not-a-sku", "sku"),
])
def test_a_malformed_path_id_is_a_400_naming_the_parameter(sb: Sandbox, method: str, path: str, name: str) -> None:
    error = problem_of(sb.sf(method, path))["errors"][0]
    assert (error["location"], error["name"]) == ("path", name)
    assert "a string matching ^" in error["message"]


def test_a_correlation_id_the_providers_refuse_is_a_400_not_a_422(sb: Sandbox) -> None:
    """The backend refuses ids outside [A-Za-z0-9._:-]; the storefront refused nothing and answered its 422."""
    r = sb.sf("GET", f"/customers/{NO_SUCH_CUSTOMER}/kyc", headers={"X-Correlation-ID": "8,_MF\\2!X S"})
    assert problem_of(r)["errors"][0]["name"] == "X-Correlation-ID"
    assert r.headers["X-Correlation-ID"] != "8,_MF\\2!X S"  # not echoed, nor sent to any provider


def test_an_operation_without_the_header_replaces_an_unusable_correlation_id(sb: Sandbox) -> None:
    r = sb.sf("GET", f"/customers/{NO_SUCH_CUSTOMER}/basket", headers={"X-Correlation-ID": "a b/c"})
    assert r.status_code in (200, 404), r.text
    assert r.headers["X-Correlation-ID"] not in ("", "a b/c")
    good = sb.sf("GET", f"/customers/{NO_SUCH_CUSTOMER}/basket", headers={"X-Correlation-ID": "req-42:a.b_c"})
    assert good.headers["X-Correlation-ID"] == "req-42:a.b_c"


def test_every_operation_that_can_be_refused_documents_400() -> None:
    missing = [op["operationId"] for item in CONTRACT["paths"].values() for method, op in item.items()
               if method in METHODS and (op.get("parameters") or item.get("parameters") or op.get("requestBody"))
               and "400" not in op["responses"]]
    assert not missing, f"these operations validate their request but do not document 400: {missing}"


# sut-rejects-large-offset: the contract sets no maximum, so any offset gets a (past the end: empty) page
@pytest.mark.parametrize("path", ["/orders", "/products"])
@pytest.mark.parametrize("offset", ["1689040267", "319464049525088742241468416"])
def test_an_offset_past_the_end_is_an_empty_page(sb: Sandbox, path: str, offset: str) -> None:
    r = sb.sf("GET", path, params={"offset": offset, "limit": "198"})
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_offset": None}


# sut-allow-header: Allow lists the methods of the resource, not of every route the URL happens to fit
@pytest.mark.parametrize(("path", "template"), [
    ("/customers/migrations", "/customers/migrations"),
    (f"/customers/{NO_SUCH_CUSTOMER}/kyc", "/customers/{customer_id}/kyc"),
    ("/orders", "/orders"),
])
def test_options_advertises_the_documented_methods(sb: Sandbox, path: str, template: str) -> None:
    r = sb.sf("OPTIONS", path)
    assert r.status_code == 200
    documented = {m.upper() for m in CONTRACT["paths"][template] if m in METHODS}
    assert {m.strip() for m in r.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"} == documented


def test_an_undocumented_method_is_a_405_with_the_same_allow(sb: Sandbox) -> None:
    r = sb.sf("PUT", "/customers/migrations", json={})
    assert r.status_code == 405 and r.headers["Content-Type"].startswith("application/problem+json")
    assert {m.strip() for m in r.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"} == {"POST"}


def test_a_well_formed_but_unknown_customer_is_refused_alike_by_simulate_and_place(sb: Sandbox) -> None:
    """Well-formed ids now reach the backend, whose 404 simulateCheckout passed on undocumented."""
    body = {"customer_id": NO_SUCH_CUSTOMER, "payment_type": "cash", "delivery_address_id": "ADR-00000001",
            "items": [{"sku": "SKU-00001", "quantity": 1}]}
    simulated = sb.sf("POST", "/checkout/simulations", json=body)
    placed = sb.place({**body, "payment": CARD_OK})
    assert (simulated.status_code, placed.status_code) == (422, 422), (simulated.text, placed.text)


def test_an_operation_no_route_serves_fails_startup() -> None:
    """Plans are matched to routes at startup: a view renamed away from its contract path is caught there."""
    app = Flask("partial")
    app.register_blueprint(ops.bp)
    with pytest.raises(RuntimeError, match=r"no route serves .*getCustomer.*placeOrder"):
        validation.init_app(app)

"""Request and response validation: coercion, every violation location, 415, and problem details."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulators.core.contract import load_contract
from simulators.core.errors import ProblemError
from simulators.core.validation import ContractValidator

BOOKSHOP = Path(__file__).parents[3] / "tests" / "data" / "specs" / "bookshop-3.0.yaml"
BOOK = {"isbn": "9780141036144", "title": "1984", "genre": "fiction", "price": {"amount": 8.99, "currency": "GBP"}}


@pytest.fixture(scope="module")
def contract():
    return load_contract(BOOKSHOP)


@pytest.fixture(scope="module")
def validator(contract):
    return ContractValidator(contract, eager=True)


@pytest.fixture
def call(contract, validator):
    def call(op_id: str, *, path: dict[str, str] | None = None, query: dict[str, list[str]] | None = None,
             headers: dict[str, str] | None = None, json_body: Any = None, body: bytes = b"",
             content_type: str | None = None):
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), content_type or "application/json"
        return validator.validate_request(contract.operations[op_id], path_params=path or {}, query=query or {},
                                          headers=headers or {}, content_type=content_type, body=body)
    return call


def problem(fn, *args, **kwargs) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        fn(*args, **kwargs)
    return info.value


def test_query_params_are_coerced_by_style(call):
    req = call("listBooks", query={"limit": ["5"], "inStock": ["false"], "genre": ["fiction", "poetry"],
                                   "ids": ["1,2,3"], "minPrice": ["0.5"], "unknown": ["kept"]})
    assert req.query == {"limit": 5, "inStock": False, "genre": ["fiction", "poetry"], "ids": [1, 2, 3],
                         "minPrice": 0.5, "unknown": "kept"}
    piped = call("listBookings", path={"roomId": "3"}, query={"date": ["2024-05-01"], "tags": ["a|b"]})
    assert piped.path == {"roomId": 3} and piped.query["tags"] == ["a", "b"]


def test_path_and_header_params_are_coerced(call):
    req = call("getMember", path={"memberId": "42"}, headers={"x-branch": "7"})
    assert req.path == {"memberId": 42} and req.headers["x-branch"] == 7


def test_every_violation_is_collected_with_location_pointer_expected_received(call):
    err = problem(call, "listBooks", query={"limit": ["x"], "inStock": ["yes"], "genre": ["fiction", "poetryz"],
                                            "ids": ["1,2,a"], "minPrice": ["0"]})
    assert (err.status, err.title) == (400, "Request does not match the contract")
    assert err.extensions["operation"] == "listBooks"
    by_pointer = {e["pointer"]: e for e in err.errors}
    assert set(by_pointer) == {"/limit", "/inStock", "/genre/1", "/ids/2", "/minPrice"}
    assert all(e["location"] == "query" for e in err.errors)
    assert by_pointer["/limit"]["expected"] == "type: integer" and by_pointer["/limit"]["received"] == "x"
    assert by_pointer["/genre/1"]["expected"].startswith("enum: ")
    assert by_pointer["/minPrice"]["expected"] == "exclusiveMinimum: 0"
    assert err.detail == err.errors[0]["message"]


def test_path_violation(call):
    err = problem(call, "getBook", path={"isbn": "12"})
    assert err.errors[0]["location"] == "path" and err.errors[0]["pointer"] == "/isbn"
    assert err.errors[0]["expected"] == 'pattern: "^97[89][0-9]{10}$"'
    err = problem(call, "getMember", path={"memberId": "abc"})
    assert err.errors[0]["expected"] == "type: integer"


def test_header_violations_and_missing_required_header(call):
    err = problem(call, "borrowBook", path={"memberId": "1"}, json_body={"isbn": "x"})
    assert err.errors == [{"location": "header", "pointer": "/Idempotency-Key", "expected": "required: true",
                           "received": None, "message": "header parameter 'Idempotency-Key' is required"}]
    err = problem(call, "borrowBook", path={"memberId": "1"}, headers={"idempotency-key": "short"},
                  json_body={"isbn": "x"})
    assert err.errors[0]["expected"] == "minLength: 8"


def test_missing_required_query_param(call):
    err = problem(call, "searchBooks")
    assert err.errors[0]["location"] == "query" and err.errors[0]["pointer"] == "/q"


def test_body_violations_point_into_the_body(call):
    err = problem(call, "createBook", json_body={**BOOK, "isbn": "978014103614", "title": "",
                                                 "price": {"amount": 0, "currency": "GBP"}, "rating": 5})
    got = {e["pointer"]: e["expected"] for e in err.errors}
    assert got == {"/isbn": 'pattern: "^97[89][0-9]{10}$"', "/title": "minLength: 1",
                   "/price/amount": "exclusiveMinimum: 0", "/rating": "exclusiveMaximum: 5"}
    assert all(e["location"] == "body" for e in err.errors)


def test_nullable_and_recursive_and_formats(call):
    assert call("createBook", json_body={**BOOK, "subtitle": None}).body["subtitle"] is None
    with pytest.raises(ProblemError):  # OAS 3.0.3: `nullable` does not add null to an enum that lacks it
        call("createBook", json_body={**BOOK, "condition": None})
    err = problem(call, "registerMember", json_body={"name": "A", "email": "not-an-email",
                                                     "address": {"line1": "1", "city": "c", "country": "GB"}})
    assert err.errors[0]["pointer"] == "/email" and err.errors[0]["expected"] == 'format: "email"'
    err = problem(call, "returnLoan", path={"loanId": "not-a-uuid"})
    assert err.errors[0]["location"] == "path"


def test_one_of_with_discriminator_reports_the_named_branch(call):
    err = problem(call, "payFine", json_body={"loanId": "l1", "payment": {"method": "card", "cardNumber": "12"}})
    assert [(e["pointer"], e["expected"]) for e in err.errors] == [("/payment/cardNumber", "minLength: 12")]
    ok = call("payFine", json_body={"loanId": "l1", "payment": {"method": "cash",
                                                                "tendered": {"amount": 5, "currency": "EUR"}}})
    assert ok.body["payment"]["method"] == "cash"


def test_missing_body_bad_json_and_unknown_content_type(call):
    assert problem(call, "createBook").errors[0]["message"] == "request body is required"
    err = problem(call, "createBook", body=b'{"isbn": 1,', content_type="application/json")
    assert err.errors[0]["expected"] == "valid JSON" and "line 1 column 12" in err.errors[0]["message"]
    err = problem(call, "createBook", body=b"<book/>", content_type="application/xml")
    assert err.status == 415 and "application/json" in err.detail


def test_content_type_parameters_are_ignored(call):
    assert call("createBook", json_body=BOOK, content_type="application/json; charset=utf-8").body == BOOK


def test_valid_response(contract, validator):
    op = contract.operations["listBooks"]
    assert validator.validate_response(op, 200, "application/json", [BOOK], {"X-Total-Count": "1"}) == []
    assert validator.validate_response(op, 200, "application/json", json.dumps([BOOK]).encode(),
                                       {"x-total-count": "1"}) == []


def test_response_violations(contract, validator):
    op = contract.operations["listBooks"]
    bad = [{**BOOK, "price": {"amount": 1, "currency": "GBp"}}]
    got = validator.validate_response(op, 200, "application/json", bad, {})
    assert [(e["location"], e["pointer"]) for e in got] == [("response-header", "/X-Total-Count"),
                                                          ("response", "/0/price/currency")]
    got = validator.validate_response(op, 200, "application/json", [BOOK], {"X-Total-Count": "-1"})
    assert got[0]["location"] == "response-header" and got[0]["expected"] == "minimum: 0"
    assert validator.validate_response(op, 500, "application/json", [], {})[0]["message"] == \
        "status 500 is not documented for listBooks"
    got = validator.validate_response(contract.operations["createBook"], 404, "application/json", {}, {})
    assert got[0]["expected"] == "content type: one of application/problem+json"
    problem_body = {"title": "Not found", "status": 404}
    assert validator.validate_response(contract.operations["createBook"], 404, "application/problem+json",
                                       problem_body, {}) == []


def test_webhook_operation_validates_payloads(contract, validator):
    hook = contract.webhooks["loanOverdue"]
    assert validator.validate_request(hook.operation, path_params={}, query={}, headers={"x-signature": "s"},
                                      content_type="application/json",
                                      body=json.dumps(hook.examples["example"]).encode()).body["status"] == "overdue"

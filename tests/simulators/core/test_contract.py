"""Loading contracts: bundling, 3.0 translation, the index, routing, near misses and every ContractError."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from simulators.core.contract import generated_operation_id, load_contract
from simulators.core.errors import ContractError

REPO = Path(__file__).parents[3]
SPECS = REPO / "tests" / "data" / "specs"
BOOKSHOP = SPECS / "bookshop-3.0.yaml"
ADYEN = REPO / ".." / "shared" / "specs" / "adyen"
OUR_CONTRACTS = sorted((REPO / "contracts").glob("*.openapi.yaml"))


@pytest.fixture(scope="module")
def bookshop():
    return load_contract(BOOKSHOP)


def require_shared_specs(path: Path) -> None:
    """The third-party contracts live in ../shared/specs: CI always has them, a missing one fails there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{path} is missing: CI runs with ../shared beside the clone")
    pytest.skip(f"{path} not present (../shared/specs is not beside this checkout)")


@pytest.fixture(scope="module")
def adyen():
    path = ADYEN / "PaymentService-v68.yaml"
    if not path.is_file():
        require_shared_specs(path)
    return load_contract(path)


def test_loads_the_3_0_contract_with_its_index(bookshop):
    assert (bookshop.title, bookshop.version, bookshop.openapi) == ("Bookshop", "2.1", "3.0.3")
    assert len(bookshop.operations) == 18
    op = bookshop.operations["getBook"]
    assert (op.method, op.path) == ("GET", "/books/{isbn}")
    assert [p.name for p in op.parameters] == ["isbn"]  # path-level parameter merged
    assert set(op.responses) == {"200", "404"}
    assert op.responses["200"].content["application/json"].examples["orwell"]["title"] == "1984"
    assert bookshop.operations["listBooks"].responses["200"].content["application/json"].example_order == ["example"]


def test_refs_into_other_files_are_bundled_into_components(bookshop):
    schemas = bookshop.document["components"]["schemas"]
    assert {"Money", "Address", "CountryCode", "Problem"} <= set(schemas)
    assert schemas["NewBook"]["properties"]["price"] == {"$ref": "#/components/schemas/Money"}
    assert schemas["Address"]["properties"]["country"] == {"$ref": "#/components/schemas/CountryCode"}
    assert bookshop.resolve("#/components/schemas/CountryCode")["enum"][0] == "GB"

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from ([v] if k == "$ref" else refs(v))
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    assert all(r.startswith("#/") for r in refs(bookshop.document))


def test_3_0_schemas_are_translated_to_2020_12(bookshop):
    s = bookshop.document["components"]["schemas"]
    book = s["NewBook"]["properties"]
    assert book["subtitle"]["type"] == ["string", "null"]
    assert book["condition"]["enum"] == ["new", "used"]  # OAS 3.0.3: a nullable enum admits null only if listed
    assert book["rating"]["exclusiveMaximum"] == 5 and "maximum" not in book["rating"]
    assert s["Money"]["properties"]["amount"] == {"type": "number", "exclusiveMinimum": 0}
    assert "x-note" not in book["edition"] and "x-internal" not in s["Problem"]
    assert s["FinePayment"]["properties"]["payment"]["discriminator"]["propertyName"] == "method"


def test_idempotency_links_and_parameter_refs(bookshop):
    ops = bookshop.operations
    assert ops["createBook"].idempotency == "optional"
    assert ops["borrowBook"].idempotency == "required"
    assert ops["getBook"].idempotency is None
    assert ops["borrowBook"].links["201"]["ReturnLoan"]["operationId"] == "returnLoan"
    genre = next(p for p in ops["listBooks"].parameters if p.name == "genre")
    assert (genre.location, genre.style, genre.explode) == ("query", "form", True)


def test_operations_without_id_get_a_generated_one(bookshop):
    op = bookshop.operations["get_health"]
    assert op.generated_id and op.path == "/health"
    assert generated_operation_id("GET", "/payments/{paymentId}") == "get_payments_payment_id"


def test_response_for_prefers_exact_then_range_then_default(bookshop):
    create = bookshop.operations["createBook"]
    assert create.response_for(201).status == "201"
    assert create.response_for(404).status == "4XX"
    assert create.response_for(500) is None
    assert bookshop.operations["registerMember"].response_for(503).status == "default"


def test_x_webhooks_are_indexed(bookshop):
    hook = bookshop.webhooks["loanOverdue"]
    assert (hook.method, hook.operation_id) == ("POST", "loanOverdue")
    assert hook.body_schema == {"$ref": "#/components/schemas/Loan"}
    assert hook.examples["example"]["status"] == "overdue"
    assert hook.headers["X-Signature"]["required"] is True


def test_literal_segments_win_over_templates(bookshop):
    assert bookshop.match("GET", "/books/search").operation.operation_id == "searchBooks"
    m = bookshop.match("GET", "/books/9780141036144")
    assert (m.operation.operation_id, m.path_params) == ("getBook", {"isbn": "9780141036144"})
    assert bookshop.match("get", "/books/").operation.operation_id == "listBooks"


def test_path_params_are_percent_decoded(bookshop):
    m = bookshop.match("GET", "/books/a%20b%2Fc/reviews")
    assert m.path_params == {"isbn": "a b/c"}


def test_server_base_path_is_optional(bookshop):
    assert bookshop.match("POST", "/api/v2/members/7/loans").path_params == {"memberId": "7"}
    assert bookshop.match("POST", "/members/7/loans").operation.operation_id == "borrowBook"
    assert bookshop.match("GET", "/api/v3/books") is None


def test_near_misses_explain_why(bookshop):
    misses = bookshop.near_misses("GET", "/books/123/reviewz")
    assert misses[0]["operation"] == "listReviews"
    assert misses[0]["reason"] == "path differs at segment 3: 'reviewz' vs 'reviews'"
    wrong_method = bookshop.near_misses("PATCH", "/books/123")
    assert wrong_method[0]["reason"].startswith("method PATCH not allowed (")
    assert "GET" in wrong_method[0]["reason"] and "DELETE" in wrong_method[0]["reason"]
    assert len(bookshop.near_misses("GET", "/nothing", limit=3)) == 3


def test_adyen_payment_service_loads_fast_with_bare_and_prefixed_paths(adyen):
    start = time.perf_counter()
    load_contract(ADYEN / "PaymentService-v68.yaml")
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    assert adyen.openapi.startswith("3.1") and len(adyen.operations) == 13
    assert adyen.match("POST", "/authorise").operation.operation_id == "post-authorise"
    assert adyen.match("POST", "/pal/servlet/Payment/v68/authorise").operation.operation_id == "post-authorise"


def test_adyen_recurring_service_loads():
    path = ADYEN / "RecurringService-v68.yaml"
    if not path.is_file():
        require_shared_specs(path)
    contract = load_contract(path)
    assert contract.title == "Adyen Recurring API" and contract.operations


@pytest.mark.parametrize("path", OUR_CONTRACTS, ids=lambda p: p.name)
def test_our_contracts_load(path):
    contract = load_contract(path)
    assert contract.operations


@pytest.mark.parametrize(
    ("name", "pointer", "reason"),
    [
        ("bad-yaml.yaml", "/", "YAML syntax error at line 9"),
        ("dangling-ref.yaml", "/paths/~1x/get/responses/200/content/application~1json/schema/$ref",
         "unresolvable $ref '#/components/schemas/Missing'"),
        ("dangling-file-ref.yaml", "/paths/~1x/get/responses/200/content/application~1json/schema/$ref",
         "'common.yaml#/components/schemas/Nope' does not exist"),
        ("swagger2.yaml", "/swagger", "Swagger 2.0 is not supported; convert it with swagger2openapi"),
        ("duplicate-operation-id.yaml", "/paths/~1b/get/operationId", "duplicate operationId 'fetch'"),
        ("not-openapi.yaml", "/", "not an OpenAPI document"),
        ("invalid-spec.yaml", "/paths/~1x/get/parameters/0", "invalid OpenAPI document"),
        ("version-4.yaml", "/openapi", "unsupported OpenAPI version '4.0.0'"),
        ("does-not-exist.yaml", "/", "cannot read file"),
    ],
)
def test_bad_contracts_give_one_clear_error(name, pointer, reason):
    path = SPECS / "broken" / name
    with pytest.raises(ContractError) as info:
        load_contract(path)
    err = info.value
    assert (err.file, err.pointer) == (str(path), pointer)
    assert reason in err.reason
    assert str(path) in str(err) and pointer in str(err)
    assert "\n" not in err.reason


def test_json_contracts_and_json_syntax_errors(tmp_path):
    good = tmp_path / "tiny.json"
    good.write_text('{"openapi": "3.1.0", "info": {"title": "T", "version": "1"}, "paths": {"/p/{id}": {"get": '
                    '{"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],'
                    ' "responses": {"204": {"description": "ok"}}}}}}')
    contract = load_contract(good)
    assert list(contract.operations) == ["get_p_id"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"openapi": "3.1.0",\n "info": }')
    with pytest.raises(ContractError, match="JSON syntax error at line 2"):
        load_contract(bad)


def test_3_1_webhooks_section(tmp_path):
    spec = tmp_path / "hooks.yaml"
    spec.write_text("""
openapi: 3.1.0
info: {title: Hooks, version: "1"}
paths: {}
webhooks:
  payment.captured:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [id], properties: {id: {type: string}}}
            examples: {first: {value: {id: pay_1}}}
      responses: {"200": {description: ok}}
""")
    hook = load_contract(spec).webhooks["payment.captured"]
    assert hook.operation_id == "webhook_payment_captured"
    assert hook.examples == {"first": {"id": "pay_1"}}

"""The legacy backend and control-API contracts: valid OpenAPI 3.1, the agreed operations, and examples that validate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema_rs
import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
NAMES = ("legacy", "sandbox-control")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

LEGACY_OPERATIONS = {
    "registerCustomer": ("post", "/customers"),
    "migrateCustomer": ("post", "/customers/migrations"),
    "getCustomer": ("get", "/customers/{customer_id}"),
    "login": ("post", "/sessions"),
    "requestPasswordReset": ("post", "/password-resets"),
    "getKycStatus": ("get", "/customers/{customer_id}/kyc"),
    "submitKyc": ("post", "/customers/{customer_id}/kyc"),
    "listProducts": ("get", "/products"),
    "listProductChanges": ("get", "/products/changes"),
    "getPrice": ("get", "/products/{sku}/price"),
    "getStock": ("get", "/products/{sku}/stock"),
    "getBasket": ("get", "/customers/{customer_id}/basket"),
    "addBasketItem": ("post", "/customers/{customer_id}/basket/items"),
    "updateBasketItem": ("patch", "/customers/{customer_id}/basket/items/{sku}"),
    "removeBasketItem": ("delete", "/customers/{customer_id}/basket/items/{sku}"),
    "listAddresses": ("get", "/customers/{customer_id}/addresses"),
    "addAddress": ("post", "/customers/{customer_id}/addresses"),
    "simulateCashSale": ("post", "/sales/cash/simulations"),
    "createCashSale": ("post", "/sales/cash"),
    "simulateHpSale": ("post", "/sales/hp/simulations"),
    "createHpSale": ("post", "/sales/hp"),
    "listOrders": ("get", "/orders"),
    "getOrder": ("get", "/orders/{order_id}"),
    "cancelOrder": ("post", "/orders/{order_id}/cancel"),
}

# DESIGN.md "Control API": these method + path pairs are fixed.
CONTROL_OPERATIONS = {
    "getHealth": ("get", "/__sandbox/health"),
    "listFaults": ("get", "/__sandbox/faults"),
    "addFault": ("post", "/__sandbox/faults"),
    "clearFaults": ("delete", "/__sandbox/faults"),
    "removeFault": ("delete", "/__sandbox/faults/{id}"),
    "loadProfile": ("post", "/__sandbox/profiles/{name}"),
    "queryJournal": ("get", "/__sandbox/journal"),
    "clearJournal": ("delete", "/__sandbox/journal"),
    "listStates": ("get", "/__sandbox/states"),
    "applyState": ("post", "/__sandbox/states/{name}"),
    "getResources": ("get", "/__sandbox/resources/{kind}"),
    "resetSimulator": ("post", "/__sandbox/reset"),
    "getClock": ("get", "/__sandbox/clock"),
    "setClock": ("post", "/__sandbox/clock"),
    "listWebhooks": ("get", "/__sandbox/webhooks"),
    "setWebhookTarget": ("put", "/__sandbox/webhooks/target"),
    "redeliverWebhook": ("post", "/__sandbox/webhooks/{id}/redeliver"),
    "getMetrics": ("get", "/__sandbox/metrics"),
    "getDashboard": ("get", "/__sandbox/"),
}

EFFECT_TYPES = {
    "delay",
    "status",
    "rate_limit",
    "timeout",
    "reset",
    "empty",
    "malformed",
    "drift",
    "slow_body",
    "commit_then_fail",
    "duplicate",
    "webhook_delay",
    "reorder",
    "drop",
    "bad_signature",
}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS / f"{name}.openapi.yaml").read_text(encoding="utf-8"))


DOCS = {name: _load(name) for name in NAMES}


def _uri(name: str) -> str:
    return f"urn:contract:{name}"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str | int) -> str:
    return "".join("/" + _escape(str(t)) for t in tokens)


def _get(doc: dict[str, Any], pointer: str) -> Any:
    node: Any = doc
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _deref(doc: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follow local `$ref`s; return the target and its JSON pointer in the document."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"{pointer}: only local $refs are allowed, got {ref}"
        assert ref not in seen, f"{pointer}: $ref cycle through {ref}"
        seen.add(ref)
        pointer = ref[1:]
        node = _get(doc, pointer)
    return node, pointer


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _op_pointer(path: str, method: str) -> str:
    return _pointer("paths", path, method)


def _parameters(doc: dict[str, Any], path: str, method: str) -> list[dict[str, Any]]:
    op = doc["paths"][path][method]
    base = _op_pointer(path, method)
    return [_deref(doc, p, f"{base}/parameters/{i}")[0] for i, p in enumerate(op.get("parameters", []))]


def _responses(doc: dict[str, Any], path: str, method: str) -> dict[str, tuple[dict[str, Any], str]]:
    op = doc["paths"][path][method]
    base = _op_pointer(path, method) + "/responses"
    return {code: _deref(doc, r, f"{base}/{_escape(code)}") for code, r in op["responses"].items()}


def _media_types(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Every media type object of every operation: (where, media type, pointer, object)."""
    for path, method, op in _operations(doc):
        base = _op_pointer(path, method)
        if "requestBody" in op:
            body, pointer = _deref(doc, op["requestBody"], base + "/requestBody")
            for media, obj in body["content"].items():
                yield f"{op['operationId']} request", media, f"{pointer}/content/{_escape(media)}", obj
        for code, (response, pointer) in _responses(doc, path, method).items():
            for media, obj in response.get("content", {}).items():
                yield f"{op['operationId']} {code}", media, f"{pointer}/content/{_escape(media)}", obj


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{_escape(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{i}")


def _example_cases() -> Iterator[Any]:
    """(contract, schema pointer, value) for every example in the contracts, with a readable id."""
    for name, doc in DOCS.items():
        for where, media, pointer, obj in _media_types(doc):
            if "example" in obj:
                yield pytest.param(
                    name, pointer + "/schema", obj["example"], id=f"{name}:{where}:{media}:example"
                )
            for ex_name, example in obj.get("examples", {}).items():
                example, _ = _deref(doc, example, f"{pointer}/examples/{ex_name}")
                yield pytest.param(
                    name, pointer + "/schema", example["value"], id=f"{name}:{where}:{media}:{ex_name}"
                )
        # Parameter and header examples, and `examples` arrays inside schemas.
        for pointer, node in _walk(doc):
            if not isinstance(node, dict):
                continue
            if ("schema" in node and "in" in node) or pointer.startswith("/components/headers/"):
                if "example" in node:
                    yield pytest.param(
                        name, pointer + "/schema", node["example"], id=f"{name}:{pointer}:example"
                    )
                for ex_name, example in node.get("examples", {}).items():
                    yield pytest.param(
                        name, pointer + "/schema", example["value"], id=f"{name}:{pointer}:{ex_name}"
                    )
            is_schema = "/schema" in pointer or pointer.startswith("/components/schemas/")
            if is_schema and isinstance(node.get("examples"), list) and "/properties/examples" not in pointer:
                for i, value in enumerate(node["examples"]):
                    yield pytest.param(name, pointer, value, id=f"{name}:{pointer}:examples[{i}]")


def _validator(name: str, pointer: str) -> Draft202012Validator:
    registry: Registry = Registry().with_resource(
        _uri(name), Resource.from_contents(DOCS[name], default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{_uri(name)}#{quote(pointer, safe='/~')}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _rs_validator(name: str, pointer: str) -> Any:
    """The engine's validator (jsonschema-rs, formats on) for the schema at `pointer`."""
    registry = jsonschema_rs.Registry([(_uri(name), DOCS[name])])
    return jsonschema_rs.validator_for(
        {"$ref": f"{_uri(name)}#{quote(pointer, safe='/~')}"}, registry=registry, validate_formats=True
    )


def _errors(name: str, pointer: str, value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(name, pointer).iter_errors(value)
    ]


# --- the documents ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_contract_is_valid_openapi_3_1(name: str) -> None:
    doc = DOCS[name]
    assert doc["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(doc).validate()


@pytest.mark.parametrize("name", NAMES)
def test_contract_is_data_only_and_uses_3_1_idioms(name: str) -> None:
    text = (CONTRACTS / f"{name}.openapi.yaml").read_text(encoding="utf-8")
    assert not re.search(r"^\s*[&*!]|:\s*[&*][A-Za-z]", text, re.M), "no YAML anchors, aliases or tags"
    for pointer, node in _walk(DOCS[name]):
        if isinstance(node, dict):
            assert "nullable" not in node, f"{pointer}: use type: [X, 'null'] in OpenAPI 3.1"
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/"), f"{pointer}: external $ref {ref}"
                _get(DOCS[name], ref[1:])  # resolves


@pytest.mark.parametrize("name", NAMES)
def test_no_security_requirements(name: str) -> None:
    doc = DOCS[name]
    assert "security" not in doc
    assert "securitySchemes" not in doc.get("components", {})
    assert all("security" not in op for _, _, op in _operations(doc))


def test_legacy_operations_are_exactly_the_agreed_ones() -> None:
    found = {op["operationId"]: (method, path) for path, method, op in _operations(DOCS["legacy"])}
    assert found == LEGACY_OPERATIONS


def test_control_operations_are_exactly_the_design_table() -> None:
    found = {op["operationId"]: (method, path) for path, method, op in _operations(DOCS["sandbox-control"])}
    assert found == CONTROL_OPERATIONS
    assert all(path.startswith("/__sandbox/") for _, path in found.values())


@pytest.mark.parametrize("name", NAMES)
def test_every_operation_accepts_an_optional_correlation_id(name: str) -> None:
    doc = DOCS[name]
    for path, method, op in _operations(doc):
        params = {(p["in"], p["name"]): p for p in _parameters(doc, path, method)}
        header = params.get(("header", "X-Correlation-ID"))
        assert header is not None, f"{op['operationId']}: no X-Correlation-ID"
        assert header.get("required", False) is False


@pytest.mark.parametrize("name", NAMES)
def test_error_responses_are_problem_json(name: str) -> None:
    doc = DOCS[name]
    for path, method, op in _operations(doc):
        for code, (response, _) in _responses(doc, path, method).items():
            if code[0] in "45":
                assert set(response.get("content", {})) == {"application/problem+json"}, (
                    f"{op['operationId']} {code}"
                )
                schema, pointer = _deref(doc, response["content"]["application/problem+json"]["schema"], "")
                refs = [pointer] + [s.get("$ref", "")[1:] for s in schema.get("allOf", [])]
                assert "/components/schemas/Problem" in refs, f"{op['operationId']} {code}: not a Problem"


def test_problem_schema_is_rfc_9457_with_errors() -> None:
    for doc in DOCS.values():
        problem = doc["components"]["schemas"]["Problem"]
        assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
        errors = _deref(doc, problem["properties"]["errors"]["items"], "")[0]
        assert {"pointer", "expected", "received", "message"} <= set(errors["properties"])


def test_legacy_operations_document_every_failure() -> None:
    doc = DOCS["legacy"]
    for path, method, op in _operations(doc):
        responses = _responses(doc, path, method)
        name = op["operationId"]
        for code in ("400", "429", "503"):
            assert code in responses, f"{name}: no {code}"
        assert responses["429"][0]["headers"]["Retry-After"]["$ref"].endswith("/RetryAfterRequired")
        assert "Retry-After" in responses["503"][0]["headers"], f"{name}: 503 without Retry-After"
        if "requestBody" in op:
            assert "422" in responses, f"{name}: body but no 422"
        if "{" in path:
            assert "404" in responses, f"{name}: path id but no 404"
    retry_after = doc["components"]["headers"]["RetryAfterRequired"]
    assert retry_after["required"] is True


def test_control_operations_document_token_and_errors() -> None:
    doc = DOCS["sandbox-control"]
    for path, method, op in _operations(doc):
        responses = _responses(doc, path, method)
        params = {(p["in"], p["name"]): p for p in _parameters(doc, path, method)}
        token = params.get(("header", "X-Sandbox-Token"))
        assert token is not None and token.get("required", False) is False, op["operationId"]
        assert {"400", "401"} <= set(responses), op["operationId"]
        if "{" in path:
            assert "404" in responses, f"{op['operationId']}: path id but no 404"


def test_control_special_media_types() -> None:
    doc = DOCS["sandbox-control"]
    assert set(doc["paths"]["/__sandbox/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert set(doc["paths"]["/__sandbox/"]["get"]["responses"]["200"]["content"]) == {"text/html"}


@pytest.mark.parametrize("name", NAMES)
def test_request_bodies_are_closed_and_responses_open(name: str) -> None:
    doc = DOCS[name]

    def closed(schema: Any, pointer: str, seen: set[str]) -> None:
        schema, pointer = _deref(doc, schema, pointer)
        if pointer in seen or not isinstance(schema, dict):
            return
        seen.add(pointer)
        # An object is closed itself, or through every branch of its oneOf/anyOf (checked below).
        if "properties" in schema and not ({"oneOf", "anyOf"} & set(schema)):
            assert schema.get("additionalProperties") is False, f"{pointer}: request object not closed"
        for key in ("oneOf", "anyOf", "allOf"):
            for i, sub in enumerate(schema.get(key, [])):
                closed(sub, f"{pointer}/{key}/{i}", seen)
        for prop, sub in schema.get("properties", {}).items():
            closed(sub, f"{pointer}/properties/{_escape(prop)}", seen)
        if isinstance(schema.get("items"), dict):
            closed(schema["items"], f"{pointer}/items", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            closed(schema["additionalProperties"], f"{pointer}/additionalProperties", seen)

    for where, media, pointer, obj in _media_types(doc):
        if where.endswith(" request"):
            closed(obj["schema"], pointer + "/schema", set())
        elif media.endswith("json"):
            schema, sp = _deref(doc, obj["schema"], pointer + "/schema")
            assert schema.get("additionalProperties") is not False, f"{where}: response body closed at {sp}"


def test_legacy_idempotency_keys_on_sales_only() -> None:
    doc = DOCS["legacy"]
    for path, method, op in _operations(doc):
        params = {(p["in"], p["name"]): p for p in _parameters(doc, path, method)}
        key = params.get(("header", "Idempotency-Key"))
        if op["operationId"] in {"createCashSale", "createHpSale"}:
            assert key is not None and key["required"] is True, op["operationId"]
            assert {"409", "422"} <= set(_responses(doc, path, method))
        else:
            assert key is None, f"{op['operationId']} should not declare Idempotency-Key"


def test_legacy_pagination() -> None:
    doc = DOCS["legacy"]
    for op_id in ("listProducts", "listProductChanges", "listOrders"):
        method, path = LEGACY_OPERATIONS[op_id]
        params = {p["name"]: p for p in _parameters(doc, path, method) if p["in"] == "query"}
        assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
        assert params["cursor"]["required"] is False
        page, _ = _deref(
            doc, doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"], ""
        )
        assert "next_cursor" in page["required"]
        next_cursor, _ = _deref(doc, page["properties"]["next_cursor"], "")
        assert next_cursor["type"] == ["string", "null"]
    changes, _ = _deref(doc, doc["components"]["schemas"]["ProductChangePage"], "")
    assert "server_time" in changes["required"]


@pytest.mark.parametrize("name", NAMES)
def test_links_name_real_operations_and_parameters(name: str) -> None:
    doc = DOCS[name]
    by_id = {op["operationId"]: (path, method) for path, method, op in _operations(doc)}
    for path, method, op in _operations(doc):
        for code, (response, _) in _responses(doc, path, method).items():
            for link_name, link in response.get("links", {}).items():
                assert link["operationId"] in by_id, f"{op['operationId']} {code} {link_name}"
                target = {p["name"] for p in _parameters(doc, *by_id[link["operationId"]])}
                assert set(link.get("parameters", {})) <= target, f"{op['operationId']} {code} {link_name}"


# --- examples -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "pointer", "value"), list(_example_cases()))
def test_every_example_validates_against_its_schema(name: str, pointer: str, value: Any) -> None:
    assert _errors(name, pointer, value) == []
    errors = [e.message for e in _rs_validator(name, pointer).iter_errors(value)]
    assert errors == [], "jsonschema-rs (the engine's validator) disagrees"


def test_examples_are_found() -> None:
    # Guards the walk above: if it silently found nothing, the example test would pass vacuously.
    ids = [case.id for case in _example_cases()]
    assert len(ids) > 100
    assert any(":registerCustomer request:" in i for i in ids)
    assert any(":addFault request:" in i for i in ids)
    assert any("/components/schemas/" in i for i in ids)


def _request_examples(op_id: str) -> dict[str, Any]:
    method, path = LEGACY_OPERATIONS[op_id]
    content = DOCS["legacy"]["paths"][path][method]["requestBody"]["content"]["application/json"]
    return {k: v["value"] for k, v in content["examples"].items()}


def test_newcomer_flow_examples() -> None:
    assert _request_examples("registerCustomer")["newcomer"]["email"]
    migrated = _request_examples("migrateCustomer")["migrated"]
    assert re.fullmatch(r"[A-Z]+, [A-Z][a-z]+", migrated["FULL_NAME"])
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", migrated["DOB"])
    assert migrated["CUST_STATUS"] in {"A", "S", "C"}
    assert _request_examples("addBasketItem")["newcomer"] == {"sku": "SKU-00001", "quantity": 1}
    migrated_customer = DOCS["legacy"]["components"]["examples"]["CustomerMigrated"]["value"]
    assert migrated_customer["source"] == "migrated"
    assert migrated_customer["legacy_id"] == migrated["legacy_id"]


# --- the schemas reject what they must ---------------------------------------------------------

CUSTOMER = "/components/schemas/Customer"


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "CUS-42"), ("email", "not-an-email"), ("date_of_birth", "10/12/1985"), ("status", "deleted")],
)
def test_customer_schema_rejects_bad_values(field: str, value: Any) -> None:
    customer = dict(DOCS["legacy"]["components"]["examples"]["CustomerNewcomer"]["value"], **{field: value})
    assert _errors("legacy", CUSTOMER, customer)
    assert not _rs_validator("legacy", CUSTOMER).is_valid(customer)


def test_request_bodies_reject_unknown_fields_and_out_of_range_values() -> None:
    item = "/components/schemas/BasketItemInput"
    assert _errors("legacy", item, {"sku": "SKU-00001", "quantity": 1, "price": 1})
    assert _errors("legacy", item, {"sku": "SKU-00001", "quantity": 100})
    assert _errors(
        "legacy",
        "/components/schemas/HpSaleSimulationRequest",
        {
            "customer_id": "CUS-00000042",
            "items": [{"sku": "SKU-00002", "quantity": 1}],
            "term_months": 18,
            "deposit": 0,
        },
    )
    both = {
        "customer_id": "CUS-00000042",
        "delivery_address_id": "ADR-00000001",
        "from_basket": True,
        "items": [{"sku": "SKU-00001", "quantity": 1}],
    }
    assert _errors("legacy", "/components/schemas/CashSaleSimulationRequest", both)


def test_unknown_effect_type_is_rejected_naming_the_valid_ones() -> None:
    rule = {"name": "typo", "effects": [{"type": "latncy", "ms": 10}]}
    messages = "\n".join(_errors("sandbox-control", "/components/schemas/FaultRuleInput", rule))
    assert "latncy" in messages
    assert all(t in messages for t in EFFECT_TYPES)


def test_effect_types_are_the_closed_set() -> None:
    schemas = DOCS["sandbox-control"]["components"]["schemas"]
    assert set(schemas["EffectType"]["enum"]) == EFFECT_TYPES
    assert set(schemas["Effect"]["discriminator"]["mapping"]) == EFFECT_TYPES


@pytest.mark.parametrize(
    "effect",
    [
        {"type": "delay", "ms": 100},
        {"type": "delay", "distribution": "uniform", "min_ms": 10, "max_ms": 20},
        {"type": "delay", "distribution": "lognormal", "median_ms": 120, "sigma": 0.5},
        {
            "type": "status",
            "status": 503,
            "retry_after": "Wed, 21 Oct 2026 07:28:00 GMT",
            "body": {"title": "x"},
        },
        {"type": "rate_limit", "limit": 5, "window_s": 1},
        {"type": "timeout", "ms": 120000},
        {"type": "reset"},
        {"type": "empty"},
        {"type": "malformed", "mode": "wrong_content_type"},
        {"type": "drift", "op": "unknown_enum", "field": "/status"},
        {"type": "drift", "op": "rename", "field": "/total", "to": "grand_total"},
        {"type": "slow_body", "bytes_per_s": 64},
        {"type": "commit_then_fail", "then": "status", "status": 500},
        {"type": "duplicate", "count": 2},
        {"type": "webhook_delay", "ms": 60000},
        {"type": "reorder"},
        {"type": "drop"},
        {"type": "bad_signature"},
    ],
)
def test_every_effect_type_is_accepted(effect: dict[str, Any]) -> None:
    assert _errors("sandbox-control", "/components/schemas/Effect", effect) == []
    assert _rs_validator("sandbox-control", "/components/schemas/Effect").is_valid(effect)


@pytest.mark.parametrize(
    "effect",
    [
        {"type": "delay", "distribution": "uniform", "ms": 10},
        {"type": "timeout", "ms": 120001},
        {"type": "drift", "op": "rename", "field": "/total"},
        {"type": "drift", "op": "drop", "field": "total"},
        {"type": "status", "status": 600},
        {"type": "reset", "ms": 1},
    ],
)
def test_invalid_effects_are_rejected(effect: dict[str, Any]) -> None:
    assert _errors("sandbox-control", "/components/schemas/Effect", effect)


@pytest.mark.parametrize(
    ("command", "ok"),
    [
        ({"freeze": True}, True),
        ({"advance": "7d"}, True),
        ({"advance": "+1h30m"}, True),
        ({"now": "2026-01-15T10:00:00Z"}, True),
        ({"speed": 60}, True),
        ({"real": True}, True),
        ({"real": False}, False),
        ({"advance": "-1d"}, False),
        ({"speed": 0}, False),
        ({"freeze": True, "advance": "1d"}, False),
        ({}, False),
    ],
)
def test_clock_commands(command: dict[str, Any], ok: bool) -> None:
    assert (_errors("sandbox-control", "/components/schemas/ClockCommand", command) == []) is ok


@pytest.mark.parametrize(
    ("since", "ok"), [("42", True), ("2026-01-15T10:00:00Z", True), ("yesterday", False)]
)
def test_journal_since_is_a_seq_or_a_date_time(since: str, ok: bool) -> None:
    doc = DOCS["sandbox-control"]
    index = next(
        i
        for i, p in enumerate(doc["paths"]["/__sandbox/journal"]["get"]["parameters"])
        if p.get("name") == "since"
    )
    pointer = _pointer("paths", "/__sandbox/journal", "get", "parameters", index, "schema")
    assert (_errors("sandbox-control", pointer, since) == []) is ok


@pytest.mark.parametrize("name", NAMES)
def test_every_component_schema_compiles_in_the_engine(name: str) -> None:
    for schema_name in DOCS[name]["components"]["schemas"]:
        _rs_validator(name, f"/components/schemas/{schema_name}")

"""The provider contracts are valid OpenAPI 3.1, complete enough to fuzz, and obey their own schemas.

The simulator engine routes, validates and answers from these files, and Schemathesis fuzzes the
simulators against them; so every example must match its schema, every possible answer must be
documented, and the house rules (problem+json errors, idempotency, correlation ids, pagination,
signed webhooks) must hold on every operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import jsonschema_rs
import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

REQUIRED_OPERATIONS = {
    "payment": {
        "authorizePayment",
        "getPayment",
        "confirmPayment",
        "capturePayment",
        "voidPayment",
        "refundPayment",
        "listRefunds",
        "getSettlementReport",
    },
    "delivery": {"createQuote", "createShipment", "getShipment", "cancelShipment", "getTracking"},
    "notifications": {"sendEmail", "sendSms", "getNotification"},
}
REQUIRED_WEBHOOKS = {
    "payment": {
        "payment.authorized",
        "payment.captured",
        "payment.refunded",
        "payment.failed",
        "payment.voided",
    },
    "delivery": {"shipment.updated", "shipment.delivered", "shipment.exception"},
    "notifications": set(),
}
IDEMPOTENCY_KEY_REQUIRED = {
    "authorizePayment",
    "capturePayment",
    "refundPayment",
    "voidPayment",
    "createShipment",
}
ID_PATTERNS = {
    "payment": {
        "Payment": "^pay_[0-9a-f]{12}$",
        "Capture": "^cap_[0-9a-f]{12}$",
        "Refund": "^ref_[0-9a-f]{12}$",
    },
    "delivery": {"Quote": "^quo_[0-9a-f]{12}$", "Shipment": "^shp_[0-9a-f]{12}$"},
    "notifications": {"Notification": "^ntf_[0-9a-f]{12}$"},
}
TEST_CARDS = {
    "approved": "4242424242424242",
    "do_not_honor": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "fraud_suspected": "4100000000000019",
    "3ds_required": "4000000000003220",
    "expired_card": "4000000000000069",
}
METHODS = ("get", "put", "post", "patch", "delete")
NAMES = sorted(REQUIRED_OPERATIONS)


@cache
def load(name: str) -> dict[str, Any]:
    with open(CONTRACTS / f"{name}.openapi.yaml", encoding="utf-8") as fh:
        doc: dict[str, Any] = yaml.safe_load(fh)
    return doc


def uri(name: str) -> str:
    return f"urn:contract:{name}"


@cache
def registry(name: str) -> Registry:
    return Registry().with_resource(uri(name), DRAFT202012.create_resource(load(name)))


@cache
def rs_registry(name: str) -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(uri(name), load(name))])


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def resolve(doc: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follow local `$ref`s (as in components) until a real object; returns it and its pointer."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        pointer = node["$ref"][1:]
        if pointer in seen:
            raise AssertionError(f"$ref cycle at {pointer}")
        seen.add(pointer)
        node = doc
        for part in pointer.split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def operations(
    doc: dict[str, Any], *, webhooks: bool = False
) -> Iterator[tuple[str, str, dict[str, Any], list]]:
    """(pointer, method, operation, path-level parameters) of every path operation (or webhook)."""
    section = "webhooks" if webhooks else "paths"
    for path, item in (doc.get(section) or {}).items():
        for method in METHODS:
            if method in item:
                yield f"/{section}/{escape(path)}/{method}", method, item[method], item.get("parameters", [])


def parameters(doc: dict[str, Any], op: dict[str, Any], path_params: list) -> dict[tuple[str, str], dict]:
    params = {}
    for raw in [*path_params, *op.get("parameters", [])]:
        param, _ = resolve(doc, raw, "")
        params[(param["in"], param["name"].lower())] = param
    return params


def schema_checks(name: str, pointer: str) -> list[tuple[str, Any]]:
    """Validators (jsonschema and jsonschema-rs, formats on) for the schema at `pointer` of a contract."""
    ref = {"$ref": f"{uri(name)}#{quote(pointer, safe='/~')}"}
    py = jsonschema.Draft202012Validator(
        ref, registry=registry(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    rs = jsonschema_rs.validator_for(ref, registry=rs_registry(name), validate_formats=True)
    return [("jsonschema", py), ("jsonschema-rs", rs)]


def examples_of(doc: dict[str, Any], holder: dict[str, Any], pointer: str) -> Iterator[tuple[str, Any]]:
    """(where, value) of `example` and every named example in a media type, parameter or header."""
    if "example" in holder:
        yield f"{pointer}/example", holder["example"]
    for key, raw in (holder.get("examples") or {}).items():
        example, where = resolve(doc, raw, f"{pointer}/examples/{escape(key)}")
        if "value" in example:
            yield where, example["value"]


def example_cases() -> Iterator[tuple[str, str, str, Any]]:
    """(contract, schema pointer, example location, value) for every example in the contracts."""
    for name in NAMES:
        doc = load(name)
        for webhooks in (False, True):
            for op_ptr, _method, op, path_params in operations(doc, webhooks=webhooks):
                item_ptr = op_ptr.rsplit("/", 1)[0]
                located = [(raw, f"{item_ptr}/parameters/{i}") for i, raw in enumerate(path_params)]
                located += [
                    (raw, f"{op_ptr}/parameters/{i}") for i, raw in enumerate(op.get("parameters", []))
                ]
                for raw, raw_ptr in located:
                    param, ptr = resolve(doc, raw, raw_ptr)
                    for where, value in examples_of(doc, param, ptr):
                        yield name, f"{ptr}/schema", where, value
                bodies = []
                if "requestBody" in op:
                    bodies.append(resolve(doc, op["requestBody"], f"{op_ptr}/requestBody"))
                for code, raw in op.get("responses", {}).items():
                    response, ptr = resolve(doc, raw, f"{op_ptr}/responses/{code}")
                    bodies.append((response, ptr))
                    for header, raw_header in (response.get("headers") or {}).items():
                        h, hptr = resolve(doc, raw_header, f"{ptr}/headers/{escape(header)}")
                        for where, value in examples_of(doc, h, hptr):
                            yield name, f"{hptr}/schema", where, value
                for body, ptr in bodies:
                    for media, content in (body.get("content") or {}).items():
                        mptr = f"{ptr}/content/{escape(media)}"
                        for where, value in examples_of(doc, content, mptr):
                            yield name, f"{mptr}/schema", where, value
        yield from schema_examples(name, doc, "")


def schema_examples(name: str, node: Any, pointer: str) -> Iterator[tuple[str, str, str, Any]]:
    """JSON Schema `examples` arrays anywhere in the document (media types use a map instead)."""
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list):
            for i, value in enumerate(node["examples"]):
                yield name, pointer, f"{pointer}/examples/{i}", value
        for key, child in node.items():
            yield from schema_examples(name, child, f"{pointer}/{escape(str(key))}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from schema_examples(name, child, f"{pointer}/{i}")


EXAMPLES = list({case[:3]: case for case in example_cases()}.values())  # shared components once


def walk_schema(
    doc: dict[str, Any], schema: Any, pointer: str, seen: set[str] | None = None
) -> Iterator[tuple[str, dict]]:
    """Every subschema reachable from `schema`, following local $refs once each."""
    seen = set() if seen is None else seen
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        target, ptr = resolve(doc, {"$ref": schema["$ref"]}, pointer)
        if ptr not in seen:
            seen.add(ptr)
            yield from walk_schema(doc, target, ptr, seen)
    yield pointer, schema
    for key in ("properties", "patternProperties", "$defs"):
        for prop, sub in (schema.get(key) or {}).items():
            yield from walk_schema(doc, sub, f"{pointer}/{key}/{escape(prop)}", seen)
    for key in ("items", "additionalProperties", "not", "if", "then", "else", "propertyNames", "contains"):
        if isinstance(schema.get(key), dict):
            yield from walk_schema(doc, schema[key], f"{pointer}/{key}", seen)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from walk_schema(doc, sub, f"{pointer}/{key}/{i}", seen)


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


# --- the documents ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_contract_is_valid_openapi_3_1(name: str) -> None:
    doc = load(name)
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("name", NAMES)
def test_required_operation_ids_exist_and_are_unique(name: str) -> None:
    doc = load(name)
    ids = [
        op["operationId"] for webhooks in (False, True) for _, _, op, _ in operations(doc, webhooks=webhooks)
    ]
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {sorted(i for i in ids if ids.count(i) > 1)}"
    missing = REQUIRED_OPERATIONS[name] - set(ids)
    assert not missing, f"{name}: missing operationIds {sorted(missing)}"
    assert set(doc.get("webhooks") or {}) >= REQUIRED_WEBHOOKS[name]


@pytest.mark.parametrize(
    ("name", "schema_ptr", "where", "value"), EXAMPLES, ids=[f"{c[0]}:{c[2]}" for c in EXAMPLES]
)
def test_example_matches_its_schema(name: str, schema_ptr: str, where: str, value: Any) -> None:
    for engine, validator in schema_checks(name, schema_ptr):
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) if engine == 'jsonschema' else e.instance_path}: {e.message}"
            for e in validator.iter_errors(value)
        ]
        assert not errors, f"{name} {where} fails {schema_ptr} ({engine}): {errors}"


def test_every_contract_has_examples() -> None:
    assert {case[0] for case in EXAMPLES} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_resource_ids_have_the_documented_patterns(name: str) -> None:
    schemas = load(name)["components"]["schemas"]
    for schema_name, pattern in ID_PATTERNS[name].items():
        id_schema, _ = resolve(load(name), schemas[schema_name]["properties"]["id"], "")
        assert id_schema["pattern"] == pattern, schema_name


# --- house rules on every operation ----------------------------------------------------------------


def path_operations() -> list[tuple[str, str, str]]:
    return [(name, ptr, op["operationId"]) for name in NAMES for ptr, _, op, _ in operations(load(name))]


PATH_OPS = path_operations()


def op_at(name: str, ptr: str) -> tuple[dict[str, Any], dict[tuple[str, str], dict]]:
    doc = load(name)
    for p, _, op, path_params in operations(doc):
        if p == ptr:
            return op, parameters(doc, op, path_params)
    raise KeyError(ptr)


def responses(name: str, op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {code: resolve(load(name), raw, "")[0] for code, raw in op["responses"].items()}


@pytest.mark.parametrize(("name", "ptr", "operation_id"), PATH_OPS, ids=[o[2] for o in PATH_OPS])
def test_operation_documents_every_error_it_can_answer(name: str, ptr: str, operation_id: str) -> None:
    op, params = op_at(name, ptr)
    codes = set(op["responses"])
    expected = {"429", "500", "503"}
    if "requestBody" in op or any(loc in {"query", "path"} for loc, _ in params) or op.get("parameters"):
        expected |= {"400", "422"}
    if any(loc == "path" for loc, _ in params):
        expected.add("404")
    if ("header", "idempotency-key") in params:
        expected.add("409")
    assert expected <= codes, f"{operation_id}: undocumented {sorted(expected - codes)}"
    assert any(code.startswith("2") for code in codes), f"{operation_id}: no success response"
    retry_after = responses(name, op)["429"].get("headers", {}).get("Retry-After")
    assert retry_after, f"{operation_id}: 429 without Retry-After"
    assert resolve(load(name), retry_after, "")[0].get("required") is True


@pytest.mark.parametrize(("name", "ptr", "operation_id"), PATH_OPS, ids=[o[2] for o in PATH_OPS])
def test_errors_are_problem_json_and_successes_are_json(name: str, ptr: str, operation_id: str) -> None:
    doc = load(name)
    for code, response in responses(name, op_at(name, ptr)[0]).items():
        content = response.get("content") or {}
        if code[0] in "45":
            assert set(content) == {"application/problem+json"}, f"{operation_id} {code}: {sorted(content)}"
            schema = content["application/problem+json"]["schema"]
            refs = {s["$ref"] for _, s in walk_schema(doc, schema, "") if "$ref" in s}
            assert "#/components/schemas/Problem" in refs, f"{operation_id} {code} is not a Problem"
            for where, value in examples_of(doc, content["application/problem+json"], ""):
                assert value["status"] == int(code), (
                    f"{operation_id} {code} example {where} says {value['status']}"
                )
        elif content:
            assert set(content) == {"application/json"}, f"{operation_id} {code}: {sorted(content)}"


@pytest.mark.parametrize(("name", "ptr", "operation_id"), PATH_OPS, ids=[o[2] for o in PATH_OPS])
def test_correlation_id_and_idempotency_headers(name: str, ptr: str, operation_id: str) -> None:
    op, params = op_at(name, ptr)
    correlation = params.get(("header", "x-correlation-id"))
    assert correlation and not correlation.get("required"), (
        f"{operation_id}: optional X-Correlation-ID missing"
    )
    key = params.get(("header", "idempotency-key"))
    if ptr.endswith("/post"):
        assert key, f"{operation_id}: unsafe operation without Idempotency-Key"
        assert bool(key.get("required")) == (operation_id in IDEMPOTENCY_KEY_REQUIRED), operation_id
        schema, _ = resolve(load(name), key["schema"], "")
        assert (schema["type"], schema["minLength"], schema["maxLength"]) == ("string", 1, 255)
        for code, response in responses(name, op).items():
            if code.startswith("2"):
                assert "Idempotent-Replayed" in response.get("headers", {}), f"{operation_id} {code}"
    else:
        assert not key, f"{operation_id}: safe operation declares Idempotency-Key"


@pytest.mark.parametrize(("name", "ptr", "operation_id"), PATH_OPS, ids=[o[2] for o in PATH_OPS])
def test_request_bodies_are_closed_and_responses_open(name: str, ptr: str, operation_id: str) -> None:
    doc = load(name)
    op, _ = op_at(name, ptr)
    if "requestBody" in op:
        body, _ = resolve(doc, op["requestBody"], "")
        for media in body["content"].values():
            for where, schema in walk_schema(doc, media["schema"], "/requestBody"):
                if schema.get("type") == "object" or "properties" in schema:
                    extra = schema.get("additionalProperties", True)
                    assert extra is not True, (
                        f"{operation_id}: request object at {where} accepts unknown fields"
                    )
    for code, response in responses(name, op).items():
        for media in (response.get("content") or {}).values():
            for where, schema in walk_schema(doc, media["schema"], f"/responses/{code}"):
                assert schema.get("additionalProperties") is not False, (
                    f"{operation_id} {code}: response object at {where} forbids provider-added fields"
                )


@pytest.mark.parametrize(("name", "ptr", "operation_id"), PATH_OPS, ids=[o[2] for o in PATH_OPS])
def test_lists_are_paginated(name: str, ptr: str, operation_id: str) -> None:
    if not operation_id.startswith("list"):
        return
    op, params = op_at(name, ptr)
    limit = resolve(load(name), params[("query", "limit")]["schema"], "")[0]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)
    assert ("query", "cursor") in params
    schema, _ = resolve(load(name), responses(name, op)["200"]["content"]["application/json"]["schema"], "")
    assert "next_cursor" in schema["required"]
    assert "null" in schema["properties"]["next_cursor"]["type"]


@pytest.mark.parametrize("name", NAMES)
def test_links_point_at_real_operations_and_parameters(name: str) -> None:
    doc = load(name)
    by_id = {op["operationId"]: (op, pp) for _, _, op, pp in operations(doc)}
    link_count = 0
    for _, _, op, _ in operations(doc):
        for code, response in responses(name, op).items():
            for link_name, raw in (response.get("links") or {}).items():
                link, _ = resolve(doc, raw, "")
                link_count += 1
                target = link["operationId"]
                assert target in by_id, f"{op['operationId']} {code} link {link_name} -> unknown {target}"
                names = {n for _, n in parameters(doc, *by_id[target])}
                assert set(link["parameters"]) <= names, (
                    f"link {link_name}: {set(link['parameters']) - names}"
                )
    if name != "notifications":
        assert link_count, f"{name}: no links for stateful fuzzing"


@pytest.mark.parametrize("name", [n for n in NAMES if REQUIRED_WEBHOOKS[n]])
def test_webhooks_are_signed_sequenced_events(name: str) -> None:
    doc = load(name)
    hooks = list(operations(doc, webhooks=True))
    assert {ptr.split("/")[2] for ptr, *_ in hooks} == set(doc["webhooks"])
    for ptr, _, op, path_params in hooks:
        params = parameters(doc, op, path_params)
        signature = params[("header", "sandbox-signature")]
        assert signature["required"] is True
        assert "HMAC-SHA256" in signature["description"]
        body, _ = resolve(doc, op["requestBody"], "")
        schema = body["content"]["application/json"]["schema"]
        envelope = {field for _, s in walk_schema(doc, schema, ptr) for field in s.get("required", [])}
        assert {"id", "type", "created_at", "sequence", "data", "object"} <= envelope, ptr
        event_type = ptr.split("/")[2].replace("~1", "/")
        consts = {s["const"] for _, s in walk_schema(doc, schema, ptr) if "const" in s}
        assert consts == {event_type}, f"{ptr}: body type const {consts}"
        assert any(code.startswith("2") for code in op["responses"])
    retries = " ".join(str(r.get("description", "")) for r in doc["components"]["responses"].values())
    for step in ("1 minute", "5 minutes", "30 minutes", "2 hours"):
        assert step in retries, f"{name}: retry schedule step {step!r} undocumented"


# --- payment specifics -----------------------------------------------------------------------------


def authorize_examples() -> dict[str, Any]:
    op = load("payment")["paths"]["/payments"]["post"]
    return op["requestBody"]["content"]["application/json"]["examples"]


def test_test_cards_are_documented_and_exampled() -> None:
    op = load("payment")["paths"]["/payments"]["post"]
    examples = authorize_examples()
    assert next(iter(examples)) == "approved", "the first authorizePayment example must be the approved card"
    for outcome, number in TEST_CARDS.items():
        assert number in op["description"], f"test card {number} ({outcome}) not in the description"
        assert examples[outcome]["value"]["card"]["number"] == number
        assert luhn_ok(number), f"test card {number} is not a well-formed card number (Luhn)"


def test_declines_name_the_decline_code_and_payment() -> None:
    doc = load("payment")
    declined, _ = resolve(doc, doc["paths"]["/payments"]["post"]["responses"]["402"], "")
    examples = declined["content"]["application/problem+json"]["examples"]
    for outcome in ("do_not_honor", "insufficient_funds", "fraud_suspected", "expired_card"):
        assert examples[outcome]["value"]["decline_code"] == outcome


def test_the_example_flow_authorize_capture_refund_adds_up() -> None:
    doc = load("payment")
    approved = authorize_examples()["approved"]["value"]
    capture = doc["paths"]["/payments/{payment_id}/captures"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    refund = doc["paths"]["/payments/{payment_id}/refunds"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    first_capture = next(iter(capture["examples"].values()))["value"]
    first_refund = next(iter(refund["examples"].values()))["value"]
    captured = first_capture.get("amount", approved["amount"])
    assert approved["card"]["number"] == TEST_CARDS["approved"]
    assert 1 <= captured <= approved["amount"] <= 1_000_000
    assert 1 <= first_refund["amount"] <= captured


def test_payment_statuses_and_decline_codes_are_the_agreed_sets() -> None:
    schemas = load("payment")["components"]["schemas"]
    assert set(schemas["PaymentStatus"]["enum"]) == {
        "requires_action",
        "authorized",
        "partially_captured",
        "captured",
        "partially_refunded",
        "refunded",
        "voided",
        "declined",
        "expired",
    }
    assert set(schemas["Payment"]["properties"]["decline_code"]["enum"]) == {
        "do_not_honor",
        "insufficient_funds",
        "fraud_suspected",
        "expired_card",
        "authentication_failed",
        None,
    }

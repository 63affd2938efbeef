"""The synthesizer: every value it returns is valid by an independent validator, and a seed replays it."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import jsonschema
import jsonschema_rs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from simulators.core.errors import SimulatorError
from simulators.core.synth import SynthesisError, Synthesizer, pick_example

ROOT = Path(__file__).resolve().parents[3]
ADYEN = ROOT / ".." / "shared" / "specs" / "adyen"
SEEDS = (0, 1, 7, 42, 2024)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


# ---------------------------------------------------------------- the oracle: python-jsonschema, formats on

def pointer_get(document: Any, ref: str) -> Any:
    """The node at a '#/a/b' reference."""
    node = document
    for part in unquote(ref.lstrip("#")).split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


class Oracle:
    """Draft 2020-12 + FormatChecker over a whole document, refs resolved by `referencing`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource("urn:doc", resource)

    def errors(self, pointer: str, instance: Any) -> list[str]:
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$ref": "urn:doc#" + quote(pointer, safe="/~")}
        validator = jsonschema.Draft202012Validator(schema, registry=self.registry,
                                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def synth_for(document: dict[str, Any], seed: int = 0) -> Synthesizer:
    return Synthesizer(seed, resolve=lambda ref: pointer_get(document, ref))


# ---------------------------------------------------------------- a broad set of schemas, one keyword each (or a few)

COMPONENTS: dict[str, Any] = {
    "Money": {"type": "object", "required": ["value", "currency"], "additionalProperties": False,
              "properties": {"value": {"type": "integer", "minimum": 0, "format": "int64"},
                             "currency": {"type": "string", "minLength": 3, "maxLength": 3}}},
    "Address": {"type": "object", "required": ["line1", "city", "postcode", "country"],
                "properties": {"line1": {"type": "string", "maxLength": 35}, "line2": {"type": ["string", "null"]},
                               "city": {"type": "string"}, "postcode": {"type": "string", "maxLength": 10},
                               "country": {"type": "string", "minLength": 2, "maxLength": 2}}},
    "Node": {"type": "object", "required": ["name"],
             "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                            "parent": {"oneOf": [{"$ref": "#/components/schemas/Node"}, {"type": "null"}]}}},
    "LinkedList": {"type": "object", "required": ["value", "next"],
                   "properties": {"value": {"type": "integer"},
                                  "next": {"anyOf": [{"$ref": "#/components/schemas/LinkedList"}, {"type": "null"}]}}},
    "Card": {"type": "object", "required": ["type", "last4"], "additionalProperties": False,
             "properties": {"type": {"type": "string", "enum": ["card"]}, "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
                            "brand": {"type": "string", "enum": ["visa", "mc", "amex"]}}},
    "Bank": {"type": "object", "required": ["type", "iban"], "additionalProperties": False,
             "properties": {"type": {"type": "string", "enum": ["bank"]}, "iban": {"type": "string", "minLength": 15}}},
    "Wallet": {"type": "object", "required": ["kind", "provider"],
               "properties": {"kind": {"type": "string"}, "provider": {"type": "string"}}},
    "PaymentMethod": {"oneOf": [{"$ref": "#/components/schemas/Card"}, {"$ref": "#/components/schemas/Bank"}],
                      "discriminator": {"propertyName": "type",
                                        "mapping": {"card": "#/components/schemas/Card", "bank": "#/components/schemas/Bank"}}},
    "Instrument": {"oneOf": [{"$ref": "#/components/schemas/Wallet"}, {"$ref": "#/components/schemas/Bank"}],
                   "discriminator": {"propertyName": "kind"}},
    "Payment": {"allOf": [{"$ref": "#/components/schemas/Base"},
                          {"type": "object", "required": ["amount", "method"],
                           "properties": {"amount": {"$ref": "#/components/schemas/Money"},
                                          "method": {"$ref": "#/components/schemas/PaymentMethod"},
                                          "billing": {"$ref": "#/components/schemas/Address"},
                                          "status": {"type": "string", "enum": ["authorized", "captured", "refunded"]}}}]},
    "Base": {"type": "object", "required": ["id", "created_at"],
             "properties": {"id": {"type": "string", "minLength": 8}, "created_at": {"type": "string", "format": "date-time"}}},
    "Customer": {"type": "object", "required": ["customer_id", "email", "first_name", "last_name"],
                 "properties": {"customer_id": {"type": "string"}, "email": {"type": "string", "format": "email"},
                                "first_name": {"type": "string"}, "last_name": {"type": "string"},
                                "phone": {"type": "string", "pattern": "^\\+44 ?7[0-9]{3} ?[0-9]{6}$"},
                                "address": {"$ref": "#/components/schemas/Address"},
                                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 4},
                                "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 20}}}},
}

SCHEMAS: dict[str, Any] = {
    "true": True,
    "empty": {},
    "type-list": {"type": ["string", "integer", "null"]},
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "enum": {"enum": ["a", 1, None, {"x": 1}]},
    "const": {"const": {"fixed": [1, 2]}},
    "string-lengths": {"type": "string", "minLength": 5, "maxLength": 7},
    "string-long": {"type": "string", "minLength": 120},
    "pattern": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{4}$"},
    "pattern-unanchored": {"type": "string", "pattern": "ab+c", "minLength": 10, "maxLength": 20},
    "pattern-alternation": {"type": "string", "pattern": "^(GBP|EUR|USD)$"},
    "pattern-negated-class": {"type": "string", "pattern": "^[^a-z]{3,5}$"},
    **{f"format-{f}": {"type": "string", "format": f} for f in (
        "email", "idn-email", "date-time", "date", "time", "uuid", "uri", "url", "hostname", "ipv4", "ipv6",
        "uri-reference", "byte", "binary", "password", "duration", "regex", "json-pointer", "unknown-format")},
    "format-email-short": {"type": "string", "format": "email", "maxLength": 12},
    "integer-bounds": {"type": "integer", "minimum": 10, "maximum": 12},
    "integer-exclusive": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
    "integer-multiple": {"type": "integer", "minimum": 1000, "multipleOf": 7},
    "integer-int32": {"type": "integer", "format": "int32", "minimum": 2147483640},
    "integer-negative": {"type": "integer", "maximum": -5000},
    "number": {"type": "number", "format": "double"},
    "number-bounds": {"type": "number", "exclusiveMinimum": 0.5, "maximum": 0.75},
    "number-multiple": {"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 3},
    "number-cents": {"type": "number", "multipleOf": 0.01},
    "array": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 5},
    "array-unique": {"type": "array", "items": {"enum": [1, 2, 3]}, "uniqueItems": True, "minItems": 3},
    "array-prefix": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False,
                     "minItems": 2},
    "array-contains": {"type": "array", "items": {"type": "integer"}, "contains": {"const": 42}},
    "object-closed": {"type": "object", "required": ["a"], "additionalProperties": False,
                      "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
    "object-min-properties": {"type": "object", "minProperties": 3, "properties": {"a": {"type": "string"}}},
    "object-max-properties": {"type": "object", "maxProperties": 1, "properties": {"a": {}, "b": {}, "c": {}}},
    "object-pattern-properties": {"type": "object", "patternProperties": {"^x-[a-z]+$": {"type": "integer"}},
                                  "additionalProperties": False, "minProperties": 2},
    "object-required-undeclared": {"type": "object", "required": ["extra"]},
    "object-dependent-required": {"type": "object", "properties": {"card": {"type": "string"}, "cvc": {"type": "string"}},
                                  "dependentRequired": {"card": ["cvc"]}},
    "allOf": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer", "minimum": 5}}, "required": ["a"]},
                        {"properties": {"a": {"maximum": 6}, "b": {"type": "string"}}, "required": ["b"]}]},
    "oneOf-overlapping": {"oneOf": [{"type": "integer", "multipleOf": 2}, {"type": "integer", "multipleOf": 3}]},
    "oneOf-types": {"oneOf": [{"type": "string"}, {"type": "boolean"}, {"type": "object", "required": ["z"]}]},
    "anyOf": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 100}]},
    "not": {"type": "integer", "minimum": 0, "maximum": 10, "not": {"enum": [0, 1, 2, 3, 4, 5, 6]}},
    "not-type": {"not": {"type": ["string", "integer", "number", "boolean", "array", "object"]}},
    "if-then-else": {"type": "object", "required": ["country", "postcode"],
                     "properties": {"country": {"enum": ["GB", "US"]}, "postcode": {"type": "string"}},
                     "if": {"properties": {"country": {"const": "US"}}},
                     "then": {"properties": {"postcode": {"pattern": "^[0-9]{5}$"}}},
                     "else": {"properties": {"postcode": {"pattern": "^[A-Z]{1,2}[0-9] [0-9][A-Z]{2}$"}}}},
    "examples": {"type": "string", "examples": ["first", 12, "third"], "default": "fallback"},
    "nullable-ref": {"anyOf": [{"$ref": "#/components/schemas/Money"}, {"type": "null"}]},
    "ref-with-siblings": {"$ref": "#/components/schemas/Address", "required": ["line2"]},
    **{f"component-{name}": {"$ref": f"#/components/schemas/{name}"} for name in COMPONENTS},
}
DOCUMENT: dict[str, Any] = {"components": {"schemas": COMPONENTS}, "x-cases": SCHEMAS}
ORACLE = Oracle(DOCUMENT)


@pytest.mark.parametrize("case", list(SCHEMAS))
def test_every_keyword_gives_valid_values(case: str) -> None:
    schema = SCHEMAS[case]
    for seed in SEEDS:
        synth = synth_for(DOCUMENT, seed)
        for _ in range(5):
            value = synth.value(schema)
            assert ORACLE.errors(f"/x-cases/{case}", value) == [], (case, seed, value)


@pytest.mark.parametrize("case", [c for c in SCHEMAS if c.startswith("component-")] + ["object-closed", "pattern"])
def test_same_seed_same_values_and_different_seeds_differ(case: str) -> None:
    draws = {seed: [synth_for(DOCUMENT, seed).value(SCHEMAS[case]) for _ in range(1)] for seed in SEEDS}
    again = {seed: [synth_for(DOCUMENT, seed).value(SCHEMAS[case]) for _ in range(1)] for seed in SEEDS}
    assert draws == again
    assert len({repr(v) for v in draws.values()}) > 1


def test_reseed_replays_the_stream() -> None:
    synth = synth_for(DOCUMENT, 3)
    first = [synth.value(SCHEMAS["component-Payment"]) for _ in range(3)]
    synth.reseed(3)
    assert [synth.value(SCHEMAS["component-Payment"]) for _ in range(3)] == first
    assert first[0] != first[1]


def test_discriminator_property_names_the_branch() -> None:
    synth = synth_for(DOCUMENT, 5)
    seen = set()
    for _ in range(30):
        method = synth.value(SCHEMAS["component-PaymentMethod"])
        assert ("last4" in method) == (method["type"] == "card")
        seen.add(method["type"])
        instrument = synth.value(SCHEMAS["component-Instrument"])
        if "iban" not in instrument:
            assert instrument["kind"] == "Wallet"  # no mapping: the schema's name
    assert seen == {"card", "bank"}


def test_recursive_schemas_terminate_and_stay_shallow() -> None:
    def depth(node: dict[str, Any]) -> int:
        kids = node.get("children") or []
        below = [depth(k) for k in kids] + ([depth(node["parent"])] if node.get("parent") else [])
        return 1 + max(below, default=0)

    synth = synth_for(DOCUMENT, 11)
    for _ in range(20):
        assert depth(synth.value(SCHEMAS["component-Node"])) <= 6
        assert synth.value(SCHEMAS["component-LinkedList"])["value"] is not None


def test_values_are_realistic_by_property_name() -> None:
    synth = synth_for(DOCUMENT, 9)
    for _ in range(10):
        customer = synth.value(SCHEMAS["component-Customer"])
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", customer["email"])
        assert customer["first_name"].isalpha() and customer["first_name"][0].isupper()
        address = synth.value(SCHEMAS["component-Address"])
        assert re.fullmatch(r"[A-Z]{2}", address["country"])
        assert re.search(r"[0-9]", address["postcode"]) and " " in address["postcode"]
        money = synth.value(SCHEMAS["component-Money"])
        assert money["currency"] in {"GBP", "EUR", "USD"} and 100 <= money["value"] <= 50000
        assert synth.value({"type": "string"}, name="customer_id").startswith("cus_")


def test_examples_are_used_when_they_validate() -> None:
    synth = Synthesizer(0)
    drawn = {synth.value(SCHEMAS["examples"]) for _ in range(200)}
    assert {"first", "third", "fallback"} <= drawn and 12 not in drawn


def test_impossible_schema_raises_synthesis_error_naming_it() -> None:
    with pytest.raises(SynthesisError) as info:
        Synthesizer(0).value({"type": "string", "minLength": 5, "maxLength": 2}, pointer="#/components/schemas/Bad")
    assert isinstance(info.value, SimulatorError)
    assert "#/components/schemas/Bad" in str(info.value) and "draws were invalid" in str(info.value)
    with pytest.raises(SynthesisError, match="cannot resolve #/components/schemas/Missing"):
        synth_for(DOCUMENT).value({"$ref": "#/components/schemas/Missing"})
    with pytest.raises(SynthesisError, match="false schema"):
        Synthesizer(0).value({"type": "object", "required": ["a"], "properties": {"a": False}})


def test_values_are_plain_json_and_the_schema_is_left_alone() -> None:
    before = copy.deepcopy(DOCUMENT)
    synth = synth_for(DOCUMENT, 4)
    for schema in SCHEMAS.values():
        for _ in range(3):
            json.dumps(synth.value(schema), allow_nan=False)
    assert before == DOCUMENT


def test_unnamed_values_are_named_by_their_schema() -> None:
    document = {"components": {"schemas": {
        "Product": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        "Email": {"type": "string"}, "Currency": {"type": "string", "minLength": 3, "maxLength": 3}}}}
    synth = synth_for(document, 2)
    assert all(synth.value({"$ref": "#/components/schemas/Email"}).count("@") == 1 for _ in range(5))
    assert synth.value({"$ref": "#/components/schemas/Currency"}) in {"GBP", "EUR", "USD"}
    product = synth.value({"$ref": "#/components/schemas/Product"})["name"]
    assert product.split()[-1] in {"Chair", "Lamp", "Kettle", "Jacket", "Trainers", "Sofa", "Headphones",
                                   "Backpack", "Mug", "Desk"}, product


@pytest.mark.parametrize("pattern", [r"^\p{Lu}\p{Ll}{2,5}$", r"^[\p{L} ]{3,8}$", r"^(?<area>[0-9]{3})-[0-9]{4}$"])
def test_ecma_patterns_python_lacks_still_give_valid_strings(pattern: str) -> None:
    schema = {"type": "string", "pattern": pattern}
    check = jsonschema_rs.validator_for(schema)
    synth = Synthesizer(6)
    assert all(check.is_valid(synth.value(schema)) for _ in range(20))


def test_a_seed_replays_in_another_process() -> None:
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); import test_synth as t; "
              "s = t.synth_for(t.DOCUMENT, 8); "
              "print(json.dumps([s.value(t.SCHEMAS[c]) for c in t.SCHEMAS], sort_keys=True))")
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True, timeout=120)
        outputs.add(done.stdout)
    assert len(outputs) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_schemas_give_valid_values(data: st.DataObject) -> None:
    schema = data.draw(_schemas(depth=2))
    value = Synthesizer(data.draw(st.integers(0, 2**32))).value(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(value)) == [], (schema, value)


def _schemas(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(["id", "email", "name", "amount", "city", "description", "country", "created_at", "x"])
    lengths = st.tuples(st.integers(0, 6), st.integers(0, 30)).map(lambda t: {"minLength": t[0], "maxLength": t[0] + t[1]})
    strings = st.one_of(
        lengths.map(lambda bounds: {"type": "string", **bounds}),
        st.sampled_from(["email", "date-time", "date", "uuid", "uri", "ipv4", "hostname"]).map(
            lambda f: {"type": "string", "format": f}),
        st.sampled_from(["^[a-z]{3,8}$", "^[0-9]+-[A-Z]{2}$", "^(a|bc)+$"]).map(lambda p: {"type": "string", "pattern": p}))
    numbers = st.tuples(st.sampled_from(["integer", "number"]), st.integers(-1000, 1000), st.integers(0, 5000),
                        st.sampled_from([None, 1, 2, 5, 0.5])).map(
        lambda t: {"type": t[0], "minimum": t[1], "maximum": t[1] + t[2] + 10, **({"multipleOf": t[3]} if t[3] else {})})
    leaves = st.one_of(strings, numbers, st.just({"type": "boolean"}), st.lists(st.integers(), min_size=1).map(
        lambda xs: {"enum": xs}))
    if depth == 0:
        return leaves
    inner = _schemas(depth - 1)
    objects = st.dictionaries(names, inner, max_size=5).flatmap(lambda props: st.tuples(
        st.just(props), st.lists(st.sampled_from(sorted(props)) if props else st.nothing(), unique=True),
        st.booleans())).map(lambda t: {"type": "object", "properties": t[0], "required": t[1],
                                       "additionalProperties": not t[2]})
    arrays = st.tuples(inner, st.integers(0, 3), st.integers(0, 3)).map(
        lambda t: {"type": "array", "items": t[0], "minItems": t[1], "maxItems": t[1] + t[2]})
    nullable = inner.map(lambda s: {"anyOf": [s, {"type": "null"}]})
    return st.one_of(leaves, objects, arrays, nullable)


# ---------------------------------------------------------------- every response schema of every contract we can find

def _response_schemas(document: dict[str, Any]) -> Iterator[str]:
    """JSON pointers of each response's content schema (response $refs followed)."""
    for path, item in (document.get("paths") or {}).items():
        for method in METHODS:
            op = (item or {}).get(method)
            if not isinstance(op, dict):
                continue
            for status, response in (op.get("responses") or {}).items():
                pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}/responses/{status}"
                if "$ref" in response:
                    pointer = unquote(response["$ref"][1:])
                    response = pointer_get(document, response["$ref"])
                for ctype, media in (response.get("content") or {}).items():
                    if isinstance(media, dict) and "schema" in media:
                        yield pointer + "/content/" + ctype.replace("~", "~0").replace("/", "~1") + "/schema"


def _documents() -> list[Path]:
    return sorted((ROOT / "contracts").glob("*.openapi.yaml")) + sorted(ADYEN.resolve().glob("*.yaml"))


@functools.lru_cache(maxsize=1)
def _cases() -> list[Any]:
    cases = []
    for file in _documents():
        try:
            document = yaml.safe_load(file.read_text())
        except yaml.YAMLError as exc:  # a contract being edited: its own tests report it
            cases.append(pytest.param(file, "", id=file.name, marks=pytest.mark.skip(reason=f"not YAML: {exc}")))
            continue
        if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1"):
            continue  # 3.0 contracts are translated by the loader; the synthesizer only sees 2020-12
        for pointer in dict.fromkeys(_response_schemas(document)):
            cases.append(pytest.param(file, pointer, id=f"{file.name}:{pointer}"))
    return cases


_LOADED: dict[Path, tuple[dict[str, Any], Oracle]] = {}


@pytest.mark.parametrize(("file", "pointer"), _cases())
def test_every_response_schema_of_every_contract(file: Path, pointer: str) -> None:
    if file not in _LOADED:
        document = yaml.safe_load(file.read_text())
        _LOADED[file] = (document, Oracle(document))
    document, oracle = _LOADED[file]
    schema = pointer_get(document, "#" + pointer)
    for seed in SEEDS[:3]:
        synth = synth_for(document, seed)
        value = synth.value(schema, pointer=pointer)
        assert oracle.errors(pointer, value) == [], (seed, value)
        assert synth_for(document, seed).value(schema) == value


def test_adyen_specs_are_found() -> None:
    assert len([c for c in _cases() if "Service-v68" in c.id]) > 20


# ---------------------------------------------------------------- pick_example

def test_pick_example() -> None:
    examples = {"approved": {"status": "ok"}, "declined": {"status": "refused"}}
    assert pick_example(examples, None) == ("approved", {"status": "ok"})
    assert pick_example(examples, "declined") == ("declined", {"status": "refused"})
    assert pick_example(examples, "example=declined") == ("declined", {"status": "refused"})
    assert pick_example({}, None) is None
    with pytest.raises(LookupError, match=r"'declind'.*Did you mean 'declined'.*Valid: approved, declined"):
        pick_example(examples, "declind")
    with pytest.raises(LookupError, match="no named examples"):
        pick_example({}, "declined")


# ---------------------------------------------------------------- speed

def test_a_twenty_field_object_takes_about_a_millisecond() -> None:
    schema = {"$ref": "#/components/schemas/Customer"}
    synth = synth_for(DOCUMENT, 1)
    synth.value(schema)
    started = time.perf_counter()
    for _ in range(200):
        synth.value(schema)
    per_value_ms = (time.perf_counter() - started) / 200 * 1000
    assert per_value_ms < 10, per_value_ms  # ~0.3 ms measured; the margin is for slow CI machines

"""The loader's line marks, templates, field paths and matchers, and every shipped scenario validating."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from sandbox.scenarios import SCHEMA_PATH
from sandbox.scenarios.loader import load_file, parse_documents
from sandbox.scenarios.validate import validate_file
from sandbox.scenarios.values import MISSING, Renderer, TemplateError, extract, match

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").rglob("*.scenario.yaml"))


def test_line_marks_point_at_each_node() -> None:
    doc = parse_documents("name: x\nsteps:\n  - call: getHealth\n    expect:\n      status: 200\n", Path("f.yaml"))[0]
    assert doc.line_of(("steps", 0, "expect", "status")) == 5
    assert doc.line_of(("steps", 0, "call")) == 3
    assert doc.line_of(("steps", 0, "nope", "deeper")) == 3  # nearest ancestor


def test_a_leading_defaults_document_is_split_off(tmp_path: Path) -> None:
    path = tmp_path / "a.scenario.yaml"
    path.write_text("defaults: {tags: [x]}\n---\nname: one\nsteps: [{wait: 0.1}]\n---\nname: two\nsteps: [{wait: 0.1}]\n")
    loaded = load_file(path)
    assert loaded.defaults is not None and [d.data["name"] for d in loaded.scenarios] == ["one", "two"]


def test_templates_keep_types_and_fill_strings() -> None:
    r = Renderer({"amount": 2500, "order": {"id": "ord_1"}}, seed=1)
    assert r.render("{{ saved.amount }}") == 2500
    assert r.render("id={{ saved.order.id }}") == "id=ord_1"
    assert "@" in r.render("{{ fake.email }}")
    assert len(r.render("{{ uuid }}")) == 36
    with pytest.raises(TemplateError, match="no saved value 'nope'"):
        r.render("{{ saved.nope }}")


def test_field_paths_jsonpath_pointer_and_dotted() -> None:
    doc = {"items": [{"sku": "A", "n": 1}, {"sku": "B", "n": 2}], "a": {"b": 3}}
    assert extract(doc, "$.a.b") == 3 and extract(doc, "a.b") == 3 and extract(doc, "/items/1/sku") == "B"
    assert extract(doc, "$.items[*].sku") == ["A", "B"]
    assert extract(doc, "$.items[?(@.sku=='B')].n") == 2
    assert extract(doc, "/missing") is MISSING


@pytest.mark.parametrize(("expected", "actual", "ok"), [
    ("any_uuid", "0b8f1a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", True), ("any_uuid", "nope", False),
    ({"gt": 0}, 5, True), ({"gt": 0, "lt": 3}, 5, False), ({"contains": "x"}, "axb", True),
    ({"regex": "^ORD-"}, "ORD-1", True), ({"len": 2}, [1, 2], True), ({"len": {"gte": 3}}, [1], False),
    ("absent", MISSING, True), (1, True, False), (2500, 2500.0, True), ({"a": 1}, {"a": 1, "b": 2}, True),
])
def test_matchers(expected: object, actual: object, ok: bool) -> None:
    assert match(expected, actual)[0] is ok


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema_rs.validator_for(json.loads(SCHEMA_PATH.read_text()))


def test_at_least_forty_shipped_scenarios() -> None:
    count = sum(len(load_file(p).scenarios) for p in SHIPPED)
    assert count >= 40, count


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    validate_file(path)

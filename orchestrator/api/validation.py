"""Every request checked against contracts/storefront.openapi.yaml before its view runs.

One plan per operation is compiled at startup (jsonschema-rs): its path, query and header parameters,
read as strings and typed per their schema (integer, number, boolean), are validated as one object, and
its JSON body against the body schema. A request that breaks the contract is answered 400 problem+json
whose `errors` name each offending parameter or field: location, pointer, expected, received, message.
Views read the typed values, defaults filled in, with `validated()`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import yaml
from flask import Flask, Request, g, request

from ..errors import ProblemError

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "storefront.openapi.yaml"
LOCATIONS = ("path", "query", "header")
# Operations whose view checks the request itself, and why: not validated here.
SELF_CHECKED = {
    "receivePaymentWebhook": "the signature is verified first: an unsigned event is a 401, not a 400",
    "receiveDeliveryWebhook": "the signature is verified first: an unsigned event is a 401, not a 400",
}
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_RECEIVED_MAX = 80


@dataclass(frozen=True, slots=True)
class ValidatedRequest:
    """A request that matches the contract: its typed parameters by location, and its parsed JSON body."""

    path: dict[str, Any]
    query: dict[str, Any]
    header: dict[str, Any]
    body: Any = None


@dataclass(frozen=True)
class Param:
    """One declared parameter: where it is read, how its string is typed, and what a valid one looks like."""

    name: str
    location: str
    required: bool
    kind: str | None
    default: Any
    expected: str
    description: str

    def violation(self, received: Any, problem: str) -> dict[str, Any]:
        """The error entry for this parameter: the value, what is wrong, and what to send instead."""
        return {"location": self.location, "name": self.name, "pointer": f"/{self.name}",
                "expected": self.expected, "received": _truncate(received),
                "message": f"{self.location} parameter '{self.name}' {problem}: send {self.expected}"}

    def missing(self) -> dict[str, Any]:
        """The error entry for this required parameter when it was not sent."""
        return self.violation(None, f"is required ({self.description})" if self.description else "is required")


@dataclass(frozen=True)
class Plan:
    """How to check one operation's requests; built once, so a request costs a dict and one validation."""

    operation_id: str
    params: tuple[Param, ...]
    params_validator: Any
    body_validator: Any
    body_required: bool

    def check(self, req: Request) -> ValidatedRequest:
        """The typed request, or a 400 ProblemError listing every violation."""
        sources: dict[str, Any] = {"path": req.view_args or {}, "query": req.args, "header": req.headers}
        values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        errors: list[dict[str, Any]] = []
        for p in self.params:
            raw = sources[p.location].get(p.name)
            if raw is None:
                if p.required:
                    errors.append(p.missing())
                elif p.default is not None:
                    values[p.location][p.name] = p.default
                continue
            values[p.location][p.name] = _typed(p.kind, raw)
        if errors or not self.params_validator.is_valid(values):
            errors += self._param_errors(values)
        body = self._body(req, errors) if self.body_validator is not None else None
        if errors:
            raise ProblemError(400, "Request does not match the contract", errors[0]["message"],
                               type_="/problems/validation", operation=self.operation_id, errors=errors[:20])
        return ValidatedRequest(values["path"], values["query"], values["header"], body)

    def _param_errors(self, values: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        by_key = {(p.location, p.name): p for p in self.params}
        errors = []
        for err in self.params_validator.iter_errors(values):
            location, name = [*err.instance_path, "", ""][:2]
            p = by_key.pop((str(location), str(name)), None)  # one entry per parameter, whatever rules it breaks
            if p is not None:
                value = values[p.location][p.name]
                errors.append(p.violation(value, f"is {_shown(value)}"))
        return errors

    def _body(self, req: Request, errors: list[dict[str, Any]]) -> Any:
        data = req.get_data(cache=True)
        if not data.strip():
            if self.body_required:
                errors.append(_body_violation("/", "required: true", None, "the request body is required: "
                                              "send a JSON object (Content-Type: application/json)"))
            return None
        if not req.is_json:
            errors.append(_body_violation("/", "Content-Type: application/json", req.content_type,
                                          "the request body must be JSON: send Content-Type: application/json"))
            return None
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            errors.append(_body_violation("/", "valid JSON", data.decode("utf-8", "replace"),
                                          f"the request body is not valid JSON: {exc}"))
            return None
        if not self.body_validator.is_valid(value):
            for err in self.body_validator.iter_errors(value):
                pointer = "/" + "/".join(str(p) for p in err.instance_path)
                expected = _keyword(err)
                errors.append(_body_violation(pointer, expected, None if expected.startswith("required:") else
                                              err.instance, f"request body at '{pointer}': {err.message}"))
        return value


def validated() -> ValidatedRequest:
    """The current request's typed parameters and body (checked before the view ran)."""
    found: ValidatedRequest = g.validated
    return found


def init_app(app: Flask, contract: Path = CONTRACT) -> None:
    """Plan every routed operation of the contract and check each request before its view runs."""
    plans = compile_plans(yaml.safe_load(contract.read_text()))
    table: dict[tuple[str, str], Plan] = {}
    for rule in app.url_map.iter_rules():
        template = _RULE_VARIABLE.sub(r"{\1}", rule.rule)
        for method in rule.methods or ():
            plan = plans.get((template, "get" if method == "HEAD" else method.lower()))
            if plan is not None and plan.operation_id not in SELF_CHECKED:
                table[(rule.endpoint, method)] = plan
    routed = {plan.operation_id for plan in table.values()}
    unrouted = sorted({p.operation_id for p in plans.values()} - routed - set(SELF_CHECKED))
    if unrouted:
        raise RuntimeError(f"{contract}: no route serves {', '.join(unrouted)}")

    @app.before_request
    def _validate() -> None:
        plan = table.get((request.endpoint or "", request.method))
        if plan is not None:
            g.validated = plan.check(request)


def compile_plans(doc: dict[str, Any]) -> dict[tuple[str, str], Plan]:
    """(path template, method) -> the plan of that operation."""
    return {(path, method): _plan(op, item.get("parameters", []), doc)
            for path, item in doc.get("paths", {}).items()
            for method, op in item.items() if isinstance(op, dict) and "operationId" in op}


def _plan(op: dict[str, Any], shared: list[Any], doc: dict[str, Any]) -> Plan:
    """One operation's plan: its parameters (the operation's override the path's) and its JSON body."""
    components = doc.get("components", {})
    specs = {(p["in"], p["name"]): p for p in (_deref(p, doc) for p in [*shared, *op.get("parameters", [])])
             if p["in"] in LOCATIONS}
    by_location = {loc: {name: spec.get("schema", {}) for (where, name), spec in specs.items() if where == loc}
                   for loc in LOCATIONS}
    params = {"type": "object", "components": components,
              "properties": {loc: {"type": "object", "properties": props} for loc, props in by_location.items()}}
    body = op.get("requestBody") or {}
    schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
    return Plan(op["operationId"], tuple(_param(spec, doc) for spec in specs.values()),
                jsonschema_rs.validator_for(params, validate_formats=True),
                None if schema is None else jsonschema_rs.validator_for({**schema, "components": components},
                                                                        validate_formats=True),
                bool(body.get("required")))


def _param(spec: dict[str, Any], doc: dict[str, Any]) -> Param:
    schema = _deref(spec.get("schema", {}), doc)
    kind = schema.get("type")
    if kind in ("array", "object"):  # no parameter of the storefront is one: say so rather than misread it
        raise ValueError(f"parameter '{spec['name']}': {kind} parameters are not supported")
    return Param(spec["name"], spec["in"], bool(spec.get("required")), kind if isinstance(kind, str) else None,
                 schema.get("default"), _expected(schema), str(spec.get("description") or "").strip().rstrip("."))


def _deref(node: Any, doc: dict[str, Any]) -> Any:
    """A node with its local `$ref` followed (parameters and their schemas)."""
    for _ in range(16):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        node = doc
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _typed(kind: str | None, raw: str) -> Any:
    """A parameter string as its schema's type; left a string when it is not one (the schema then says so)."""
    if kind == "integer" and _INTEGER.match(raw):
        try:
            return int(raw)
        except ValueError:  # beyond Python's digit limit for int()
            return raw
    if kind == "number":
        try:
            return float(raw) if not _INTEGER.match(raw) else int(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def _expected(schema: dict[str, Any]) -> str:
    """What a valid value looks like, in words: the fix a 400 suggests."""
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        noun = "an integer" if kind == "integer" else "a number"
        if lo is not None and hi is not None:
            return f"{noun} from {lo} to {hi}"
        return f"{noun} >= {lo}" if lo is not None else f"{noun} <= {hi}" if hi is not None else noun
    if kind == "boolean":
        return "true or false"
    if schema.get("format") == "date":
        return "a date (YYYY-MM-DD)"
    if "pattern" in schema:
        return f"a string matching {schema['pattern']}"
    lo, hi = schema.get("minLength"), schema.get("maxLength")
    if hi is not None:
        return f"a string of {lo or 0} to {hi} characters"
    return "a string" + (f" of at least {lo} characters" if lo else "")


def _shown(value: Any) -> str:
    """A parameter value as a problem quotes it: shortened, with its length when that is the trouble."""
    if not isinstance(value, str):
        return json.dumps(value)
    return repr(_truncate(value)) + (f" ({len(value)} characters)" if len(value) > _RECEIVED_MAX else "")


def _truncate(value: Any) -> Any:
    """The offending value, shortened for a problem body."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _RECEIVED_MAX else text[: _RECEIVED_MAX - 1] + "…"


def _keyword(err: Any) -> str:
    """The rule a body value broke: `maxLength: 200`, `type: integer`, `required: sku`."""
    keyword = str(err.schema_path[-1]) if err.schema_path else "schema"
    details = list(err.kind.as_dict().values())
    if len(details) != 1:
        return keyword
    detail = details[0]
    if isinstance(detail, list):
        detail = ", ".join(str(d) for d in detail)
    return f"{keyword}: {detail}"


def _body_violation(pointer: str, expected: str, received: Any, message: str) -> dict[str, Any]:
    return {"location": "body", "pointer": pointer, "expected": expected, "received": _truncate(received),
            "message": message}

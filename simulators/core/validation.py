"""Requests and responses checked against the contract with jsonschema-rs validators compiled once.

The whole bundled document is compiled with `validator_map_for` (Draft 2020-12, formats checked), so
`#/components/...` refs, recursive schemas included, resolve; each operation's plan (coercers and
validators) is built on first use and cached. A violation is a dict:
`{"location", "pointer", "expected", "received", "message"}`; `pointer` is a JSON pointer inside the
location ("" is the whole body; "/<name>" for a parameter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import orjson

from .bundle import escape, pointer_tokens
from .coercion import Coercer, CoercionError, make_coercer, schema_kind
from .contract import JSON_TYPES, Contract, MediaType, Operation
from .errors import ProblemError

_RECEIVED_MAX = 80


@dataclass
class ValidatedRequest:
    """A request that matches the contract, its parameters typed and its JSON body parsed."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class _ParamPlan:
    name: str
    key: str
    location: str
    required: bool
    coerce: Coercer
    validator: Any
    pointer: str
    reject_empty: bool
    is_array: bool = False


@dataclass
class _OperationPlan:
    params: list[_ParamPlan]
    bodies: dict[str, tuple[bool, Any, str]]


def truncate(value: Any) -> Any:
    """The offending value, shortened for a problem body."""
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _RECEIVED_MAX else text[: _RECEIVED_MAX - 1] + "…"


def media_type_for(content: dict[str, MediaType], content_type: str | None) -> MediaType | None:
    """The documented media type serving a Content-Type: exact, then `type/*`, then `*/*`."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    for key in (base, base.split("/", 1)[0] + "/*", "*/*"):
        for ct, media in content.items():
            if ct.lower() == key:
                return media
    return None


class ContractValidator:
    """Validates requests and responses of one contract; no schema work per request."""

    def __init__(self, contract: Contract, *, eager: bool = False) -> None:
        self.contract = contract
        self._map = jsonschema_rs.validator_map_for(contract.document, validate_formats=True)
        self._validators: dict[str, Any] = {}
        self._plans: dict[str, _OperationPlan] = {}
        self._header_coercers: dict[str, Coercer] = {}
        if eager:
            for op in contract.operations.values():
                self._plan(op)

    def validator(self, pointer: str) -> Any:
        """The compiled validator of the schema at a document pointer ('' -> None)."""
        if not pointer:
            return None
        found = self._validators.get(pointer)
        if found is None:
            found = self._validators[pointer] = self._map.get("#" + pointer)
        return found

    def _plan(self, op: Operation) -> _OperationPlan:
        plan = self._plans.get(op.pointer or op.operation_id)
        if plan is not None:
            return plan
        params = [
            _ParamPlan(p.name, p.name.lower() if p.location == "header" else p.name, p.location, p.required,
                       make_coercer(p.name, p.location, p.schema, p.style, p.explode, self.contract.resolve,
                                    p.content_type),
                       self.validator(p.schema_pointer), p.schema_pointer,
                       p.location == "query" and p.style == "form" and not p.allow_empty,
                       schema_kind(p.schema, self.contract.resolve) == "array")
            for p in op.parameters
        ]
        bodies = {ct.lower(): (bool(JSON_TYPES.match(ct.lower())), self.validator(m.schema_pointer),
                              m.schema_pointer)
                  for ct, m in (op.request_body or {}).items()}
        plan = self._plans[op.pointer or op.operation_id] = _OperationPlan(params, bodies)
        return plan

    def validate_request(self, op: Operation, *, path_params: dict[str, str], query: dict[str, list[str]],
                         headers: dict[str, str], content_type: str | None, body: bytes) -> ValidatedRequest:
        """The typed request, or ProblemError(400) listing every violation (415 for a content type)."""
        plan = self._plan(op)
        errors: list[dict[str, Any]] = []
        out = ValidatedRequest(dict(path_params), {k: v[0] if len(v) == 1 else v for k, v in query.items()},
                               dict(headers))
        cookies: dict[str, str] | None = None
        for p in plan.params:
            if p.location == "query":
                raw = query.get(p.name)
                target = out.query
            elif p.location == "path":
                raw = [path_params[p.name]] if p.name in path_params else None
                target = out.path
            elif p.location == "header":
                raw = [headers[p.key]] if p.key in headers else None
                target = out.headers
            else:
                if cookies is None:
                    cookies = _cookies(headers.get("cookie", ""))
                raw = [cookies[p.name]] if p.name in cookies else None
                target = {}
            if not raw:
                if p.required:
                    errors.append(_violation(p.location, f"/{escape(p.name)}", "required: true", None,
                                             f"{p.location} parameter '{p.name}' is required"))
                continue
            if p.is_array and raw == [""] and p.location == "query":
                value: Any = []  # `ids=` is how form style writes an empty array (what clients and Schemathesis send)
                target[p.key] = value
                if p.validator is not None and not p.validator.is_valid(value):
                    errors.extend(self._schema_errors(p.pointer, value, p.location, f"/{escape(p.name)}",
                                                      f"{p.location} parameter '{p.name}'"))
                continue
            if p.reject_empty and "" in raw:  # OpenAPI: empty query values need allowEmptyValue
                errors.append(_violation(p.location, f"/{escape(p.name)}", "allowEmptyValue: false", "",
                                         f"query parameter '{p.name}' cannot be empty"))
                continue
            try:
                value = p.coerce(raw)
            except CoercionError as exc:
                errors.append(_violation(p.location, f"/{escape(p.name)}{exc.suffix}", exc.expected, exc.received,
                                         f"{p.location} parameter '{p.name}': {exc}"))
                continue
            target[p.key] = value
            if p.validator is not None and not p.validator.is_valid(value):
                errors.extend(self._schema_errors(p.pointer, value, p.location, f"/{escape(p.name)}",
                                                  f"{p.location} parameter '{p.name}'"))
        out.body = self._body(op, plan, content_type, body, errors)
        if errors:
            raise ProblemError(400, "Request does not match the contract", detail=errors[0]["message"],
                               errors=errors, operation=op.operation_id)
        return out

    def _body(self, op: Operation, plan: _OperationPlan, content_type: str | None, body: bytes,
              errors: list[dict[str, Any]]) -> Any:
        if not body:
            if op.body_required:
                errors.append(_violation("body", "", "required: true", None, "request body is required"))
            return None
        if op.request_body is None:
            return None
        media = media_type_for(op.request_body, content_type)
        if media is None:
            documented = ", ".join(op.request_body)
            raise ProblemError(415, "Unsupported Media Type",
                               detail=f"content type {content_type or '(none)'} is not accepted; use {documented}",
                               operation=op.operation_id)
        is_json, validator, pointer = plan.bodies[media.content_type.lower()]
        if not is_json:
            return body
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            errors.append(_violation("body", "", "valid JSON", truncate(body.decode("utf-8", "replace")),
                                     f"request body is not valid JSON: {exc}"))
            return None
        if validator is not None and not validator.is_valid(value):
            errors.extend(self._schema_errors(pointer, value, "body", "", "request body"))
        return value

    def _schema_errors(self, schema_pointer: str, value: Any, location: str, prefix: str,
                       what: str, depth: int = 0) -> list[dict[str, Any]]:
        validator = self.validator(schema_pointer)
        out: list[dict[str, Any]] = []
        for err in validator.iter_errors(value):
            pointer = prefix + "".join(f"/{escape(str(p))}" for p in err.instance_path)
            keyword, node = self._keyword_node(err, schema_pointer)
            branch = _discriminated(node, err.instance) if keyword == "oneOf" and depth < 8 else None
            if branch and self.validator(branch) is not None:
                # a discriminator names the branch: report why the instance fails that branch
                out.extend(self._schema_errors(branch, err.instance, location, pointer, what, depth + 1))
                continue
            expected = _expected(err, keyword, node)
            received = None if expected.startswith("required:") else truncate(err.instance)
            out.append(_violation(location, pointer, expected, received,
                                  f"{what} at '{pointer or '/'}': {err.message}"))
        return out

    def _keyword_node(self, err: Any, schema_pointer: str) -> tuple[str, Any]:
        keyword = str(err.schema_path[-1]) if err.schema_path else "schema"
        # schema_path is absolute in the document after a $ref, relative to the validated schema before
        base = "" if "$ref" in err.evaluation_path else schema_pointer
        try:
            node = self.contract.resolve(base + "".join(f"/{escape(str(t))}" for t in err.schema_path[:-1]))
        except (KeyError, TypeError):
            node = None
        return keyword, node

    def validate_response(self, op: Operation, status: int, content_type: str | None, body: Any,
                          headers: dict[str, str]) -> list[dict[str, Any]]:
        """Every way a response breaks the contract (status, content type, body, headers); [] if none."""
        resp = op.response_for(status)
        if resp is None:
            return [_violation("response", "", f"status: one of {', '.join(op.responses)}", status,
                               f"status {status} is not documented for {op.operation_id}")]
        errors: list[dict[str, Any]] = []
        lower = {k.lower(): v for k, v in headers.items()}
        for name, spec in resp.headers.items():
            key = name.lower()
            if key == "content-type":
                continue
            if key not in lower:
                if spec.get("required"):
                    errors.append(_violation("response-header", f"/{escape(name)}", "required: true", None,
                                             f"response header '{name}' is required"))
                continue
            validator = self.validator(spec.get("schema_pointer", ""))
            if validator is None:
                continue
            coerce = self._header_coercers.get(spec["schema_pointer"])
            if coerce is None:
                coerce = self._header_coercers[spec["schema_pointer"]] = make_coercer(
                    name, "header", spec.get("schema"), "simple", False, self.contract.resolve)
            try:
                value = coerce([lower[key]])
            except CoercionError as exc:
                errors.append(_violation("response-header", f"/{escape(name)}", exc.expected, exc.received,
                                         f"response header '{name}': {exc}"))
                continue
            if not validator.is_valid(value):
                errors.extend(self._schema_errors(spec["schema_pointer"], value, "response-header", f"/{escape(name)}",
                                                  f"response header '{name}'"))
        if not resp.content:
            return errors
        media = media_type_for(resp.content, content_type)
        if media is None:
            errors.append(_violation("response", "", f"content type: one of {', '.join(resp.content)}",
                                     content_type, f"content type {content_type} is not documented "
                                     f"for {op.operation_id} {resp.status}"))
            return errors
        validator = self.validator(media.schema_pointer)
        if validator is None or not JSON_TYPES.match(media.content_type.lower()):
            return errors
        if isinstance(body, (bytes, str)):
            try:
                body = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                errors.append(_violation("response", "", "valid JSON", truncate(str(body)),
                                         f"response body is not valid JSON: {exc}"))
                return errors
        if not validator.is_valid(body):
            errors.extend(self._schema_errors(media.schema_pointer, body, "response", "", "response body"))
        return errors


def _expected(err: Any, keyword: str, node: Any) -> str:
    """The failing keyword and its value: `maxLength: 19`, `required: name`."""
    kind = err.kind.as_dict()
    if keyword == "required" and "property" in kind:
        return f"required: {kind['property']}"
    if keyword in ("properties", "items", "allOf", "anyOf", "oneOf", "not", "$ref") or not isinstance(node, dict) \
            or keyword not in node:
        return keyword
    return f"{keyword}: {truncate(json.dumps(node[keyword], default=str, ensure_ascii=False))}"


def _discriminated(node: Any, instance: Any) -> str | None:
    """The schema pointer a `discriminator` selects for an instance, if any."""
    disc = node.get("discriminator") if isinstance(node, dict) else None
    if not isinstance(disc, dict) or not isinstance(instance, dict):
        return None
    tag = instance.get(disc.get("propertyName"))
    if not isinstance(tag, str):
        return None
    target = (disc.get("mapping") or {}).get(tag) or f"#/components/schemas/{tag}"
    return target[1:] if target.startswith("#") else None


def _violation(location: str, pointer: str, expected: str, received: Any, message: str) -> dict[str, Any]:
    return {"location": location, "pointer": pointer, "expected": expected, "received": received,
            "message": message}


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


__all__ = ["ContractValidator", "ValidatedRequest", "media_type_for", "pointer_tokens", "truncate"]

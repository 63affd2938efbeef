"""`sandbox pact check`: every pact interaction held to its provider's OpenAPI contract (bi-directional, no broker)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SandboxError

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


@dataclass
class PactMismatch:
    """One way an interaction disagrees with the contract: where (file, interaction, JSON pointer) and why."""

    pact_file: str
    interaction: str
    part: str  # route | request | response
    pointer: str
    message: str

    def format(self) -> str:
        return f"{self.pact_file}: {self.interaction!r}: {self.part} {self.pointer or '/'}: {self.message}"


def _body(part: dict[str, Any]) -> tuple[str | None, Any]:
    body = part.get("body")
    if isinstance(body, dict) and "content" in body:  # V4: {"content": ..., "contentType": ...}
        return body.get("contentType"), body.get("content")
    headers = {k.lower(): v for k, v in (part.get("headers") or {}).items()}
    ctype = headers.get("content-type")
    return (ctype[0] if isinstance(ctype, list) else ctype), body


def _flat(values: dict[str, Any] | None) -> dict[str, str]:
    return {k.lower(): (v[0] if isinstance(v, list) and v else str(v)) for k, v in (values or {}).items()}


def _undocumented_fields(contract: Any, schema: Any, value: Any, pointer: str = "") -> list[tuple[str, str]]:
    """Fields the consumer expects that the provider's schema does not declare (only where it lists properties)."""
    for _ in range(32):
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
            schema = contract.resolve(schema["$ref"]) if hasattr(contract, "resolve") else None
        else:
            break
    if not isinstance(schema, dict):
        return []
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        props: dict[str, Any] = dict(schema.get("properties") or {})
        open_ended = schema.get("additionalProperties") not in (None, False) or bool(schema.get("patternProperties"))
        for sub in schema.get("allOf") or []:
            for _ in range(32):
                if isinstance(sub, dict) and isinstance(sub.get("$ref"), str):
                    sub = contract.resolve(sub["$ref"])
                else:
                    break
            if isinstance(sub, dict):
                props.update(sub.get("properties") or {})
                open_ended = open_ended or sub.get("additionalProperties") not in (None, False)
        if schema.get("oneOf") or schema.get("anyOf") or not props:
            return []
        for key, item in value.items():
            where = f"{pointer}/{key}"
            if key in props:
                out += _undocumented_fields(contract, props[key], item, where)
            elif not open_ended:
                out.append((where, f"field '{key}' is expected by the consumer but not in the provider's schema"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += _undocumented_fields(contract, schema["items"], item, f"{pointer}/{i}")
    return out


def check_interaction(contract: Any, validator: Any, pact_file: str, interaction: dict[str, Any]) -> list[PactMismatch]:
    """Route, request and response of one pact interaction against the contract."""
    from simulators.core.errors import ProblemError

    name = str(interaction.get("description", "?"))
    req, resp = interaction.get("request") or {}, interaction.get("response") or {}
    method, path = str(req.get("method", "GET")).upper(), str(req.get("path", "/"))
    found = contract.match(method, path)
    if found is None:
        near = ", ".join(f"{m.get('method', '')} {m.get('path', '')}".strip() for m in contract.near_misses(method, path))
        return [PactMismatch(pact_file, name, "route", path,
                             f"{method} {path} is not an operation of {contract.title}"
                             + (f" (nearest: {near})" if near else ""))]
    op = found.operation
    out: list[PactMismatch] = []
    ctype, body = _body(req)
    raw = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    query = {k: v if isinstance(v, list) else [str(v)] for k, v in (req.get("query") or {}).items()}
    try:
        validator.validate_request(op, path_params=found.path_params, query=query, headers=_flat(req.get("headers")),
                                   content_type=ctype, body=raw)
    except ProblemError as e:
        problem = e.body() if callable(getattr(e, "body", None)) else {}
        for err in problem.get("errors") or [{"pointer": "", "message": str(e)}]:
            out.append(PactMismatch(pact_file, name, f"request ({op.operation_id})", str(err.get("pointer", "")),
                                    str(err.get("message", ""))))
    status = int(resp.get("status", 200))
    rtype, rbody = _body(resp)
    for v in validator.validate_response(op, status, rtype, rbody, _flat(resp.get("headers"))):
        text = f"{v.get('expected', '')} {v.get('message', '')}"
        if "required" in text or v.get("location") == "header":
            continue  # a consumer reads a subset: missing fields and headers are its choice, not a mismatch
        out.append(PactMismatch(pact_file, name, f"response {status} ({op.operation_id})",
                                str(v.get("pointer", "")), str(v.get("message", ""))))
    response = op.response_for(status)
    if response is not None and isinstance(rbody, dict | list) and rtype:
        schema = _response_schema(response, rtype)
        for pointer, message in _undocumented_fields(contract, schema, rbody):
            out.append(PactMismatch(pact_file, name, f"response {status} ({op.operation_id})", pointer, message))
    return out


def _response_schema(response: Any, content_type: str) -> Any:
    content = getattr(response, "content", None) or (response.get("content") if isinstance(response, dict) else None)
    if not isinstance(content, dict):
        return None
    base = content_type.split(";")[0].strip()
    media = content.get(base) or next(iter(content.values()), None)
    if isinstance(media, dict):
        return media.get("schema")
    return getattr(media, "schema", None)


def check_pacts(files: list[Path], *, overrides: dict[str, Path] | None = None) -> tuple[list[PactMismatch], int]:
    """Every interaction of every pact file against contracts/<provider>.openapi.yaml (or an override)."""
    from simulators.core.contract import load_contract
    from simulators.core.validation import ContractValidator

    problems: list[PactMismatch] = []
    checked = 0
    cache: dict[Path, tuple[Any, Any]] = {}
    for f in files:
        pact = json.loads(f.read_text())
        provider = str(pact["provider"]["name"])
        path = (overrides or {}).get(provider) or CONTRACTS / f"{provider}.openapi.yaml"
        if not path.is_file():
            raise SandboxError(f"{f}: no contract for provider {provider!r} at {path}")
        if path not in cache:
            contract = load_contract(path)
            cache[path] = (contract, ContractValidator(contract))
        contract, validator = cache[path]
        for interaction in pact.get("interactions") or []:
            if interaction.get("type", "Synchronous/HTTP") != "Synchronous/HTTP":
                continue
            checked += 1
            problems += check_interaction(contract, validator, str(f), interaction)
    return problems, checked

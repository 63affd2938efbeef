"""What the engine answers with: JSON bytes, problem+json bodies, a behaviour's reply, the status a
`Prefer` header asks for, request bodies read leniently (for fault predicates and the journal)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from .behaviours import Reply
from .contract import Operation
from .errors import ProblemError

PROBLEM_JSON = "application/problem+json"


def dumps(value: Any) -> bytes:
    """JSON bytes; integers beyond 64 bits (fuzzers send them) fall back to the standard library."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def clip_text(text: Any, limit: int) -> Any:
    return text[: limit - 1] + "…" if isinstance(text, str) and len(text) > limit else text


def problem_outcome(p: ProblemError, correlation_id: str) -> tuple[int, dict[str, str], bytes]:
    """A problem+json answer; quoted values are clipped so a huge input cannot make a huge (or invalid) error."""
    body = p.body()
    body["detail"] = clip_text(body.get("detail"), 1000)
    if isinstance(body.get("errors"), list):
        body["errors"] = [{**e, "message": clip_text(e.get("message"), 500)} if isinstance(e, dict) else e
                          for e in body["errors"]]
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"Content-Type": PROBLEM_JSON, "X-Correlation-ID": correlation_id, **p.headers}
    return p.status, headers, dumps(body)


def integral_floats_to_int(value: Any) -> Any:
    """2.0 -> 2 throughout a body: JSON Schema calls 2.0 an integer, and behaviours may count with it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: integral_floats_to_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_floats_to_int(v) for v in value]
    return value


def as_reply(value: Any) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, tuple):
        return Reply(value[0], value[1], *(value[2:3] or [{}]))
    return Reply(200, value)


def choose_status(op: Operation, wanted: str | None) -> int:
    """The status `Prefer: code=` names (when documented), else the first documented 2xx."""
    documented = [s for s in op.responses if s.isdigit()]
    if wanted:
        if wanted in op.responses:
            return int(wanted)
        raise ProblemError(400, "Status not documented",
                           f"Prefer: code={wanted} is not a documented response of {op.operation_id}; "
                           f"documented: {', '.join(sorted(op.responses))}")
    ok = sorted(s for s in documented if s.startswith("2"))
    if ok:
        return int(ok[0])
    return int(sorted(documented)[0]) if documented else 200


def parse_prefer(header: str) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for part in header.replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name and value:
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


def lenient_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")

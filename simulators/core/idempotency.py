"""Idempotency as real providers enforce it, for every operation whose contract declares the header.

same key + same body -> the first response replayed (with `Idempotent-Replayed: true`);
same key + different body -> 422; same key while the first is in flight -> 409;
missing where the contract requires it -> 400.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ProblemError
from .store import StateStore

NS = "idempotency"
HEADER = "idempotency-key"
REPLAY_HEADER = "Idempotent-Replayed"


@dataclass
class Claim:
    """The outcome of presenting a key: either a stored response to replay, or a fresh claim to fill."""

    key: str | None
    replay: dict[str, Any] | None = None


def fingerprint(operation_id: str, path: str, body: Any) -> str:
    """The request's identity for a key: the operation, the concrete path and the canonical body."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS) if body is not None else b""
    return hashlib.sha256(operation_id.encode() + b"\0" + path.encode() + b"\0" + canonical).hexdigest()


def claim(
    store: StateStore, *, mode: str | None, operation_id: str, path: str, key: str | None, body: Any, now: float
) -> Claim:
    """Check the rules and claim the key for this request; raises ProblemError on a violation."""
    if mode is None:
        return Claim(None)
    if not key:
        if mode == "required":
            raise ProblemError(
                400,
                "Idempotency-Key required",
                f"{operation_id} requires an Idempotency-Key header; send a unique value per logical request "
                "and the same value on every retry of it",
                errors=[{"location": "header", "pointer": "/Idempotency-Key", "expected": "required",
                         "received": None, "message": "missing Idempotency-Key header"}],
            )
        return Claim(None)
    slot = f"{operation_id}:{key}"
    fp = fingerprint(operation_id, path, body)
    if store.put_if_absent(NS, slot, {"fingerprint": fp, "state": "in_flight", "at": now}):
        return Claim(slot)
    record = store.get(NS, slot) or {}
    if record.get("fingerprint") != fp:
        raise ProblemError(
            422,
            "Idempotency-Key reused with a different request",
            f"the key '{key}' was first used for a different body or path on {operation_id}; "
            "use a new key for a new request",
            idempotency_key=key,
        )
    if record.get("state") == "in_flight":
        raise ProblemError(
            409,
            "Request with this Idempotency-Key is in progress",
            f"a request with key '{key}' is still being processed; retry after it completes",
            idempotency_key=key,
            headers={"Retry-After": "1"},
        )
    return Claim(slot, replay=record.get("response"))


def complete(store: StateStore, slot: str | None, status: int, headers: dict[str, str], body: bytes) -> None:
    """Store the response for replay; a 5xx frees the key (the provider did not commit the work)."""
    if slot is None:
        return
    if status >= 500:
        store.delete(NS, slot)
        return
    record = store.get(NS, slot) or {}
    record.update(state="done", response={"status": status, "headers": headers, "body": body.decode("utf-8", "replace")})
    store.put(NS, slot, record)


def release(store: StateStore, slot: str | None) -> None:
    """Forget a claim whose request failed before any work was done."""
    if slot is not None:
        store.delete(NS, slot)

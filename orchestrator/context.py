"""Correlation id and W3C trace context of the current request or outbox message."""

from __future__ import annotations

import contextvars
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def new_correlation_id() -> str:
    """A fresh correlation id."""
    return str(uuid.uuid4())


def correlation_id() -> str | None:
    """The correlation id in force, if any."""
    return _correlation.get()


def trace_id() -> str:
    """The trace id in force, created on first use."""
    value = _trace.get()
    if value is None:
        value = secrets.token_hex(16)
        _trace.set(value)
    return value


def trace_from_header(traceparent: str | None) -> str | None:
    """The trace id of a valid `traceparent` header, else None."""
    match = _TRACEPARENT.match((traceparent or "").strip().lower())
    if not match or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def outgoing_traceparent() -> str:
    """A `traceparent` for an outgoing call: same trace, new span id."""
    return f"00-{trace_id()}-{secrets.token_hex(8)}-01"


def propagation_headers() -> dict[str, str]:
    """Headers every provider call carries: X-Correlation-ID and traceparent."""
    headers = {"traceparent": outgoing_traceparent()}
    cid = correlation_id()
    if cid:
        headers["X-Correlation-ID"] = cid
    return headers


def bind(cid: str | None, trace: str | None = None) -> tuple[contextvars.Token, contextvars.Token]:
    """Set the correlation id and trace id; returns tokens for `unbind`."""
    return _correlation.set(cid), _trace.set(trace)


def unbind(tokens: tuple[contextvars.Token, contextvars.Token]) -> None:
    """Restore what `bind` replaced."""
    _correlation.reset(tokens[0])
    _trace.reset(tokens[1])


@contextmanager
def correlated(cid: str | None, trace: str | None = None) -> Iterator[str]:
    """Run a block under a correlation id (a new one when None)."""
    cid = cid or new_correlation_id()
    tokens = bind(cid, trace)
    try:
        yield cid
    finally:
        unbind(tokens)

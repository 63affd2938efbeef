"""Fault effects: a closed set of small frozen callables that compose, in order, into a FaultPlan.

Each effect has a `kind` (the `type` in a rule) and `apply(plan, rng)`. Delays are distributions with
one `sample_ms(rng)`. Parsing (`parse_effect`) validates every field and names its path, so a bad rule
is rejected when it is added, never when it fires.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

import orjson

from .delays import MAX_DELAY_MS, Distribution, Fixed, delay_distribution
from .errors import ConfigError, unknown_name
from .predicates import check_keys, choice, fail, number, parse_pointer, pointer_targets

Transform = Callable[[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FaultResponse:
    """A short-circuit answer: the handler does not run."""

    status: int
    headers: dict[str, str]
    body: Any  # a JSON value (serialize it) or None for no body


@dataclass
class FaultPlan:
    """What the fired rules ask the server glue to do with one request. The glue executes it so:

    1. sleep `delay_ms` without holding a worker (cooperative sleep);
    2. `connection` set -> ("reset", _): abort with a TCP RST (SO_LINGER 0); ("empty", _): close with no
       bytes; ("timeout", ms): hold the connection ms, then close with no bytes. Nothing else happens;
    3. `response` set -> answer it (status, headers, JSON body) instead of running the handler;
       else (`run_handler`) run the real handler: validation, idempotency, behaviour, state changes;
    4. `after_handler` set (commit_then_fail; the handler ran and its work is kept) -> sleep
       `post_delay_ms`, then lose the answer: ("reset", None) TCP RST; ("timeout", ms) hold ms then close;
       ("status", code) send a problem+json `code` instead of the real answer;
    5. otherwise pass (status, headers, body bytes) through every `transforms` entry in order, and send
       it — trickled at `bytes_per_s` when set.
    `rules` names the rules that fired (for the journal). The shared empty plan must not be mutated.
    """

    rules: list[str] = field(default_factory=list)
    delay_ms: float = 0.0
    post_delay_ms: float = 0.0
    response: FaultResponse | None = None
    connection: tuple[str, float] | None = None
    run_handler: bool = True
    after_handler: tuple[str, Any] | None = None
    transforms: list[Transform] = field(default_factory=list)
    bytes_per_s: int | None = None

    @property
    def decided(self) -> bool:
        """True once an effect chose the request's outcome; later outcome effects are ignored."""
        return self.response is not None or self.connection is not None or self.after_handler is not None

    @property
    def empty(self) -> bool:
        return not self.rules

    def short_circuit(self, response: FaultResponse | None = None, connection: tuple[str, float] | None = None) -> None:
        """Decide the outcome unless an earlier effect already did."""
        if self.decided:
            return
        self.response, self.connection, self.run_handler = response, connection, False


EMPTY_PLAN = FaultPlan()


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> FaultResponse:
    """A problem+json response whose title is the HTTP phrase."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return FaultResponse(status, {"Content-Type": PROBLEM_JSON, **(headers or {})}, body)


def _current_rule(plan: FaultPlan) -> str:
    return plan.rules[-1] if plan.rules else "?"


# -- the effects ------------------------------------------------------------------------------------


class Effect:
    """Base of every effect: `kind`, the keys it accepts, `parse`, `apply` and `to_dict`."""

    kind: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()
    webhook: ClassVar[bool] = False

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Effect:
        return cls()

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind}

    @property
    def type(self) -> str:
        return self.kind

    @property
    def params(self) -> dict[str, Any]:
        """The effect's fields without its type (what a webhook dispatcher reads)."""
        return {k: v for k, v in self.to_dict().items() if k != "type"}


@dataclass(frozen=True)
class Delay(Effect):
    """Wait before answering (after the handler when placed after commit_then_fail)."""

    distribution: Distribution
    kind: ClassVar[str] = "delay"
    keys: ClassVar[tuple[str, ...]] = ("distribution", "ms", "min_ms", "max_ms", "median_ms", "sigma")

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Delay:
        return cls(delay_distribution(spec, fld))

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        ms = self.distribution.sample_ms(rng)
        if plan.after_handler is not None:
            plan.post_delay_ms += ms
        else:
            plan.delay_ms += ms

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "distribution": self.distribution.to_dict()}


@dataclass(frozen=True)
class Status(Effect):
    """Answer with any status instead of running the handler (problem+json unless a body is given)."""

    status: int
    retry_after: int | None = None
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    kind: ClassVar[str] = "status"
    keys: ClassVar[tuple[str, ...]] = ("status", "retry_after", "body", "headers")

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Status:
        headers = spec.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str | int) for v in headers.values()):
            raise fail(f"{fld}.headers", f"must map header names to strings, got {headers!r}")
        return cls(number(spec, "status", fld, lo=100, hi=599, integer=True),
                   number(spec, "retry_after", fld, hi=86400, integer=True, default=None),
                   spec.get("body"), tuple((str(k), str(v)) for k, v in headers.items()))

    def response(self, rule: str) -> FaultResponse:
        extra = dict(self.headers)
        if self.retry_after is not None:
            extra.setdefault("Retry-After", str(self.retry_after))
        if self.status < 200 or self.status in (204, 304):
            return FaultResponse(self.status, extra, None)
        if self.body is not None:
            return FaultResponse(self.status, {"Content-Type": "application/json", **extra}, self.body)
        return problem(self.status, f"injected by fault rule {rule}", extra)

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        plan.short_circuit(response=self.response(_current_rule(plan)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "status": self.status}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        if self.body is not None:
            out["body"] = self.body
        if self.headers:
            out["headers"] = dict(self.headers)
        return out


WindowCounter = Callable[[float], tuple[int, int]]  # window_s -> (count in this window, seconds left)


@dataclass(frozen=True)
class RateLimit(Effect):
    """A quota per window; over it, 429 with Retry-After = seconds to the window's end."""

    limit: int
    window_s: float
    counter: WindowCounter | None = field(default=None, compare=False, repr=False)
    kind: ClassVar[str] = "rate_limit"
    keys: ClassVar[tuple[str, ...]] = ("limit", "window_s")

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> RateLimit:
        return cls(number(spec, "limit", fld, integer=True), number(spec, "window_s", fld, hi=86400, strict_lo=True))

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        if self.counter is None:
            raise RuntimeError("rate_limit needs a window counter; the FaultEngine binds one")
        count, retry_after = self.counter(self.window_s)
        if count > self.limit:
            detail = (f"rate limit of {self.limit} requests per {self.window_s:g} s exceeded "
                      f"(injected by fault rule {_current_rule(plan)})")
            plan.short_circuit(response=problem(429, detail, {"Retry-After": str(retry_after)}))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "limit": self.limit, "window_s": self.window_s}


@dataclass(frozen=True)
class Timeout(Effect):
    """Hold the connection ms (bounded), then close it with no response."""

    ms: float
    kind: ClassVar[str] = "timeout"
    keys: ClassVar[tuple[str, ...]] = ("ms",)

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Timeout:
        return cls(number(spec, "ms", fld, hi=MAX_DELAY_MS))

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        plan.short_circuit(connection=("timeout", float(self.ms)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "ms": self.ms}


@dataclass(frozen=True)
class Reset(Effect):
    """Abort the connection with a TCP reset."""

    kind: ClassVar[str] = "reset"

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        plan.short_circuit(connection=("reset", 0.0))


@dataclass(frozen=True)
class Empty(Effect):
    """Close the connection without sending a byte."""

    kind: ClassVar[str] = "empty"

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        plan.short_circuit(connection=("empty", 0.0))


def _with_length(headers: dict[str, str], body: bytes) -> dict[str, str]:
    return {k: (str(len(body)) if k.lower() == "content-length" else v) for k, v in headers.items()}


_HTML = (b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
         b"<body><h1>Service Unavailable</h1><p>The upstream server is busy.</p></body></html>\n")
MALFORMED_MODES = ("truncate", "garbage", "wrong_content_type")


@dataclass(frozen=True)
class Malformed(Effect):
    """Break the response body: truncate the JSON, send garbage bytes, or an HTML page."""

    mode: str
    kind: ClassVar[str] = "malformed"
    keys: ClassVar[tuple[str, ...]] = ("mode",)

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Malformed:
        return cls(choice(spec, "mode", fld, MALFORMED_MODES))

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        if self.mode == "truncate":
            plan.transforms.append(_truncate)
        elif self.mode == "garbage":
            noise = b"\xff\xfe<" + rng.randbytes(rng.randint(16, 64))  # invalid UTF-8: never JSON
            plan.transforms.append(lambda s, h, b: (s, _with_length(h, noise), noise))
        else:
            plan.transforms.append(_html)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "mode": self.mode}


def _truncate(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    cut = body[: len(body) // 2]
    return status, _with_length(headers, cut), cut


def _html(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    out = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    out["Content-Type"] = "text/html; charset=utf-8"
    return status, _with_length(out, _HTML), _HTML


DRIFT_OPS = ("drop", "rename", "retype", "unknown_enum")


def retyped(value: Any) -> Any:
    """The default retype: number -> string, string -> number (or 123), bool/object/array -> string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return 123
    if value is None:
        return "null"
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Drift(Effect):
    """Change the response JSON the way a provider's unannounced release would."""

    op: str
    field: str
    to: str | None = None
    value: Any = None
    has_value: bool = False
    kind: ClassVar[str] = "drift"
    keys: ClassVar[tuple[str, ...]] = ("op", "field", "to", "value")

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Drift:
        op = choice(spec, "op", fld, DRIFT_OPS)
        parse_pointer(spec.get("field"), f"{fld}.field", wildcard=True)
        to = spec.get("to")
        if op == "rename" and (not isinstance(to, str) or not to):
            raise fail(f"{fld}.to", f"rename needs the new field name, got {to!r}")
        if op != "rename" and to is not None:
            raise fail(f"{fld}.to", f"only rename takes 'to' (op is {op})")
        if "value" in spec and op not in ("retype", "unknown_enum"):
            raise fail(f"{fld}.value", f"only retype and unknown_enum take 'value' (op is {op})")
        return cls(op, spec["field"], to, spec.get("value"), "value" in spec)

    def edit(self, doc: Any) -> Any:
        """Apply the drift to a parsed JSON document (in place) and return it."""
        parts = parse_pointer(self.field, "field", wildcard=True)
        for node, key in pointer_targets(doc, parts):
            if self.op == "drop":
                del node[key]
            elif self.op == "rename":
                if isinstance(node, dict):
                    node[self.to] = node.pop(key)
            elif self.op == "retype":
                node[key] = self.value if self.has_value else retyped(node[key])
            else:
                name = next((p for p in reversed(parts) if p != "*" and not p.isdigit()), "value")
                node[key] = self.value if self.has_value else "UNKNOWN_" + re.sub(r"\W", "_", name).upper()
        return doc

    def transform(self, status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return status, headers, body
        out = orjson.dumps(self.edit(doc))
        return status, _with_length(headers, out), out

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        plan.transforms.append(self.transform)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "op": self.op, "field": self.field}
        if self.to is not None:
            out["to"] = self.to
        if self.has_value:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class SlowBody(Effect):
    """Trickle the response body at bytes_per_s."""

    bytes_per_s: int
    kind: ClassVar[str] = "slow_body"
    keys: ClassVar[tuple[str, ...]] = ("bytes_per_s",)

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> SlowBody:
        return cls(number(spec, "bytes_per_s", fld, lo=1, integer=True))

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        plan.bytes_per_s = min(plan.bytes_per_s or self.bytes_per_s, self.bytes_per_s)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "bytes_per_s": self.bytes_per_s}


@dataclass(frozen=True)
class CommitThenFail(Effect):
    """Run the real handler (state changes happen), then lose the answer: reset, timeout or status."""

    then: str
    status: int = 502
    ms: float = 30_000
    kind: ClassVar[str] = "commit_then_fail"
    keys: ClassVar[tuple[str, ...]] = ("then", "status", "ms")

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> CommitThenFail:
        then = choice(spec, "then", fld, ("reset", "timeout", "status"), default="reset")
        return cls(then, number(spec, "status", fld, lo=100, hi=599, integer=True, default=502),
                   number(spec, "ms", fld, hi=MAX_DELAY_MS, default=30_000))

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        if not plan.decided:
            arg = {"reset": None, "timeout": float(self.ms), "status": self.status}[self.then]
            plan.after_handler = (self.then, arg)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "then": self.then}
        if self.then == "status":
            out["status"] = self.status
        if self.then == "timeout":
            out["ms"] = self.ms
        return out


# -- webhook effects (rules with match.event; the webhook dispatcher reads them) -------------------


class WebhookEffect(Effect):
    """An effect on a webhook delivery; the dispatcher interprets it (no FaultPlan)."""

    webhook: ClassVar[bool] = True

    def apply(self, plan: FaultPlan, rng: random.Random) -> None:
        raise ConfigError(f"'{self.kind}' is a webhook effect; it applies at webhook delivery only")

    def resolve(self, rng: random.Random) -> WebhookEffect:
        """A concrete copy for one delivery (samples any distribution)."""
        return self


@dataclass(frozen=True)
class Duplicate(WebhookEffect):
    """Deliver the event count extra times."""

    count: int = 1
    kind: ClassVar[str] = "duplicate"
    keys: ClassVar[tuple[str, ...]] = ("count",)

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> Duplicate:
        return cls(number(spec, "count", fld, lo=1, hi=100, integer=True, default=1))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "count": self.count}


@dataclass(frozen=True)
class WebhookDelay(WebhookEffect):
    """Deliver the event late (`ms`, or any delay distribution)."""

    distribution: Distribution
    kind: ClassVar[str] = "webhook_delay"
    keys: ClassVar[tuple[str, ...]] = ("distribution", "ms", "min_ms", "max_ms", "median_ms", "sigma")

    @classmethod
    def parse(cls, spec: dict[str, Any], fld: str) -> WebhookDelay:
        return cls(delay_distribution(spec, fld))

    @property
    def ms(self) -> float:
        """The delay of a resolved (fixed) webhook delay; 0 for an unresolved distribution."""
        return float(self.distribution.ms) if isinstance(self.distribution, Fixed) else 0.0

    def resolve(self, rng: random.Random) -> WebhookDelay:
        return WebhookDelay(Fixed(self.distribution.sample_ms(rng)))

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.distribution, Fixed):
            return {"type": self.kind, "ms": self.distribution.ms}
        return {"type": self.kind, "distribution": self.distribution.to_dict()}


@dataclass(frozen=True)
class Reorder(WebhookEffect):
    """Hold the event until a later event of the same resource was delivered."""

    kind: ClassVar[str] = "reorder"


@dataclass(frozen=True)
class Drop(WebhookEffect):
    """Do not send the first attempt; the provider retries later on its schedule."""

    kind: ClassVar[str] = "drop"


@dataclass(frozen=True)
class BadSignature(WebhookEffect):
    """Sign the first attempt with the wrong secret."""

    kind: ClassVar[str] = "bad_signature"


def _registry(*classes: type[Effect]) -> dict[str, type[Effect]]:
    """The closed set, checked when it is built: unique kinds, known keys, a parse for each."""
    out: dict[str, type[Effect]] = {}
    for cls in classes:
        if not re.fullmatch(r"[a-z_]+", cls.kind) or cls.kind in out:
            raise RuntimeError(f"effect kind {cls.kind!r} is invalid or registered twice")
        out[cls.kind] = cls
    return out


REQUEST_EFFECTS = _registry(Delay, Status, RateLimit, Timeout, Reset, Empty, Malformed, Drift, SlowBody,
                            CommitThenFail)
WEBHOOK_EFFECTS = _registry(Duplicate, WebhookDelay, Reorder, Drop, BadSignature)
EFFECT_TYPES = sorted({*REQUEST_EFFECTS, *WEBHOOK_EFFECTS})


def parse_effect(spec: Any, fld: str, *, webhook: bool) -> Effect:
    """Validate one effect spec; `webhook` says whether the rule matches events or requests."""
    if not isinstance(spec, dict):
        raise fail(fld, f"must be a mapping with a type, got {spec!r}")
    kind = spec.get("type")
    if kind is None:
        raise fail(f"{fld}.type", f"is required. Valid: {', '.join(EFFECT_TYPES)}")
    if webhook and kind == "delay":
        kind = "webhook_delay"  # DESIGN.md calls the webhook delay `delay` too
    if not isinstance(kind, str) or (kind not in REQUEST_EFFECTS and kind not in WEBHOOK_EFFECTS):
        raise fail(f"{fld}.type", unknown_name("effect type", str(kind), EFFECT_TYPES))
    if webhook and kind in REQUEST_EFFECTS:
        raise fail(f"{fld}.type", f"'{kind}' is a request effect; a rule with match.event takes webhook "
                                   f"effects only: {', '.join(sorted(WEBHOOK_EFFECTS))}")
    if not webhook and kind in WEBHOOK_EFFECTS:
        raise fail(f"{fld}.type", f"'{kind}' is a webhook effect and needs match.event; a rule cannot mix "
                                   f"request and webhook effects")
    cls = (WEBHOOK_EFFECTS if webhook else REQUEST_EFFECTS)[kind]
    check_keys(spec, ("type", *cls.keys), fld, f"{kind} effect")
    return cls.parse(spec, fld)

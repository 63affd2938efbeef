"""The legacy commerce backend's registry and what its three parts share: problems, ids, quirks, outage.

The behaviours live in legacy_customers.py (customers, auth, KYC, addresses), legacy_catalog.py (catalog,
stock, basket with promotions) and legacy_sales.py (cash and HP sales, orders); they register on `legacy`.

Quirks (docs/providers.md): pagination is capped at `max_page_size` items whatever `limit` asks (config,
default 25) so callers must follow `next_cursor`; a read right after a write (within 2 s of simulator
clock) returns the previous version at `stale_read_rate` (config, default 0.0; state `legacy-quirks`
changes it at run time). Slow responses are the `legacy-quirks` fault profile's job, not ours.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import Any

import orjson

from simulators.core.behaviours import Behaviours, Reply, Request, SimContext
from simulators.core.clock import parse_duration
from simulators.core.errors import ProblemError

legacy = Behaviours("legacy")

PROBLEM = "https://legacy.example/problems/"
STALE_WINDOW_S = 2.0
META = "legacy_meta"
DEFAULTS: dict[str, Any] = {"stale_read_rate": 0.0, "max_page_size": 25, "kyc_review_delay": "10m",
                            "hp_apr": 19.9, "order_ship_after": "2h", "order_deliver_after": "3d"}


def problem(status: int, kind: str, title: str, detail: str, **ext: Any) -> ProblemError:
    """A legacy problem document with a typed `type` URI."""
    return ProblemError(status, title, detail, type_=PROBLEM + kind, **ext)


def rule(pointer: str, expected: str, received: Any, message: str, detail: str) -> ProblemError:
    """A 422 business-rule problem naming the offending field."""
    return problem(422, "business-rule", "Request refused", detail,
                   errors=[{"pointer": pointer, "expected": expected, "received": received, "message": message}])


def not_found(what: str, ident: str) -> ProblemError:
    return problem(404, "not-found", "Not found", f"{what} {ident} does not exist.")


def setting(sim: SimContext, name: str) -> Any:
    """A quirk or rule setting: run-time override (state legacy-quirks), then sim.config, then default."""
    overrides = sim.store.get(META, "settings") or {}
    return overrides.get(name, sim.config.get(name, DEFAULTS[name]))


def seconds(sim: SimContext, name: str) -> float:
    return parse_duration(setting(sim, name), field=name)


def next_id(sim: SimContext, prefix: str, start: int = 0, taken: str | None = None) -> str:
    """Sequential legacy ids such as CUS-00000042 (counters live in the store, shared by workers);
    ids a provider state already used (namespace `taken`) are skipped."""
    while True:
        ident = f"{prefix}-{start + sim.store.incr(META, f'seq:{prefix}'):08d}"
        if taken is None or sim.store.get(taken, ident) is None:
            return ident


def stale(sim: SimContext, record: dict[str, Any]) -> dict[str, Any]:
    """The previous version of a record just written, at `stale_read_rate` (the replica lag quirk)."""
    prev, written = record.get("_prev"), record.get("_written_ts")
    if prev is None or written is None or sim.clock.timestamp() - written > STALE_WINDOW_S:
        return record
    rate = float(setting(sim, "stale_read_rate"))
    return prev if rate > 0 and sim.rng.random() < rate else record


def remember(sim: SimContext, record: dict[str, Any]) -> None:
    """Keep the version before this write, for stale reads (a JSON round trip: the copy the store would make,
    five times cheaper than copy.deepcopy)."""
    record["_prev"] = orjson.loads(orjson.dumps({k: v for k, v in record.items() if k not in ("_prev", "_written_ts")}))
    record["_written_ts"] = sim.clock.timestamp()


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its internal ('_') fields."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


# ----------------------------------------------------------------------------------------------- pagination
def encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str) -> str | None:
    """The text after 'kind:' inside an opaque cursor; a cursor this API did not issue is a 400."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(f"{kind}:"):
            raise ValueError(text)
        return text[len(kind) + 1:]
    except (ValueError, UnicodeDecodeError):
        raise problem(400, "invalid-cursor", "Invalid cursor", "Pass the next_cursor of a previous page.",
                      errors=[{"pointer": "/cursor", "message": "not a cursor this API returned"}]) from None


def page_size(sim: SimContext, req: Request) -> int:
    """`limit`, capped at max_page_size: the backend never sends more, so next_cursor must be followed."""
    return max(1, min(int(req.query.get("limit", 20)), int(setting(sim, "max_page_size"))))


# ----------------------------------------------------------------------------------------------- outage
def down(sim: SimContext) -> dict[str, Any] | None:
    """The outage set by the legacy-down state, if still on."""
    outage = sim.store.get(META, "down")
    if not outage:
        return None
    if outage.get("until") is not None and sim.clock.timestamp() >= outage["until"]:
        sim.store.delete(META, "down")
        return None
    return outage


def operation(operation_id: str) -> Callable[[Callable[[Request, SimContext], Reply]], Any]:
    """Register a behaviour that answers 503 (with Retry-After) while the backend is down."""

    def register(fn: Callable[[Request, SimContext], Reply]) -> Any:
        @functools.wraps(fn)
        def guarded(req: Request, sim: SimContext) -> Reply:
            outage = down(sim)
            if outage is not None:
                raise ProblemError(503, "Backend unavailable", "The commerce backend is unavailable; try again later.",
                                   type_=PROBLEM + "backend-unavailable",
                                   headers={"Retry-After": str(int(outage.get("retry_after", 30)))})
            return fn(req, sim)

        return legacy.operation(operation_id)(guarded)

    return register


@legacy.state("legacy-down", "legacy backend is down", retry_after=30, duration=None)
def state_down(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every legacy operation answers 503 + Retry-After, until legacy-up, a reset or `duration` passes."""
    duration = params.get("duration")
    until = sim.clock.timestamp() + parse_duration(duration) if duration else None
    sim.store.put(META, "down", {"retry_after": int(params.get("retry_after", 30)), "until": until})
    return {"down": True, "retry_after": int(params.get("retry_after", 30)), "until": until}


@legacy.state("legacy-up", "legacy backend is up")
def state_up(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """End an outage started by legacy-down."""
    sim.store.delete(META, "down")
    return {"down": False}


@legacy.state("legacy-quirks", "legacy quirks are set", stale_read_rate=0.0)
def state_quirks(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """Change quirk settings at run time (stale_read_rate, max_page_size, kyc_review_delay, ...)."""
    known = {k: v for k, v in params.items() if k in DEFAULTS}
    current = {**(sim.store.get(META, "settings") or {}), **known}
    sim.store.put(META, "settings", current)
    return {k: setting(sim, k) for k in DEFAULTS}

"""The simulator's notion of now: real, frozen, advanced by an offset, or running faster.

The clock's settings live in the state store, so every worker of one simulator sees the same time.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ConfigError
from .store import StateStore

_DURATION = re.compile(r"^\s*([+-]?)\s*((?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float, field: str = "duration") -> float:
    """'7d', '+90m', '1h30m', '1.5h', '250ms' or a number of seconds -> seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(
            f"'{text}' is not a duration; write a number and a unit, e.g. 250ms, 30s, 5m, 2h, 7d", field=field
        )
    sign = -1.0 if match.group(1) == "-" else 1.0
    return sign * sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(match.group(2)))


def parse_instant(text: str, field: str = "now") -> datetime:
    """An ISO 8601 instant; a naive one is taken as UTC."""
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"'{text}' is not an ISO 8601 instant, e.g. 2026-01-31T12:00:00Z", field=field) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Clock:
    """Simulated time: now = frozen instant, or real time * speed + offset."""

    NS = "clock"

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._cache: tuple[int, dict[str, Any]] | None = None

    def _settings(self) -> dict[str, Any]:
        version = self._store.version(self.NS)
        if self._cache is None or self._cache[0] != version:
            settings = self._store.get(self.NS, "settings") or {}
            self._cache = (version, settings)
        return self._cache[1]

    def timestamp(self) -> float:
        """Seconds since the epoch, simulated."""
        s = self._settings()
        if s.get("frozen_at") is not None:
            return float(s["frozen_at"])
        real = time.time()
        anchor = float(s.get("anchor", real))
        return anchor + (real - anchor) * float(s.get("speed", 1.0)) + float(s.get("offset", 0.0))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def iso(self) -> str:
        return self.now().isoformat().replace("+00:00", "Z")

    def state(self) -> dict[str, Any]:
        """What GET /__sandbox/clock answers (the control contract's Clock schema)."""
        s = self._settings()
        now, real_now = self.timestamp(), time.time()
        frozen = s.get("frozen_at") is not None
        speed = float(s.get("speed", 1.0))
        offset_ms = round((now - real_now) * 1000)
        return {
            "now": utc_iso(now),
            "real_now": utc_iso(real_now),
            "frozen": frozen,
            "speed": speed,
            "offset_ms": offset_ms,
            "real": not frozen and speed == 1.0 and abs(offset_ms) < 1,
        }

    def _save(self, settings: dict[str, Any]) -> None:
        self._store.put(self.NS, "settings", settings)
        self._cache = None

    def freeze(self, at: datetime | None = None) -> None:
        s = dict(self._settings())
        s["frozen_at"] = (at.timestamp() if at else self.timestamp())
        self._save(s)

    def unfreeze(self) -> None:
        """Let time run again from the frozen instant."""
        s = dict(self._settings())
        frozen = s.pop("frozen_at", None)
        if frozen is not None:
            s["offset"] = float(frozen) - time.time()
            s.pop("anchor", None)
            s.pop("speed", None)
        self._save(s)

    def advance(self, seconds: float) -> None:
        s = dict(self._settings())
        if s.get("frozen_at") is not None:
            s["frozen_at"] = float(s["frozen_at"]) + seconds
        else:
            s["offset"] = float(s.get("offset", 0.0)) + seconds
        self._save(s)

    def set_now(self, instant: datetime) -> None:
        s = dict(self._settings())
        if s.get("frozen_at") is not None:
            s["frozen_at"] = instant.timestamp()
        else:
            s = {"offset": instant.timestamp() - time.time()}
        self._save(s)

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ConfigError(f"speed must be > 0, got {speed}", field="speed")
        now = self.timestamp()
        self._save({"anchor": time.time(), "speed": speed, "offset": now - time.time()})

    def real(self) -> None:
        self._save({})

    def apply(self, command: dict[str, Any]) -> None:
        """One control-API clock command: freeze, advance, now, speed or real."""
        known = {"freeze", "advance", "now", "speed", "real"}
        unknown = set(command) - known
        if unknown or not command:
            raise ConfigError(
                f"clock command needs one of {', '.join(sorted(known))}; got {sorted(command) or 'nothing'}",
                field="clock",
            )
        if command.get("real"):
            self.real()
        if "now" in command:
            self.set_now(parse_instant(command["now"]))
        if command.get("freeze") is True:
            self.freeze()
        elif command.get("freeze") is False:
            self.unfreeze()
        if "speed" in command:
            self.set_speed(float(command["speed"]))
        if "advance" in command:
            self.advance(parse_duration(command["advance"], field="advance"))


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


__all__ = ["Clock", "parse_duration", "parse_instant", "timedelta", "utc_iso"]

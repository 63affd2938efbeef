"""Numbers for the synthesizer: integers and decimals within the declared bounds, near the name's usual range."""

from __future__ import annotations

import math
from fractions import Fraction
from random import Random
from typing import Any

from .synth_formats import words

_MONEY_MINOR = (100, 50000)
_INT_RANGES: list[tuple[frozenset[str], tuple[int, int]]] = [
    (frozenset({"amount", "price", "total", "cost", "fee", "balance", "subtotal", "tax", "value", "minor"}), _MONEY_MINOR),
    (frozenset({"quantity", "qty", "count", "items", "units"}), (1, 5)),
    (frozenset({"age"}), (18, 90)),
    (frozenset({"year"}), (2020, 2030)),
    (frozenset({"month"}), (1, 12)),
    (frozenset({"day"}), (1, 28)),
    (frozenset({"hour", "hours"}), (0, 23)),
    (frozenset({"minute", "minutes", "second", "seconds"}), (0, 59)),
    (frozenset({"percent", "percentage", "rate"}), (0, 100)),
    (frozenset({"page"}), (1, 10)),
    (frozenset({"limit", "size"}), (10, 100)),
    (frozenset({"port"}), (1024, 65535)),
    (frozenset({"version"}), (1, 5)),
    (frozenset({"id"}), (1, 999999)),
    (frozenset({"at", "timestamp", "epoch"}), (1704067200, 1767225600)),
    (frozenset({"lat", "latitude"}), (-90, 90)),
    (frozenset({"lon", "lng", "longitude"}), (-180, 180)),
]
_FORMAT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def preferred_range(name: str | None) -> tuple[int, int]:
    """The range a property of this name usually takes."""
    w = set(words(name))
    for keys, rng_ in _INT_RANGES:
        if keys & w:
            return rng_
    return (0, 1000)


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _window(lo: float | None, hi: float | None, name: str | None, money: tuple[int, int] | None = None,
            ) -> tuple[float, float]:
    """The name's usual range cut to the declared bounds (or the bounds when they do not meet)."""
    plo, phi = preferred_range(name)
    if money is not None and (plo, phi) == _MONEY_MINOR:
        plo, phi = money
    a = plo if lo is None else max(lo, plo)
    b = phi if hi is None else min(hi, phi)
    if a <= b:
        return a, b
    span = max(phi - plo, 10)
    if lo is not None and hi is not None:
        return lo, hi
    if lo is not None:
        return lo, lo + span
    assert hi is not None
    return hi - span, hi


def integer(rng: Random, s: dict[str, Any], name: str | None) -> int:
    """An integer within minimum/maximum/exclusive*/multipleOf/format, near the name's usual range."""
    lo: int | None = None
    hi: int | None = None
    if _num(s.get("minimum")):
        lo = math.ceil(s["minimum"])
    if _num(s.get("exclusiveMinimum")):
        lo = max(lo if lo is not None else -math.inf, math.floor(s["exclusiveMinimum"]) + 1)  # type: ignore[assignment]
    if _num(s.get("maximum")):
        hi = math.floor(s["maximum"])
    if _num(s.get("exclusiveMaximum")):
        hi = min(hi if hi is not None else math.inf, math.ceil(s["exclusiveMaximum"]) - 1)  # type: ignore[assignment]
    if s.get("format") in _FORMAT_BOUNDS:
        flo, fhi = _FORMAT_BOUNDS[s["format"]]
        lo, hi = max(lo if lo is not None else flo, flo), min(hi if hi is not None else fhi, fhi)
    a, b = _window(lo, hi, name)
    a, b = math.ceil(a), math.floor(b)
    step = 1
    if _num(s.get("multipleOf")) and s["multipleOf"] > 0:
        step = Fraction(str(s["multipleOf"])).numerator
    ka, kb = math.ceil(a / step), math.floor(b / step)
    if ka > kb:  # the usual range holds no multiple: search the declared bounds instead
        ka = math.ceil(lo / step) if lo is not None else math.ceil(a / step) - 10
        kb = math.floor(hi / step) if hi is not None else ka + 10
    if ka > kb:
        return int(a)
    return rng.randint(ka, kb) * step


def number(rng: Random, s: dict[str, Any], name: str | None) -> float:
    """A number with two decimals (or a multiple of multipleOf) within the bounds."""
    lo = s["minimum"] if _num(s.get("minimum")) else None
    hi = s["maximum"] if _num(s.get("maximum")) else None
    xlo = s["exclusiveMinimum"] if _num(s.get("exclusiveMinimum")) else None
    xhi = s["exclusiveMaximum"] if _num(s.get("exclusiveMaximum")) else None
    low = max((x for x in (lo, xlo) if x is not None), default=None)
    high = min((x for x in (hi, xhi) if x is not None), default=None)
    a, b = _window(low, high, name, money=(1, 500))
    m = s.get("multipleOf")
    if isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0:
        fm = Fraction(str(m))
        ka, kb = math.ceil(Fraction(str(a)) / fm), math.floor(Fraction(str(b)) / fm)
        value = float(fm * ka)
        for _ in range(8):
            if ka > kb:
                break
            value = float(fm * rng.randint(ka, kb))
            if _inside(value, lo, hi, xlo, xhi) and value / m == int(value / m):
                break
        return value
    for _ in range(8):
        value = round(rng.uniform(a, b), 2)
        if _inside(value, lo, hi, xlo, xhi):
            return value
    return rng.uniform(a, b)


def _inside(v: float, lo: Any, hi: Any, xlo: Any, xhi: Any) -> bool:
    return ((lo is None or v >= lo) and (hi is None or v <= hi)
            and (xlo is None or v > xlo) and (xhi is None or v < xhi))

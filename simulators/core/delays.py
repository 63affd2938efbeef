"""Delay distributions: each has one `sample_ms(rng)` (fixed, uniform, lognormal), bounded by MAX_DELAY_MS."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from .predicates import check_keys, choice, fail, number

MAX_DELAY_MS = 120_000


@dataclass(frozen=True)
class Fixed:
    """Always the same delay."""

    ms: float
    type: ClassVar[str] = "fixed"

    def sample_ms(self, rng: random.Random) -> float:
        return float(self.ms)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "fixed", "ms": self.ms}


@dataclass(frozen=True)
class Uniform:
    """Any delay between min_ms and max_ms, equally likely."""

    min_ms: float
    max_ms: float
    type: ClassVar[str] = "uniform"

    def sample_ms(self, rng: random.Random) -> float:
        return rng.uniform(self.min_ms, self.max_ms)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "uniform", "min_ms": self.min_ms, "max_ms": self.max_ms}


@dataclass(frozen=True)
class LogNormal:
    """Long-tailed latency: median_ms, spread sigma; capped at max_ms so a delay stays bounded."""

    median_ms: float
    sigma: float
    max_ms: float = MAX_DELAY_MS
    type: ClassVar[str] = "lognormal"

    def sample_ms(self, rng: random.Random) -> float:
        return min(self.max_ms, rng.lognormvariate(math.log(self.median_ms), self.sigma))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "lognormal", "median_ms": self.median_ms, "sigma": self.sigma, "max_ms": self.max_ms}


Distribution = Fixed | Uniform | LogNormal
_DISTRIBUTIONS = ("fixed", "uniform", "lognormal")


def parse_distribution(spec: Any, fld: str) -> Distribution:
    """{type: fixed, ms} | {type: uniform, min_ms, max_ms} | {type: lognormal, median_ms, sigma[, max_ms]}."""
    if not isinstance(spec, dict):
        raise fail(fld, f"must be a mapping with a type ({', '.join(_DISTRIBUTIONS)}), got {spec!r}")
    kind = choice(spec, "type", fld, _DISTRIBUTIONS)
    if kind == "fixed":
        check_keys(spec, ("type", "ms"), fld, "fixed distribution")
        return Fixed(number(spec, "ms", fld, hi=MAX_DELAY_MS))
    if kind == "uniform":
        check_keys(spec, ("type", "min_ms", "max_ms"), fld, "uniform distribution")
        lo = number(spec, "min_ms", fld, hi=MAX_DELAY_MS)
        hi = number(spec, "max_ms", fld, hi=MAX_DELAY_MS)
        if hi < lo:
            raise fail(f"{fld}.max_ms", f"must be >= min_ms ({lo:g}), got {hi!r}")
        return Uniform(lo, hi)
    check_keys(spec, ("type", "median_ms", "sigma", "max_ms"), fld, "lognormal distribution")
    return LogNormal(number(spec, "median_ms", fld, hi=MAX_DELAY_MS, strict_lo=True),
                     number(spec, "sigma", fld, hi=10), number(spec, "max_ms", fld, hi=MAX_DELAY_MS,
                                                                default=MAX_DELAY_MS))


FLAT_KEYS = ("ms", "min_ms", "max_ms", "median_ms", "sigma")


def delay_distribution(spec: dict[str, Any], fld: str) -> Distribution:
    """`distribution` as a mapping, the flat form (`distribution: uniform, min_ms, max_ms`), or `ms` alone."""
    if isinstance(spec.get("distribution"), str):  # flat, as the control contract also allows
        flat = {"type": spec["distribution"], **{k: spec[k] for k in FLAT_KEYS if k in spec}}
        return parse_distribution(flat, fld)
    if "ms" in spec and "distribution" in spec:
        raise fail(f"{fld}.ms", "give either ms (a fixed delay) or distribution, not both")
    if "ms" in spec:
        return Fixed(number(spec, "ms", fld, hi=MAX_DELAY_MS))
    if "distribution" not in spec:
        raise fail(f"{fld}.distribution", "is required (or the shorthand ms for a fixed delay)")
    return parse_distribution(spec["distribution"], f"{fld}.distribution")

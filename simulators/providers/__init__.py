"""Provider behaviours, one registry per simulator name (notifications has none on purpose)."""

from __future__ import annotations

from simulators.core.behaviours import Behaviours

from .delivery import delivery
from .payment import payment

REGISTRY: dict[str, Behaviours] = {"payment": payment, "delivery": delivery}

__all__ = ["REGISTRY"]

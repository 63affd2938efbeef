"""Provider behaviours, one registry per simulator name (notifications has none on purpose)."""

from __future__ import annotations

from simulators.core.behaviours import Behaviours

from .payment import payment

REGISTRY: dict[str, Behaviours] = {"payment": payment}

__all__ = ["REGISTRY"]

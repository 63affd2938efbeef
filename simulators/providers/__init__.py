"""Provider behaviours, one registry per simulator name (notifications has none on purpose)."""

from __future__ import annotations

from simulators.core.behaviours import Behaviours

from . import legacy_catalog, legacy_customers, legacy_sales  # noqa: F401 - they register on `legacy`
from .delivery import delivery
from .legacy import legacy
from .payment import payment

REGISTRY: dict[str, Behaviours] = {"payment": payment, "delivery": delivery, "legacy": legacy}

__all__ = ["REGISTRY"]

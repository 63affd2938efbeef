"""Provider adapters: one HTTP client per provider, sharing retries, breaker and correlation."""

from __future__ import annotations

from .base import ClientPolicy as ClientPolicy
from .base import ProviderClient as ProviderClient

"""The reference integration layer (orchestrator): the system under test. HTTP-only to providers.

The re-exports load on first use (PEP 562): `python -m orchestrator serve` must be able to choose how
metrics are kept (metrics.py: one set over several worker processes) before anything imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app as create_app
    from .app import start_worker as start_worker
    from .config import Config as Config

__all__ = ["Config", "create_app", "start_worker"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "start_worker"):
        from . import app

        return getattr(app, name)
    if name == "Config":
        from .config import Config

        return Config
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")

"""The reference integration layer (orchestrator): the system under test. HTTP-only to providers."""

from __future__ import annotations

from .app import create_app as create_app
from .app import start_worker as start_worker
from .config import Config as Config

__all__ = ["Config", "create_app", "start_worker"]

"""Shared fixtures: real servers on 127.0.0.1, stopped by their process id."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")  # the pact verifier must not phone home
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import Server, start_simulator  # noqa: E402

SHARED_SPECS = ROOT.parent / "shared" / "specs"


def require_service(name: str, reason: str) -> None:
    """Skip when a backing service is missing, but fail under CI=true: CI must not hide a missing server."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{name} is required in CI and is not reachable: {reason}")
    pytest.skip(f"{name} not reachable: {reason}")


@pytest.fixture(scope="module")
def payment_sim() -> Iterator[Server]:
    server = start_simulator("payment")
    yield server
    server.stop()

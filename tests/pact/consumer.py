"""Helpers for consumer tests: one Pact per provider, written to contracts/pacts/ (committed, reviewed)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")

from pact import Pact  # after PACT_DO_NOT_TRACK

PACTS_DIR = Path(__file__).resolve().parents[2] / "contracts" / "pacts"
CONSUMER = "orchestrator"
ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
IDEMPOTENCY_KEY = r"^[!-~]{1,255}$"


def new_pact(provider: str) -> Pact:
    """A V4 pact between the orchestrator and PROVIDER."""
    return Pact(CONSUMER, provider).with_specification("V4")


def write(pact: Pact, directory: Path = PACTS_DIR) -> Path:
    """Write the pact (overwriting the previous version) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    pact.write_file(directory, overwrite=True)
    return directory / f"{CONSUMER}-{pact.provider}.json"

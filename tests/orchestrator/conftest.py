"""Fixtures of the orchestrator tests: stores on SQLite and PostgreSQL (for real), unique per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestrator.store import Store
from tests.conftest import require_service

PG_URL = os.environ.get("ORCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_store() -> Store:
    """A PostgreSQL store with a unique table prefix (skip, or fail under CI=true, when unreachable)."""
    store = Store(PG_URL, prefix=f"t{secrets.token_hex(4)}_")
    try:
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        store.close()
        require_service("PostgreSQL", f"{PG_URL}: {str(exc).splitlines()[0]}")
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same store tests on both backends; tables are dropped afterwards."""
    s = Store(f"sqlite:///{tmp_path}/orch.db") if request.param == "sqlite" else postgres_store()
    s.create_all()
    try:
        yield s
    finally:
        s.drop_all()
        s.close()

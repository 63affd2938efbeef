"""The orchestrator answers as contracts/storefront.openapi.yaml says, over plain HTTP (bugs found by fuzzing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .live import Sandbox

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = yaml.safe_load((ROOT / "contracts" / "storefront.openapi.yaml").read_text())
METHODS = ("get", "put", "post", "delete", "patch")
NO_SUCH_CUSTOMER = "CUS-99999999"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path_factory.mktemp("conformance") / "orchestrator.db").start()
    yield sandbox
    sandbox.stop()


# sut-allow-header: Allow lists the methods of the resource, not of every route the URL happens to fit
@pytest.mark.parametrize(("path", "template"), [
    ("/customers/migrations", "/customers/migrations"),
    (f"/customers/{NO_SUCH_CUSTOMER}/kyc", "/customers/{customer_id}/kyc"),
    ("/orders", "/orders"),
])
def test_options_advertises_the_documented_methods(sb: Sandbox, path: str, template: str) -> None:
    r = sb.sf("OPTIONS", path)
    assert r.status_code == 200
    documented = {m.upper() for m in CONTRACT["paths"][template] if m in METHODS}
    assert {m.strip() for m in r.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"} == documented


def test_an_undocumented_method_is_a_405_with_the_same_allow(sb: Sandbox) -> None:
    r = sb.sf("PUT", "/customers/migrations", json={})
    assert r.status_code == 405 and r.headers["Content-Type"].startswith("application/problem+json")
    assert {m.strip() for m in r.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"} == {"POST"}

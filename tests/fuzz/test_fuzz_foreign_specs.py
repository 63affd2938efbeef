"""Contracts we did not write, served without behaviours: Adyen (../shared/specs) and an OpenAPI 3.0 bookshop."""

from __future__ import annotations

import pytest

from sandbox.fuzz_targets import TARGETS
from tests.fuzz.fuzzing import fuzz_and_check

FOREIGN = {"adyen-payment": 25, "adyen-recurring": 50, "bookshop": 50}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_contract_served_without_behaviours(name: str) -> None:
    if not TARGETS[name].contract.is_file():
        pytest.fail(f"{TARGETS[name].contract} is missing")
    fuzz_and_check(name, max_examples=FOREIGN[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_contract_long(name: str) -> None:
    fuzz_and_check(name, max_examples=500)

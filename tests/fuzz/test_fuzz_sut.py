"""The SUT against storefront.openapi.yaml while the providers misbehave: never an unexplained 5xx or off-contract."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzzing import fuzz_and_check

# A profile per provider role: the payment provider flaky, the legacy backend down.
PROFILES = ("flaky-payments", "backend-outage")


@pytest.mark.parametrize("profile", PROFILES)
def test_sut_stays_on_contract_under_fault_profile(profile: str) -> None:
    report = fuzz_and_check("sut", max_examples=20, profiles=(profile,))
    assert not [f for f in report.failures if f.check == "no_unexplained_5xx"], report.format()


@pytest.mark.slow
@pytest.mark.parametrize("profile", [*PROFILES, "slow-delivery", "rate-limited", "schema-drift"])
def test_sut_stays_on_contract_under_fault_profile_long(profile: str) -> None:
    fuzz_and_check("sut", max_examples=200, profiles=(profile,))

"""Provider verification: every committed pact replayed against its simulator, states via the control API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.pact import PACTS_DIR, pact_files, verify
from tests.support.servers import Server, start_simulator

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
BROKEN = Path(__file__).resolve().parents[1] / "data" / "pacts" / "broken-state-payment.json"
PROVIDERS = ("payment", "delivery", "legacy")


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Server]]:
    servers = {name: start_simulator(name) for name in PROVIDERS}
    yield servers
    for server in servers.values():
        server.stop()


def test_every_provider_has_a_committed_pact() -> None:
    assert {f.name for f in pact_files(None, PACTS_DIR)} >= {f"orchestrator-{p}.json" for p in PROVIDERS}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_pacts_verify_against_the_simulator(provider: str, simulators: dict[str, Server]) -> None:
    result = verify(provider, simulators[provider].url)
    assert result.ok, result.format()
    assert not result.state_errors


def test_a_state_that_fails_to_apply_fails_verification_loudly(simulators: dict[str, Server]) -> None:
    result = verify("payment", simulators["payment"].url, source=BROKEN)
    assert not result.ok
    assert result.state_errors, result.format()
    message = result.state_errors[0]
    assert "payment pay_00000000a001 is teleported" in message and "400" in message
    assert "Valid: payment-authorized, payment-captured" in message
    assert "state error" in result.format()


def test_states_skip_replays_without_touching_the_control_api(simulators: dict[str, Server]) -> None:
    simulators["delivery"].control("POST", "/reset")
    result = verify("delivery", simulators["delivery"].url, states="skip")
    assert not result.ok  # the stateful interactions meet a provider without their shipments
    assert not result.state_errors
    assert any("shp_00000000b001" in m or "404" in m for m in result.mismatches), result.format()

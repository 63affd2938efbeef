"""The circuit breaker: its states, and that it never serializes the calls it guards."""

from __future__ import annotations

import threading

import pytest

from orchestrator.adapters.base import ClientPolicy, ProviderClient
from orchestrator.adapters.breaker import CLOSED, HALF_OPEN, OPEN, BreakerOpen, CircuitBreaker
from tests.orchestrator.scripted_server import Reply, ScriptedServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_fail_max_then_one_trial_decides() -> None:
    clock, changes = Clock(), []
    cb = CircuitBreaker("pay", fail_max=3, reset_s=10, clock=clock, on_change=lambda *c: changes.append(c))
    for _ in range(2):
        cb.admit()
        cb.failure()
    assert cb.state == CLOSED
    cb.admit()
    cb.failure()
    assert cb.state == OPEN
    with pytest.raises(BreakerOpen) as refused:
        cb.admit()
    assert refused.value.retry_after == pytest.approx(10)
    clock.now += 10
    assert cb.state == HALF_OPEN
    cb.admit()  # the trial
    with pytest.raises(BreakerOpen):
        cb.admit()  # a second caller while the trial runs
    cb.failure()
    assert cb.state == OPEN, "a failed trial opens the breaker again at once"
    clock.now += 10
    cb.admit()
    cb.success()
    assert cb.state == CLOSED
    cb.admit()
    assert changes == [("pay", CLOSED, OPEN), ("pay", OPEN, HALF_OPEN), ("pay", HALF_OPEN, OPEN),
                       ("pay", OPEN, HALF_OPEN), ("pay", HALF_OPEN, CLOSED)]


def test_a_success_resets_the_failure_count() -> None:
    cb = CircuitBreaker("pay", fail_max=2, reset_s=10)
    cb.failure()
    cb.success()
    cb.failure()
    assert cb.state == CLOSED


def test_calls_to_one_provider_run_concurrently() -> None:
    """pybreaker held its lock for the whole call, so 8 calls of 1 s reached the provider 1 s apart."""
    with ScriptedServer([Reply(delay_s=1.0)]) as srv:
        client = ProviderClient(srv.url, ClientPolicy(retries=0))
        threads = [threading.Thread(target=client.request, args=("op", "GET", "/x")) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    arrivals = sorted(r["at"] for r in srv.requests)
    assert len(arrivals) == 8
    assert arrivals[-1] - arrivals[0] < 1.0, "a call waited for the previous one: the breaker serializes them"

"""Shared helpers for the fuzz tests: run one target and fail with the full, reproducible report."""

from __future__ import annotations

import os

from sandbox.fuzz import fuzz_target
from sandbox.fuzz_engine import FuzzReport
from sandbox.fuzz_targets import TARGETS

SEED = int(os.environ.get("SANDBOX_FUZZ_SEED", "1"))


def fuzz_and_check(name: str, *, max_examples: int, profiles: tuple[str, ...] = (),
                   min_requests_per_operation: int = 0) -> FuzzReport:
    """Fuzz one target; any failure that is not a reported known bug fails the test with its curl lines."""
    # no shrinking in the bounded runs: a failure still prints its curl lines, minutes faster
    report = fuzz_target(TARGETS[name], profiles=profiles, max_examples=max_examples, seed=SEED, shrink=False)
    print(report.format())
    print(f"{name}: fewest requests for one operation: {min(report.cases.values(), default=0)}")
    assert report.cases, f"{name}: no request was sent\n{report.format()}"
    assert report.ok, report.format()
    if min_requests_per_operation:
        low = {op: n for op, n in report.cases.items() if n < min_requests_per_operation}
        assert not low, f"{name}: operations below {min_requests_per_operation} requests: {low}"
    return report

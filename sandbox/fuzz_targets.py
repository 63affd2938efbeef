"""What `sandbox fuzz` can fuzz: each target's contract, how to serve it, and what its answers may be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "contracts"
SHARED_SPECS = ROOT.parent / "shared" / "specs"

# positive_data_acceptance: a schema-valid request may still meet a business rule. Schemathesis' default
# (2xx, 3xx, 401, 403, 404, 409, 429, 5xx) plus the documented business outcomes every provider has:
# 402 (declined), 410 (gone: a delta cursor too old), 422 (a rule, or an Idempotency-Key reused with
# another body — the examples reuse one key). A 400 stays a failure except where a target says why.
BUSINESS_STATUSES = ("2XX", "3XX", "401", "402", "403", "404", "409", "410", "422", "429", "5XX")


@dataclass(frozen=True)
class KnownBug:
    """A bug found by fuzzing and reported, not yet fixed: matching failures are listed, not fatal."""

    key: str
    summary: str
    # (check name, failure, the Schemathesis case that failed or None, response body text) -> that bug?
    matches: Callable[[str, Any, Any, str], bool]


@dataclass(frozen=True)
class FuzzTarget:
    """One thing to fuzz: a simulator (started from its contract) or the SUT (the whole sandbox)."""

    name: str
    contract: Path
    kind: str = "simulator"  # "simulator" | "sut"
    serve_args: tuple[str, ...] = ()
    # operationId -> why a schema-valid request may get 400 there (parameter combinations, opaque cursors)
    accepts_400: dict[str, str] = field(default_factory=dict)
    disabled_checks: tuple[str, ...] = ()
    # A spec documenting no 4xx for invalid input: negative data runs in its own pass where a 400 answer
    # needs no documentation (the rejection itself is still checked by negative_data_rejection).
    undocumented_400_ok: bool = False
    known_bugs: tuple[KnownBug, ...] = ()
    # operations to leave out, with the reason (e.g. a provider state endpoint)
    excluded: dict[str, str] = field(default_factory=dict)


def _sut_check(check: str, needle: str = "") -> Callable[[str, Any, Any, str], bool]:
    """A KnownBug matcher: failures of one check whose message contains `needle`."""
    def matches(found: str, failure: Any, case: Any, body: str) -> bool:
        return found == check and needle in str(getattr(failure, "message", ""))
    return matches


# Found by fuzzing the orchestrator (storefront contract), reported and not fixed yet, e.g.
# KnownBug("sut-<key>", "<summary>; repro: curl ...", _sut_check("negative_data_rejection")). None now: the
# last four (sut-lenient-validation, sut-undocumented-422, sut-rejects-large-offset, sut-allow-header) are
# fixed, each with a test in tests/orchestrator/test_conformance.py.
SUT_BUGS: tuple[KnownBug, ...] = ()

# Simulators without behaviours keep no state: use_after_free and ensure_resource_availability would
# test state they do not have; the engine does not enforce `security` (reported), so ignored_auth is off.
FOREIGN_CHECKS_OFF = ("unsupported_method", "ignored_auth", "use_after_free", "ensure_resource_availability")
# The engine answers a known path with an undeclared method 404 with near misses (DESIGN.md), not 405.
SIMULATOR_CHECKS_OFF = ("unsupported_method",)

CURSOR_400 = "an opaque cursor the simulator did not issue is a 400 (docs/providers.md)"

TARGETS: dict[str, FuzzTarget] = {
    "payment": FuzzTarget(
        "payment", CONTRACTS / "payment.openapi.yaml",
        accepts_400={"getSettlementReport": "date, or from+to: other combinations are a 400 (contract)",
                     "listRefunds": CURSOR_400},
        disabled_checks=SIMULATOR_CHECKS_OFF),
    "delivery": FuzzTarget("delivery", CONTRACTS / "delivery.openapi.yaml",
                           disabled_checks=SIMULATOR_CHECKS_OFF),
    "legacy": FuzzTarget(
        "legacy", CONTRACTS / "legacy.openapi.yaml",
        accepts_400={"listProducts": CURSOR_400, "listProductChanges": CURSOR_400, "listOrders": CURSOR_400},
        disabled_checks=SIMULATOR_CHECKS_OFF),
    "notifications": FuzzTarget("notifications", CONTRACTS / "notifications.openapi.yaml",
                                disabled_checks=SIMULATOR_CHECKS_OFF),
    "adyen-payment": FuzzTarget("adyen-payment", SHARED_SPECS / "adyen" / "PaymentService-v68.yaml",
                                serve_args=("--no-behaviours",), disabled_checks=FOREIGN_CHECKS_OFF,
                                undocumented_400_ok=True),
    "adyen-recurring": FuzzTarget("adyen-recurring", SHARED_SPECS / "adyen" / "RecurringService-v68.yaml",
                                  serve_args=("--no-behaviours",), disabled_checks=FOREIGN_CHECKS_OFF,
                                  undocumented_400_ok=True),
    "bookshop": FuzzTarget("bookshop", ROOT / "tests" / "data" / "specs" / "bookshop-3.0.yaml",
                           serve_args=("--no-behaviours",), disabled_checks=FOREIGN_CHECKS_OFF,
                           undocumented_400_ok=True),
    # The SUT may answer a documented 503 with Retry-After when a provider is down: not_a_server_error is
    # replaced by the no_unexplained_5xx check (sandbox.fuzz), which allows exactly that.
    "sut": FuzzTarget(
        "sut", CONTRACTS / "storefront.openapi.yaml", kind="sut",
        accepts_400={"getReconciliation": "date, or from+to: other combinations are a 400 (contract)"},
        disabled_checks=("not_a_server_error", "unsupported_method"), known_bugs=SUT_BUGS),
}


def expected_statuses(target: FuzzTarget, operation_id: str) -> list[str]:
    """Statuses a schema-valid request to this operation may get."""
    return [*BUSINESS_STATUSES, *(["400"] if operation_id in target.accepts_400 else [])]

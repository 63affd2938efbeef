"""`sandbox contract diff`: each breaking-change kind is caught; additive changes pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.contract_diff import diff_contracts

DIFF = Path(__file__).resolve().parents[1] / "data" / "diff"
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

CASES = [
    ("removed-operation", "removed-operation", "DELETE /orders/{order_id} (cancelOrder)", ""),
    ("removed-field", "removed-response-field", "GET /orders/{order_id} (getOrder)", "/responses/200/total"),
    ("new-required-field", "new-required-request-field", "POST /orders (placeOrder)", "/requestBody/customer_id"),
    ("new-required-param", "new-required-parameter", "GET /orders (listOrders)", "/query/customer_id"),
    ("narrowed-enum", "narrowed-enum", "POST /orders (placeOrder)", "/requestBody/currency"),
    ("changed-type", "changed-type", "POST /orders (placeOrder)", "/responses/201/total"),
    ("removed-status", "removed-status", "GET /orders/{order_id} (getOrder)", "/responses/404"),
    ("widened-response-enum", "widened-response-enum", "GET /orders/{order_id} (getOrder)", "/responses/200/status"),
]


@pytest.mark.parametrize(("fixture", "kind", "operation", "pointer"), CASES)
def test_breaking_change_is_detected(fixture: str, kind: str, operation: str, pointer: str) -> None:
    changes = diff_contracts(DIFF / "base.yaml", DIFF / f"{fixture}.yaml")
    breaking = [c for c in changes if c.breaking]
    assert any(c.kind == kind and c.operation == operation and c.pointer == pointer for c in breaking), \
        "\n".join(c.format() for c in changes)
    assert {c.kind for c in breaking} == {kind}


def test_additive_changes_pass() -> None:
    changes = diff_contracts(DIFF / "base.yaml", DIFF / "additive.yaml")
    assert not [c for c in changes if c.breaking], "\n".join(c.format() for c in changes)
    assert {c.kind for c in changes} == {"added-operation", "added-field", "added-status", "added-parameter"}


def test_a_contract_is_compatible_with_itself() -> None:
    for path in sorted(CONTRACTS.glob("*.openapi.yaml")):
        assert not diff_contracts(path, path), path


def test_cli_exit_codes_and_message() -> None:
    from sandbox.cli import cli

    runner = CliRunner()
    broken = runner.invoke(cli, ["contract", "diff", str(DIFF / "base.yaml"), str(DIFF / "removed-operation.yaml")])
    assert broken.exit_code == 1
    assert "BREAKING removed-operation" in broken.output and "DELETE /orders/{order_id} (cancelOrder)" in broken.output
    fine = runner.invoke(cli, ["contract", "diff", str(DIFF / "base.yaml"), str(DIFF / "additive.yaml")])
    assert fine.exit_code == 0 and "no breaking change (7 compatible change(s))" in fine.output

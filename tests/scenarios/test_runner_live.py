"""The runner against a real sandbox: a passing scenario, and a failing one's report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sandbox.scenarios.cli import pytest_args

ROOT = Path(__file__).resolve().parents[2]

FAILING = """
name: a scenario whose expectation cannot hold
steps:
  - include: {fixture}
  - call: placeOrder
    body:
      customer_id: "{{{{ saved.customer_id }}}}"
      payment_type: cash
      delivery_address_id: "{{{{ saved.address_id }}}}"
      items: [{{sku: SKU-00009, quantity: 1}}]
      payment: {{card: {{number: "4242424242424242", expiry_month: 12, expiry_year: 2030, cvc: "123"}}}}
    expect:
      status: 201
      body: {{status: refunded}}
"""


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-o", "testpaths=",
                           "--rootdir", str(ROOT)], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_a_failing_step_reports_request_response_journal_and_correlation_id(tmp_path: Path) -> None:
    scenario = tmp_path / "failing.scenario.yaml"
    scenario.write_text(FAILING.format(fixture=ROOT / "scenarios/fixtures/customer.yaml"))
    html = tmp_path / "report.html"
    junit = tmp_path / "junit.xml"
    proc = _pytest(str(scenario), f"--junitxml={junit}", "--sandbox-html", str(html))
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert f"{scenario}:14: steps[1].expect.body.status: body status: expected 'refunded', got 'confirmed'" in out
    assert "request:  POST http" in out and "(sut.placeOrder)" in out
    assert "response: 201" in out
    assert "correlation id: scn-a-scenario-whose-expectation" in out
    assert "payment:" in out and "[authorizePayment] -> 201" in out and "[createCashSale] -> 201" in out
    assert "<testcase" in junit.read_text() and "failed" in html.read_text()


def test_sandbox_run_wraps_pytest() -> None:
    args = pytest_args("scenarios", "cash", None, "r.xml", "r.html", None, None, "2", True, False, ())
    assert args[0] == "scenarios" and args[args.index("-k"):args.index("-k") + 2] == ["-k", "cash"]
    assert "--junitxml" in args and "--sandbox-html" in args and "-x" in args
    assert args[args.index("-n"):args.index("-n") + 4] == ["-n", "2", "--dist", "loadgroup"]

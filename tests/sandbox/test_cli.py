"""The `sandbox` command as a user runs it: against a running simulator found through endpoints.json."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.servers import ROOT, Server, start_simulator


def sandbox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from sandbox.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def payment() -> Iterator[Server]:
    server = start_simulator("payment")
    yield server
    server.stop()


@pytest.fixture
def workdir(tmp_path: Path, payment: Server) -> Path:
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox" / "endpoints.json").write_text(json.dumps({"payment": payment.url}))
    payment.control("POST", "/reset")
    return tmp_path


def test_faults_add_list_clear(workdir: Path, payment: Server) -> None:
    added = sandbox("faults", "add", "--sim", "payment", "--operation", "getSettlementReport", "--status", "503",
                    "--times", "1", cwd=workdir)
    assert added.returncode == 0, added.stderr + added.stdout
    assert requests.get(f"{payment.url}/settlements", timeout=10).status_code == 503
    listed = sandbox("faults", "list", "--sim", "payment", cwd=workdir)
    assert "getSettlementReport" in listed.stdout
    assert sandbox("faults", "clear", "--sim", "payment", cwd=workdir).returncode == 0
    assert payment.control("GET", "/faults").json()["rules"] == []


def test_a_bad_rule_is_a_clear_error(workdir: Path) -> None:
    run = sandbox("faults", "add", "--sim", "payment", "--rule",
                  '{"match": {"operation": "capturePayment"}, "effects": [{"type": "dleay"}]}', cwd=workdir)
    assert run.returncode == 2
    assert "dleay" in run.stdout and "delay" in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_journal_shows_what_the_simulator_saw(workdir: Path, payment: Server) -> None:
    requests.get(f"{payment.url}/settlements", timeout=10)
    run = sandbox("journal", "--sim", "payment", "--operation", "getSettlementReport", "--json", cwd=workdir)
    assert run.returncode == 0, run.stderr
    entries = json.loads(run.stdout)["entries"]
    assert [e["operation"] for e in entries] == ["getSettlementReport"]


def test_unknown_simulator_names_the_known_ones(workdir: Path) -> None:
    run = sandbox("journal", "--sim", "paymnt", cwd=workdir)
    assert run.returncode == 2 and "payment" in run.stdout


def test_no_running_sandbox_says_how_to_start_one(tmp_path: Path) -> None:
    run = sandbox("faults", "list", "--sim", "payment", cwd=tmp_path)
    assert run.returncode == 2 and "sandbox up" in run.stdout


def test_validate_reports_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken-profile.yaml"
    bad.write_text("name: broken\nrules:\n  - match: {operation: x}\n    effects:\n      - type: latncy\n")
    run = sandbox("validate", str(bad), str(ROOT / "contracts" / "payment.openapi.yaml"), cwd=ROOT)
    assert run.returncode == 1
    assert "broken-profile.yaml:5" in run.stdout and "latncy" in run.stdout
    assert "ok" in run.stdout and "payment.openapi.yaml" in run.stdout


def test_control_api_needs_the_token_when_one_is_set() -> None:
    from simulators.app import create_app

    client = create_app(ROOT / "contracts" / "notifications.openapi.yaml", token="s3cret").test_client()
    refused = client.get("/__sandbox/health")
    assert refused.status_code == 401 and refused.content_type.startswith("application/problem+json")
    assert client.get("/__sandbox/health", headers={"X-Sandbox-Token": "s3cret"}).status_code == 200
    assert client.post("/emails", json={"to": "a@example.com", "template": "order_confirmation"}).status_code == 202

"""Load tests through the real stack: Locust always runs as a subprocess (its gevent patching stays out of
pytest); timeline and SLO files are checked in-process (they import no Locust)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.errors import SandboxError
from sandbox.load_slo import evaluate, load_slo
from sandbox.load_timeline import load_timeline

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SANDBOX = [sys.executable, "-c", "from sandbox.cli import main; main()"]


def _expected(path: Path) -> str:
    return path.read_text().splitlines()[0].removeprefix("# expect: ")


@pytest.mark.parametrize("path", sorted((DATA / "timelines").glob("*.yaml")), ids=lambda p: p.stem)
def test_timeline_errors_point_at_file_and_line(path: Path) -> None:
    with pytest.raises(SandboxError) as e:
        load_timeline(path, simulators=["payment", "delivery", "legacy", "notifications"], run_seconds=120)
    assert str(e.value).startswith(str(path.parent / "")), str(e.value)
    assert _expected(path) in str(e.value)


@pytest.mark.parametrize("path", sorted((DATA / "slo").glob("*.yaml")), ids=lambda p: p.stem)
def test_slo_errors_point_at_file_and_line(path: Path) -> None:
    with pytest.raises(SandboxError) as e:
        load_slo(path)
    assert _expected(path) in str(e.value)


def test_shipped_timelines_and_slo_are_valid() -> None:
    default = load_timeline(ROOT / "loadtests/timelines/default.yaml", simulators=["payment", "delivery", "legacy"],
                            run_seconds=120)
    assert [e.at for e in default.events] == sorted(e.at for e in default.events) and default.end() <= 120
    assert any(e.target == "legacy-down" and e.revert == "legacy-up" and e.duration == 20 for e in default.events)
    assert load_slo(ROOT / "loadtests/slo.yaml").needs_reconciliation


def test_gates_judge_stats_and_reconciliation() -> None:
    header = ["Type", "Name", "Request Count", "Failure Count", "Requests/s", "95%", "99%"]
    rows = [dict(zip(header, r, strict=True)) for r in (
        ["POST", "placeOrder", "100", "3", "10", "200", "400"],
        ["JOURNEY", "cash checkout", "50", "1", "5", "900", "1200"],
        ["", "Aggregated", "150", "4", "15", "300", "900"])]
    slo = load_slo(DATA / "slo-pass.yaml")
    recon = {"orders_checked": 50, "mismatches": [{"kind": "capture_mismatch", "order_id": "o1", "expected": 100,
                                                   "settled": 200}]}
    verdict = {r.gate: r.ok for r in evaluate(slo, rows, recon)}
    assert verdict["checkout_success_rate"] and verdict["error_rate"] and verdict["lost_orders"]
    assert verdict["double_charges"] is False  # settled twice what the order says
    assert verdict["browse catalog p99"] is False  # a gate that cannot be measured fails


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_sandbox_load_rejects_a_bad_timeline_before_starting_anything() -> None:
    bad = DATA / "timelines" / "unknown-profile.yaml"
    r = _run([*SANDBOX, "load", "--timeline", str(bad), "--url", "http://127.0.0.1:9"], timeout=60)
    assert r.returncode == 2 and "unknown-profile.yaml:5" in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every simulator and the orchestrator on random ports, a fresh database; endpoints in a file."""
    from sandbox.config import load_config
    from sandbox.supervisor import Supervisor

    tmp = tmp_path_factory.mktemp("load")
    config = load_config(ROOT / "sandbox.yaml")
    config.orchestrator["database_url"] = f"sqlite:///{tmp / 'orchestrator.db'}"
    sup = Supervisor(config, random_ports=True)
    urls = sup.start()
    (tmp / "endpoints.json").write_text(json.dumps(urls))
    yield {**urls, "endpoints": str(tmp / "endpoints.json"), "tmp": str(tmp)}
    sup.stop()


def _stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as fh:
        return {f"{r['Type']} {r['Name']}".strip(): r for r in csv.DictReader(fh)}


def test_shop_locustfile_smoke_runs_every_journey(stack: dict[str, str], tmp_path: Path) -> None:
    r = _run([sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests/shop.py"), "--headless", "-u", "6", "-r", "6",
              "-t", "8s", "--equal-weights", "--host", stack["orchestrator"], "--csv", str(tmp_path / "shop"),
              "--only-summary", "--endpoints", stack["endpoints"], "--exit-code-on-error", "1"])
    stats = _stats(tmp_path / "shop")
    journeys = {k.split(" ", 1)[1]: v for k, v in stats.items() if k.startswith("JOURNEY ")}
    for name in ("browse catalog", "cash checkout", "hp checkout", "track order", "cancel order", "refund order"):
        assert int(journeys[name]["Request Count"]) >= 1, (name, r.stderr[-3000:])
    assert r.returncode == 0 and stats["Aggregated"]["Failure Count"] == "0", r.stderr[-3000:]


def _load(stack: dict[str, str], tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    r = _run([*SANDBOX, "load", "--endpoints", stack["endpoints"], "--report-dir", str(tmp), *args], timeout=150)
    found = sorted(tmp.glob("load-*/summary.json"))
    return r, json.loads(found[-1].read_text()) if found else {}


def test_ramp_with_fault_timeline_passes_its_gates(stack: dict[str, str], tmp_path: Path) -> None:
    r, summary = _load(stack, tmp_path, "--url", stack["orchestrator"], "--users", "6", "--duration", "10s",
                       "--timeline", str(ROOT / "loadtests/timelines/smoke.yaml"), "--slo", str(DATA / "slo-pass.yaml"))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "SLO gates" in out and "BREACH" not in out
    assert summary["reconciliation"]["orders_checked"] >= 1 and summary["checkouts"] >= 1
    report = next(tmp_path.glob("load-*"))
    assert (report / "report.html").is_file() and (report / "stats_stats.csv").is_file()
    applied = [json.loads(x) for x in (report / "timeline.jsonl").read_text().splitlines()]
    assert [a["change"] for a in applied][-2:] == ["legacy: state legacy-down {\"retry_after\": 1} for 2s",
                                                   "legacy: state legacy-up (end of legacy-down)"]


def test_a_breached_gate_exits_non_zero_with_the_table(stack: dict[str, str], tmp_path: Path) -> None:
    r, summary = _load(stack, tmp_path, "--url", stack["orchestrator"], "--users", "3", "--duration", "4s",
                       "--shape", "soak", "--slo", str(DATA / "slo-fail.yaml"))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-4000:]
    assert "BREACH" in out and summary["breaches"] == ["browse catalog p95"]


def test_contract_generated_load_against_a_simulator_at_a_target_rate(stack: dict[str, str], tmp_path: Path) -> None:
    r, summary = _load(stack, tmp_path, "--contract", str(ROOT / "contracts/delivery.openapi.yaml"),
                       "--url", stack["delivery"], "--rate", "20", "--duration", "5s",
                       "--slo", str(DATA / "slo-contract.yaml"))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert summary["target_rate"] == 20 and summary["rps"] > 5 and summary["failures"] == 0
    stats = _stats(next(tmp_path.glob("load-*")) / "stats")
    assert {"POST createShipment", "GET getShipment"} <= set(stats), sorted(stats)


def test_distributed_one_master_two_workers(stack: dict[str, str], tmp_path: Path) -> None:
    r, summary = _load(stack, tmp_path, "--contract", str(ROOT / "contracts/notifications.openapi.yaml"),
                       "--url", stack["notifications"], "--users", "4", "--duration", "5s", "--workers", "2",
                       "--shape", "soak")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert summary["workers"] == 2 and summary["requests"] > 10 and summary["failures"] == 0, summary


def test_the_cli_side_never_imports_locust_or_gevent() -> None:
    code = ("import sys, sandbox.load, sandbox.load_contract; "
            "bad = [m for m in ('locust', 'gevent') if m in sys.modules]; assert not bad, bad")
    r = _run([sys.executable, "-c", code], timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]

"""`sandbox load`: Locust journeys (or any contract) under a fault timeline, judged by SLO gates."""

from __future__ import annotations

import datetime as dt
import json
import math
import resource
import time
from pathlib import Path
from typing import Any

import click
import requests
from rich.console import Console
from rich.table import Table

from .errors import SandboxError
from .load_run import CpuMeter, LocustJob, LocustRun
from .load_slo import GateResult, SloFile, evaluate, load_slo, print_table, read_stats, summarize
from .load_timeline import load_timeline
from .load_yaml import parse_duration

console = Console()
LOADTESTS = Path(__file__).resolve().parent.parent / "loadtests"


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command("load")
@click.option("--shape", type=click.Choice(["ramp", "spike", "soak"]), help="Load shape (default ramp; none with --rate).")
@click.option("--users", "-u", type=int, help="Peak users (default 30; with --rate: enough for the rate).")
@click.option("--spawn-rate", "-r", type=float, help="Users started per second (default: users / 5).")
@click.option("--duration", "-t", default="1m", show_default=True, callback=_duration, help="30s, 2m, 1m30s.")
@click.option("--timeline", type=click.Path(dir_okay=False), help="Fault timeline YAML applied during the run.")
@click.option("--slo", type=click.Path(dir_okay=False), help="SLO gates YAML; a breach exits 1.")
@click.option("--workers", type=int, default=0, show_default=True, help="Locust workers (1 master + N on 127.0.0.1).")
@click.option("--url", help="Target: the SUT (shop journeys), or the service for --contract.")
@click.option("--contract", type=click.Path(exists=True, dir_okay=False), help="Load from this OpenAPI file (needs --url).")
@click.option("--rate", type=float, help="Open model: target requests/s, paced with constant_throughput.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the Faker data and request draws.")
@click.option("--report-dir", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--config", "config_path", default="sandbox.yaml", show_default=True, type=click.Path())
@click.option("--endpoints", "endpoints_path", default=".sandbox/endpoints.json", show_default=True,
              help="Simulator URLs of a running sandbox (written by `sandbox up`).")
@click.option("--fresh", is_flag=True, help="Start a new sandbox even if one is running.")
def load(shape: str | None, users: int | None, spawn_rate: float | None, duration: float, timeline: str | None,
         slo: str | None, workers: int, url: str | None, contract: str | None, rate: float | None, seed: int,
         report_dir: str, config_path: str, endpoints_path: str, fresh: bool) -> None:
    """Run Locust headless against the sandbox or a URL; write the HTML report and CSVs; print the SLO table."""
    slo_file = load_slo(slo) if slo else None
    if timeline:
        load_timeline(timeline, run_seconds=duration)  # file:line errors before anything starts
    if contract and not url:
        raise click.UsageError("--contract needs --url (the service to load, e.g. a simulator's URL)")
    if rate is not None and rate <= 0:
        raise click.BadParameter("must be > 0", param_hint="--rate")
    if rate and not users:
        users = max(2, math.ceil(rate * 0.3))  # enough users: each can hold ~3 req/s at 300 ms per request
    users = users or 30
    shape = shape or (None if rate else "ramp")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(report_dir) / f"load-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    sup, started = None, time.time()
    try:
        target, urls, sup = _target(url, contract, config_path, endpoints_path, fresh, out)
        if timeline:
            load_timeline(timeline, simulators=urls or None, run_seconds=duration)
        (out / "endpoints.json").write_text(json.dumps(urls, indent=2) + "\n")
        files = [str(LOADTESTS / ("any_contract.py" if contract else "shop.py"))]
        if shape:
            files.append(str(LOADTESTS / "shapes.py"))
        custom = ["--endpoints", str((out / "endpoints.json").resolve()), "--seed", str(seed)]
        custom += ["--shape", shape] if shape else []
        custom += ["--contract", str(Path(contract).resolve())] if contract else []
        custom += ["--rate", f"{rate:g}"] if rate else []
        if timeline:
            custom += ["--timeline", str(Path(timeline).resolve()), "--timeline-log", str((out / "timeline.jsonl").resolve())]
        job = LocustJob(files, target, users, spawn_rate or max(1.0, users / 5), duration,
                        str((out / "stats").resolve()), str((out / "report.html").resolve()), custom, workers,
                        Path(config_path).resolve().parent)
        summary = _run(job, sup, slo_file, rate, out, started)
    finally:
        if sup is not None:
            with console.status("stopping the sandbox…"):
                sup.stop()
    _print(summary, slo_file, rate, out)
    if summary["breaches"]:
        raise SystemExit(1)


def _target(url: str | None, contract: str | None, config_path: str, endpoints_path: str, fresh: bool,
            out: Path) -> tuple[str, dict[str, str], Any]:
    """(target URL, simulator URLs, Supervisor we started or None)."""
    known = Path(endpoints_path)
    urls: dict[str, str] = json.loads(known.read_text()) if known.is_file() and not fresh else {}
    if contract:
        return str(url).rstrip("/"), {k: v for k, v in urls.items() if k != "orchestrator"}, None
    if url:
        return url.rstrip("/"), {k: v for k, v in urls.items() if k != "orchestrator"}, None
    if urls.get("orchestrator") and _alive(urls["orchestrator"] + "/health"):
        console.print(f"targeting the running sandbox in {known}")
        return urls["orchestrator"], {k: v for k, v in urls.items() if k != "orchestrator"}, None
    from .config import load_config
    from .supervisor import Supervisor

    config = load_config(config_path)
    config.orchestrator["database_url"] = f"sqlite:///{(out / 'orchestrator.db').resolve()}"
    sup = Supervisor(config, random_ports=True)
    with console.status("starting simulators and the orchestrator (random ports)…"):
        endpoints = sup.start()
    return endpoints["orchestrator"], {k: v for k, v in endpoints.items() if k != "orchestrator"}, sup


def _alive(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).status_code < 500
    except requests.RequestException:
        return False


def _run(job: LocustJob, sup: Any, slo: SloFile | None, rate: float | None, out: Path, started: float) -> dict[str, Any]:
    """Run Locust, let the SUT settle, reconcile, judge; returns the summary (also written as summary.json)."""
    meter = CpuMeter({name: child.pid for name, child in sup.children.items()}) if sup else None
    if meter:
        meter.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    run = LocustRun(job).start()
    try:
        code = run.wait()
    except KeyboardInterrupt:
        run.stop()
        raise
    wall = time.monotonic() - t0
    cpu = meter.stop() if meter else {}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    cpu["locust (all processes)"] = round(100 * used / max(wall, 1e-6), 1)
    stats_path = Path(f"{job.csv_prefix}_stats.csv")
    if not stats_path.is_file():
        raise SandboxError(f"Locust exited {code} without writing {stats_path}; see its output above")
    rows = read_stats(stats_path)
    recon, recon_error = None, None
    if "any_contract.py" not in job.files[0]:
        recon, recon_error = _reconcile(job.host, started)
    results = evaluate(slo, rows, recon, recon_error, rate) if slo else []
    summary = {"target": job.host, "users": job.users, "workers": job.workers, "duration_s": job.duration_s,
               "locust_exit": code, **summarize(rows), "target_rate": rate, "cpu_percent": cpu,
               "p95_ms": _agg(rows, "95%"), "p99_ms": _agg(rows, "99%"),
               "reconciliation": recon, "reconciliation_error": recon_error,
               "gates": [r.__dict__ for r in results], "breaches": [r.gate for r in results if not r.ok]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _agg(rows: list[dict[str, str]], column: str) -> float | None:
    """A percentile over every HTTP request (requests weighted by count: the max of rows is an upper bound)."""
    from .load_slo import http_rows

    http = [r for r in http_rows(rows) if r.get(column) not in (None, "", "N/A")]
    total = sum(int(r["Request Count"]) for r in http)
    if not total:
        return None
    # weighted average of the rows' percentiles: an approximation, Locust's own Aggregated row includes journeys
    return round(sum(float(r[column]) * int(r["Request Count"]) for r in http) / total, 1)


def _reconcile(host: str, started: float, settle_s: float = 60.0) -> tuple[dict[str, Any] | None, str | None]:
    """Wait until the outbox is empty and no order is pending, then ask the SUT for its reconciliation."""
    deadline = time.monotonic() + settle_s
    with console.status("waiting for the SUT to settle (outbox, pending orders)…"):
        while time.monotonic() < deadline:
            try:
                health = requests.get(f"{host}/health", timeout=10).json()
                pending = requests.get(f"{host}/orders", params={"status": "pending", "limit": "1"},
                                       timeout=10).json()
                if not (health.get("outbox") or {}).get("pending") and not pending.get("items"):
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
    day = dt.datetime.fromtimestamp(started, dt.UTC).date().isoformat()
    try:
        r = requests.get(f"{host}/reconciliation", params={"from": day, "to": dt.datetime.now(dt.UTC).date().isoformat()},
                         timeout=120)
    except requests.RequestException as e:
        return None, str(e)
    if r.status_code != 200:
        return None, f"{r.status_code}: {r.text[:300]}"
    return r.json(), None


def _print(summary: dict[str, Any], slo: SloFile | None, rate: float | None, out: Path) -> None:
    """The run summary, the SLO table and where the report is."""
    table = Table(title="load run")
    table.add_column("measure")
    table.add_column("value")
    recon = summary.get("reconciliation") or {}
    rows = [("target", summary["target"]),
            ("users (peak)", f"{summary['users']}" + (f" on {summary['workers']} workers" if summary["workers"] else "")),
            ("requests (failed)", f"{summary['requests']} ({summary['failures']})"),
            ("requests/s", f"{summary['rps']:.1f}" + (f" of {rate:g} targeted ({summary['rps'] / rate:.0%})" if rate else "")),
            ("p95 / p99 ms (request-weighted)", f"{summary['p95_ms']} / {summary['p99_ms']}"),
            ("checkouts (failed)", f"{summary['checkouts']} ({summary['checkout_failures']})")]
    if recon:
        rows.append(("orders reconciled", f"{recon.get('orders_checked')} checked, {len(recon.get('mismatches') or [])} "
                                          f"mismatches, clean={recon.get('clean')}"))
    elif summary.get("reconciliation_error"):
        rows.append(("reconciliation", f"failed: {summary['reconciliation_error']}"))
    for name, pct in (summary.get("cpu_percent") or {}).items():
        rows.append((f"CPU {name}", f"{pct}% of one core"))
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if slo:
        print_table([GateResult(**g) for g in summary["gates"]], console, title=f"SLO gates ({slo.path})")
    timeline = out / "timeline.jsonl"
    if timeline.is_file():
        for line in timeline.read_text().splitlines():
            e = json.loads(line)
            console.print(f"  timeline t={e['t']:>6}s  {e['change']}" + ("" if e["ok"] else f"  [red]{e['error']}[/]"),
                          highlight=False)
    console.print(f"report: {out / 'report.html'} · CSVs: {out}/stats_*.csv · summary: {out / 'summary.json'}")
    if summary["breaches"]:
        console.print(f"[bold red]SLO breached:[/] {', '.join(summary['breaches'])}")

"""`sandbox fuzz`: Schemathesis against a simulator or the SUT (under fault profiles), with progress and a summary."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import requests
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import SandboxError
from .fuzz_engine import PHASES, FuzzReport, run_fuzz
from .fuzz_targets import ROOT, TARGETS, FuzzTarget

console = Console()
PROFILES_DIR = ROOT / "simulators" / "profiles"


def profile_simulator(profile: str) -> str:
    """The simulator a named fault profile is written for (its `simulator:` key)."""
    path = Path(profile) if Path(profile).is_file() else PROFILES_DIR / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise SandboxError(f"unknown fault profile {profile!r}; known: {known}")
    data = yaml.safe_load(path.read_text()) or {}
    if not data.get("simulator"):
        raise SandboxError(f"{path}: a profile used by `sandbox fuzz --target sut` must name its simulator")
    return str(data["simulator"])


@contextmanager
def serve_simulator(target: FuzzTarget, *, seed: int = 1, profile: str | None = None) -> Iterator[str]:
    """Start TARGET's contract as a simulator on 127.0.0.1:0; yield its URL; stop it by its process group."""
    from .supervisor import spawn_ready

    args = ["-m", "simulators", "serve", str(target.contract), "--name", target.name, "--port", "0",
            "--seed", str(seed), *target.serve_args, *(["--profile", profile] if profile else [])]
    child = spawn_ready(target.name, args, cwd=ROOT)
    try:
        yield child.url
    finally:
        child.stop()


@contextmanager
def serve_sut(*, profiles: tuple[str, ...] = (), seed: int = 1) -> Iterator[dict[str, str]]:
    """Start the whole sandbox on free ports (own SQLite file), load each profile on its simulator."""
    from .config import load_config
    from .supervisor import Supervisor

    config = load_config(ROOT / "sandbox.yaml")
    with tempfile.TemporaryDirectory(prefix="sandbox-fuzz-") as tmp:
        config.orchestrator = {**config.orchestrator, "database_url": f"sqlite:///{tmp}/orchestrator.db"}
        for spec in config.simulators.values():
            spec.seed = seed + spec.seed
        sup = Supervisor(config, random_ports=True)
        endpoints = sup.start()
        try:
            for profile in profiles:
                sim = profile_simulator(profile)
                r = requests.post(f"{endpoints[sim]}/__sandbox/profiles/{profile}", timeout=10)
                if r.status_code >= 300:
                    raise SandboxError(f"could not load profile {profile} on {sim}: {r.status_code} {r.text}")
            yield endpoints
        finally:
            sup.stop()


def fuzz_target(target: FuzzTarget, *, profiles: tuple[str, ...] = (), max_examples: int = 100, seed: int = 1,
                phases: tuple[str, ...] = PHASES, shrink: bool = True, progress: object = None) -> FuzzReport:
    """Serve TARGET (a simulator, or the whole sandbox for the SUT), fuzz it, stop it; the report."""
    if target.kind == "sut":
        with serve_sut(profiles=profiles, seed=seed) as endpoints:
            report = run_fuzz(target, endpoints["orchestrator"], max_examples=max_examples, seed=seed,
                              phases=phases, shrink=shrink, progress=progress)  # type: ignore[arg-type]
    else:
        if len(profiles) > 1:
            raise SandboxError("a simulator takes one --profile")
        with serve_simulator(target, seed=seed, profile=profiles[0] if profiles else None) as url:
            report = run_fuzz(target, url, max_examples=max_examples, seed=seed, phases=phases, shrink=shrink,
                              progress=progress)  # type: ignore[arg-type]
    report.profiles = profiles
    return report


def _summary(report: FuzzReport) -> Table:
    table = Table(title=f"sandbox fuzz --target {report.target}: {sum(report.cases.values())} requests, "
                        f"{report.duration_s:.1f}s, seed {report.seed}")
    for column in ("operation", "requests", "failures"):
        table.add_column(column)
    failed: dict[str, int] = {}
    for f in report.new_failures:
        failed[f.operation] = failed.get(f.operation, 0) + 1
    for operation, n in sorted(report.cases.items()):
        bad = failed.get(operation, 0)
        table.add_row(operation, str(n), f"[red]{bad}[/]" if bad else "0")
    return table


@click.command("fuzz")
@click.option("--target", "target_name", type=click.Choice(sorted(TARGETS)), default="payment", show_default=True,
              help="A simulator (served from its contract on a free port) or the SUT (the whole sandbox).")
@click.option("--profile", "profiles", multiple=True,
              help="Fault profile(s); for the SUT each is loaded on the simulator it names.")
@click.option("--max-examples", type=int, default=100, show_default=True, help="Examples per operation and phase.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same requests: a run replays.")
@click.option("--phases", default=",".join(PHASES), show_default=True, help="Comma-separated Schemathesis phases.")
@click.option("--url", help="Fuzz an already running server at this URL instead of starting one.")
def fuzz(target_name: str, profiles: tuple[str, ...], max_examples: int, seed: int, phases: str,
         url: str | None) -> None:
    """Schemathesis against a simulator or the SUT: examples, coverage, fuzzing and stateful (OpenAPI links)."""
    target = TARGETS[target_name]
    chosen = tuple(p.strip() for p in phases.split(",") if p.strip())
    unknown = sorted(set(chosen) - set(PHASES))
    if unknown:
        raise click.BadParameter(f"unknown phase(s) {unknown}; valid: {', '.join(PHASES)}", param_hint="--phases")
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} scenarios"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{target_name}: starting", total=None)

        def on_event(kind: str, phase: str, label: str) -> None:
            if kind == "phase":
                bar.update(task, description=f"{target_name}: {phase}")
            elif kind == "operation":
                bar.update(task, advance=1, description=f"{target_name}: {phase} {label}")
            else:
                bar.update(task, description=f"{target_name}: done")

        if url:
            report = run_fuzz(target, url.rstrip("/"), max_examples=max_examples, seed=seed, phases=chosen,
                              progress=on_event)
        else:
            report = fuzz_target(target, profiles=profiles, max_examples=max_examples, seed=seed, phases=chosen,
                                 progress=on_event)
    console.print(_summary(report))
    console.print(report.format(), highlight=False, markup=False, soft_wrap=True)
    if not report.ok:
        raise SystemExit(1)
    console.print(f"[green]no failures[/] ({len(report.failures)} known-bug findings listed above)")

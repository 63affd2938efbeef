"""Running Locust for `sandbox load`: always as subprocesses (its gevent patching must not reach us), alone or
as 1 master + N workers on 127.0.0.1; plus CPU accounting of the processes under test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LocustJob:
    """What to run: locustfiles, host, users, duration and the locustfiles' custom arguments."""

    files: list[str]
    host: str
    users: int
    spawn_rate: float
    duration_s: float
    csv_prefix: str
    html: str
    custom: list[str] = field(default_factory=list)
    workers: int = 0
    cwd: Path = Path(".")


def locust_env() -> dict[str, str]:
    """Our environment minus LOCUST_SKIP_MONKEY_PATCH (it would serialize the users)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    return env


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for the master's bind port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(job: LocustJob) -> tuple[list[str], list[list[str]]]:
    """The master (or lone) command line and the worker command lines."""
    base = [sys.executable, "-m", "locust", "-f", ",".join(job.files)]
    main = [*base, "--headless", "--host", job.host, "-u", str(job.users), "-r", f"{job.spawn_rate:g}",
            "-t", f"{max(1, round(job.duration_s))}s", "--csv", job.csv_prefix, "--html", job.html,
            "--only-summary", "--stop-timeout", "5", *job.custom]
    if job.workers <= 0:
        return main, []
    port = free_port()
    main += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", str(job.workers), "--expect-workers-max-wait", "60"]
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--host", job.host,
              "-u", str(job.users), *job.custom]
    return main, [list(worker) for _ in range(job.workers)]


class LocustRun:
    """Starts the processes, waits for the master, stops workers by their pid."""

    def __init__(self, job: LocustJob) -> None:
        self.job = job
        self.master: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> LocustRun:
        main, workers = commands(self.job)
        self.master = subprocess.Popen(main, cwd=self.job.cwd, env=locust_env(), start_new_session=True)
        for cmd in workers:
            self.workers.append(subprocess.Popen(cmd, cwd=self.job.cwd, env=locust_env(), start_new_session=True,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def pids(self) -> list[int]:
        """Process ids of the Locust processes (master first)."""
        return [p.pid for p in [self.master, *self.workers] if p is not None]

    def wait(self, grace_s: float = 90.0) -> int:
        """The master's exit code (killed after duration + grace)."""
        assert self.master is not None
        try:
            code = self.master.wait(timeout=self.job.duration_s + grace_s)
        except subprocess.TimeoutExpired:
            self.master.kill()
            code = self.master.wait()
        finally:
            self.stop_workers()
        return code

    def stop_workers(self) -> None:
        """Workers quit when the master does; any left over is terminated by its pid."""
        for p in self.workers:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def stop(self) -> None:
        """Stop everything started here (Ctrl-C)."""
        for p in [self.master, *self.workers]:
            if p is not None and p.poll() is None:
                p.terminate()
        self.stop_workers()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of every live process in each process group (Linux /proc)."""
    totals = dict.fromkeys(groups, 0.0)
    by_group = {pgid: name for name, pgid in groups.items()}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = entry.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        pgrp = int(fields[2])
        if pgrp in by_group:
            totals[by_group[pgrp]] += (int(fields[11]) + int(fields[12])) / _TICK
    return totals


class CpuMeter:
    """CPU used by named process groups between start() and stop(), as % of one core over the wall time."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}
        self.t0 = 0.0
        self.result: dict[str, float] = {}

    def start(self) -> None:
        self.before, self.t0 = cpu_seconds(self.groups), time.monotonic()

    def stop(self) -> dict[str, float]:
        after, wall = cpu_seconds(self.groups), max(1e-6, time.monotonic() - self.t0)
        self.result = {name: round(100 * (after[name] - self.before.get(name, 0.0)) / wall, 1) for name in self.groups}
        return self.result

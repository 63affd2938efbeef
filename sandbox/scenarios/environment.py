"""The sandbox a scenario session runs against: started here (random ports) or given (any SUT URL)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import requests

from ..config import SandboxConfig, load_config
from ..errors import SandboxError
from ..supervisor import ChildProcess, Supervisor, spawn_ready
from .catalog import SUT

# Test-friendly SUT settings (short breaker reset, short read timeout, quick outbox); the environment wins.
SUT_ENV = {"ORCH_BREAKER_RESET_S": "1", "ORCH_BREAKER_FAIL_MAX": "5", "ORCH_READ_TIMEOUT_S": "2",
           "ORCH_BACKOFF_MAX_S": "1", "ORCH_LOG_LEVEL": "WARNING"}
SUT_FLAGS = ["--checkout-lease", "2", "--outbox-backoff", "0.2", "--outbox-max-attempts", "3"]


class SandboxEnv:
    """Simulators plus the SUT; a fresh orchestrator (new database) per scenario when we own it."""

    def __init__(self, config_path: Path, *, sut_url: str | None = None, endpoints_file: Path | None = None,
                 orchestrator_dir: Path | None = None, echo: bool = False) -> None:
        self.config_path, self.sut_url, self.endpoints_file = config_path, sut_url, endpoints_file
        self.orchestrator_dir, self.echo = orchestrator_dir, echo
        self.external = bool(sut_url or endpoints_file)
        self.supervisor: Supervisor | None = None
        self.config: SandboxConfig | None = None
        self.endpoints: dict[str, str] = {}
        self.current: ChildProcess | None = None
        self._spare: ChildProcess | None = None
        self._spare_error: BaseException | None = None
        self._spare_thread: threading.Thread | None = None
        self._used = False
        self._tmp = tempfile.TemporaryDirectory(prefix="scenario-sut-")
        self._count = 0

    def start(self) -> dict[str, str]:
        """Start (or find) the sandbox; returns {name: base URL}, the SUT under 'sut'."""
        if self.external:
            return self._attach()
        config = load_config(self.config_path)
        for spec in config.simulators.values():
            if "stale_read_rate" in spec.options:  # scenarios need deterministic reads
                spec.options["stale_read_rate"] = 0
        self.config = config
        self.supervisor = Supervisor(config, random_ports=True, orchestrator=False, echo=self.echo)
        self.endpoints = dict(self.supervisor.start())
        try:
            self.current = self._spawn_orchestrator()
            self.endpoints[SUT] = self.current.url
            self._start_spare()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def _attach(self) -> dict[str, str]:
        path = self.endpoints_file or self.config_path.parent / ".sandbox" / "endpoints.json"
        if not path.is_file():
            raise SandboxError(f"{path}: not found; start the sandbox (`sandbox up`) or pass --sandbox-endpoints FILE")
        urls = dict(json.loads(path.read_text()))
        sut = self.sut_url or urls.pop("orchestrator", None) or urls.pop(SUT, None)
        if not sut:
            raise SandboxError(f"{path}: no 'orchestrator' entry; pass --sut-url URL")
        self.endpoints = {**{k: v for k, v in urls.items() if k not in ("orchestrator", SUT)}, SUT: sut}
        return self.endpoints

    def _spawn_orchestrator(self) -> ChildProcess:
        assert self.config is not None
        self._count += 1
        db = Path(self._tmp.name) / f"orchestrator-{self._count}.db"
        args = ["-m", "orchestrator", "serve", "--port", "0", "--webhook-secret", self.config.webhook_secret,
                "--database-url", f"sqlite:///{db}", *SUT_FLAGS]
        for name in ("payment", "delivery", "legacy", "notifications"):
            if name in self.endpoints:
                args += [f"--{name}-url", self.endpoints[name]]
        env = {k: v for k, v in SUT_ENV.items() if k not in os.environ}
        if self.orchestrator_dir is not None:  # a copy of the package (mutation testing) shadows the installed one
            env["PYTHONPATH"] = os.pathsep.join([str(self.orchestrator_dir), os.environ.get("PYTHONPATH", "")])
        cwd = self.orchestrator_dir or self.config.root
        return spawn_ready("orchestrator", args, cwd=cwd, env=env, echo=self.echo)

    def _start_spare(self) -> None:
        def run() -> None:
            try:
                self._spare = self._spawn_orchestrator()
            except BaseException as exc:  # reported when the spare is needed
                self._spare_error = exc

        self._spare, self._spare_error = None, None
        self._spare_thread = threading.Thread(target=run, name="spare-orchestrator", daemon=True)
        self._spare_thread.start()

    def begin_scenario(self) -> None:
        """Isolate the next scenario: reset every simulator; swap in a fresh SUT when we own it."""
        if not self.external and self._used:
            if self.current is not None:
                self.current.kill9()
            assert self._spare_thread is not None
            self._spare_thread.join(timeout=60)
            if self._spare is None:
                raise SandboxError(f"could not start a fresh orchestrator: {self._spare_error}")
            self.current = self._spare
            self.endpoints[SUT] = self.current.url
            self._start_spare()
        self._used = True
        for name, url in self.endpoints.items():
            if name == SUT:
                continue
            r = requests.post(f"{url}/__sandbox/reset", timeout=30)
            if r.status_code >= 300:
                raise SandboxError(f"could not reset simulator {name}: {r.status_code} {r.text[:300]}")
        if not self.external and self.config is not None:
            for spec in self.config.simulators.values():
                if spec.webhook_path:
                    r = requests.put(f"{self.endpoints[spec.name]}/__sandbox/webhooks/target",
                                     json={"url": f"{self.endpoints[SUT]}{spec.webhook_path}"}, timeout=30)
                    if r.status_code >= 300:
                        raise SandboxError(f"could not point {spec.name}'s webhooks at the SUT: {r.status_code}")

    def sut_output(self) -> str:
        """What the current orchestrator printed (for failure reports)."""
        return "".join(self.current.output[-40:]) if self.current is not None else ""

    def stop(self) -> None:
        """Stop every process started here."""
        if self._spare_thread is not None:
            self._spare_thread.join(timeout=60)
        children = [self.current, self._spare, *(self.supervisor.children.values() if self.supervisor else [])]
        for child in children:  # in-memory simulators and throw-away databases: nothing to shut down gracefully
            if child is not None and not self.external and child.process.poll() is None:
                try:
                    child.kill9()
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    child.stop(timeout=5)
        self._tmp.cleanup()

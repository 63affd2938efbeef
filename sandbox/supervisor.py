"""`sandbox up`: start every simulator and the SUT as child processes, announce their URLs in
.sandbox/endpoints.json, and stop them all (by process group) on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .config import SandboxConfig
from .errors import SandboxError


@dataclass
class ChildProcess:
    """A server we started: its name, URL, process and what it printed."""

    name: str
    url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10) -> None:
        """Quick shutdown (SIGINT: gunicorn does not wait for idle keep-alive connections), then SIGKILL."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)


def spawn_ready(name: str, args: list[str], *, cwd: Path, ready_timeout: float = 40.0,
                env: dict[str, str] | None = None, echo: bool = False) -> ChildProcess:
    """Run `python ARGS` in its own process group and wait for its 'READY http://…' line."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if echo and not line.startswith("READY "):
                sys.stderr.write(f"[{name}] {line}")
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name=f"pump-{name}", daemon=True).start()
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if line.startswith("READY "):
            return ChildProcess(name, line.split()[1], proc, output)
    child = ChildProcess(name, "", proc, output)
    child.stop()
    tail = "".join(output)[-3000:]
    raise SandboxError(f"{name} did not start (command: python {' '.join(args)}):\n{tail}")


class Supervisor:
    """Starts the sandbox described by a SandboxConfig and keeps track of its processes."""

    def __init__(self, config: SandboxConfig, *, random_ports: bool = False, profile: str | None = None,
                 orchestrator: bool = True, echo: bool = False) -> None:
        self.config, self.random_ports, self.profile = config, random_ports, profile
        self.with_orchestrator = orchestrator and bool(config.orchestrator.get("enabled", True))
        self.echo = echo
        self.children: dict[str, ChildProcess] = {}

    def _port(self, port: int) -> str:
        return "0" if self.random_ports else str(port)

    def start(self) -> dict[str, str]:
        try:
            for spec in self.config.simulators.values():
                args = ["-m", "simulators", "serve", str(spec.contract), "--name", spec.name,
                        "--port", self._port(spec.port), "--seed", str(spec.seed),
                        "--webhook-secret", self.config.webhook_secret, "--workers", str(spec.workers), *spec.args]
                for key, value in spec.options.items():
                    args += ["--option", f"{key}={value}"]
                if not spec.behaviours:
                    args.append("--no-behaviours")
                if self.profile or spec.profile:
                    args += ["--profile", str(self.profile or spec.profile)]
                self.children[spec.name] = spawn_ready(spec.name, args, cwd=self.config.root, echo=self.echo)
            if self.with_orchestrator:
                self._start_orchestrator()
        except BaseException:
            self.stop()
            raise
        return self.endpoints()

    def _start_orchestrator(self) -> None:
        orch = self.config.orchestrator
        args = ["-m", "orchestrator", "serve", "--port", self._port(int(orch.get("port", 0))),
                "--webhook-secret", self.config.webhook_secret]
        for name in ("payment", "delivery", "legacy", "notifications"):
            if name in self.children:
                args += [f"--{name}-url", self.children[name].url]
        if orch.get("database_url"):
            (self.config.root / ".sandbox").mkdir(exist_ok=True)
            args += ["--database-url", str(orch["database_url"])]
        args += list(orch.get("args", []))
        child = spawn_ready("orchestrator", args, cwd=self.config.root, echo=self.echo)
        self.children["orchestrator"] = child
        for spec in self.config.simulators.values():
            if spec.webhook_path:
                target = f"{child.url}{spec.webhook_path}"
                r = requests.put(f"{self.children[spec.name].url}/__sandbox/webhooks/target",
                                 json={"url": target}, timeout=10)
                if r.status_code >= 300:
                    raise SandboxError(f"could not point {spec.name}'s webhooks at {target}: {r.status_code} {r.text}")

    def endpoints(self) -> dict[str, str]:
        return {name: child.url for name, child in self.children.items()}

    def write_endpoints(self, path: Path | None = None) -> Path:
        path = path or self.config.root / ".sandbox" / "endpoints.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n")
        return path

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()

    def wait(self) -> str | None:
        """Block until a child exits or we are told to stop; returns the name of a child that died."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop.wait(0.5):
                for name, child in self.children.items():
                    if child.process.poll() is not None:
                        return name
            return None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

"""Start real servers on 127.0.0.1 (port 0) as subprocesses, and stop them by their process id."""

from __future__ import annotations

from pathlib import Path

import requests

from sandbox.supervisor import ChildProcess, spawn_ready

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"


class Server(ChildProcess):
    """A running server process (url, pid, stop(), kill9()) with a control-API helper."""

    def control(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.url}/__sandbox{path}", timeout=10, **kwargs)  # type: ignore[arg-type]


def spawn(args: list[str], *, name: str = "server", env: dict[str, str] | None = None,
          ready_timeout: float = 40.0) -> Server:
    """Run `python ARGS` from the project root and wait for its READY line."""
    child = spawn_ready(name, args, cwd=ROOT, env=env, ready_timeout=ready_timeout)
    return Server(child.name, child.url, child.process, child.output)


def start_simulator(name: str, *, seed: int = 1, args: list[str] | None = None,
                    contract: str | Path | None = None) -> Server:
    """A simulator for contracts/<name>.openapi.yaml (or another contract file)."""
    path = Path(contract) if contract else CONTRACTS / f"{name}.openapi.yaml"
    return spawn(["-m", "simulators", "serve", str(path), "--name", name, "--port", "0", "--seed", str(seed),
                  *(args or [])], name=name)

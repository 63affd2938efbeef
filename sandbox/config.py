"""sandbox.yaml: which simulators exist, their contracts, ports, seeds and profiles; the SUT."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SandboxError

_SIM_KEYS = {"contract", "port", "seed", "profile", "webhook_path", "workers", "behaviours", "args", "options"}
_ORCH_KEYS = {"enabled", "port", "database_url", "args"}


@dataclass
class SimulatorSpec:
    name: str
    contract: Path
    port: int = 0
    seed: int = 0
    profile: str | None = None
    webhook_path: str | None = None
    workers: int = 1
    behaviours: bool = True
    args: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SandboxConfig:
    root: Path
    simulators: dict[str, SimulatorSpec]
    orchestrator: dict[str, Any]
    webhook_secret: str = "whsec_sandbox"


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    from simulators.core.errors import did_you_mean

    for key in data:
        if key not in allowed:
            raise SandboxError(f"{where}.{key}: unknown key.{did_you_mean(key, allowed)} Valid: {', '.join(sorted(allowed))}")


def load_config(path: str | Path = "sandbox.yaml") -> SandboxConfig:
    """Read and check sandbox.yaml; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise SandboxError(f"{path}: not found; run from the project folder or pass --config FILE")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SandboxError(f"{path}: not valid YAML: {e}") from None
    root = path.resolve().parent
    sims: dict[str, SimulatorSpec] = {}
    for name, spec in (data.get("simulators") or {}).items():
        spec = spec or {}
        _check_keys(f"{path}: simulators.{name}", spec, _SIM_KEYS)
        contract = root / spec.get("contract", f"contracts/{name}.openapi.yaml")
        if not contract.is_file():
            raise SandboxError(f"{path}: simulators.{name}.contract: file '{contract}' does not exist")
        sims[name] = SimulatorSpec(
            name=name, contract=contract, port=int(spec.get("port", 0)), seed=int(spec.get("seed", 0)),
            profile=spec.get("profile"), webhook_path=spec.get("webhook_path"), workers=int(spec.get("workers", 1)),
            behaviours=bool(spec.get("behaviours", True)), args=list(spec.get("args", [])),
            options=dict(spec.get("options") or {}),
        )
    orch = data.get("orchestrator") or {"enabled": False}
    _check_keys(f"{path}: orchestrator", orch, _ORCH_KEYS)
    return SandboxConfig(root, sims, orch, str(data.get("webhook_secret", "whsec_sandbox")))

"""What scenarios may name: the SUT's and simulators' contracts, provider states, profiles."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from simulators.core.contract import Contract, load_contract

SUT = "sut"


def find_root(start: Path) -> Path:
    """The nearest folder holding sandbox.yaml (the project root), else the working directory."""
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / "sandbox.yaml").is_file():
            return folder
    return Path.cwd()


@dataclass
class Catalog:
    """Contracts by simulator name (the storefront as 'sut'), provider states, fault profiles."""

    root: Path
    contract_paths: dict[str, Path]
    _contracts: dict[str, Contract] = field(default_factory=dict)

    @property
    def simulators(self) -> list[str]:
        """Simulator names (not the SUT)."""
        return [n for n in self.contract_paths if n != SUT]

    def contract(self, name: str) -> Contract:
        """The loaded contract of the SUT or of one simulator."""
        if name not in self._contracts:
            self._contracts[name] = load_contract(str(self.contract_paths[name]))
        return self._contracts[name]

    def states(self, sim: str) -> list[str]:
        """The provider states a simulator knows (none for a contract-only simulator)."""
        from simulators.providers import REGISTRY

        behaviours = REGISTRY.get(sim)
        return list(behaviours.states) if behaviours is not None else []

    @functools.cached_property
    def profiles(self) -> list[str]:
        """Named fault profiles shipped with the simulators."""
        from simulators.core.profiles import available_profiles

        return sorted(available_profiles())


@functools.lru_cache(maxsize=8)
def catalog_for(root: Path) -> Catalog:
    """The catalog of a project root: simulators from sandbox.yaml, the SUT's storefront contract."""
    from ..config import load_config

    paths: dict[str, Path] = {SUT: root / "contracts" / "storefront.openapi.yaml"}
    config_file = root / "sandbox.yaml"
    if config_file.is_file():
        for name, spec in load_config(config_file).simulators.items():
            paths[name] = spec.contract
    else:
        for file in sorted((root / "contracts").glob("*.openapi.yaml")):
            name = file.name.removesuffix(".openapi.yaml")
            if name not in ("storefront", "sandbox-control"):
                paths[name] = file
    return Catalog(root, paths)

"""Every shipped fault profile loads through the control API of each simulator it targets, on-contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.servers import ROOT, Server, start_simulator

PROFILES = sorted((ROOT / "simulators" / "profiles").glob("*.yaml"))


def targets(path: Path) -> set[str]:
    doc = yaml.safe_load(path.read_text())
    names = {r.get("simulator") for r in doc["rules"]} | {doc.get("simulator")}
    return {n for n in names if n}


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Server]]:
    started = {name: start_simulator(name) for name in ("payment", "delivery", "legacy")}
    yield started
    for server in started.values():
        server.stop()


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_loads_on_its_simulators(profile: Path, sims: dict[str, Server]) -> None:
    assert targets(profile), f"{profile.name} names no simulator"
    for name in targets(profile):
        loaded = sims[name].control("POST", f"/profiles/{profile.stem}")
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["rules"], f"{profile.stem} loaded no rule on {name}"
        listed = sims[name].control("GET", "/faults")
        assert listed.status_code == 200, listed.text
        assert [r["name"] for r in listed.json()["rules"]] == [r["name"] for r in loaded.json()["rules"]]
        sims[name].control("DELETE", "/faults")

"""Broken scenarios in tests/data/invalid/ are rejected at collection with the message next to them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.errors import ScenarioError
from sandbox.scenarios.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "tests" / "data" / "invalid").glob("*.scenario.yaml"))


def _message(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        validate_file(path)
    return str(info.value).replace(f"{ROOT}/", "").strip()


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_scenario_gives_the_expected_message(path: Path) -> None:
    expected = path.with_name(path.name.replace(".scenario.yaml", ".expected.txt")).read_text().strip()
    assert _message(path) == expected


def test_there_are_enough_invalid_examples() -> None:
    assert len(INVALID) >= 10
    for path in INVALID:
        assert path.with_name(path.name.replace(".scenario.yaml", ".expected.txt")).is_file(), path


def test_messages_point_at_file_and_line_with_a_did_you_mean() -> None:
    text = _message(ROOT / "tests/data/invalid/unknown_effect.scenario.yaml")
    assert text.startswith("tests/data/invalid/unknown_effect.scenario.yaml:6: given.faults[0].effects[0].type:")
    assert "Did you mean 'delay'?" in text
    assert ">    6 |       effects: [{type: latncy, ms: 100}]" in text


def test_collect_only_is_a_linter(tmp_path: Path) -> None:
    """`pytest --collect-only` fails on a broken scenario and prints the file:line message."""
    bad = tmp_path / "broken.scenario.yaml"
    bad.write_text((ROOT / "tests/data/invalid/unknown_state.scenario.yaml").read_text())
    proc = subprocess.run([sys.executable, "-m", "pytest", str(bad), "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-o", "testpaths=", "--rootdir", str(ROOT)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"{bad}:3: steps[0].state.name: unknown provider state 'kyc-aproved'" in proc.stdout
    assert "Did you mean 'kyc-approved'" in proc.stdout

"""The layers of docs/architecture.md, enforced: imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level names it must not import
FORBIDDEN = {
    "simulators/core": {"flask", "werkzeug", "gunicorn", "orchestrator", "sandbox", "tests", "simulators.app",
                        "simulators.control", "simulators.providers", "simulators.server"},
    "simulators": {"orchestrator", "sandbox", "tests"},
    "orchestrator": {"simulators", "sandbox", "tests"},
    "leanhttp": {"simulators", "orchestrator", "sandbox", "tests", "flask", "werkzeug"},
    "sandbox": {"orchestrator", "tests"},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level and node.module is None:
            pass
    return found


def violations(package: str, forbidden: set[str]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    assert violations(package, FORBIDDEN[package]) == []


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("import flask\nfrom simulators.app import create_app\n")
    assert [name for _, name in imports_of(bad)] == ["flask", "simulators.app"]


def test_nothing_imports_tests() -> None:
    for package in ("simulators", "orchestrator", "sandbox", "leanhttp"):
        assert violations(package, {"tests"}) == []

"""Every seeded bug still applies to today's orchestrator, so `make mutants` cannot go stale silently."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.mutants.__main__ import ROOT, EditError, apply
from tests.mutants.catalog import MUTANTS, Mutant


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_snippets_match_the_orchestrator(mutant: Mutant, tmp_path: Path) -> None:
    package = tmp_path / "orchestrator"
    shutil.copytree(ROOT / "orchestrator", package, ignore=shutil.ignore_patterns("__pycache__"))
    apply(mutant, package)  # raises EditError naming the snippet when the code it mutates has moved
    changed = [rel for rel, old, new in mutant.edits if (package / rel).read_text() != (ROOT / "orchestrator" / rel).read_text()]
    assert changed, f"{mutant.name} changed nothing"


def test_a_stale_snippet_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "orchestrator"
    shutil.copytree(ROOT / "orchestrator", package, ignore=shutil.ignore_patterns("__pycache__"))
    stale = Mutant("stale", "a snippet that is not there", (("adapters/base.py", "no such code", "x"),), ())
    with pytest.raises(EditError, match="found it 0 times"):
        apply(stale, package)

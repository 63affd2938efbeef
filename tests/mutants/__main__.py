"""`python -m tests.mutants [NAME...]`: apply each mutant to a temporary copy of orchestrator/, run the
relevant scenario suites against it (stopping at the first failure) and print who caught what."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .catalog import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]


class EditError(Exception):
    """A mutant's snippet is not in the orchestrator (any more): the catalogue needs updating."""


def apply(mutant: Mutant, package: Path) -> None:
    """Edit the copied package in place; each snippet must occur exactly once."""
    for rel, old, new in mutant.edits:
        path = package / rel
        text = path.read_text()
        if text.count(old) != 1:
            raise EditError(f"{mutant.name}: {rel}: expected the snippet once, found it {text.count(old)} times: {old!r}")
        path.write_text(text.replace(old, new))


def first_failure(junit: Path) -> str | None:
    """The name of the first failing scenario in a JUnit XML report."""
    if not junit.is_file():
        return None
    for case in ET.parse(junit).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            suite = case.get("classname", "").removesuffix(".scenario.yaml").split(".")[-1]
            return f"{suite}::{case.get('name')}"
    return None


def run(mutant: Mutant, workers: str) -> tuple[str, str, float]:
    """(verdict, detail, seconds) for one mutant: caught by a scenario, missed, or broken edit."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        shutil.copytree(ROOT / "orchestrator", Path(tmp) / "orchestrator",
                        ignore=shutil.ignore_patterns("__pycache__"))
        try:
            apply(mutant, Path(tmp) / "orchestrator")
        except EditError as exc:
            return "broken", str(exc), time.monotonic() - started
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", *mutant.scenarios, "-x", "-q", "-p", "no:cacheprovider",
               "-o", "testpaths=", "--orchestrator-dir", tmp, f"--junitxml={junit}"]
        if workers != "0":
            cmd += ["-n", workers, "--dist", "loadgroup"]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if proc.returncode == 0:
            return "missed", "every scenario passed", seconds
        caught = first_failure(junit)
        if caught is None:
            return "error", (proc.stdout + proc.stderr)[-800:], seconds
        return "caught", caught, seconds


def main(argv: list[str] | None = None) -> int:
    """Run the mutants (all, or those named) and print the table; exit 1 unless every one was caught."""
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__)
    parser.add_argument("names", nargs="*", help="only these mutants")
    parser.add_argument("-n", "--workers", default="0", help="pytest-xdist workers per mutant run")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    rows = []
    for mutant in chosen:
        verdict, detail, seconds = run(mutant, args.workers)
        rows.append((mutant.name, verdict, detail, seconds))
        print(f"{mutant.name}: {verdict} ({seconds:.0f}s) {detail.splitlines()[0] if detail else ''}", flush=True)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'mutant'.ljust(width)} | caught by | missed")
    print(f"{'-' * width}-|-{'-' * 60}-|-------")
    for name, verdict, detail, _ in rows:
        caught = detail if verdict == "caught" else ""
        missed = "" if verdict == "caught" else f"{verdict}: {detail.splitlines()[0] if detail else ''}"
        print(f"{name.ljust(width)} | {caught[:60].ljust(60)} | {missed}")
    score = sum(1 for r in rows if r[1] == "caught")
    print(f"\n{score}/{len(rows)} mutants caught")
    return 0 if score == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

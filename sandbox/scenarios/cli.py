"""`sandbox run [PATH] [-k EXPR] [--junitxml F] [--html F] [--sut-url URL]`: pytest over scenario files."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click


def _plugin_registered() -> bool:
    """True when the pytest11 entry point is installed (then `-p` would register it twice)."""
    return any(ep.value == "sandbox.scenarios.plugin" for ep in entry_points(group="pytest11"))


def pytest_args(path: str, keyword: str | None, marker: str | None, junitxml: str | None, html: str | None,
                sut_url: str | None, endpoints: str | None, workers: str | None, exitfirst: bool,
                collect_only: bool, extra: tuple[str, ...]) -> list[str]:
    """The pytest command line `sandbox run` stands for."""
    args = [path, "-p", "no:cacheprovider", "-o", "testpaths=", "-o", "python_files=__none__"]
    if not _plugin_registered():
        args += ["-p", "sandbox.scenarios.plugin"]
    for flag, value in (("-k", keyword), ("-m", marker), ("--junitxml", junitxml), ("--sandbox-html", html),
                        ("--sut-url", sut_url), ("--sandbox-endpoints", endpoints)):
        if value:
            args += [flag, value]
    if workers and workers != "0":
        args += ["-n", workers, "--dist", "loadgroup"]
    if exitfirst:
        args.append("-x")
    if collect_only:
        args.append("--collect-only")
    return [*args, *extra]


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("path", default="scenarios", type=click.Path(exists=True))
@click.option("-k", "keyword", help="Only scenarios whose name or tags match this pytest -k expression.")
@click.option("-m", "marker", help="Only scenarios whose tags match this pytest -m expression.")
@click.option("--junitxml", type=click.Path(), help="Write JUnit XML here.")
@click.option("--html", type=click.Path(), help="Write an HTML report here.")
@click.option("--sut-url", help="Target this SUT (simulators from --sandbox-endpoints or .sandbox/endpoints.json).")
@click.option("--sandbox-endpoints", "endpoints", type=click.Path(exists=True), help="endpoints.json of a running sandbox.")
@click.option("-n", "workers", help="pytest-xdist workers (each starts its own sandbox).")
@click.option("-x", "exitfirst", is_flag=True, help="Stop at the first failure.")
@click.option("--collect-only", is_flag=True, help="Only validate the scenario files (a linter).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def run(path: str, keyword: str | None, marker: str | None, junitxml: str | None, html: str | None,
        sut_url: str | None, endpoints: str | None, workers: str | None, exitfirst: bool, collect_only: bool,
        extra: tuple[str, ...]) -> None:
    """Run scenario suites (pytest) against a sandbox started here, or any SUT."""
    import subprocess

    # a fresh interpreter: this CLI has already imported modules (faker) that pytest plugins want to load first
    args = pytest_args(path, keyword, marker, junitxml, html, sut_url, endpoints, workers, exitfirst, collect_only,
                       extra)
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", *args]))

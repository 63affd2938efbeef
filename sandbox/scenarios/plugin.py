"""pytest11 plugin: every `*.scenario.yaml` document is a test item, validated at collection."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import SandboxError
from .loader import SUFFIX, Document

if TYPE_CHECKING:
    from .environment import SandboxEnv
    from .http import Session

# Contracts, validators and HTTP clients are imported on first use: this plugin loads in every pytest run.
ENV_KEY = pytest.StashKey["SandboxEnv"]()
REPORT_KEY = pytest.StashKey[list[dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The runner's options."""
    group = parser.getgroup("sandbox scenarios")
    group.addoption("--sut-url", help="Run scenarios against this SUT (simulators from --sandbox-endpoints or "
                    ".sandbox/endpoints.json) instead of starting a sandbox.")
    group.addoption("--sandbox-endpoints", type=Path, help="endpoints.json of a running sandbox (`sandbox up`).")
    group.addoption("--sandbox-config", type=Path, help="sandbox.yaml to start (default: the project's).")
    group.addoption("--orchestrator-dir", type=Path, help="Folder whose `orchestrator` package is the SUT "
                    "(mutation testing runs a patched copy).")
    group.addoption("--sandbox-html", type=Path, help="Write an HTML report of the scenarios here.")
    group.addoption("--sandbox-echo", action="store_true", help="Echo the servers' output.")


def pytest_configure(config: pytest.Config) -> None:
    """Markers; a shared sandbox cannot be driven by several workers at once."""
    config.addinivalue_line("markers", "scenario: a YAML scenario (sandbox.scenarios)")
    config.addinivalue_line("markers", "serial: a scenario that must not run beside others (one xdist group)")
    external = config.getoption("--sut-url") or config.getoption("--sandbox-endpoints")
    workers = getattr(config.option, "numprocesses", None)
    if external and workers not in (None, 0, "0"):
        raise pytest.UsageError("--sut-url/--sandbox-endpoints share one sandbox: scenarios reset it, so run them "
                                "serially (-n 0); the started sandbox (no option) is per worker and parallel-safe")
    config.stash[REPORT_KEY] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect `*.scenario.yaml`."""
    if file_path.name.endswith(SUFFIX):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file; collecting it validates every document (so --collect-only is a linter)."""

    def collect(self) -> Any:
        """One item per scenario document."""
        from .validate import validate_file

        loaded = validate_file(self.path)
        defaults = loaded.defaults.data["defaults"] if loaded.defaults else {}
        seen: dict[str, int] = {}
        for doc in loaded.scenarios:
            name = doc.data["name"]
            seen[name] = seen.get(name, 0) + 1
            item = ScenarioItem.from_parent(self, name=name if seen[name] == 1 else f"{name} [{seen[name]}]",
                                            doc=doc, defaults_doc=loaded.defaults, defaults=defaults)
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """A scenario error prints as `file:line: path: message` with its snippet, no traceback."""
        if isinstance(excinfo.value, SandboxError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    """One scenario: given, defaults' steps, steps, then."""

    def __init__(self, *, doc: Document, defaults_doc: Document | None, defaults: dict[str, Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.doc, self.defaults_doc, self.defaults = doc, defaults_doc, defaults
        self.run_session: Session | None = None
        self.add_marker("scenario")
        data = doc.data
        for tag in [*defaults.get("tags", []), *data.get("tags", [])]:
            self.config.addinivalue_line("markers", f"{tag}: scenario tag")
            self.add_marker(tag)
        if data.get("serial", defaults.get("serial")):
            self.add_marker("serial")
            self.add_marker(pytest.mark.xdist_group("serial"))
        if data.get("xfail"):
            self.add_marker(pytest.mark.xfail(reason=data["xfail"], strict=True))
        if data.get("skip"):
            self.add_marker(pytest.mark.skip(reason=data["skip"]))

    def runtest(self) -> None:
        """Run the scenario against a freshly reset sandbox."""
        from .catalog import catalog_for, find_root
        from .http import Session
        from .steps import StepRunner
        from .then import ThenChecker

        env = _env(self.config)
        env.begin_scenario()
        catalog = catalog_for(find_root(self.path.parent))
        session = self.run_session = Session(env.endpoints, catalog, scenario=self.doc.data["name"])
        session.saved.update(self.defaults.get("vars") or {})
        session.saved.update(self.doc.data.get("vars") or {})
        runner = StepRunner(session)
        if self.defaults_doc is not None and self.defaults.get("given"):
            runner.given(self.defaults_doc, ("defaults", "given"), self.defaults["given"])
        if self.doc.data.get("given"):
            runner.given(self.doc, ("given",), self.doc.data["given"])
        if self.defaults_doc is not None and self.defaults.get("steps"):
            runner.steps(self.defaults_doc, ("defaults", "steps"), self.defaults["steps"])
        runner.steps(self.doc, ("steps",), self.doc.data["steps"])
        checker = ThenChecker(session)
        if self.defaults_doc is not None and self.defaults.get("then"):
            checker.run(self.defaults_doc, ("defaults", "then"), self.defaults["then"])
        if self.doc.data.get("then"):
            checker.run(self.doc, ("then",), self.doc.data["then"])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The failed expectation, the request and response, every simulator's journal, the correlation id."""
        from .http import StepFailure, journal_summary

        exc = excinfo.value
        if not isinstance(exc, StepFailure | SandboxError):
            return super().repr_failure(excinfo)
        parts = [str(exc)]
        if isinstance(exc, StepFailure) and exc.doc is not None and exc.doc.text:
            parts.append(exc.doc.snippet(exc.doc.line_of(exc.parts)))
        if self.run_session is not None:
            exchange = getattr(exc, "exchange", None) or (self.run_session.exchanges[-1] if self.run_session.exchanges else None)
            if exchange is not None:
                parts.append("last exchange:\n" + exchange.describe())
            parts.append(f"correlation id: {self.run_session.correlation_id}")
            parts.append(f"saved: {self.run_session.saved}")
            parts.append("journal:\n" + journal_summary(self.run_session))
        return "\n".join(parts)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario starts."""
        return self.path, self.doc.line_of(()) - 1, f"scenario: {self.name}"


def _env(config: pytest.Config) -> SandboxEnv:
    """The session's sandbox, started on first use (per xdist worker)."""
    from .catalog import find_root
    from .environment import SandboxEnv

    if ENV_KEY not in config.stash:
        root = find_root(Path(str(config.rootpath)))
        env = SandboxEnv(config.getoption("--sandbox-config") or root / "sandbox.yaml",
                         sut_url=config.getoption("--sut-url"), endpoints_file=config.getoption("--sandbox-endpoints"),
                         orchestrator_dir=config.getoption("--orchestrator-dir"),
                         echo=config.getoption("--sandbox-echo"))
        config.stash[ENV_KEY] = env
        env.start()
    return config.stash[ENV_KEY]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the sandbox we started."""
    if ENV_KEY in config.stash:
        config.stash[ENV_KEY].stop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember scenario outcomes for the HTML report."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _REPORTS.append({"nodeid": report.nodeid, "outcome": "xfailed" if hasattr(report, "wasxfail")
                         and report.skipped else report.outcome, "duration": report.duration,
                         "details": report.longreprtext})


_REPORTS: list[dict[str, Any]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write --sandbox-html."""
    target = session.config.getoption("--sandbox-html", None)
    if not target or hasattr(session.config, "workerinput"):
        return
    rows = "".join(
        f"<tr class='{r['outcome']}'><td>{html.escape(r['nodeid'])}</td><td>{r['outcome']}</td>"
        f"<td>{r['duration']:.2f}s</td><td><pre>{html.escape(r['details'])}</pre></td></tr>" for r in _REPORTS)
    counts = {o: sum(1 for r in _REPORTS if r["outcome"] == o) for o in ("passed", "failed", "skipped", "xfailed")}
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(
        "<!doctype html><meta charset='utf-8'><title>Scenario report</title><style>body{font-family:sans-serif}"
        "td{vertical-align:top;padding:4px;border-bottom:1px solid #ddd}.failed{background:#fdd}"
        ".passed{background:#efe}pre{white-space:pre-wrap;margin:0}</style>"
        f"<h1>Scenario report</h1><p>{summary} · {time.strftime('%Y-%m-%d %H:%M:%S')}</p>"
        f"<table><tr><th>scenario</th><th>outcome</th><th>time</th><th>details</th></tr>{rows}</table>\n")

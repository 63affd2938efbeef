"""Run Schemathesis (4.x engine: examples, coverage, fuzzing, stateful) against one target; collect a report."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .fuzz_targets import BUSINESS_STATUSES, FuzzTarget, expected_statuses

PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Callback for progress displays: (event, phase, operation label or "")
# event: "phase" (a phase started), "operation" (one operation's scenario finished), "done"
Progress = Callable[[str, str, str], None]


@dataclass
class FoundFailure:
    """One unique failure: which operation and check, what was wrong, and the requests that reproduce it."""

    phase: str
    operation: str
    check: str
    code: str
    title: str
    message: str
    curl: list[str]
    known_bug: str | None = None

    def format(self) -> str:
        known = f" [known bug: {self.known_bug}]" if self.known_bug else ""
        steps = "\n".join(f"    {line}" for line in self.curl) or "    (no request recorded)"
        message = "\n".join(f"    {line}" for line in self.message.strip().splitlines()[:12])
        return f"- {self.code} {self.title} — {self.operation} ({self.phase}, {self.check}){known}\n" \
               f"{message}\n  reproduce:\n{steps}"


@dataclass
class FuzzReport:
    """What one run did (cases per operation) and found (failures, errors), with its seed."""

    target: str
    base_url: str
    seed: int
    max_examples: int
    duration_s: float = 0.0
    cases: Counter[str] = field(default_factory=Counter)
    failures: list[FoundFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    profiles: tuple[str, ...] = ()

    @property
    def new_failures(self) -> list[FoundFailure]:
        return [f for f in self.failures if f.known_bug is None]

    @property
    def ok(self) -> bool:
        return not self.new_failures and not self.errors

    def rerun_command(self) -> str:
        profiles = "".join(f" --profile {p}" for p in self.profiles)
        return f"sandbox fuzz --target {self.target}{profiles} --seed {self.seed} --max-examples {self.max_examples}"

    def format(self) -> str:
        """The whole report as text: counts, every failure with its curl lines, and how to replay the run."""
        lines = [f"{self.target} at {self.base_url}: {sum(self.cases.values())} requests over "
                 f"{len(self.cases)} operations in {self.duration_s:.1f}s, seed {self.seed}"]
        lines += [f"ERROR {e}" for e in self.errors]
        for failure in sorted(self.new_failures, key=lambda f: (f.operation, f.code)):
            lines.append(failure.format())
        known = Counter(f.known_bug for f in self.failures if f.known_bug)
        lines += [f"known bug {key} (reported, not fatal): {n} operation(s)" for key, n in sorted(known.items())]
        lines.append(f"replay: {self.rerun_command()}")
        return "\n".join(lines)


def build_config(target: FuzzTarget, *, base_url: str, seed: int, max_examples: int,
                 phases: tuple[str, ...] = PHASES, max_steps: int | None = None, workers: int = 1,
                 mode: str = "all", shrink: bool = True) -> Any:
    """The SchemathesisConfig for one target (statuses, checks, phases, no sanitising: curl lines replay)."""
    from schemathesis.config import SchemathesisConfig

    off = [*target.disabled_checks, *(["status_code_conformance"] if mode == "negative" else [])]
    checks: dict[str, Any] = {name: {"enabled": False} for name in off}
    checks["positive_data_acceptance"] = {"expected-statuses": list(BUSINESS_STATUSES)}
    operations: list[dict[str, Any]] = [{"include-operation-id": op,
                   "checks": {"positive_data_acceptance": {"expected-statuses": expected_statuses(target, op)}}}
                  for op in target.accepts_400]
    operations += [{"include-operation-id": op, "enabled": False} for op in target.excluded]
    stateful: dict[str, Any] = {"enabled": "stateful" in phases}
    if max_steps:
        stateful["max-steps"] = max_steps
    return SchemathesisConfig.from_dict({
        "seed": seed,
        # Hypothesis' generation health checks judge the generator, not the API under test: on a loaded
        # machine `too_slow`, and for pattern-constrained path ids `filter_too_much`, failed runs at random
        "suppress-health-check": ["filter_too_much", "too_slow"],
        "output": {"sanitization": {"enabled": False}, "truncation": {"enabled": True}},
        "base-url": base_url,
        "workers": workers,
        "request-timeout": 15,
        "generation": {"max-examples": max_examples, "database": "none", "mode": mode,
                       "no-shrink": not shrink},
        "checks": checks,
        "operations": operations,
        "phases": {**{p: {"enabled": p in phases} for p in PHASES if p != "stateful"}, "stateful": stateful},
    })


def _register_checks() -> None:
    """Register no_unexplained_5xx once: a 5xx must be a 503 problem with Retry-After and no traceback."""
    import schemathesis
    from schemathesis.checks import CHECKS

    if "no_unexplained_5xx" in CHECKS.get_all_names():
        return

    @schemathesis.check
    def no_unexplained_5xx(ctx: Any, response: Any, case: Any) -> bool | None:
        """A 5xx is allowed only as a documented 503 problem with Retry-After and no stack trace."""
        if response.status_code < 500:
            return None
        text = response.text or ""
        if "Traceback (most recent call last)" in text or 'File "' in text:
            raise AssertionError(f"{response.status_code} answer carries a stack trace: {text[:300]}")
        if response.status_code != 503:
            raise AssertionError(f"{response.status_code} is not allowed; only 503 with Retry-After: {text[:300]}")
        if "retry-after" not in {k.lower() for k in response.headers}:
            raise AssertionError(f"503 without Retry-After: {text[:300]}")
        return None


def _known_bug(target: FuzzTarget, check: str, failure: Any, case: Any, body: str) -> str | None:
    for bug in target.known_bugs:
        if bug.matches(check, failure, case, body):
            return bug.key
    return None


def run_fuzz(target: FuzzTarget, base_url: str, *, max_examples: int = 100, seed: int = 1,
             phases: tuple[str, ...] = PHASES, max_steps: int | None = None, workers: int = 1,
             shrink: bool = True, progress: Progress | None = None) -> FuzzReport:
    """Fuzz TARGET served at BASE_URL with the Schemathesis engine; returns the report (never raises on findings)."""
    _register_checks()
    report = FuzzReport(target.name, base_url, seed, max_examples)
    seen: set[tuple[str, str, str]] = set()
    started = time.monotonic()
    # A spec that documents no 400 gets two passes: positive data with every check, negative data whose
    # undocumented 400 answers are fine (negative_data_rejection still insists on a 4xx).
    for mode in ("positive", "negative") if target.undocumented_400_ok else ("all",):
        config = build_config(target, base_url=base_url, seed=seed, max_examples=max_examples, phases=phases,
                              max_steps=max_steps, workers=workers, mode=mode, shrink=shrink)
        _run_pass(target, config, report, seen, progress)
    report.duration_s = time.monotonic() - started
    if progress:
        progress("done", "", "")
    return report


def _run_pass(target: FuzzTarget, config: Any, report: FuzzReport, seen: set[tuple[str, str, str]],
              progress: Progress | None) -> None:
    import schemathesis
    from schemathesis.engine import events, from_schema

    schema = schemathesis.openapi.from_path(str(target.contract), config=config)
    schema.config.update(base_url=report.base_url)
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and progress:
            progress("phase", event.phase.name.value, "")
        elif isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            _collect(target, event, report, seen)
            if progress:
                progress("operation", event.phase.value, event.label or "stateful")
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {type(event.value).__name__}: {event.value}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {type(event.exception).__name__}: {event.exception}")


def _collect(target: FuzzTarget, event: Any, report: FuzzReport, seen: set[tuple[str, str, str]]) -> None:
    recorder = event.recorder
    for node in recorder.cases.values():
        report.cases[node.value.operation.label] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            info = check.failure_info
            if info is None:
                continue
            failure = info.failure
            operation = failure.operation or event.label or "?"
            case_node = recorder.cases.get(case_id)
            response = recorder.find_response(case_id=case_id)
            body = bytes(response.content or b"").decode("utf-8", "replace") if response is not None else ""
            known = _known_bug(target, check.name, failure, case_node.value if case_node else None, body)
            key = (operation, f"{check.name} {failure.title}", known or "")
            if key in seen:
                continue
            seen.add(key)
            curl = [step.curl for step in info.steps] or ([info.code_sample] if info.code_sample else [])
            report.failures.append(FoundFailure(event.phase.value, operation, check.name, failure.code,
                                                failure.title, failure.message, curl, known))

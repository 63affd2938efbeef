"""Fault timelines: "at 30 s load profile flaky-payments on payment, at 90 s clear it, at 120 s legacy down
for 20 s" — read with file:line errors, then applied through the simulators' control API during a run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SandboxError
from .load_yaml import LoadFileError, MarkedDict, MarkedList, line, parse_duration, plain, read_marked

ACTIONS = ("profile", "clear", "state", "fault")
EVENT_KEYS = ("at", "simulator", *ACTIONS, "params", "for", "revert", "note")
TOP_KEYS = ("name", "description", "events")


@dataclass
class TimelineEvent:
    """One change to one simulator at `at` seconds; `duration` undoes it (revert state, or clear) later."""

    at: float
    simulator: str
    action: str
    target: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None
    revert: str | None = None
    line: int = 0

    def describe(self) -> str:
        """A short human text: 'payment: profile flaky-payments for 20s'."""
        what = {"profile": f"profile {self.target}", "clear": "clear faults", "fault": "add fault rule",
                "state": f"state {self.target}{' ' + json.dumps(self.params) if self.params else ''}"}[self.action]
        return f"{self.simulator}: {what}" + (f" for {self.duration:g}s" if self.duration else "")


@dataclass
class Timeline:
    """A validated timeline file."""

    path: str
    name: str
    events: list[TimelineEvent]

    def end(self) -> float:
        """When the last change (or revert) happens, in seconds from the start."""
        return max((e.at + (e.duration or 0) for e in self.events), default=0.0)


def _fail(path: str, node: Any, key: Any, field_: str, message: str) -> LoadFileError:
    return LoadFileError(f"{path}:{line(node, key)}: {field_}: {message}")


def _unknown(value: str, valid: Iterable[str]) -> str:
    from simulators.core.errors import did_you_mean

    ordered = sorted(valid)
    return f"'{value}' is not a valid key.{did_you_mean(value, ordered)} Valid: {', '.join(ordered)}"


def load_timeline(path: str | Path, simulators: Iterable[str] | None = None,
                  run_seconds: float | None = None) -> Timeline:
    """Read and check a timeline file; simulators (names) and run_seconds are checked when given."""
    path = str(path)
    doc = read_marked(path, "timeline")
    if not isinstance(doc, MarkedDict):
        raise LoadFileError(f"{path}:1: a timeline is a mapping with `events:` (a list), got {type(doc).__name__}")
    for key in doc:
        if key not in TOP_KEYS:
            raise _fail(path, doc, key, str(key), _unknown(str(key), TOP_KEYS))
    events = doc.get("events")
    if not isinstance(events, MarkedList) or not events:
        raise _fail(path, doc, "events", "events", f"must be a non-empty list of events, got {plain(events)!r}")
    known = set(simulators) if simulators is not None else None
    parsed = [_event(path, raw, line(events, i), i, known, run_seconds) for i, raw in enumerate(events)]
    return Timeline(path, str(doc.get("name") or Path(path).stem), sorted(parsed, key=lambda e: e.at))


def _event(path: str, raw: Any, where: int, i: int, known: set[str] | None,
           run_seconds: float | None) -> TimelineEvent:
    at = f"events[{i}]"
    if not isinstance(raw, MarkedDict):
        raise LoadFileError(f"{path}:{where}: {at}: must be a mapping with at, simulator "
                            f"and one of {', '.join(ACTIONS)}; got {plain(raw)!r}")
    for key in raw:
        if key not in EVENT_KEYS:
            raise _fail(path, raw, key, f"{at}.{key}", _unknown(str(key), EVENT_KEYS))
    if "at" not in raw:
        raise _fail(path, raw, None, at, "`at` is missing (when, from the start of the run: 30s, 2m, 1m30s)")
    try:
        when = parse_duration(raw["at"])
    except ValueError as e:
        raise _fail(path, raw, "at", f"{at}.at", str(e)) from None
    if run_seconds is not None and when >= run_seconds:
        raise _fail(path, raw, "at", f"{at}.at", f"{when:g}s is not before the end of the run ({run_seconds:g}s)")
    sim = raw.get("simulator")
    if not isinstance(sim, str) or not sim:
        raise _fail(path, raw, "simulator" if "simulator" in raw else None, f"{at}.simulator",
                    "must name a simulator (payment, delivery, legacy, notifications)")
    if known is not None and sim not in known:
        from simulators.core.errors import unknown_name

        raise _fail(path, raw, "simulator", f"{at}.simulator", unknown_name("simulator", sim, known))
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        found = f"got {', '.join(actions)}" if actions else "got none"
        raise _fail(path, raw, actions[1] if len(actions) > 1 else None, at,
                    f"needs exactly one of {', '.join(ACTIONS)}; {found}")
    action = actions[0]
    event = TimelineEvent(when, sim, action, line=line(raw))
    if action == "profile":
        event.target = _profile(path, raw, at)
    elif action == "clear":
        if raw["clear"] not in (True, "faults"):
            raise _fail(path, raw, "clear", f"{at}.clear", f"must be `true` (clear every fault rule), got {raw['clear']!r}")
    elif action == "fault":
        event.target = _fault(path, raw, at)
    else:
        if not isinstance(raw["state"], str) or not raw["state"]:
            raise _fail(path, raw, "state", f"{at}.state", f"must be a provider state name, got {raw['state']!r}")
        event.target = raw["state"]
    if "params" in raw:
        if action != "state" or not isinstance(raw["params"], dict):
            raise _fail(path, raw, "params", f"{at}.params", "only a `state` takes params, as a mapping")
        event.params = plain(raw["params"])
    if "for" in raw:
        try:
            event.duration = parse_duration(raw["for"])
        except ValueError as e:
            raise _fail(path, raw, "for", f"{at}.for", str(e)) from None
        if action == "clear":
            raise _fail(path, raw, "for", f"{at}.for", "a `clear` cannot be undone; remove `for`")
    if "revert" in raw:
        if action != "state" or "for" not in raw or not isinstance(raw["revert"], str):
            raise _fail(path, raw, "revert", f"{at}.revert", "only a `state` with `for` takes `revert: STATE`")
        event.revert = raw["revert"]
    elif action == "state" and event.duration:
        if not event.target.endswith("-down"):
            raise _fail(path, raw, "for", f"{at}.for", f"say which state undoes '{event.target}' after it: "
                        "`revert: STATE` (only X-down states revert to X-up by themselves)")
        event.revert = event.target[: -len("-down")] + "-up"
    return event


def _profile(path: str, raw: MarkedDict, at: str) -> str:
    from simulators.core.errors import ConfigError
    from simulators.core.profiles import available_profiles, find_profile

    name = raw["profile"]
    if not isinstance(name, str):
        raise _fail(path, raw, "profile", f"{at}.profile", f"must be a profile name, got {name!r}")
    try:
        find_profile(name)
    except ConfigError:
        from simulators.core.errors import unknown_name

        raise _fail(path, raw, "profile", f"{at}.profile",
                    unknown_name("profile", name, available_profiles())) from None
    return name


def _fault(path: str, raw: MarkedDict, at: str) -> dict[str, Any]:
    from simulators.core.errors import ConfigError
    from simulators.core.faults import config_message, validate_rule

    rule = plain(raw["fault"])
    try:
        validate_rule(dict(rule), None)
    except ConfigError as e:
        raise _fail(path, raw, "fault", f"{at}.fault" + (f".{e.field}" if e.field and e.field != "rule" else ""),
                    config_message(e)) from None
    return dict(rule)


class TimelineRunner:
    """Applies a timeline through the control API; `run()` blocks (call it from a greenlet or a thread)."""

    def __init__(self, timeline: Timeline, urls: dict[str, str], *, log_path: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeline, self.urls, self.log_path = timeline, urls, log_path
        self.sleep, self.clock = sleep, clock
        self.applied: list[dict[str, Any]] = []
        self._stopped = False

    def _steps(self) -> list[tuple[float, TimelineEvent, bool]]:
        steps = [(e.at, e, False) for e in self.timeline.events]
        steps += [(e.at + e.duration, e, True) for e in self.timeline.events if e.duration]
        return sorted(steps, key=lambda s: (s[0], s[2] is False))

    def run(self) -> list[dict[str, Any]]:
        """Apply every step at its time; a failed control call is recorded, never fatal to the run."""
        start = self.clock()
        handles: dict[int, Any] = {}
        for when, event, is_revert in self._steps():
            while not self._stopped and self.clock() - start < when:
                self.sleep(min(0.25, max(0.0, when - (self.clock() - start))))
            if self._stopped:
                break
            if is_revert:
                self._revert(event, handles.pop(id(event), None), self.clock() - start)
            else:
                handles[id(event)] = self._apply(event, self.clock() - start)
        return self.applied

    def stop(self) -> None:
        """Stop applying; undo what is still in force (so the SUT can finish its work)."""
        self._stopped = True

    def _control(self, sim: str) -> Any:
        from .client import ControlClient

        if sim not in self.urls:
            raise SandboxError(f"no URL for simulator '{sim}' (known: {', '.join(sorted(self.urls))})")
        return ControlClient(self.urls[sim], timeout=10)

    def _record(self, t: float, event: TimelineEvent, text: str, error: str | None) -> None:
        entry = {"t": round(t, 2), "planned": event.at, "line": event.line, "simulator": event.simulator,
                 "change": text, "ok": error is None, "error": error}
        self.applied.append(entry)
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")

    def _apply(self, event: TimelineEvent, t: float) -> Any:
        result, error = None, None
        try:
            client = self._control(event.simulator)
            if event.action == "profile":
                client.load_profile(event.target)
            elif event.action == "clear":
                client.clear_faults()
            elif event.action == "fault":
                result = (client.add_fault(event.target) or {}).get("id")
            else:
                client.apply_state(event.target, event.params)
        except (SandboxError, OSError) as e:
            error = str(e)
        self._record(t, event, event.describe(), error)
        return result

    def _revert(self, event: TimelineEvent, handle: Any, t: float) -> None:
        error = None
        try:
            client = self._control(event.simulator)
            if event.action == "state" and event.revert:
                client.apply_state(event.revert, {})
                text = f"{event.simulator}: state {event.revert} (end of {event.target})"
            elif event.action == "fault" and handle:
                client.call("DELETE", f"/faults/{handle}")
                text = f"{event.simulator}: remove fault rule {handle}"
            else:
                client.clear_faults()
                text = f"{event.simulator}: clear faults (end of {event.describe()})"
        except (SandboxError, OSError) as e:
            error, text = str(e), f"{event.simulator}: undo {event.describe()}"
        self._record(t, event, text, error)

    def undo_all(self) -> None:
        """After the run: clear faults and revert states on every simulator the timeline touched."""
        for event in self.timeline.events:
            try:
                client = self._control(event.simulator)
                client.clear_faults()
                if event.action == "state" and event.revert:
                    client.apply_state(event.revert, {})
            except (SandboxError, OSError):
                continue

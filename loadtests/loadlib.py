"""Shared by the locustfiles: custom arguments, sandbox endpoints, set-up, the fault timeline greenlet,
open-model pacing, and whole journeys recorded as `JOURNEY` rows next to the requests."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gevent
import requests
from locust import User, constant_throughput, events
from locust.env import Environment
from locust.runners import WorkerRunner

log = logging.getLogger("loadtests")
JOURNEY = "JOURNEY"
_state: dict[str, Any] = {}
control = requests.Session()  # set-up and control-API calls: not SUT traffic, kept out of the stats


class StopJourney(Exception):
    """A step answered something the journey cannot go on from (already recorded as a failure)."""


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    """Custom arguments; each also reads a LOAD_* environment variable."""
    parser.add_argument("--endpoints", default=".sandbox/endpoints.json", env_var="LOAD_ENDPOINTS",
                        help="JSON file {name: URL} of the simulators (written by `sandbox up`)")
    parser.add_argument("--timeline", default="", env_var="LOAD_TIMELINE", help="fault timeline YAML")
    parser.add_argument("--timeline-log", default="", env_var="LOAD_TIMELINE_LOG", help="JSON lines of applied changes")
    parser.add_argument("--seed", type=int, default=1, env_var="LOAD_SEED", help="seed of the Faker data")
    parser.add_argument("--rate", type=float, default=0.0, env_var="LOAD_RATE",
                        help="open model: target requests/s for the whole run, paced with constant_throughput")
    parser.add_argument("--no-setup", action="store_true", default=False, env_var="LOAD_NO_SETUP",
                        help="skip the stock/catalog set-up at start")


def endpoints(environment: Environment) -> dict[str, str]:
    """Simulator URLs from --endpoints (empty when the file is missing: a bare SUT)."""
    if "endpoints" not in _state:
        path = Path(getattr(environment.parsed_options, "endpoints", "") or "")
        _state["endpoints"] = json.loads(path.read_text()) if path.is_file() else {}
    return dict(_state["endpoints"])


def worker_index(environment: Environment) -> int:
    """This process's worker index (0 when running alone)."""
    return int(getattr(environment.runner, "worker_index", 0) or 0)


@events.init.add_listener
def _pacing(environment: Environment, **_: Any) -> None:
    """--rate R: every user paces itself to R / users requests per second (each class knows its requests per task)."""
    opts = environment.parsed_options
    rate = float(getattr(opts, "rate", 0) or 0) if opts else 0.0
    if rate <= 0:
        return
    users = max(1, int(getattr(opts, "num_users", 0) or 1))
    for cls in environment.user_classes:
        per_task = float(getattr(cls, "requests_per_task", 1.0))
        cls.wait_time = constant_throughput(rate / users / per_task)
    log.info("open model: %.1f requests/s over %d users", rate, users)


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    """On the master (or a lone runner): start the fault timeline greenlet."""
    if isinstance(environment.runner, WorkerRunner):
        return
    opts = environment.parsed_options
    if opts is None or not opts.timeline:
        return
    from sandbox.load_timeline import TimelineRunner, load_timeline

    urls = endpoints(environment)
    timeline = load_timeline(opts.timeline, simulators=urls or None)
    runner = TimelineRunner(timeline, urls, log_path=opts.timeline_log or None, sleep=gevent.sleep)
    _state["timeline"] = runner
    _state["timeline_greenlet"] = gevent.spawn(runner.run)
    log.info("fault timeline %s: %d events", timeline.path, len(timeline.events))


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    """Stop the timeline and undo what it left in force, so the SUT can finish its work."""
    runner = _state.pop("timeline", None)
    greenlet = _state.pop("timeline_greenlet", None)
    if runner is not None:
        runner.stop()
        if greenlet is not None:
            greenlet.join(timeout=2)
        runner.undo_all()


def fire_journey(environment: Environment, name: str, started: float, error: BaseException | None) -> None:
    """Record a whole journey as one request event of type JOURNEY (its own row, percentiles and failures)."""
    environment.events.request.fire(request_type=JOURNEY, name=name, response_time=(time.perf_counter() - started) * 1000,
                                    response_length=0, exception=error, context={}, response=None, url=None)


@contextmanager
def journey(user: User, name: str) -> Iterator[None]:
    """Time a journey; it fails when a step raised StopJourney or anything unexpected."""
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except StopJourney as e:
        error = e
    except (requests.RequestException, ValueError, KeyError, TypeError) as e:
        error = e
    fire_journey(user.environment, name, started, error)


def problem(r: Any) -> str:
    """A short failure text: status and problem type/title (no ids, so Locust groups equal failures)."""
    try:
        body = r.json()
        what = body.get("type") if body.get("type") not in (None, "about:blank") else body.get("title")
    except (ValueError, AttributeError):
        what = (r.text or "")[:80].replace("\n", " ")
    return f"{r.status_code} {what or ''}".strip()


def step(user: Any, method: str, path: str, name: str, expect: tuple[int, ...] = (200,), *, fatal: bool = True,
         **kw: Any) -> Any:
    """One SUT call inside a journey: an unexpected status is a failure and (when fatal) stops the journey."""
    with user.client.request(method, path, name=name, catch_response=True, **kw) as r:
        if r.status_code in expect:
            r.success()
            return r
        r.failure(f"{problem(r)} (expected {'/'.join(map(str, expect))})")
    if fatal:
        raise StopJourney(f"{name}: {r.status_code}")
    return None


def seed_for(environment: Environment, number: int) -> int:
    """A per-user seed: the run's --seed, the worker index and the user's number in this process."""
    seed = int(getattr(environment.parsed_options, "seed", 1) or 1)
    return seed * 1_000_003 + worker_index(environment) * 10_007 + number


def run_tag() -> str:
    """Unique per process and run, so seeded e-mails never collide with an earlier run's customers."""
    return f"{os.getpid():x}{int(time.time()) % 100000:05d}"

"""Load shapes for any locustfile: ramp, spike, soak — `-u` is the peak, `-t` the duration, `--shape` which.

    locust -f loadtests/shop.py,loadtests/shapes.py --headless --shape spike -u 40 -t 2m --host URL
"""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape, events


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    """--shape and its knobs (also LOAD_SHAPE, LOAD_SHAPE_BASE environment variables)."""
    parser.add_argument("--shape", choices=["ramp", "spike", "soak"], default="ramp", env_var="LOAD_SHAPE",
                        help="ramp: up to -u over 70%% of -t then hold; spike: base, a burst to -u, base again; "
                             "soak: -u for the whole -t")
    parser.add_argument("--shape-base", type=float, default=0.25, env_var="LOAD_SHAPE_BASE",
                        help="spike: the baseline as a fraction of -u")


def users_at(shape: str, t: float, duration: float, peak: int, base: float = 0.25) -> tuple[int, float] | None:
    """(users, spawn rate) at t seconds of a run of `duration` seconds peaking at `peak` users; None at the end."""
    if t >= duration:
        return None
    peak = max(1, peak)
    if shape == "ramp":
        climb = max(1.0, duration * 0.7)
        users = min(peak, max(1, round(peak * min(1.0, (t + 1) / climb))))
        return users, max(1.0, peak / climb * 2)
    if shape == "spike":
        low = max(1, round(peak * base))
        burst = duration * 0.4 <= t < duration * 0.6
        return (peak, float(peak)) if burst else (low, float(peak))
    ramp_up = min(10.0, duration * 0.1)
    return (peak if t >= ramp_up else max(1, round(peak * (t + 1) / max(ramp_up, 1.0)))), max(1.0, peak / ramp_up)


class SandboxShape(LoadTestShape):
    """One shape class whose form is chosen by --shape (Locust uses the first shape class it finds)."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        duration = float(getattr(opts, "run_time", 0) or 60)
        peak = int(getattr(opts, "num_users", 0) or 10)
        shape = getattr(opts, "shape", "ramp")
        return users_at(shape, self.get_run_time(), duration, peak, float(getattr(opts, "shape_base", 0.25)))

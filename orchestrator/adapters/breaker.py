"""A circuit breaker per provider that never serializes the calls it guards.

pybreaker holds one lock for the whole guarded call (danielfm/pybreaker#3; the pull requests that removed it,
#40, #41, #57 and #77, were closed unmerged), so every call to a provider waited for the previous one: the
checkout benchmark measured it as the orchestrator's main wait. Here the lock covers only the state
transitions, a few attribute writes; the call itself runs outside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class BreakerOpen(Exception):
    """The breaker refuses the call; `retry_after` seconds until it lets a trial call through."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit breaker of {name} is open")
        self.retry_after = retry_after


class CircuitBreaker:
    """Closed until `fail_max` consecutive failures; open for `reset_s`; then half-open: one trial call
    decides (success closes it, failure opens it again) while the other calls are refused."""

    def __init__(self, name: str, *, fail_max: int, reset_s: float,
                 on_change: Callable[[str, str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.fail_max, self.reset_s = name, fail_max, reset_s
        self._on_change, self._clock = on_change, clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> str:
        """closed, open or half-open (an open breaker whose reset time has passed is half-open)."""
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_s:
            return HALF_OPEN
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when it would now)."""
        return max(0.0, self.reset_s - (self._clock() - self._opened_at)) if self._state == OPEN else 0.0

    def admit(self) -> None:
        """Let a call through, or raise BreakerOpen. Closed: lock-free, the common case."""
        if self._state == CLOSED:
            return
        with self._lock:
            if self._state == CLOSED:
                return
            if self._state == OPEN:
                wait = self.retry_after()
                if wait > 0:
                    raise BreakerOpen(self.name, wait)
                self._move(HALF_OPEN)
            if self._trial_running:  # half-open: one trial at a time
                raise BreakerOpen(self.name, 1.0)
            self._trial_running = True

    def success(self) -> None:
        """The call worked (or the provider answered a deliberate rejection): close, reset the count."""
        if self._state == CLOSED and not self._failures:
            return
        with self._lock:
            self._failures = 0
            self._trial_running = False
            if self._state != CLOSED:
                self._move(CLOSED)

    def failure(self) -> None:
        """The provider failed: count it; open at `fail_max`, or at once when a half-open trial failed."""
        with self._lock:
            self._failures += 1
            trial, self._trial_running = self._trial_running, False
            if trial or (self._state == CLOSED and self._failures >= self.fail_max):
                self._opened_at = self._clock()
                self._move(OPEN)

    def _move(self, new: str) -> None:
        """Change state (lock held) and tell the listener."""
        old, self._state = self._state, new
        if self._on_change is not None and old != new:
            self._on_change(self.name, old, new)

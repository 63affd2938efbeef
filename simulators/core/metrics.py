"""Prometheus metrics of one simulator: requests by operation and status, faults, latency."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """A registry of its own per simulator, so several simulators in one process do not collide."""

    def __init__(self, simulator: str) -> None:
        self.registry = CollectorRegistry()
        self.simulator = simulator
        self.requests = Counter("sandbox_requests", "Requests answered, by operation and status",
                                ["simulator", "operation", "status"], registry=self.registry)
        self.faults = Counter("sandbox_faults_applied", "Fault rules that fired, by rule name",
                              ["simulator", "rule"], registry=self.registry)
        self.violations = Counter("sandbox_contract_violations", "Responses that broke the contract",
                                  ["simulator", "operation"], registry=self.registry)
        self.latency = Histogram("sandbox_request_duration_seconds", "Time to answer, faults included",
                                 ["simulator", "operation"], buckets=_BUCKETS, registry=self.registry)
        self._children: dict[tuple[str, int | None], tuple[Any, Any]] = {}

    def observe(self, operation: str, status: int | None, seconds: float, faults: list[str]) -> None:
        key = (operation, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds tuples: look each pair up once
            children = (self.requests.labels(self.simulator, operation, str(status) if status else "lost"),
                        self.latency.labels(self.simulator, operation))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        for rule in faults:
            self.faults.labels(self.simulator, rule).inc()

    def contract_violation(self, operation: str) -> None:
        self.violations.labels(self.simulator, operation).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)

"""HTTP client shared by the provider adapters: timeouts, retries, Retry-After, breaker, correlation."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

from .. import context, logs, metrics
from ..config import ClientPolicy
from ..errors import CircuitOpen, ProviderRejected, ProviderUnavailable, RetryableHTTPError
from .breaker import BreakerOpen, CircuitBreaker
from .transport import Connections, TransportError

log = logs.get("adapters")
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def seg(value: Any) -> str:
    """A value as one URL path segment (`/`, `?`, `#`, `%` and spaces escaped)."""
    return quote(str(value), safe="")


class WaitRetryAfter(wait_base):
    """Exponential backoff with full jitter, but never shorter than the provider's Retry-After."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s, self.max_s = base_s, max_s

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        import random

        ceiling = min(self.max_s, self.base_s * (2 ** (retry_state.attempt_number - 1)))
        wait = random.uniform(0, ceiling)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return max(wait, retry_after) if retry_after is not None else wait


def _breaker_changed(name: str, old: str, new: str) -> None:
    """Export the breaker state and log the transition."""
    metrics.BREAKER_STATE.labels(name).set(metrics.BREAKER_CODES.get(new, 0))
    log.warning("circuit breaker state changed", extra={"provider": name, "from": old, "to": new})


class ProviderClient:
    """One provider's HTTP client; adapters call `request(operation, method, path, ...)`."""

    provider = "provider"

    def __init__(self, base_url: str, policy: ClientPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or ClientPolicy()
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{self.provider} base URL {base_url!r} is not an http(s)://host[:port] URL; "
                             f"fix --{self.provider}-url or ORCH_{self.provider.upper()}_URL")
        self._prefix = url.path
        # keep-alive connections, answers parsed by httptools (transport.py): a third of urllib3's CPU per call
        self.connections = Connections(url.hostname, url.port, https=url.scheme == "https",
                                       connect_timeout_s=self.policy.connect_timeout_s,
                                       read_timeout_s=self.policy.read_timeout_s)
        self.breaker = CircuitBreaker(self.provider, fail_max=self.policy.breaker_fail_max,
                                      reset_s=self.policy.breaker_reset_s, on_change=_breaker_changed)
        metrics.BREAKER_STATE.labels(self.provider).set(0)
        self._series: dict[tuple[str, str], tuple[Any, Any]] = {}  # (operation, outcome) -> metric series

    # -- public ----------------------------------------------------------------------------------

    def request(self, operation: str, method: str, path: str, *, json_body: Any = None,
                params: dict[str, Any] | None = None, idempotency_key: str | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """Call the provider with retries; returns the decoded JSON body (or None when empty).

        The first attempt runs outside tenacity: building and running its state machine cost ~25 µs a call,
        paid on every checkout step although almost every call succeeds at once. Only a retryable failure
        of a call that is safe to repeat enters tenacity, which starts from that failure as attempt 1.
        """
        method = method.upper()
        args = (operation, method, path, json_body, params, idempotency_key, headers)
        try:
            return self._guarded(*args)
        except RetryableHTTPError as exc:
            if not (method in SAFE_METHODS or idempotency_key is not None) or not self.policy.retries:
                raise  # not safe to repeat (or no retries): one attempt
            first: list[BaseException] = [exc]

        def attempt(*attempt_args: Any) -> Any:
            if first:  # attempt 1 already happened: hand its failure to tenacity
                raise first.pop()
            return self._guarded(*attempt_args)

        return self._retrying(attempt, *args)

    def _retrying(self, fn: Any, *args: Any) -> Any:
        """Attempts 2..1+retries: backoff with jitter, Retry-After honoured, only retryable failures."""
        retrying = Retrying(
            stop=stop_after_attempt(1 + self.policy.retries),
            wait=WaitRetryAfter(self.policy.backoff_base_s, self.policy.backoff_max_s),
            retry=retry_if_exception_type(RetryableHTTPError) & _retry_after_within(self.policy.max_retry_after_s),
            reraise=True, before_sleep=lambda state: self._before_sleep(args[0], state))
        return retrying(fn, *args)

    def breaker_state(self) -> str:
        """closed, half-open or open."""
        return self.breaker.state

    # -- internals -------------------------------------------------------------------------------

    def _before_sleep(self, operation: str, state: RetryCallState) -> None:
        """Count and log a retry."""
        exc = state.outcome.exception() if state.outcome else None
        reason = str(getattr(exc, "status", None) or type(exc).__name__)
        metrics.PROVIDER_RETRIES.labels(self.provider, operation, reason).inc()
        log.info("retrying provider call", extra={
            "provider": self.provider, "operation": operation, "attempt": state.attempt_number,
            "reason": reason, "sleep_s": round(state.upcoming_sleep, 3)})

    def _guarded(self, operation: str, *args: Any) -> Any:
        """One attempt through the circuit breaker (a rejection is an answer: it does not count as failure)."""
        try:
            self.breaker.admit()
        except BreakerOpen as exc:
            metrics.PROVIDER_CALLS.labels(self.provider, operation, "breaker_open").inc()
            raise CircuitOpen(self.provider, operation, "circuit breaker open",
                              retry_after=max(1.0, exc.retry_after)) from exc
        try:
            result = self._send(operation, *args)
        except ProviderRejected:
            self.breaker.success()
            raise
        except BaseException:
            self.breaker.failure()
            raise
        self.breaker.success()
        return result

    def _send(self, operation: str, method: str, path: str, json_body: Any,
              params: dict[str, Any] | None, idempotency_key: str | None,
              extra_headers: dict[str, str] | None) -> Any:
        """One HTTP attempt, classified into success, rejection or (retryable) unavailability."""
        headers = {"Accept": "application/json", **context.propagation_headers(), **(extra_headers or {})}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        payload = None
        if json_body is not None:
            try:
                payload = orjson.dumps(json_body)
            except TypeError:  # integers beyond 64 bits: the standard library writes them, the provider judges
                payload = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        url = self._prefix + path + ("?" + urlencode(params, doseq=True) if params else "")
        started = time.perf_counter()
        try:
            resp = self.connections.request(method, url, payload, headers)
        except TransportError as exc:  # refused, reset, dropped, timed out, broken response
            self._observe(operation, started, "retryable")
            raise RetryableHTTPError(self.provider, operation, str(exc)) from exc
        body = _decode(resp.body)
        status = resp.status
        problem = None if body is _MALFORMED else body
        if status in RETRYABLE_STATUS or (status == 409 and resp.headers.get("retry-after")):
            # 409 + Retry-After: the provider is still processing the same Idempotency-Key
            self._observe(operation, started, "retryable")
            raise RetryableHTTPError(self.provider, operation, f"HTTP {status}", status=status, body=problem,
                                     retry_after=parse_retry_after(resp.headers.get("retry-after")))
        if status >= 500:
            self._observe(operation, started, "error")
            raise ProviderUnavailable(self.provider, operation, f"HTTP {status}", status=status, body=problem)
        if status >= 400:
            self._observe(operation, started, "rejected")
            raise ProviderRejected(self.provider, operation, f"HTTP {status}", status=status, body=problem)
        if body is _MALFORMED:
            self._observe(operation, started, "error")
            raise ProviderUnavailable(self.provider, operation, f"HTTP {status} with a malformed body",
                                      status=status)
        self._observe(operation, started, "ok")
        return body

    def _observe(self, operation: str, started: float, outcome: str) -> None:
        """Latency and outcome metrics of one attempt (the labelled series looked up once: `labels()` takes
        a lock and builds a key on every call)."""
        series = self._series.get((operation, outcome))
        if series is None:
            series = self._series[(operation, outcome)] = (
                metrics.PROVIDER_SECONDS.labels(self.provider, operation),
                metrics.PROVIDER_CALLS.labels(self.provider, operation, outcome))
        series[0].observe(time.perf_counter() - started)
        series[1].inc()


_MALFORMED = object()


def _decode(raw: bytes) -> Any:
    """The JSON body, None when empty, or the _MALFORMED marker."""
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _MALFORMED


def _retry_after_within(limit_s: float) -> Any:
    """Retry only while the provider's Retry-After stays within what we are willing to wait."""
    from tenacity import retry_if_exception

    return retry_if_exception(lambda exc: (getattr(exc, "retry_after", None) or 0.0) <= limit_s)

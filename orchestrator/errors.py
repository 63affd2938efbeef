"""Errors of the orchestrator; each one maps to an application/problem+json answer."""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Base class of every error the orchestrator raises on purpose."""


class ProblemError(OrchestratorError):
    """An HTTP error answered as application/problem+json (RFC 9457)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.headers = dict(headers or {})
        self.retry_after, self.extensions = retry_after, extensions
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")

    def body(self) -> dict[str, Any]:
        """The problem document."""
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update({k: v for k, v in self.extensions.items() if v is not None})
        return body


class ProviderError(OrchestratorError):
    """A provider call did not give a usable answer."""

    def __init__(self, provider: str, operation: str, message: str, *, status: int | None = None,
                 body: Any = None, retry_after: float | None = None) -> None:
        self.provider, self.operation, self.status = provider, operation, status
        self.body, self.retry_after = body, retry_after
        super().__init__(f"{provider}.{operation}: {message}")

    @property
    def code(self) -> str | None:
        """The provider's machine-readable reason (decline_code, code or title), if any."""
        if isinstance(self.body, dict):
            for key in ("decline_code", "code", "reason", "title"):
                if isinstance(self.body.get(key), str):
                    return str(self.body[key])
        return None


class ProviderRejected(ProviderError):
    """The provider answered a definitive 4xx (decline, conflict, validation): retrying cannot help."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or kept failing (timeouts, 5xx, 429, breaker open)."""


class RetryableHTTPError(ProviderUnavailable):
    """One attempt failed in a way that a retry may fix (429, 502, 503, 504, connection, timeout)."""


class CircuitOpen(ProviderUnavailable):
    """The provider's circuit breaker is open; calls are refused without trying."""

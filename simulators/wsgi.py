"""The hot path's WSGI entry: a request goes from the environ straight to the engine and back, without
Flask's request/response objects (measured: they cost more than validation, faults and journal together).
`create_app` still returns a Flask app; this replaces its `wsgi_app`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from .core.engine import Outcome, RawRequest, Simulator
from .core.errors import ProblemError

StartResponse = Callable[..., Any]
_REASONS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def status_line(status: int) -> str:
    return _REASONS.get(status, f"{status} Unknown")


def raw_request(environ: dict[str, Any]) -> RawRequest:
    """Method, path (still percent-encoded where the server kept it), query, lower-case headers, body."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        headers["content-length"] = length
    try:
        body = environ["wsgi.input"].read(int(length)) if length else b""
    except ValueError:
        raise ProblemError(400, "Bad Content-Length", f"Content-Length '{length}' is not a number") from None
    query = environ.get("QUERY_STRING", "")
    return RawRequest(
        method=environ["REQUEST_METHOD"],
        path=environ.get("PATH_INFO") or "/",
        query=parse_qs(query, keep_blank_values=True) if query else {},
        headers=headers,
        body=body,
    )


class SimulatorWSGI:
    """Route /__sandbox to the control simulator and everything else to the provider's simulator."""

    def __init__(self, sim: Simulator, control: Any, respond: Callable[[Outcome, dict[str, Any]], Any]) -> None:
        self.sim, self.control, self.respond = sim, control, respond

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            raw = raw_request(environ)
            if raw.path.startswith("/__sandbox"):
                self.control.authorize(raw)
                outcome = self.control.control_sim.handle(raw)
            else:
                outcome = self.sim.handle(raw)
        except ProblemError as p:
            from .core.replies import problem_outcome

            outcome = Outcome(*problem_outcome(p, ""))
        if outcome.connection is not None or outcome.after is not None or outcome.bytes_per_s \
                or outcome.post_delay_ms:
            return self.respond(outcome, environ)(environ, start_response)  # type: ignore[no-any-return]
        headers = list(outcome.headers.items())
        headers.append(("Content-Length", str(len(outcome.body))))
        start_response(status_line(outcome.status), headers)
        return [outcome.body]


"""The orchestrator's Flask app factory: blueprints, correlation ids, problem+json errors."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import orjson
from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from . import context, logs
from .api import ops, storefront, validation, webhooks
from .config import Config
from .errors import CircuitOpen, ProblemError, ProviderRejected, ProviderUnavailable
from .flows import checkout, fulfilment, refunds
from .outbox import OutboxWorker
from .services import Services

log = logs.get("app")
# An X-Correlation-ID every provider accepts (the legacy backend's rule, the strictest; the storefront
# contract's CorrelationId): any other is replaced by a fresh id, so no provider call is refused over it.
CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def create_app(config: Config | None = None, *, services: Services | None = None) -> Flask:
    """Build the app; `app.extensions['orchestrator']` holds the Services, `start_worker(app)` the worker."""
    config = config or Config.from_env()
    svc = services or Services.build(config)
    svc.outbox.register(checkout.PROCESS, lambda p: checkout.process_message(svc, p))
    fulfilment.register(svc)
    refunds.register(svc)
    app = Orchestrator("orchestrator")
    app.json = OrjsonProvider(app)
    app.extensions["orchestrator"] = svc
    app.register_blueprint(storefront.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(ops.bp)
    _correlation(app)
    validation.init_app(app)  # after the correlation id is bound: a 400 carries it
    _errors(app)
    return app


class Orchestrator(Flask):
    """Flask, answering OPTIONS with the methods of the resource a URL names (see `allowed_methods`)."""

    def make_default_options_response(self) -> Response:
        """An empty 200 whose Allow lists the resource's methods."""
        response = self.response_class()
        response.headers["Allow"] = ", ".join(allowed_methods(self))
        return response


def allowed_methods(app: Flask) -> list[str]:
    """The methods of the route the request's path matches first (a concrete path before a template, as
    OpenAPI matches), not of every route it fits: /customers/migrations is not /customers/<customer_id>."""
    adapter = app.create_url_adapter(request)
    try:
        rule, _ = adapter.match(request.path, method="OPTIONS", return_rule=True)  # type: ignore[union-attr]
    except HTTPException:  # no route fits the path
        return []
    return sorted({m for r in app.url_map.iter_rules() if r.rule == rule.rule for m in r.methods or ()})


class OrjsonProvider(DefaultJSONProvider):
    """Flask JSON through orjson (several times faster than the stdlib on every request and response)."""

    sort_keys = False

    def _bytes(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default)
        except TypeError:  # an integer beyond 64 bits (echoed input): the standard library writes it
            return json.dumps(obj, default=self.default, separators=(",", ":")).encode()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize (what orjson cannot, Flask's default handles: dates, decimals, ...)."""
        return self._bytes(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse."""
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A JSON response without the str round trip."""
        obj = self._prepare_response_obj(args, kwargs)
        return Response(self._bytes(obj), mimetype=self.mimetype)


def start_worker(app: Flask) -> OutboxWorker:
    """Start the outbox worker thread of this process."""
    svc: Services = app.extensions["orchestrator"]
    worker = OutboxWorker(svc.outbox, poll_s=svc.config.outbox_poll_s, threads=svc.config.outbox_threads,
                          batch=8).start()
    app.extensions["orchestrator.worker"] = worker
    return worker


def _correlation(app: Flask) -> None:
    """Bind X-Correlation-ID and the W3C trace id for the request; echo the id on the response."""

    @app.before_request
    def _bind() -> None:
        cid = request.headers.get("X-Correlation-ID", "")
        if not CORRELATION_ID.fullmatch(cid):
            cid = context.new_correlation_id()
        g.correlation_tokens = context.bind(cid, context.trace_from_header(request.headers.get("traceparent")))
        g.started = time.perf_counter()

    @app.after_request
    def _echo(response: Response) -> Response:
        cid = context.correlation_id()
        if cid:
            response.headers["X-Correlation-ID"] = cid
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        tokens = g.pop("correlation_tokens", None)
        if tokens is not None:
            context.unbind(tokens)


def problem(status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
            headers: dict[str, str] | None = None, **extensions: Any) -> Response:
    """An application/problem+json response."""
    body = ProblemError(status, title, detail, type_=type_, **extensions).body()
    cid = context.correlation_id()
    if cid:
        body["correlation_id"] = cid
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.update(headers or {})
    return response


def _errors(app: Flask) -> None:
    """Every error leaves as problem+json; never a stack trace."""

    @app.errorhandler(ProblemError)
    def _problem(exc: ProblemError) -> Response:
        headers = dict(exc.headers)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(int(exc.retry_after))
        return problem(exc.status, exc.title, exc.detail, type_=exc.type, headers=headers, **exc.extensions)

    @app.errorhandler(ProviderRejected)
    def _rejected(exc: ProviderRejected) -> Response:
        body = exc.body if isinstance(exc.body, dict) else {}
        status = exc.status if exc.status in (404, 409, 422) else 422
        return problem(status, str(body.get("title") or "Rejected by a provider"), str(body.get("detail") or exc),
                       type_="/problems/provider-rejected", provider=exc.provider, operation=exc.operation,
                       provider_status=exc.status, errors=body.get("errors"))

    @app.errorhandler(ProviderUnavailable)
    def _unavailable(exc: ProviderUnavailable) -> Response:
        retry = int(max(1, exc.retry_after or 5))
        title = "Provider circuit open" if isinstance(exc, CircuitOpen) else "Provider unavailable"
        return problem(503, title, f"{exc.provider} is not answering; retry later", headers={"Retry-After": str(retry)},
                       type_="/problems/provider-unavailable", provider=exc.provider)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        allowed = allowed_methods(app) if exc.code == 405 else []
        headers = {"Allow": ", ".join(allowed)} if allowed else {}
        return problem(exc.code or 500, exc.name, exc.description, headers=headers)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path})
        return problem(500, "Internal error", "the orchestrator failed unexpectedly; see its logs with the "
                       "correlation id", type_="/problems/internal")

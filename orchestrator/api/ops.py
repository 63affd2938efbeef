"""Operations endpoints: health, Prometheus metrics, dead letters and replay."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from .. import metrics
from ..services import Services
from . import validation

bp = Blueprint("ops", __name__)


def _svc() -> Services:
    """The services of the running app."""
    return current_app.extensions["orchestrator"]


@bp.get("/health")
def health() -> ResponseReturnValue:
    """getHealth: database, outbox and each provider's breaker."""
    svc = _svc()
    db_ok = svc.store.ping()
    stats = svc.outbox.stats() if db_ok else {"pending": {}, "dead_letters": None}
    breakers = svc.breakers()
    status = "ok" if db_ok and all(v == "closed" for v in breakers.values()) else "degraded"
    if not db_ok:
        status = "down"
    body = {"status": status, "database": "ok" if db_ok else "down", "breakers": breakers,
            "outbox": {"pending": sum(stats["pending"].values()), "dead_letters": stats["dead_letters"]},
            "providers": {"payment": svc.config.payment_url, "delivery": svc.config.delivery_url,
                          "legacy": svc.config.legacy_url, "notifications": svc.config.notifications_url}}
    return jsonify(body), 200 if db_ok else 503


@bp.get("/metrics")
def prometheus() -> ResponseReturnValue:
    """getMetrics: Prometheus text (outbox depth and dead letters refreshed on scrape)."""
    try:
        _svc().outbox.stats()
    except Exception:  # a metrics scrape never fails because the database is slow
        pass
    return Response(metrics.render(), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/admin/dead-letters")
def dead_letters() -> ResponseReturnValue:
    """listDeadLetters."""
    items = [{"id": m["id"], "topic": m["topic"], "key": m["key"], "payload": m["payload"],
              "attempts": m["attempts"], "last_error": m["last_error"]} for m in _svc().outbox.dead_letters()]
    return jsonify({"items": items})


@bp.post("/admin/dead-letters/replay")
def replay() -> ResponseReturnValue:
    """replayDeadLetters: all, or the ids given."""
    ids = (validation.validated().body or {}).get("ids")
    return jsonify({"replayed": _svc().outbox.replay(None if ids is None else [int(i) for i in ids])})

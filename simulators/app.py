"""Flask glue: `create_app(contract)` turns one OpenAPI contract into a working simulator app."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response

from .core.behaviours import Behaviours
from .core.contract import load_contract
from .core.engine import Outcome, Simulator
from .core.store import StateStore, open_store

MAX_HOLD_S = 120.0


def simulator_name(contract_path: str | Path) -> str:
    """'contracts/payment.openapi.yaml' -> 'payment'."""
    return Path(contract_path).name.split(".")[0]


def create_app(
    contract_path: str | Path,
    *,
    name: str | None = None,
    seed: int = 0,
    store: StateStore | str | None = None,
    strict: bool = True,
    behaviours: Behaviours | str | None = "auto",
    config: dict[str, Any] | None = None,
    profile: str | None = None,
    profiles_dirs: list[str | Path] | None = None,
    webhook_secret: str = "whsec_sandbox",
    webhook_target: str | None = None,
    token: str | None = None,
    journal_capacity: int = 10_000,
) -> Flask:
    """A Flask app serving one contract, with validation, behaviours, faults, journal and control API."""
    from . import control

    name = name or simulator_name(contract_path)
    if behaviours == "auto":
        from .providers import REGISTRY

        behaviours = REGISTRY.get(name)
    if store is None or isinstance(store, str):
        store = open_store(store, journal_capacity)
    sim = Simulator(
        load_contract(contract_path), name=name, store=store, seed=seed, strict=strict,
        behaviours=behaviours if isinstance(behaviours, Behaviours) else None,
        config=config, webhook_secret=webhook_secret,
    )
    app = Flask(f"simulator-{name}")
    app.extensions["simulator"] = sim
    ctl = control.init_app(app, sim, token=token, profiles_dirs=profiles_dirs)
    if profile:
        ctl.load_profile(profile)
    if webhook_target and sim.webhooks is not None:
        sim.webhooks.set_target(webhook_target)

    from .wsgi import SimulatorWSGI

    app.wsgi_app = SimulatorWSGI(sim, ctl, respond)  # type: ignore[method-assign]
    return app


def respond(outcome: Outcome, environ: dict[str, Any]) -> Response:
    """Send the outcome, or break the connection the way a fault effect asked."""
    if outcome.connection is not None:
        kind, ms = outcome.connection
        return _lose(kind, ms, environ)
    if outcome.after is not None:
        kind, arg = outcome.after
        if kind == "status":
            from .core.errors import ProblemError
            from .core.replies import problem_outcome

            status = int(arg or 502)
            p = ProblemError(status, "Response lost after commit", "injected by commit_then_fail: the work was done")
            outcome.status, outcome.headers, outcome.body = problem_outcome(
                p, outcome.headers.get("X-Correlation-ID", "")
            )
        else:
            return _lose(kind, float(arg or 0), environ)
    if outcome.post_delay_ms:
        time.sleep(outcome.post_delay_ms / 1000)
    headers = dict(outcome.headers)
    content_type = headers.pop("Content-Type", None)
    if outcome.bytes_per_s:
        headers["Content-Length"] = str(len(outcome.body))
        return Response(_trickle(outcome.body, outcome.bytes_per_s), outcome.status, headers,
                        content_type=content_type, direct_passthrough=True)
    return Response(outcome.body, outcome.status, headers, content_type=content_type)


def _trickle(body: bytes, bytes_per_s: int) -> Iterator[bytes]:
    step = max(1, bytes_per_s // 10)
    for i in range(0, len(body), step):
        yield body[i : i + step]
        time.sleep(step / bytes_per_s)


def _lose(kind: str, ms: float, environ: dict[str, Any]) -> Response:
    """reset: TCP RST; empty: close with no bytes; timeout: hold, then close with no bytes."""
    if kind == "timeout":
        time.sleep(min(ms / 1000, MAX_HOLD_S))
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is not None:
        if kind == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Swap the connection's descriptor for an unconnected socket: the client's side closes now
        # (RST with linger 0, FIN otherwise) and the server's later write fails quietly (ENOTCONN).
        spare = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        os.dup2(spare.fileno(), sock.fileno())
        spare.close()
    return Response(b"", 599, {"Connection": "close"})

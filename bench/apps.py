"""The two apps bench/simulator.py compares, served the same way: the simulator (validation, faults,
journal, idempotency, metrics all on) and a bare Flask app with the same handler.

    python bench/apps.py simulator|bare [--workers N] [--store URL]   prints READY http://127.0.0.1:PORT
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "tests" / "data" / "specs" / "engine-test.openapi.yaml"


def note(text: str) -> dict[str, Any]:
    """The handler both apps run."""
    return {"id": str(uuid.uuid4()), "text": text, "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


def simulator_app(store: str | None) -> Any:
    from simulators.app import create_app
    from simulators.core.behaviours import Behaviours, Reply

    bench = Behaviours("bench")

    @bench.operation("addNote")
    def add_note(req: Any, sim: Any) -> Reply:
        return Reply(201, note(req.body["text"]))

    @bench.operation("getOrder")
    def get_order(req: Any, sim: Any) -> Any:
        return {"id": req.path_params["order_id"], "sku": "SKU-1", "quantity": 1, "status": "placed",
                "email": "ann@example.com"}

    return create_app(SPEC, name="bench", behaviours=bench, store=store)


def bare_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.post("/notes")
    def add_note() -> Any:
        return jsonify(note(request.get_json()["text"])), 201

    @app.get("/orders/<order_id>")
    def get_order(order_id: str) -> Any:
        return jsonify({"id": order_id, "sku": "SKU-1", "quantity": 1, "status": "placed",
                        "email": "ann@example.com"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["simulator", "bare"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--store")
    args = parser.parse_args()
    from simulators.cli import announce
    from simulators.server import serve

    store = args.store
    if args.which == "simulator" and args.workers > 1 and not store:
        path = ROOT / ".sandbox" / f"bench-{os.getpid()}.db"
        path.parent.mkdir(exist_ok=True)
        store = f"sqlite:///{path}"
    app = simulator_app(store) if args.which == "simulator" else bare_app()
    serve(lambda: app, port=0, workers=args.workers, on_ready=announce, name=f"bench-{args.which}",
          cleanup=[store.removeprefix("sqlite:///")] if store and not args.store else [])


if __name__ == "__main__":
    main()

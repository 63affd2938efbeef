"""`python -m orchestrator serve|replay-dead-letters|dead-letters`: run the reference integration layer."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Any

from . import logs
from .config import Config

# --worker-class: gunicorn's worker class for each choice (the first is the default)
WORKER_CLASSES = {"threads": "leanhttp.threads.ThreadWorker", "gthread": "gthread", "gevent": "gevent"}


def _config(args: argparse.Namespace) -> Config:
    """Config from the environment, overridden by flags given."""
    return Config.from_env(
        payment_url=args.payment_url, delivery_url=args.delivery_url, legacy_url=args.legacy_url,
        notifications_url=args.notifications_url, database_url=args.database_url,
        webhook_secret=getattr(args, "webhook_secret", None), table_prefix=getattr(args, "table_prefix", None),
        checkout_lease_s=getattr(args, "checkout_lease", None),
        outbox_max_attempts=getattr(args, "outbox_max_attempts", None),
        outbox_backoff_s=getattr(args, "outbox_backoff", None), log_level=getattr(args, "log_level", None))


def serve(args: argparse.Namespace) -> int:
    """Serve with gunicorn; print `READY http://HOST:PORT` once listening.

    Worker classes: "threads" (default) is `leanhttp.ThreadWorker`, a thread per connection running a lean
    keep-alive loop: gthread's poller/thread-pool hand-offs and per-request parser and Response objects cost
    0.3-1 ms of CPU per request more (docs/architecture.md, docs/performance.md).
    "gthread" and "gevent" are gunicorn's own, kept to compare against."""
    from gunicorn.app.base import BaseApplication

    config = _config(args)
    logs.setup(config.log_level)
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # one set of metrics over every worker process (metrics.py); set before any worker imports them
        metrics_dir = tempfile.mkdtemp(prefix="orchestrator-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    class Orchestrator(BaseApplication):  # type: ignore[misc]
        """gunicorn application: the app is built in each worker (no database handles across fork)."""

        def load_config(self) -> None:
            """gunicorn settings."""
            settings = {"bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": args.threads,
                        "worker_class": WORKER_CLASSES[args.worker_class], "timeout": 60, "graceful_timeout": 5,
                        "keepalive": 5,
                        # gevent: connections served at once; threads, gthread: connections held (threads: a
                        # thread each; gthread drops keep-alive once it holds this many, and at `threads`
                        # webhooks reconnected every time)
                        "worker_connections": args.threads if args.worker_class == "gevent" else 1000,
                        "accesslog": None, "errorlog": "-", "loglevel": "warning",
                        "when_ready": _when_ready, "post_worker_init": _post_worker_init,
                        "child_exit": _child_exit}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            """Build the Flask app inside the worker process."""
            from .app import create_app

            return create_app(config)

    try:
        Orchestrator().run()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _when_ready(server: Any) -> None:
    """Announce the bound address (port 0 → the real port) on stdout."""
    host, port = server.LISTENERS[0].sock.getsockname()[:2]
    print(f"READY http://{host}:{port}", flush=True)


def _child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its live gauges (breaker states) stop counting."""
    from . import metrics

    metrics.worker_exited(worker.pid)


def _post_worker_init(worker: Any) -> None:
    """Settle the worker's heap for the garbage collector, then start its outbox worker thread."""
    from leanhttp import settle_heap

    from .app import start_worker

    settle_heap()
    start_worker(worker.wsgi)


def replay_dead_letters(args: argparse.Namespace) -> int:
    """Put dead letters back in the outbox queue."""
    from .outbox import Outbox
    from .store import Store

    config = _config(args)
    store = Store(config.database_url, prefix=config.table_prefix)
    store.create_all()
    count = Outbox(store).replay([int(i) for i in args.ids] if args.ids else None)
    print(json.dumps({"replayed": count}))
    return 0


def list_dead_letters(args: argparse.Namespace) -> int:
    """Print dead letters as JSON lines."""
    from .outbox import Outbox
    from .store import Store

    config = _config(args)
    store = Store(config.database_url, prefix=config.table_prefix)
    store.create_all()
    for msg in Outbox(store).dead_letters():
        print(json.dumps({k: msg[k] for k in ("id", "topic", "key", "attempts", "last_error", "payload")}))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    """Flags every command shares (unset flags fall back to ORCH_* / DATABASE_URL / defaults)."""
    p.add_argument("--payment-url")
    p.add_argument("--delivery-url")
    p.add_argument("--legacy-url")
    p.add_argument("--notifications-url")
    p.add_argument("--database-url", help="sqlite:///.sandbox/orchestrator.db (default) or postgresql://...")
    p.add_argument("--table-prefix")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the storefront API, webhook receivers and the outbox worker")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=16,
                   help="gthread: threads per worker; gevent: connections per worker; threads: unused (a thread "
                        "per connection, up to 1000)")
    p.add_argument("--worker-class", choices=list(WORKER_CLASSES), default="threads",
                   help="threads: a thread per connection with a lean HTTP/1.1 loop (0.3-1 ms less CPU a "
                        "request than gthread); gthread, gevent: gunicorn's own")
    p.add_argument("--webhook-secret")
    p.add_argument("--checkout-lease", type=float, help="seconds before a crashed checkout is resumed")
    p.add_argument("--outbox-max-attempts", type=int)
    p.add_argument("--outbox-backoff", type=float)
    p.add_argument("--log-level")
    p.set_defaults(func=serve)
    p = sub.add_parser("replay-dead-letters", help="re-queue dead letters (all, or --ids)")
    _common(p)
    p.add_argument("--ids", nargs="*")
    p.set_defaults(func=replay_dead_letters)
    p = sub.add_parser("dead-letters", help="list dead letters as JSON lines")
    _common(p)
    p.set_defaults(func=list_dead_letters)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

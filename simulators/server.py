"""Serve a simulator app with gunicorn's gevent workers: delays and held connections cost a greenlet,
not a worker (docs/performance.md has the measurements that chose this)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from leanhttp import settle_heap


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 resolves to a real port we can announce."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self.factory, self.options = factory, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.factory()


def _start_ticker(app: Any) -> None:
    """Clock-driven behaviour and webhook delivery run in the background of every worker."""
    sim = app.extensions.get("simulator")
    if sim is None:
        return
    import time

    def loop() -> None:
        while True:
            time.sleep(0.5)
            sim.tick()

    threading.Thread(target=loop, name="sandbox-ticker", daemon=True).start()


def serve(
    factory: Callable[[], Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    worker_class: str = "gevent",
    threads: int = 1,
    connections: int = 2000,
    on_ready: Callable[[str], None] | None = None,
    name: str = "sandbox",
    cleanup: list[str] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT; on_ready gets the URL once the socket listens; remove `cleanup` files after."""
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}"

    def when_ready(_server: Any) -> None:
        if on_ready:
            on_ready(url)

    def post_worker_init(worker: Any) -> None:
        settle_heap()
        _start_ticker(worker.wsgi)

    options = {
        "bind": [f"fd://{sock.fileno()}"],
        "workers": workers,
        # "gevent": gunicorn's gevent worker with our lean loop for plain requests (simulators/worker.py)
        "worker_class": "simulators.worker.SimulatorWorker" if worker_class == "gevent" else worker_class,
        "threads": threads,
        "worker_connections": connections,
        "when_ready": when_ready,
        "post_worker_init": post_worker_init,
        "preload_app": True,  # built once in the master; workers fork from it
        "accesslog": None,
        "loglevel": os.environ.get("SANDBOX_LOG_LEVEL", "warning"),
        "graceful_timeout": 1,
        "timeout": 180,
        "keepalive": 30,
        # let the contract judge long URLs and headers (a 400 naming the field), not gunicorn's HTML 414
        "limit_request_line": 0,
        "limit_request_field_size": 65536,
        "proc_name": name,
    }
    master = os.getpid()
    try:
        _Server(factory, options).run()
    finally:
        if os.getpid() == master:  # forked workers unwind through here too: only the master cleans up
            for path in cleanup or []:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{path}{suffix}")
    sys.exit(0)

"""A small WSGI app served by gunicorn with a worker class of our choice, for the workers' live tests.

    python -m tests.support.lean_app [--worker-class leanhttp.threads.ThreadWorker] [--keepalive 5]
        [--graceful-timeout 5] [--max-requests 0] [--worker-connections 1000]

Routes: /echo (method, path, query, body, a few environ keys), /slow?s=SECONDS, /boom (raises),
/stream (a body without Content-Length). Prints `READY http://HOST:PORT` once listening.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

Start = Callable[..., Any]


def app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    """The routes above; every answer but /stream has a Content-Length."""
    path, query = environ["PATH_INFO"], parse_qs(environ["QUERY_STRING"])
    if path == "/boom":
        raise RuntimeError("boom on purpose")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (part for part in (b"one ", b"two ", b"three"))
    if path == "/slow":
        time.sleep(float(query.get("s", ["1"])[0]))
    body = environ["wsgi.input"].read()
    answer = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": path, "query": environ["QUERY_STRING"],
        "body": body.decode("latin-1"), "pid": os.getpid(), "multithread": environ["wsgi.multithread"],
        "content_type": environ.get("CONTENT_TYPE"), "x_test": environ.get("HTTP_X_TEST"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


def main() -> None:
    from gunicorn.app.base import BaseApplication

    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-class", default="leanhttp.threads.ThreadWorker")
    parser.add_argument("--keepalive", type=int, default=5)
    parser.add_argument("--graceful-timeout", type=int, default=5)
    parser.add_argument("--max-requests", type=int, default=0)
    parser.add_argument("--worker-connections", type=int, default=1000)
    args = parser.parse_args()

    def when_ready(server: Any) -> None:
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        print(f"READY http://{host}:{port}", flush=True)

    class Served(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {"bind": "127.0.0.1:0", "workers": 1, "worker_class": args.worker_class,
                        "keepalive": args.keepalive, "graceful_timeout": args.graceful_timeout,
                        "max_requests": args.max_requests, "worker_connections": args.worker_connections,
                        "accesslog": None, "errorlog": "-", "loglevel": "info", "when_ready": when_ready}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Served().run()


if __name__ == "__main__":
    main()

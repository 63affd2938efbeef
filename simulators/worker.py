"""The gunicorn worker of the simulators: gevent, with a lean keep-alive loop for plain requests.

gunicorn's request parser, environ and response objects cost ~280 µs of CPU per request with an app that
does nothing, more than the simulator's own work on most requests; reading the head, building the same
environ and writing head and body with one send() costs ~110 µs (docs/performance.md). Only plain
requests take this path (`leanhttp.parse_plain`). Anything else (chunked or `Expect: 100-continue` bodies,
line folding, header names gunicorn drops, HEAD, Upgrade, oversized heads, ...) is handed to gunicorn's own
code for the rest of the connection, bytes already read included, so unusual input is answered exactly as
before. The loop itself is `leanhttp.LeanLoop`, shared with the orchestrator's threaded worker.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

from gunicorn.workers.ggevent import GeventWorker

from leanhttp import LeanLoop, parse_plain

__all__ = ["SimulatorWorker", "parse_plain"]


class SimulatorWorker(LeanLoop, GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker; plain requests are read, dispatched and answered by the lean loop."""

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.setblocking(1)
        self.serve(listener, client, addr)

    def head_deadline(self, client: Any, idle: bool) -> AbstractContextManager[Any]:
        """Like gunicorn's gevent worker: `keepalive` seconds for a whole head (none when it is 0)."""
        return self.timeout_ctx() if self.cfg.keepalive else contextlib.nullcontext()  # type: ignore[no-any-return]

    def fallback(self, listener: Any, client: Any, addr: Any) -> None:
        """gunicorn's gevent handling, for the rest of the connection."""
        GeventWorker.handle(self, listener, client, addr)

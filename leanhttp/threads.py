"""`ThreadWorker`: a gunicorn worker with one OS thread per connection, each running the lean keep-alive loop.

gunicorn's gthread worker passes every request from its poller thread to a pool thread and the connection
back to the poller, and builds its parser and Response objects per request: 0.28–0.45 ms of CPU per
request more than this worker on a cheap GET, ~1 ms under the checkout bench (docs/performance.md). Here the main thread only accepts; a connection's own thread reads,
calls the app and answers with one send(), and waits for the next request in a blocking recv().
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

from gunicorn.workers.sync import SyncWorker

from .loop import LeanLoop

STOP_KEEPALIVE_LINGER = 2.0  # as gthread: how long a stopping worker keeps idle connections for a late request
_ACCEPT_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED, errno.EPROTO)


class _Idle:
    """While entered, `client` is in `idle`: waiting for the first byte of its next request."""

    __slots__ = ("client", "idle")

    def __init__(self, idle: set[Any], client: Any) -> None:
        self.idle, self.client = idle, client

    def __enter__(self) -> None:
        self.idle.add(self.client)

    def __exit__(self, *exc: object) -> None:
        self.idle.discard(self.client)


class ThreadWorker(LeanLoop, SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker, run with a thread per connection (at most `worker_connections` at once).

    Plain requests take the lean loop and stay kept alive `keepalive` seconds; anything else is served by
    the sync worker's `handle` (one request, gunicorn's parser and answer, `Connection: close`). SIGTERM
    stops accepting, answers requests in flight with `Connection: close`, keeps idle connections for a
    request already on its way (at most 2 s) and waits for the rest up to `graceful_timeout`; SIGQUIT and
    SIGINT exit at once (gunicorn's conventions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._open = 0  # connections being served
        self._idle: set[Any] = set()  # their sockets waiting for a next request

    def head_deadline(self, client: Any, idle: bool) -> AbstractContextManager[Any]:
        """The socket's own timeout bounds the wait; an idle connection is marked so a stop can close it."""
        return _Idle(self._idle, client) if idle else contextlib.nullcontext()

    def fallback(self, listener: Any, client: Any, addr: Any) -> None:
        """One request the way gunicorn's sync worker serves it; the connection closes after."""
        self.handle(listener, client, addr)

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        while self.alive:
            self.notify()
            full = self._open >= self.cfg.worker_connections  # the rest wait in the listen backlog
            for listener in self._wait([] if full else self.sockets, 1.0):
                self._accept(listener)
            if not self.is_parent_alive():
                break
        self._stop()

    def _wait(self, listeners: list[Any], timeout: float) -> list[Any]:
        """The listeners ready to accept, after `timeout` seconds at most (a signal or a freed slot wakes it)."""
        ready = select.select([*listeners, self.PIPE[0]], [], [], timeout)[0]
        if self.PIPE[0] in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self.PIPE[0], 4096)
            ready.remove(self.PIPE[0])
        return ready

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self.PIPE[1], b".")

    def _accept(self, listener: Any) -> None:
        """Accept what waits, up to the connection limit, each connection served by a new thread."""
        while self.alive and self._open < self.cfg.worker_connections:
            try:
                client, addr = listener.accept()
            except OSError as e:
                if e.errno in _ACCEPT_AGAIN:
                    return
                raise
            if client.family in (socket.AF_INET, socket.AF_INET6):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.settimeout(self.cfg.keepalive or self.cfg.timeout or None)
            with self._lock:
                self._open += 1
            try:
                threading.Thread(target=self._connection, args=(listener, client, addr), daemon=True,
                                 name=f"conn-{addr[1] if isinstance(addr, tuple) else self._open}").start()
            except RuntimeError:  # no thread to be had (memory, limits): this connection is refused
                self.log.exception("Cannot start a thread for a connection")
                client.close()
                with self._lock:
                    self._open -= 1

    def _connection(self, listener: Any, client: Any, addr: Any) -> None:
        try:
            if self.cfg.is_ssl:
                self.handle(listener, client, addr)  # TLS: gunicorn's code, one request a connection
            else:
                self.serve(listener, client, addr)
        finally:
            with self._lock:
                was_full = self._open >= self.cfg.worker_connections
                self._open -= 1
            if was_full or not self.alive:
                self._wake()

    def _stop(self) -> None:
        """Graceful stop: requests in flight finish (up to `graceful_timeout`), idle connections close."""
        now = time.monotonic()
        linger = now + min(STOP_KEEPALIVE_LINGER, self.cfg.keepalive)
        deadline = now + self.cfg.graceful_timeout
        while self._open and now < deadline:
            self.notify()
            if now >= linger:
                for client in list(self._idle):
                    with contextlib.suppress(OSError):
                        client.shutdown(socket.SHUT_RD)  # its recv() returns b"": the thread closes it
            self._wait([], min(1.0, (linger if now < linger else deadline) - now))
            now = time.monotonic()
        for listener in self.sockets:
            listener.close()

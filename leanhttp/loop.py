"""The keep-alive loop both workers share: plain requests read and answered here, the rest left to gunicorn."""

from __future__ import annotations

import errno
from contextlib import AbstractContextManager
from typing import Any

from gunicorn.http.wsgi import WSGIErrorsWrapper

from .plain import MAX_HEAD, parse_plain
from .wsgi import build_environ, respond

QUIET = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF)
MAX_BODY = 1 << 20  # a larger body is left to gunicorn, which streams it to the app instead of buffering it


class Replay:
    """The client socket, with bytes already read served again first (for gunicorn's own parser)."""

    def __init__(self, sock: Any, data: bytes) -> None:
        self._sock, self._data = sock, data

    def recv(self, size: int, *flags: int) -> bytes:
        if self._data:
            out, self._data = self._data[:size], self._data[size:]
            return out
        return self._sock.recv(size, *flags)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class LeanLoop:
    """Mixin for a gunicorn worker: `serve` a connection, handing what is not plain to `fallback`.

    The worker supplies `cfg`, `log`, `wsgi`, `alive`, `nr`, `max_requests` (gunicorn's Worker has them),
    `head_deadline` (how long to wait for a request head) and `fallback` (gunicorn's code for a request)."""

    cfg: Any
    log: Any
    wsgi: Any
    alive: bool
    nr: int
    max_requests: int

    def head_deadline(self, client: Any, idle: bool) -> AbstractContextManager[Any]:
        """Bounds the wait for a request head; `idle`: no byte of it has arrived yet."""
        raise NotImplementedError

    def fallback(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve from the first byte of `client` (a Replay) with gunicorn's own code."""
        raise NotImplementedError

    def serve(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve one connection until it closes, stays idle `keepalive` seconds, or the worker stops."""
        buf = b""
        try:
            server, errors = listener.getsockname(), WSGIErrorsWrapper(self.cfg)
            multiprocess = self.cfg.workers > 1
            while True:
                buf, state = self.read_head(client, buf)
                end = buf.find(b"\r\n\r\n")
                request = parse_plain(buf[:end]) if state == "head" and end <= MAX_HEAD else None
                if state == "closed":
                    return
                if request is None or request.length > MAX_BODY:
                    # too long, not plain or a large body: gunicorn's code, from the first byte it has not judged
                    self.fallback(listener, Replay(client, buf), addr)
                    return
                buf = buf[end + 4:]
                while len(buf) < request.length:
                    chunk = client.recv(65_536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:request.length], buf[request.length:]
                environ = build_environ(request, body, client=client, addr=addr, server=server, errors=errors,
                                        multiprocess=multiprocess)
                self.nr += 1
                if self.nr >= self.max_requests and self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                if not respond(self, environ, client, keep=not request.close and bool(self.cfg.keepalive)):
                    return
        except OSError as e:
            if e.errno not in QUIET and not isinstance(e, TimeoutError):
                self.log.exception("Socket error processing request.")
        except Exception:
            self.log.exception("Error handling request")
        finally:
            client.close()

    def read_head(self, client: Any, buf: bytes) -> tuple[bytes, str]:
        """Read until a whole request head is buffered: (buffer, "head" | "too long" | "closed"). Like
        gunicorn, a worker gives up waiting for a head after `keepalive` seconds (`head_deadline`)."""
        if b"\r\n\r\n" in buf:
            return buf, "head"
        try:
            with self.head_deadline(client, not buf):
                while len(buf) <= MAX_HEAD:
                    chunk = client.recv(65_536)
                    if not chunk:
                        return buf, "closed"
                    buf += chunk
                    if b"\r\n\r\n" in buf:
                        return buf, "head"
                return buf, "too long"
        except TimeoutError:
            pass
        return buf, "closed"  # the deadline passed

"""The gunicorn worker of the simulators: gevent, with a lean keep-alive loop for plain requests.

gunicorn's request parser, environ and response objects cost ~280 µs of CPU per request with an app that
does nothing, more than the simulator's own work on most requests; reading the head, building the same
environ and writing head and body with one send() costs ~110 µs (docs/performance.md). Only plain
requests take this path: HTTP/1.1, a Content-Length body or none, unique token-named headers, an
origin-form target. Anything else (chunked or `Expect: 100-continue` bodies, line folding, header names
gunicorn drops, HEAD, Upgrade, oversized heads, ...) is handed to gunicorn's own code for the rest of the
connection, bytes already read included, so unusual input is answered exactly as before.
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_to_bytes

from gunicorn import SERVER_SOFTWARE
from gunicorn.http.wsgi import FileWrapper, WSGIErrorsWrapper
from gunicorn.workers.ggevent import GeventWorker

MAX_HEAD = 65_536
MAX_FIELDS = 100
_METHOD = re.compile(r"[A-Z]{3,20}")
_NAME = re.compile(r"[!#$%&'*+.^`|~0-9A-Za-z-]+")  # a token without '_' (gunicorn drops such headers)
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(r"/[\x21-\x7e]*")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade"}
_QUIET = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF)


@dataclass(slots=True)
class Plain:
    """A parsed plain request: what the environ needs (header names upper-case)."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    length: int
    close: bool


def parse_plain(head: bytes) -> Plain | None:
    """The request head (without its blank line) as a Plain request, or None when gunicorn must judge it."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1" or not _METHOD.fullmatch(parts[0]) or parts[0] == "HEAD" \
            or not _TARGET.fullmatch(parts[1]) or len(lines) > MAX_FIELDS + 1:
        return None
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    length, close = 0, False
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        lower = name.lower()
        value = value.strip(" \t")
        if not colon or not _NAME.fullmatch(name) or lower in seen or not _VALUE.fullmatch(value):
            return None
        seen.add(lower)
        if lower in ("transfer-encoding", "expect", "upgrade", "te", "trailer", "http2-settings"):
            return None
        if lower == "content-length":
            if not value.isdigit():
                return None
            length = int(value)
        elif lower == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            if not tokens <= {"keep-alive", "close"}:
                return None
            close = "close" in tokens
        headers.append((name.upper(), value))
    if "host" not in seen:
        return None
    return Plain(parts[0], parts[1], headers, length, close)


class _Replay:
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


class SimulatorWorker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker; plain requests are read, dispatched and answered by `handle` itself."""

    _date: tuple[int, str] = (0, "")

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.setblocking(1)
        buf = b""
        try:
            server, errors = listener.getsockname(), WSGIErrorsWrapper(self.cfg)
            while True:
                buf, state = self._read_head(client, buf)
                end = buf.find(b"\r\n\r\n")
                request = parse_plain(buf[:end]) if state == "head" and end <= MAX_HEAD else None
                if state == "closed":
                    return
                if request is None:  # too long or not plain: gunicorn's code, from the first byte it has not judged
                    super().handle(listener, _Replay(client, buf), addr)
                    return
                buf = buf[end + 4:]
                while len(buf) < request.length:
                    chunk = client.recv(65_536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:request.length], buf[request.length:]
                environ = self._environ(request, body, client, addr, server)
                environ["wsgi.errors"] = errors
                if not self._respond(environ, client, request):
                    return
        except OSError as e:
            if e.errno not in _QUIET:
                self.log.exception("Socket error processing request.")
        except Exception:
            self.log.exception("Error handling request")
        finally:
            client.close()

    def _read_head(self, client: Any, buf: bytes) -> tuple[bytes, str]:
        """Read until a whole request head is buffered: (buffer, "head" | "too long" | "closed"). Like
        gunicorn, reading a head gives up after `keepalive` seconds (an idle keep-alive connection ends)."""
        if b"\r\n\r\n" in buf:
            return buf, "head"
        with self.timeout_ctx() if self.cfg.keepalive else contextlib.nullcontext():
            while len(buf) <= MAX_HEAD:
                chunk = client.recv(65_536)
                if not chunk:
                    return buf, "closed"
                buf += chunk
                if b"\r\n\r\n" in buf:
                    return buf, "head"
            return buf, "too long"
        return buf, "closed"  # the timeout passed

    def _environ(self, r: Plain, body: bytes, client: Any, addr: Any, server: Any) -> dict[str, Any]:
        """The environ gunicorn's wsgi.create builds for the same request."""
        path, _, query = r.target.partition("?")
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0), "wsgi.multithread": True,
            "wsgi.multiprocess": self.cfg.workers > 1, "wsgi.run_once": False, "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True, "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
            "SERVER_SOFTWARE": SERVER_SOFTWARE, "gunicorn.socket": client, "REQUEST_METHOD": r.method,
            "QUERY_STRING": query, "RAW_URI": r.target, "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        }
        if isinstance(addr, tuple):
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
        if isinstance(server, tuple):
            environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1])
        for name, value in r.headers:
            if name == "CONTENT-TYPE":
                environ["CONTENT_TYPE"] = value
            elif name == "CONTENT-LENGTH":
                environ["CONTENT_LENGTH"] = value
            else:
                environ["HTTP_" + name.replace("-", "_")] = value
        return environ

    def _respond(self, environ: dict[str, Any], client: Any, request: Plain) -> bool:
        """Run the app and send its answer; True when the connection stays open for the next request."""
        started: list[Any] = []
        sent = False

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and sent:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return write

        def write(data: bytes) -> None:
            nonlocal sent
            if not sent:
                client.sendall(head())
                sent = True
            client.sendall(data)

        keep = not request.close and self.alive and bool(self.cfg.keepalive)

        def head() -> bytes:
            nonlocal keep
            status, headers = started
            lines = [f"HTTP/1.1 {status}"]
            length = None
            for name, value in headers:
                lower = name.lower()
                if lower in _HOP_BY_HOP:
                    keep = keep and not (lower == "connection" and value.lower() == "close")
                    continue
                if lower == "content-length":
                    length = value
                lines.append(f"{name}: {value}")
            if length is None and not status.startswith(("1", "204", "304")):
                keep = False  # no length: the body ends when the connection closes
            lines.append(f"Date: {self._http_date()}")
            lines.append("Connection: keep-alive" if keep else "Connection: close")
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        try:
            result = self.wsgi(environ, start_response)
        except Exception:
            self.log.exception("Error handling request")
            client.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                           b"Content-Length: 21\r\nConnection: close\r\n\r\nInternal Server Error")
            return False
        try:
            if type(result) is list and len(result) == 1 and not sent:
                client.sendall(head() + result[0])  # the usual answer: head and body in one send()
            else:
                for chunk in result:
                    if chunk:
                        write(chunk)
                if not sent:
                    client.sendall(head())
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return keep

    def _http_date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            SimulatorWorker._date = (now, formatdate(now, usegmt=True))
        return self._date[1]

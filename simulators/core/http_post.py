"""A small HTTP/1.1 client for webhook POSTs to `http://` targets: one send() per request, kept-alive
connections, no resolver hand-off for an IP literal. Only the status code is read; the body is drained.

Measured (docs/performance.md): urllib3 cost ~500 µs of CPU per POST on a kept-alive connection (headers
and body in two send() calls, so the receiver wakes twice; headers parsed with the email package; pool
bookkeeping) and ~800 µs with a new connection each time (plus getaddrinfo on gevent's thread pool, even
for 127.0.0.1). https and URLs with credentials still go through urllib3 (webhooks.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import threading
import time
from urllib.parse import SplitResult

MAX_IDLE = 8  # kept-alive connections per target, like the urllib3 pool this replaced
MAX_TARGETS = 16
MAX_HEAD = 65_536
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF and other controls would split or corrupt the head
_TARGET_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


class ResponseError(ConnectionError):
    """The receiver answered something that is not an HTTP/1.x response."""


class HttpPoster:
    """POSTs over kept-alive connections, shared by the threads (or greenlets) of one process."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def post(self, url: SplitResult, data: bytes, headers: dict[str, str], timeout: float) -> int:
        """Send one POST and return the response status; raises OSError subclasses on failure."""
        host, port = url.hostname or "", url.port or 80
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        if _TARGET_UNSAFE.search(target) or any(_UNSAFE.search(f"{n}{v}") for n, v in headers.items()):
            raise ValueError(f"control characters in the request to {url.geturl()!r}")  # as http.client refuses
        head = [f"POST {target} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(data)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data
        deadline = time.monotonic() + timeout
        sock = self._take((host, port)) or _connect(host, port, timeout)
        try:
            sock.settimeout(timeout)
            sock.sendall(request)
            status, keep = _read_response(sock, deadline)
        except BaseException:
            sock.close()
            raise
        if keep:
            self._give((host, port), sock)
        else:
            sock.close()
        return status

    def _take(self, key: tuple[str, int]) -> socket.socket | None:
        """An idle connection the receiver has not closed meanwhile (checked without blocking)."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get(key)
            while idle:
                sock = idle.pop()
                if _alive(sock):
                    return sock
                sock.close()
        return None

    def _give(self, key: tuple[str, int], sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            kept = len(idle) < MAX_IDLE
            if kept:
                idle.append(sock)
            evicted = self._idle.pop(next(iter(self._idle))) if len(self._idle) > MAX_TARGETS else []
        if not kept:
            sock.close()
        for old in evicted:
            old.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for socks in idle.values():
            for sock in socks:
                sock.close()


def _alive(sock: socket.socket) -> bool:
    """True when nothing is waiting to be read: a closed (EOF) or chatty connection is not reused."""
    try:
        sock.settimeout(0)
        sock.recv(1, socket.MSG_PEEK)  # returns at once: b"" (closed) or bytes nobody asked for
    except BlockingIOError:
        return True
    except OSError:
        pass
    return False


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A connected socket; an IP literal is connected to directly, a name is resolved first."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        sock = socket.create_connection((host, port), timeout)
    else:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Reader:
    """Buffered reads from a socket with one deadline for the whole response."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def fill(self) -> bool:
        """Read more into the buffer; False at end of stream."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65_536)
        self.buf += chunk
        return bool(chunk)

    def until(self, marker: bytes, limit: int = MAX_HEAD) -> bytes:
        """Everything up to the marker (consumed, marker dropped)."""
        while (end := self.buf.find(marker)) < 0:
            if len(self.buf) > limit:
                raise ResponseError("response head too long")
            if not self.fill():
                raise ConnectionError("the receiver closed the connection before answering")
        out, self.buf = self.buf[:end], self.buf[end + len(marker):]
        return out

    def skip(self, n: int) -> None:
        while len(self.buf) < n:
            n -= len(self.buf)
            self.buf = b""
            if not self.fill():
                raise ConnectionError("the receiver closed the connection in the middle of its answer")
        self.buf = self.buf[n:]


def _read_response(sock: socket.socket, deadline: float) -> tuple[int, bool]:
    """(status, whether the connection may be reused); the body is read and dropped."""
    reader = _Reader(sock, deadline)
    while True:
        lines = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ResponseError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
        status = int(code)
        if status >= 200 or status == 101:
            break  # 1xx (100 Continue, 103 Early Hints) precede the real answer
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    tokens = {t.strip().lower() for t in fields.get("connection", "").split(",")}
    keep = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    if status in (101, 204, 304):
        return status, keep and status != 101
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while True:
            size = int(reader.until(b"\r\n").split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while reader.until(b"\r\n"):  # trailers, then the empty line
                    pass
                return status, keep
            reader.skip(size + 2)
    if "content-length" in fields:
        reader.skip(int(fields["content-length"]))
        return status, keep
    while reader.fill():  # no length: the body ends when the receiver closes
        reader.buf = b""
    return status, False

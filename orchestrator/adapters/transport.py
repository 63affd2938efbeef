"""Keep-alive HTTP/1.1 connections to one provider: requests written in one send, answers read by httptools.

A provider call through urllib3 cost ~520 µs of the orchestrator's CPU and ~300 µs through http.client,
whose answer headers go through the e-mail parser; this path costs less than half of that (numbers and
command in docs/performance.md), and a checkout makes seven such calls. The answer is parsed by httptools
(llhttp, the parser behind uvicorn), so chunked bodies, keep-alive rules and malformed answers are judged
by a maintained parser, not by code here. What is left is small: reuse a connection, time out connect and
read separately, never reuse one that broke or that the provider closed. Nothing is re-sent here: whether
a failed call may be repeated is the retry policy's decision (tenacity, in base.py).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from dataclasses import dataclass

import httptools


class TransportError(Exception):
    """The call got no usable answer: refused, reset, timed out, or a broken or truncated answer."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's answer: status, headers (names lower-case, repeats joined by ", ") and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Reading:
    """httptools callbacks collecting one answer."""

    __slots__ = ("body", "done", "headers", "keep_alive", "parser", "status")

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.status = 0
        self.done = self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()  # llhttp resets it once this callback returns


class Connections:
    """Idle keep-alive connections to one host, reused last-in first-out; each call borrows one or opens one."""

    def __init__(self, host: str, port: int | None, *, connect_timeout_s: float, read_timeout_s: float,
                 https: bool = False, keep: int = 64) -> None:
        self.address = (host, port or (443 if https else 80))
        self.connect_timeout_s, self.read_timeout_s, self.keep = connect_timeout_s, read_timeout_s, keep
        self._tls = ssl.create_default_context() if https else None
        default_port = port is None or port == (443 if https else 80)
        self._host_line = f"Host: {host if default_port else f'{host}:{port}'}\r\n"
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()

    def request(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        """Send one request and read its whole answer; any failure is a TransportError (connection dropped)."""
        head = self._head(method, target, body, headers)
        sock = self._borrow()
        try:
            if sock is None:
                sock = self._connect()
            sock.sendall(head + body if body else head)
            answer, keep = _read_answer(sock)
        except (OSError, httptools.HttpParserError, TransportError) as exc:
            if sock is not None:
                sock.close()
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if keep:
            self._give_back(sock)
        else:
            sock.close()
        return answer

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    # -- internals -------------------------------------------------------------------------------

    def _head(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\n", self._host_line]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name}: {value!r} holds a line break; it would split the request")
            lines.append(f"{name}: {value}\r\n")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.connect_timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.address[0])
            sock.settimeout(self.read_timeout_s)
        except BaseException:
            sock.close()
            raise
        return sock

    def _borrow(self) -> socket.socket | None:
        """An idle connection the provider has not closed (checked as urllib3 does), or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                sock = self._idle.pop()
            if not _readable(sock):
                return sock
            sock.close()  # closed by the provider (or it sent something unasked): not reusable

    def _give_back(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(sock)
                return
        sock.close()


def _read_answer(sock: socket.socket) -> tuple[Answer, bool]:
    """Read one whole answer: (the answer, whether the connection may carry another request)."""
    reading = _Reading()
    while not reading.done:
        data = sock.recv(65_536)
        if not data:
            raise TransportError("the provider closed the connection before its answer was complete")
        reading.parser.feed_data(data)
    return Answer(reading.status, reading.headers, b"".join(reading.body)), reading.keep_alive


def _readable(sock: socket.socket) -> bool:
    """True when an idle connection has something to read: an end of file, a reset, or stray bytes."""
    poller = select.poll()  # not select(): it refuses descriptors above 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))

"""HTTP/1.1 over a raw socket, for the workers' and the HTTP clients' tests: what is sent and answered byte for
byte."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def read_answer(s: socket.socket, buf: bytearray, *, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One response off the connection (status, lower-case headers, body); leftovers stay in buf.
    `head`: the answer to a HEAD request (no body whatever Content-Length says)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed before an answer"
        buf += chunk
    top, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    body = bytearray(rest)
    if head or status < 200 or status in (204, 304):
        buf[:] = body
        return status, headers, b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = s.recv(65536)
            assert chunk, "connection closed inside a body"
            body += chunk
        buf[:] = body[n:]
        return status, headers, bytes(body[:n])
    while chunk := s.recv(65536):
        body += chunk
    buf[:] = b""
    return status, headers, bytes(body)


def closed(s: socket.socket) -> bool:
    """True when the server closed the connection (recv gives b"" or a reset) before the socket's timeout."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


Answer = Callable[[bytes], bytes | None]  # the request's raw bytes -> what to send back (None: close)


class RawServer:
    """A TCP server on 127.0.0.1:0 that answers each request with scripted bytes and records every
    request and which connection it came on."""

    def __init__(self, answer: Answer, *, close_after: bool = False) -> None:
        self.answer, self.close_after = answer, close_after
        self.requests: list[tuple[int, bytes]] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(rest) < length:
                    rest += conn.recv(65536)
                request, buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.requests.append((number, request))
                reply = self.answer(request)
                if reply is None:
                    return
                conn.sendall(reply)
                if self.close_after:
                    return

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.sock.close()

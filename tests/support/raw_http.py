"""HTTP/1.1 over a raw socket, for the workers' tests: what is sent and answered byte for byte."""

from __future__ import annotations

import socket


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

"""The adapters' HTTP transport against a raw socket server on 127.0.0.1:0 that answers exact bytes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from orchestrator.adapters.transport import Connections, TransportError
from tests.support.raw_http import Answer, RawServer

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[RawServer, Connections]]]:
    servers: list[RawServer] = []

    def start(answer: Answer = lambda r: OK, *, close_after: bool = False) -> tuple[RawServer, Connections]:
        server = RawServer(answer, close_after=close_after)
        servers.append(server)
        return server, Connections("127.0.0.1", server.port, connect_timeout_s=2, read_timeout_s=2)

    yield start
    for server in servers:
        server.stop()


def test_calls_reuse_one_kept_alive_connection(serve) -> None:
    server, conns = serve()
    for i in range(10):
        answer = conns.request("POST", f"/emails?n={i}", b'{"a":1}', {"Idempotency-Key": f"k-{i}"})
        assert (answer.status, answer.body, answer.headers["content-type"]) == (200, b'{"ok":true}',
                                                                                 "application/json")
    assert server.connections == 1
    first = server.requests[0][1]
    assert first.startswith(b"POST /emails?n=0 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nIdempotency-Key: k-0\r\nContent-Length: 7\r\n\r\n{\"a\":1}" in first


def test_a_connection_the_provider_closed_while_idle_is_not_reused(serve) -> None:
    server, conns = serve(close_after=True)  # answers with keep-alive, then closes anyway
    assert conns.request("GET", "/a", None, {}).status == 200
    time.sleep(0.2)  # the close reaches us while the connection is idle
    assert conns.request("GET", "/b", None, {}).status == 200
    assert server.connections == 2


def test_connection_close_in_the_answer_is_honoured(serve) -> None:
    server, conns = serve(lambda r: OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length"))
    for _ in range(3):
        assert conns.request("GET", "/", None, {}).body == b'{"ok":true}'
    assert server.connections == 3


def test_chunked_answers_and_repeated_headers_are_read_whole(serve) -> None:
    chunked = (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nVary: a\r\nVary: b\r\n\r\n"
               b"4\r\n{\"x\"\r\n3\r\n:1}\r\n0\r\n\r\n")
    server, conns = serve(lambda r: chunked)
    answer = conns.request("GET", "/", None, {})
    assert (answer.status, answer.body, answer.headers["vary"]) == (201, b'{"x":1}', "a, b")
    assert conns.request("GET", "/", None, {}).body == b'{"x":1}'
    assert server.connections == 1


def test_a_truncated_answer_is_a_transport_error_and_the_connection_is_dropped(serve) -> None:
    calls = iter([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"part", OK])
    server, conns = serve(lambda r: next(calls), close_after=True)
    with pytest.raises(TransportError, match="before its answer was complete"):
        conns.request("GET", "/", None, {})
    assert conns.request("GET", "/", None, {}).status == 200
    assert server.connections == 2


def test_garbage_is_a_transport_error(serve) -> None:
    _, conns = serve(lambda r: b"SMTP ready\r\n\r\n")
    with pytest.raises(TransportError, match="HttpParserError"):
        conns.request("GET", "/", None, {})


def test_a_silent_provider_times_out(serve) -> None:
    def slow(request: bytes) -> bytes:
        time.sleep(1.5)
        return OK

    server, _ = serve(slow)
    conns = Connections("127.0.0.1", server.port, connect_timeout_s=1, read_timeout_s=0.3)
    with pytest.raises(TransportError, match="timed out"):
        conns.request("GET", "/", None, {})


def test_a_refused_connection_is_a_transport_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="ConnectionRefused"):
        Connections("127.0.0.1", port, connect_timeout_s=1, read_timeout_s=1).request("GET", "/", None, {})


def test_a_header_value_with_a_line_break_is_refused_before_sending(serve) -> None:
    server, conns = serve()
    with pytest.raises(ValueError, match="X-Correlation-ID"):
        conns.request("GET", "/", None, {"X-Correlation-ID": "abc\r\nX-Admin: 1"})
    assert server.requests == []

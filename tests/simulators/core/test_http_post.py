"""The webhook client: one request per send, kept-alive connections reused only while the receiver keeps
them, every way an HTTP/1.x answer can end (length, chunked, close), and failures that say what happened."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from simulators.core.http_post import HttpPoster, ResponseError
from tests.support.raw_http import Answer, RawServer


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Answer, **kw: bool) -> RawServer:
        servers.append(RawServer(answer, **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def ok(body: bytes = b"") -> Answer:
    return lambda _req: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def post(poster: HttpPoster, url: str, data: bytes = b'{"id":"evt_1"}', timeout: float = 5.0) -> int:
    return poster.post(urlsplit(url), data, {"Content-Type": "application/json", "Sandbox-Event-Id": "evt_1"},
                       timeout)


def test_a_post_carries_host_length_headers_and_body_and_the_status_comes_back(serve) -> None:
    server = serve(lambda _req: b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    assert post(HttpPoster(), server.url("/webhooks/payment?x=1")) == 202
    request = server.requests[0][1]
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /webhooks/payment?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines and "Content-Length: 14" in lines
    assert "Sandbox-Event-Id: evt_1" in lines and body == b'{"id":"evt_1"}'


def test_a_kept_alive_connection_is_reused_and_the_body_is_drained(serve) -> None:
    server = serve(ok(b'{"received": true}'))
    poster = HttpPoster()
    assert [post(poster, server.url()) for _ in range(5)] == [200] * 5
    assert server.connections == 1 and len(server.requests) == 5


def test_connection_close_and_http_1_0_are_honoured(serve) -> None:
    closing = serve(lambda _req: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    close_after=True)
    old = serve(lambda _req: b"HTTP/1.0 204 No Content\r\n\r\n", close_after=True)
    poster = HttpPoster()
    assert [post(poster, closing.url()) for _ in range(3)] == [200] * 3
    assert [post(poster, old.url()) for _ in range(3)] == [204] * 3
    assert closing.connections == 3 and old.connections == 3


def test_a_connection_the_receiver_closed_while_idle_is_not_reused(serve) -> None:
    # answers keep-alive, then closes anyway (an idle timeout): the next POST must open a new connection
    server = serve(ok(), close_after=True)
    poster = HttpPoster()
    assert post(poster, server.url()) == 200
    for _ in range(100):  # wait until the close reached us
        if not poster._idle or not poster._idle[("127.0.0.1", server.port)]:
            break
        sock = poster._idle[("127.0.0.1", server.port)][0]
        sock.settimeout(0.01)
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                break
        except (BlockingIOError, TimeoutError):
            pass
    assert post(poster, server.url()) == 200
    assert server.connections == 2 and len(server.requests) == 2


def test_chunked_answers_with_trailers_and_1xx_before_the_answer_are_read_whole(serve) -> None:
    body = (b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
    server = serve(lambda _req: body)
    poster = HttpPoster()
    assert post(poster, server.url()) == 201
    assert post(poster, server.url()) == 201  # the stream was left at the next answer
    assert server.connections == 1


def test_an_answer_without_length_ends_at_close_and_is_not_reused(serve) -> None:
    server = serve(lambda _req: b"HTTP/1.1 500 Oops\r\n\r\nsomething broke", close_after=True)
    poster = HttpPoster()
    assert post(poster, server.url()) == 500
    assert post(poster, server.url()) == 500
    assert server.connections == 2


def test_failures_raise_what_happened(serve) -> None:
    poster = HttpPoster()
    silent = serve(lambda _req: None)  # reads the request, closes without answering
    with pytest.raises(ConnectionError, match="closed the connection before answering"):
        post(poster, silent.url())
    garbage = serve(lambda _req: b"SMTP ready\r\n\r\n")
    with pytest.raises(ResponseError, match=r"not an HTTP/1\.x response"):
        post(poster, garbage.url())
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    with pytest.raises(ConnectionRefusedError):
        post(poster, f"http://127.0.0.1:{port}/hooks")


def test_a_receiver_that_does_not_answer_in_time_times_out(serve) -> None:
    hang = threading.Event()
    server = serve(lambda _req: hang.wait(5) and None)
    with pytest.raises(TimeoutError):
        post(HttpPoster(), server.url(), timeout=0.2)
    hang.set()


def test_a_host_name_is_resolved(serve) -> None:
    server = serve(ok())
    assert post(HttpPoster(), f"http://localhost:{server.port}/hooks") == 200


def test_control_characters_are_refused_before_anything_is_sent(serve) -> None:
    server = serve(ok())
    poster = HttpPoster()
    with pytest.raises(ValueError, match="control characters"):
        poster.post(urlsplit(server.url()), b"{}", {"X-Correlation-ID": "a\r\nX-Injected: 1"}, 5)
    with pytest.raises(ValueError, match="control characters"):
        poster.post(urlsplit(server.url("/hooks and more")), b"{}", {}, 5)
    assert server.requests == []

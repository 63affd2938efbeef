"""leanhttp's ThreadWorker over raw sockets: plain requests kept alive and pipelined on the lean loop, anything
unusual answered by gunicorn's sync code (then closed), idle and stopping connections closed as gunicorn does."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.raw_http import closed, read_answer
from tests.support.servers import Server, spawn

Connect = Callable[[Server], socket.socket]


def start(**flags: object) -> Server:
    args = ["-m", "tests.support.lean_app"]
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return spawn(args, name="lean-app")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = start(keepalive=1)
    yield s
    s.stop()


@pytest.fixture
def connect() -> Iterator[Connect]:
    opened: list[socket.socket] = []

    def open_(server: Server) -> socket.socket:
        host, port = server.url.removeprefix("http://").split(":")
        s = socket.create_connection((host, int(port)), timeout=10)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def conn(server: Server, connect: Connect) -> socket.socket:
    return connect(server)


def get(path: str, *extra: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: t", *extra]) + "\r\n\r\n").encode()


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: t", "Content-Type: text/plain", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_two_requests_share_one_kept_alive_connection(conn: socket.socket) -> None:
    buf = bytearray()
    conn.sendall(get("/echo?n=1", "X-Test: first"))
    status, headers, body = read_answer(conn, buf)
    assert status == 200 and headers["connection"] == "keep-alive" and headers["date"].endswith("GMT")
    first = json.loads(body)
    assert first["query"] == "n=1" and first["x_test"] == "first" and first["multithread"] is True
    conn.sendall(get("/echo?n=2"))
    status, headers, body = read_answer(conn, buf)
    assert status == 200 and json.loads(body)["query"] == "n=2"


def test_pipelined_requests_are_answered_in_order(conn: socket.socket) -> None:
    conn.sendall(get("/echo?n=1") + post("/echo?n=2", b"two") + get("/echo?n=3"))
    buf = bytearray()
    answers = [json.loads(read_answer(conn, buf)[2]) for _ in range(3)]
    assert [(a["query"], a["body"]) for a in answers] == [("n=1", ""), ("n=2", "two"), ("n=3", "")]


def test_a_content_length_body_reaches_the_app(conn: socket.socket) -> None:
    body = b"x" * 100_000  # more than one recv()
    conn.sendall(post("/echo", body))
    status, _, answer = read_answer(conn, bytearray())
    echoed = json.loads(answer)
    assert status == 200 and echoed["body"] == body.decode() and echoed["content_type"] == "text/plain"


def test_a_body_over_a_mebibyte_is_streamed_by_gunicorn(conn: socket.socket) -> None:
    body = b"y" * (2 << 20)
    conn.sendall(post("/echo", body))
    status, headers, answer = read_answer(conn, bytearray())
    assert status == 200 and len(json.loads(answer)["body"]) == len(body) and headers["connection"] == "close"


def test_a_chunked_body_is_read_by_gunicorn_and_the_connection_closes(conn: socket.socket) -> None:
    conn.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    status, headers, body = read_answer(conn, bytearray())
    assert status == 200 and json.loads(body)["body"] == "hello world"
    assert headers["connection"] == "close" and closed(conn)


def test_expect_100_continue_gets_its_interim_answer(conn: socket.socket) -> None:
    request = post("/echo", b"after continue", "Expect: 100-continue")
    head, _, body = request.partition(b"\r\n\r\n")
    conn.sendall(head + b"\r\n\r\n")
    buf = bytearray()
    assert read_answer(conn, buf)[0] == 100
    conn.sendall(body)
    status, _, answer = read_answer(conn, buf)
    assert status == 200 and json.loads(answer)["body"] == "after continue"


def test_head_gets_the_headers_without_a_body(conn: socket.socket) -> None:
    conn.sendall(b"HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n")
    buf = bytearray()
    status, headers, _ = read_answer(conn, buf, head=True)
    assert status == 200 and int(headers["content-length"]) > 0
    assert closed(conn) and buf == b""  # no body bytes came after the head


def test_a_malformed_request_line_gets_gunicorns_400(conn: socket.socket) -> None:
    conn.sendall(b"GET /echo HTTP/1.1 extra\r\nHost: t\r\n\r\n")
    status, headers, body = read_answer(conn, bytearray())
    assert status == 400 and b"Invalid HTTP Version" in body and headers["connection"] == "close"


def test_connection_close_is_honoured(conn: socket.socket) -> None:
    conn.sendall(get("/echo", "Connection: close"))
    status, headers, _ = read_answer(conn, bytearray())
    assert status == 200 and headers["connection"] == "close" and closed(conn)


def test_a_body_without_length_ends_with_the_connection(conn: socket.socket) -> None:
    conn.sendall(get("/stream"))
    status, headers, body = read_answer(conn, bytearray())
    assert status == 200 and headers["connection"] == "close" and body == b"one two three"


def test_an_app_error_is_a_500_and_the_worker_goes_on(server: Server, connect: Connect) -> None:
    s = connect(server)
    s.sendall(get("/boom"))
    status, headers, _ = read_answer(s, bytearray())
    assert status == 500 and headers["connection"] == "close" and closed(s)
    again = connect(server)
    again.sendall(get("/echo"))
    assert read_answer(again, bytearray())[0] == 200
    deadline = time.monotonic() + 5  # the server's stderr is read by another thread: the line may lag
    while not any("boom on purpose" in line for line in server.output) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("boom on purpose" in line for line in server.output), server.output[-20:]


def test_an_idle_kept_alive_connection_is_closed_after_keepalive(conn: socket.socket) -> None:
    conn.sendall(get("/echo"))
    assert read_answer(conn, bytearray())[1]["connection"] == "keep-alive"
    assert closed(conn)  # keepalive is 1 s; the client waits up to 10 s


def test_max_requests_restarts_the_worker_after_the_answer(connect: Connect) -> None:
    server = start(max_requests=2)
    try:
        s = connect(server)
        buf = bytearray()
        s.sendall(get("/echo"))
        first = read_answer(s, buf)
        s.sendall(get("/echo"))
        second = read_answer(s, buf)
        assert first[1]["connection"] == "keep-alive" and second[1]["connection"] == "close" and closed(s)
        again = connect(server)
        again.sendall(get("/echo"))  # waits in the backlog for the next worker
        assert json.loads(read_answer(again, bytearray())[2])["pid"] != json.loads(first[2])["pid"]
    finally:
        server.stop()


def test_connections_beyond_the_limit_wait_for_a_free_one(connect: Connect) -> None:
    server = start(worker_connections=1)
    try:
        first, second = connect(server), connect(server)
        first.sendall(get("/echo"))
        assert read_answer(first, bytearray())[0] == 200
        second.sendall(get("/echo"))
        second.settimeout(0.5)
        with pytest.raises(TimeoutError):  # not accepted while the first is kept alive
            second.recv(1)
        first.close()
        second.settimeout(10)
        assert read_answer(second, bytearray())[0] == 200
    finally:
        server.stop()


def test_sigterm_lets_the_request_in_flight_finish_and_closes_idle_connections(connect: Connect) -> None:
    server = start(keepalive=30, graceful_timeout=30)
    try:
        idle, busy = connect(server), connect(server)
        idle.sendall(get("/echo"))
        assert read_answer(idle, bytearray())[1]["connection"] == "keep-alive"
        busy.sendall(get("/slow?s=1.5"))
        busy.settimeout(0.5)
        with pytest.raises(TimeoutError):  # the slow request is in flight
            busy.recv(1)
        os.kill(server.pid, signal.SIGTERM)
        busy.settimeout(10)
        status, headers, body = read_answer(busy, bytearray())
        assert status == 200 and json.loads(body)["path"] == "/slow" and headers["connection"] == "close"
        assert closed(idle)  # the client waits 10 s: well before keepalive and graceful_timeout (30 s)
        assert server.process.wait(timeout=15) == 0
    finally:
        server.stop()

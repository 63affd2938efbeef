"""The simulators' gunicorn worker over raw sockets: plain requests on its own loop (kept alive, pipelined, one
send per answer), everything unusual answered by gunicorn's code exactly as before, on the same connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from simulators.worker import parse_plain
from tests.support.raw_http import read_answer
from tests.support.servers import ROOT, Server, start_simulator

SPEC = ROOT / "tests" / "data" / "specs" / "engine-test.openapi.yaml"
ORDER = json.dumps({"sku": "SKU-1", "quantity": 2, "email": "ann@example.com"}).encode()


@pytest.fixture(scope="module")
def sim() -> Iterator[Server]:
    server = start_simulator("engine", contract=SPEC, args=["--no-behaviours"])
    yield server
    server.stop()


@pytest.fixture
def conn(sim: Server) -> Iterator[socket.socket]:
    host, port = sim.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    yield s
    s.close()


def post(key: str, *extra: str, body: bytes = ORDER) -> bytes:
    head = ["POST /orders HTTP/1.1", "Host: sim", "Content-Type: application/json", f"Idempotency-Key: {key}",
            f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_plain_requests_are_kept_alive_and_pipelined(conn: socket.socket) -> None:
    buf = bytearray()
    conn.sendall(post("w-1"))
    status, headers, body = read_answer(conn, buf)
    assert status == 201 and headers["connection"] == "keep-alive" and headers["date"].endswith("GMT")
    assert json.loads(body)["sku"] == "SKU-1"
    conn.sendall(post("w-2") + post("w-2") + b"GET /orders/ord_1 HTTP/1.1\r\nHost: sim\r\n\r\n")  # three at once
    answers = [read_answer(conn, buf) for _ in range(3)]
    assert [a[0] for a in answers] == [201, 201, 200]
    assert answers[1][1]["idempotent-replayed"] == "true"


def test_a_percent_encoded_path_is_decoded_as_gunicorn_does(sim: Server, conn: socket.socket) -> None:
    conn.sendall(b"GET /orders/ord%5F1 HTTP/1.1\r\nHost: sim\r\nX-Correlation-ID: w-pct\r\n\r\n")
    assert read_answer(conn, bytearray())[0] == 200
    entries = sim.control("GET", "/journal", params={"correlation_id": "w-pct"}).json()["entries"]
    assert [e["path"] for e in entries] == ["/orders/ord_1"]


def test_connection_close_is_honoured(conn: socket.socket) -> None:
    conn.sendall(post("w-close", "Connection: close"))
    status, headers, _ = read_answer(conn, bytearray())
    assert status == 201 and headers["connection"] == "close"
    assert conn.recv(10) == b""


def test_a_chunked_body_goes_to_gunicorn_and_the_connection_goes_on(conn: socket.socket) -> None:
    chunked = (b"POST /orders HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nIdempotency-Key: w-ch\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n") + b"%x\r\n%s\r\n0\r\n\r\n" % (len(ORDER), ORDER)
    buf = bytearray()
    conn.sendall(chunked)
    status, _, body = read_answer(conn, buf)  # the engine reads Content-Length bodies only, as it always did
    assert status == 400 and json.loads(body)["detail"] == "request body is required"
    conn.sendall(post("w-after-chunked"))
    assert read_answer(conn, buf)[0] == 201


def test_expect_100_continue_is_answered_by_gunicorn(conn: socket.socket) -> None:
    request = post("w-expect", "Expect: 100-continue")
    head, _, body = request.partition(b"\r\n\r\n")
    conn.sendall(head + b"\r\n\r\n")
    buf = bytearray()
    assert read_answer(conn, buf)[0] == 100
    conn.sendall(body)
    assert read_answer(conn, buf)[0] == 201


def test_a_header_name_with_an_underscore_is_dropped_like_gunicorn_does(conn: socket.socket) -> None:
    conn.sendall(post("w-underscore", "X_Correlation_ID: spoofed"))
    status, headers, _ = read_answer(conn, bytearray())
    assert status == 201 and headers["x-correlation-id"] != "spoofed"


def test_a_long_url_is_judged_by_the_contract_not_refused(conn: socket.socket) -> None:
    conn.sendall(f"GET /orders/ord_{'1' * 20_000} HTTP/1.1\r\nHost: sim\r\n\r\n".encode())
    status, _, body = read_answer(conn, bytearray())
    assert status != 414 and body.startswith(b"{")


def test_a_malformed_request_gets_gunicorns_400(conn: socket.socket) -> None:
    conn.sendall(b"POST /orders HTTP/1.1\r\nHost: sim\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello")
    assert read_answer(conn, bytearray())[0] == 400


@pytest.mark.parametrize("head", [
    b"GET /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 3",
    b"DELETE /orders/ord_1?x=%20 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Empty:",
])
def test_plain_heads_take_the_lean_loop(head: bytes) -> None:
    assert parse_plain(head) is not None


@pytest.mark.parametrize("head", [
    b"GET /orders HTTP/1.0\r\nHost: a",  # HTTP/1.0 keep-alive rules
    b"HEAD /orders HTTP/1.1\r\nHost: a",  # no body in the answer
    b"get /orders HTTP/1.1\r\nHost: a",  # gunicorn refuses lower-case methods
    b"GET http://a/orders HTTP/1.1\r\nHost: a",  # absolute form
    b"GET /orders HTTP/1.1",  # no Host
    b"GET /orders HTTP/1.1\r\nHost: a\r\nHost: b",  # a repeated field
    b"GET /orders HTTP/1.1\r\nHost: a\r\n folded",  # obsolete line folding
    b"GET /orders HTTP/1.1\r\nHost: a\r\nX_Y: 1",  # gunicorn drops names with '_'
    b"POST /orders HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked",
    b"POST /orders HTTP/1.1\r\nHost: a\r\nExpect: 100-continue",
    b"POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: -1",
    b"GET /orders HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c",
    b"GET /orders HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b",
])
def test_unusual_heads_are_left_to_gunicorn(head: bytes) -> None:
    assert parse_plain(head) is None

"""CPU per request without a server: the simulator's and bare Flask's WSGI callables, 5,000 calls each.

    python bench/wsgi_call.py        prints microseconds per call and the ratio
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.apps import bare_app, simulator_app

BODY = b'{"text": "a note of moderate length, as a storefront would send it"}'


def environ() -> dict[str, Any]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/notes", "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(BODY)), "wsgi.input": io.BytesIO(BODY), "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1"}


def per_call_us(app: Any, calls: int = 5000) -> float:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        pass

    for _ in range(500):
        b"".join(app(environ(), start_response))
    started = time.perf_counter()
    for _ in range(calls):
        b"".join(app(environ(), start_response))
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    bare, sim = per_call_us(bare_app()), per_call_us(simulator_app(None))
    print(f"bare Flask {bare:.1f} us/call, simulator (validation, faults, journal, metrics on) {sim:.1f} us/call, "
          f"simulator/bare time {sim / bare:.2f}")


if __name__ == "__main__":
    main()

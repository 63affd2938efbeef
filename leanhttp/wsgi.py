"""The WSGI side of the lean loop: the environ gunicorn would build, and the answer written with one send()."""

from __future__ import annotations

import io
import time
from email.utils import formatdate
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

from gunicorn import SERVER_SOFTWARE
from gunicorn.http.wsgi import FileWrapper

from .plain import Plain

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade"}
SERVER_ERROR = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
                b"Connection: close\r\n\r\nInternal Server Error")
_date: tuple[int, str] = (0, "")


def build_environ(r: Plain, body: bytes, *, client: Any, addr: Any, server: Any, errors: Any,
                  multiprocess: bool) -> dict[str, Any]:
    """The environ gunicorn's wsgi.create builds for the same request (threads or greenlets: multithread)."""
    path, _, query = r.target.partition("?")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False, "wsgi.file_wrapper": FileWrapper, "wsgi.input_terminated": True,
        "wsgi.input": io.BytesIO(body), "wsgi.errors": errors, "wsgi.url_scheme": "http",
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


class Worker(Protocol):
    """What `respond` needs of a gunicorn worker."""

    wsgi: Any
    log: Any
    alive: bool


def respond(worker: Worker, environ: dict[str, Any], client: Any, *, keep: bool) -> bool:
    """Run the worker's app and send its answer; True when the connection stays open for the next request.

    `keep`: the request allows the connection to stay open; the answer closes it anyway when the worker
    is stopping by the time the head is written, when the app says `Connection: close` or gives no
    Content-Length (its body then ends at the close). An app that raises before anything was sent gets a
    500 (logged); after, the connection is closed."""
    started: list[Any] = []
    sent = False  # sending has begun: an error now is the client's, or too late for a 500

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and sent:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return write

    def write(data: bytes) -> None:
        nonlocal sent
        if not sent:
            sent = True
            client.sendall(head())
        client.sendall(data)

    def head() -> bytes:
        nonlocal keep
        keep = keep and worker.alive
        status, headers = started
        lines = [f"HTTP/1.1 {status}"]
        length = None
        for name, value in headers:
            lower = name.lower()
            if lower in HOP_BY_HOP:
                keep = keep and not (lower == "connection" and value.lower() == "close")
                continue
            if lower == "content-length":
                length = value
            lines.append(f"{name}: {value}")
        if length is None and not status.startswith(("1", "204", "304")):
            keep = False  # no length: the body ends when the connection closes
        lines.append(f"Date: {http_date()}")
        lines.append("Connection: keep-alive" if keep else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    result: Any = None
    try:
        result = worker.wsgi(environ, start_response)
        if type(result) is list and len(result) == 1 and not sent:
            sent = True
            client.sendall(head() + result[0])  # the usual answer: head and body in one send()
        else:
            for chunk in result:
                if chunk:
                    write(chunk)
            if not sent:
                sent = True
                client.sendall(head())
    except Exception as e:
        if sent and isinstance(e, OSError):
            raise  # the client went away: the loop decides whether that is worth a log line
        worker.log.exception("Error handling request")
        if not sent:
            client.sendall(SERVER_ERROR)
        return False
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return keep


def http_date() -> str:
    """The Date header's value, formatted once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True))
    return _date[1]

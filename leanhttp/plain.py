"""Which requests the lean loop reads itself: `parse_plain` turns a plain HTTP/1.1 head into a `Plain`."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEAD = 65_536
MAX_FIELDS = 100
_METHOD = re.compile(r"[A-Z]{3,20}")
_NAME = re.compile(r"[!#$%&'*+.^`|~0-9A-Za-z-]+")  # a token without '_' (gunicorn drops such headers)
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(r"/[\x21-\x7e]*")
_NOT_PLAIN = ("transfer-encoding", "expect", "upgrade", "te", "trailer", "http2-settings")


@dataclass(slots=True)
class Plain:
    """A parsed plain request: what the environ needs (header names upper-case)."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    length: int
    close: bool


def parse_plain(head: bytes) -> Plain | None:
    """The request head (without its blank line) as a Plain request, or None when gunicorn must judge it.

    Plain: HTTP/1.1, not HEAD, an origin-form target, a Content-Length body or none, unique token-named
    headers, a Host, no Expect/Upgrade/Transfer-Encoding, `Connection` only keep-alive and/or close."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1" or not _METHOD.fullmatch(parts[0]) or parts[0] == "HEAD" \
            or not _TARGET.fullmatch(parts[1]) or len(lines) > MAX_FIELDS + 1:
        return None
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    length, close = 0, False
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        lower = name.lower()
        value = value.strip(" \t")
        if not colon or not _NAME.fullmatch(name) or lower in seen or not _VALUE.fullmatch(value):
            return None
        seen.add(lower)
        if lower in _NOT_PLAIN:
            return None
        if lower == "content-length":
            if not value.isdigit():
                return None
            length = int(value)
        elif lower == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            if not tokens <= {"keep-alive", "close"}:
                return None
            close = "close" in tokens
        headers.append((name.upper(), value))
    if "host" not in seen:
        return None
    return Plain(parts[0], parts[1], headers, length, close)

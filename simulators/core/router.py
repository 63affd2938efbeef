"""Path templates compiled once into an index by method and segment count; near misses for 404s.

Literal segments win over templated ones (`/payments/search` before `/payments/{id}`). When the
contract's first server URL has a path (`https://x.example/v68`), requests are matched both with that
prefix and without it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Route:
    """One (method, path template) of the contract, compiled."""

    method: str
    template: str
    operation_id: str
    segments: tuple[str | re.Pattern[str], ...]
    names: tuple[tuple[str, ...], ...]
    rank: tuple[int, ...]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Path parameters (percent-decoded) when every segment matches, else None."""
        params: dict[str, str] = {}
        for seg, names, part in zip(self.segments, self.names, parts, strict=True):
            if isinstance(seg, str):
                if seg != part:
                    return None
                continue
            m = seg.fullmatch(part)
            if m is None:
                return None
            for name, value in zip(names, m.groups(), strict=True):
                params[name] = unquote(value)
        return params


def compile_route(method: str, template: str, operation_id: str) -> Route:
    """A Route: literal segments as strings, templated ones as regexes with their parameter names."""
    segments: list[str | re.Pattern[str]] = []
    names: list[tuple[str, ...]] = []
    rank: list[int] = []
    for part in split_path(template):
        found = _PARAM.findall(part)
        if not found:
            segments.append(part)
            names.append(())
            rank.append(0)
            continue
        pieces = _PARAM.split(part)  # literal, name, literal, name, ..., literal
        rx = "".join(re.escape(p) if i % 2 == 0 else "([^/]+?)" for i, p in enumerate(pieces))
        segments.append(re.compile(rx))
        names.append(tuple(found))
        rank.append(1 if rx != "([^/]+?)" else 2)
    return Route(method.upper(), template, operation_id, tuple(segments), tuple(names), tuple(rank))


def split_path(path: str) -> list[str]:
    """The segments of a path, ignoring a trailing slash."""
    path = path.split("?", 1)[0]
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def base_path(servers: list[dict[str, Any]] | None) -> str:
    """The path component of the first server URL ('' when none or '/')."""
    if not servers or not isinstance(servers[0], dict):
        return ""
    url = str(servers[0].get("url") or "")
    url = _PARAM.sub("x", url) if "://" in url else url
    path = urlsplit(url).path if "://" in url else url
    return "/" + path.strip("/") if path.strip("/") else ""


class Router:
    """Matches (method, path) to an operation; explains the near misses when nothing matches."""

    def __init__(self, routes: list[Route], prefix: str = "") -> None:
        self.routes = routes
        self.prefix = split_path(prefix)
        self._index: dict[tuple[str, int], list[Route]] = {}
        for route in sorted(routes, key=lambda r: r.rank):
            self._index.setdefault((route.method, len(route.segments)), []).append(route)

    def candidates(self, path: str) -> list[list[str]]:
        """The segment lists to try: the path as given, then without the server's base path."""
        parts = split_path(path)
        n = len(self.prefix)
        if n and parts[:n] == self.prefix:
            return [parts, parts[n:]]
        return [parts]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The first route matching, literal segments first, with its path parameters."""
        method = method.upper()
        for parts in self.candidates(path):
            for route in self._index.get((method, len(parts)), ()):
                params = route.match(parts)
                if params is not None:
                    return route, params
        return None

    def near_misses(self, method: str, path: str, limit: int = 5) -> list[dict[str, Any]]:
        """The closest routes to an unmatched request, each with the reason it did not match."""
        method = method.upper()
        tries = self.candidates(path)
        allowed: dict[str, list[str]] = {}
        for route in self.routes:
            allowed.setdefault(route.template, []).append(route.method)
        scored: list[tuple[float, dict[str, Any]]] = []
        for route in self.routes:
            best: tuple[float, str] | None = None
            for parts in tries:
                shape_ok = len(parts) == len(route.segments) and route.match(parts) is not None
                if shape_ok and route.method != method:
                    only = ", ".join(sorted(allowed[route.template]))
                    reason, score = f"method {method} not allowed ({only} only)", 2.0
                elif shape_ok:
                    reason, score = "matches", 3.0
                else:
                    reason = _path_reason(parts, route)
                    score = difflib.SequenceMatcher(None, "/" + "/".join(parts), route.template).ratio()
                    if route.method != method:
                        reason += f"; method {method} differs ({route.method})"
                        score -= 0.05
                if best is None or score > best[0]:
                    best = (score, reason)
            assert best is not None
            scored.append((best[0], {"operation": route.operation_id, "method": route.method,
                                     "path": route.template, "reason": best[1]}))
        scored.sort(key=lambda item: -item[0])
        return [entry for _, entry in scored[:limit]]


def _path_reason(parts: list[str], route: Route) -> str:
    if len(parts) != len(route.segments):
        return f"path has {len(parts)} segments, template has {len(route.segments)}"
    template_parts = split_path(route.template)
    for i, (seg, part) in enumerate(zip(route.segments, parts, strict=True)):
        if (isinstance(seg, str) and seg != part) or (not isinstance(seg, str) and not seg.fullmatch(part)):
            return f"path differs at segment {i + 1}: '{part}' vs '{template_parts[i]}'"
    return "path differs"  # pragma: no cover - unreachable when the route did not match

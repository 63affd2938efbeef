"""String parameters turned into their schema's type before validation; plans are built once per parameter.

Query/cookie parameters use style `form` (repeated keys when exploded, commas otherwise),
`spaceDelimited` or `pipeDelimited`; path and header parameters use `simple` (commas); path `label`
(`.a.b`) and `matrix` (`;id=a,b`) are understood too. Objects (`deepObject`) are left as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

_INT = re.compile(r"^[+-]?\d+$")
_NUM = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_SEPARATORS = {"form": ",", "simple": ",", "spaceDelimited": " ", "pipeDelimited": "|", "label": ".",
               "matrix": ","}


class CoercionError(ValueError):
    """A parameter value that cannot be read as its schema's type."""

    def __init__(self, expected: str, received: Any, suffix: str = "") -> None:
        self.expected, self.received, self.suffix = expected, received, suffix
        super().__init__(f"{received!r} is not {expected}")


def schema_kind(schema: Any, resolve: Callable[[str], Any], depth: int = 0) -> str | None:
    """The one JSON type a parameter schema declares (following refs; "null" ignored), else None."""
    if not isinstance(schema, dict) or depth > 16:
        return None
    if isinstance(schema.get("$ref"), str):
        return schema_kind(resolve(schema["$ref"]), resolve, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if isinstance(kind, str):
        return kind
    for key in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(key)
        if isinstance(subs, list):
            found = {schema_kind(s, resolve, depth + 1) for s in subs} - {None}
            if len(found) == 1:
                return found.pop()
    return None


def items_schema(schema: Any, resolve: Callable[[str], Any]) -> Any:
    """The `items` schema of an array parameter schema (following refs)."""
    for _ in range(16):
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            schema = resolve(schema["$ref"])
    return schema.get("items") if isinstance(schema, dict) else None


def scalar(kind: str | None, value: str) -> Any:
    """One string as integer, number or boolean; anything else stays a string."""
    if kind == "integer":
        if _INT.match(value):
            return int(value)
        raise CoercionError("type: integer", value)
    if kind == "number":
        if _INT.match(value):
            return int(value)
        if _NUM.match(value):
            return float(value)
        raise CoercionError("type: number", value)
    if kind == "boolean":
        if value in ("true", "false"):
            return value == "true"
        raise CoercionError("type: boolean", value)
    if kind == "null" and value == "":
        return None
    return value


@dataclass(frozen=True)
class Coercer:
    """How one parameter's raw strings become a typed value."""

    name: str
    location: str
    kind: str | None
    item_kind: str | None
    style: str
    explode: bool
    json_content: bool = False

    def __call__(self, raw: list[str]) -> Any:
        """The typed value of the raw strings (query: every occurrence; others: one string)."""
        if self.json_content:
            try:
                return orjson.loads(raw[0])
            except orjson.JSONDecodeError as exc:
                raise CoercionError("JSON content", raw[0]) from exc
        if self.kind == "array":
            values = self._split(raw)
            out = []
            for i, item in enumerate(values):
                try:
                    out.append(scalar(self.item_kind, item))
                except CoercionError as exc:
                    raise CoercionError(exc.expected, item, f"/{i}") from None
            return out
        value = self._strip(raw[0])
        return scalar(self.kind, value)

    def _strip(self, value: str) -> str:
        if self.style == "label" and value.startswith("."):
            return value[1:]
        if self.style == "matrix" and value.startswith(f";{self.name}="):
            return value[len(self.name) + 2:]
        return value

    def _split(self, raw: list[str]) -> list[str]:
        if self.location in ("query", "cookie") and self.style == "form" and self.explode:
            return list(raw)
        value = raw[0]
        if self.style == "label":
            return value.lstrip(".").split("." if self.explode else ",") if value.lstrip(".") else []
        if self.style == "matrix":
            if self.explode:
                return [p.split("=", 1)[-1] for p in value.split(";") if p]
            value = self._strip(value)
        if value == "":
            return []
        return value.split(_SEPARATORS.get(self.style, ","))


def make_coercer(name: str, location: str, schema: Any, style: str, explode: bool,
                 resolve: Callable[[str], Any], content_type: str | None = None) -> Coercer:
    """The coercion plan for one parameter, computed once."""
    kind = schema_kind(schema, resolve)
    item_kind = schema_kind(items_schema(schema, resolve), resolve) if kind == "array" else None
    json_content = bool(content_type and "json" in content_type)
    return Coercer(name, location, kind, item_kind, style, explode, json_content)

"""The building blocks of fault rules: field validation, JSON pointers, predicates and path patterns.

Matchers return (ok, reason): the reasons say why a rule did not match a request (near misses).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, unknown_name

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "regex", "exists")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def fail(fld: str, message: str) -> ConfigError:
    """The error for one field path (raise it)."""
    return ConfigError(message, field=fld)


def number(spec: dict[str, Any], key: str, fld: str, *, lo: float = 0, hi: float | None = None,
           integer: bool = False, default: Any = ..., strict_lo: bool = False) -> Any:
    """A numeric field within bounds; the error names the field path and what was given."""
    if key not in spec or spec[key] is None:
        if default is ...:
            raise fail(f"{fld}.{key}", "is required")
        return default
    value = spec[key]
    kind = "an integer" if integer else "a number"
    bounds = f"> {lo:g}" if strict_lo else f">= {lo:g}"
    if hi is not None:
        bounds += f" and <= {hi:g}"
    ok = isinstance(value, int if integer else int | float) and not isinstance(value, bool)
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if ok and (value < lo or (strict_lo and value == lo) or (hi is not None and value > hi)):
        ok = False
    if not ok:
        raise fail(f"{fld}.{key}", f"must be {kind} {bounds}, got {value!r}")
    return value


def choice(spec: dict[str, Any], key: str, fld: str, choices: tuple[str, ...], default: Any = ...) -> Any:
    """A field whose value is one of a closed set of names."""
    if spec.get(key) is None:
        if default is ...:
            raise fail(f"{fld}.{key}", f"is required; one of {', '.join(choices)}")
        return default
    value = spec[key]
    if value not in choices:
        raise fail(f"{fld}.{key}", unknown_name(key, str(value), choices))
    return value


def check_keys(spec: dict[str, Any], allowed: tuple[str, ...], fld: str, what: str) -> None:
    """Reject keys a spec does not know, with did-you-mean."""
    for key in spec:
        if key not in allowed:
            raise fail(f"{fld}.{key}" if fld else str(key), unknown_name(f"{what} field", str(key), allowed))



# -- JSON pointers ---------------------------------------------------------------------------------


def parse_pointer(pointer: Any, fld: str, *, wildcard: bool = False) -> tuple[str, ...]:
    """'/items/0/price' -> ('items', '0', 'price'); '*' stands for every element when wildcard is on."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise fail(fld, f"must be a JSON pointer starting with '/', e.g. '/status', got {pointer!r}")
    parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))
    if "*" in parts and not wildcard:
        raise fail(fld, f"'*' is not allowed here, got {pointer!r}")
    return parts


def resolve_pointer(doc: Any, parts: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of a parsed JSON pointer in a JSON document."""
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return False, None
    return True, doc


def pointer_targets(doc: Any, parts: tuple[str, ...]) -> list[tuple[Any, str | int]]:
    """Every (container, key) the pointer names, expanding '*' over arrays and objects."""
    found: list[tuple[Any, str | int]] = []
    level: list[Any] = [doc]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt: list[Any] = []
        for node in level:
            keys: list[str | int]
            if isinstance(node, dict):
                keys = list(node) if part == "*" else [part] if part in node else []
            elif isinstance(node, list):
                keys = list(range(len(node))) if part == "*" else (
                    [int(part)] if part.isdigit() and int(part) < len(node) else [])
            else:
                keys = []
            for key in keys:
                if last:
                    found.append((node, key))
                else:
                    nxt.append(node[key])  # type: ignore[index]
        level = nxt
    return found



# -- predicates -------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Predicate:
    """One field's condition (every operator must hold); `coerce` compares header text to numbers."""

    where: str
    ops: tuple[tuple[str, Any], ...]
    coerce: bool = False

    def check(self, found: bool, value: Any) -> tuple[bool, str]:
        """(ok, reason) for the field's value; `found` False when the request lacks the field."""
        for op, operand in self.ops:
            if op == "exists":
                if found != operand:
                    return False, f"{self.where}: {'missing' if operand else 'present'}"
                continue
            if not found:
                return False, f"{self.where}: missing"
            if not self._holds(op, operand, value):
                shown = operand.pattern if isinstance(operand, re.Pattern) else operand
                return False, f"{self.where}: {value!r} fails {op} {shown!r}"
        return True, ""

    def _same(self, value: Any, operand: Any) -> bool:
        if self.coerce and isinstance(value, str) and not isinstance(operand, str):
            return value == _header_text(operand)
        return value == operand and isinstance(value, bool) == isinstance(operand, bool)

    def _holds(self, op: str, operand: Any, value: Any) -> bool:
        if op == "eq":
            return self._same(value, operand)
        if op == "ne":
            return not self._same(value, operand)
        if op in ("in", "not_in"):
            return any(self._same(value, x) for x in operand) == (op == "in")
        if op == "contains":
            if isinstance(value, str):
                return isinstance(operand, str) and operand in value
            if isinstance(value, list):
                return any(self._same(x, operand) for x in value)
            return isinstance(value, dict) and operand in value
        if op == "regex":
            return isinstance(value, str) and operand.search(value) is not None
        if self.coerce and isinstance(value, str) and _is_number(operand):
            try:
                value = float(value)
            except ValueError:
                return False
        if not ((_is_number(value) and _is_number(operand)) or (isinstance(value, str) and isinstance(operand, str))):
            return False
        return {"gt": value > operand, "gte": value >= operand, "lt": value < operand, "lte": value <= operand}[op]


def parse_predicate(spec: Any, fld: str, where: str, *, coerce: bool = False) -> Predicate:
    """A literal (equality) or a mapping of operators; operands are checked now, not when matching."""
    if not isinstance(spec, dict):
        return Predicate(where, (("eq", spec),), coerce)
    if not spec:
        raise fail(fld, f"an empty predicate matches nothing useful; use one of {', '.join(OPERATORS)}")
    ops: list[tuple[str, Any]] = []
    for op, operand in spec.items():
        at = f"{fld}.{op}"
        if op not in OPERATORS:
            raise fail(at, unknown_name("predicate", str(op), OPERATORS) + " (to compare with an object, use eq)")
        if op in ("gt", "gte", "lt", "lte") and not (_is_number(operand) or isinstance(operand, str)):
            raise fail(at, f"must be a number or a string, got {operand!r}")
        if op in ("in", "not_in") and not isinstance(operand, list):
            raise fail(at, f"must be a list of values, got {operand!r}")
        if op == "exists" and not isinstance(operand, bool):
            raise fail(at, f"must be true or false, got {operand!r}")
        if op == "regex":
            if not isinstance(operand, str):
                raise fail(at, f"must be a regular expression string, got {operand!r}")
            try:
                operand = re.compile(operand)
            except re.error as e:
                raise fail(at, f"is not a valid regular expression ({e}): {spec[op]!r}") from None
        ops.append((op, operand))
    ops.sort(key=lambda item: item[0] != "exists")  # presence first: its reason is the clearest
    return Predicate(where, tuple(ops), coerce)


def predicate_to_json(pred: Predicate) -> Any:
    """The predicate as a rule spells it (operators mapping)."""
    return {op: (v.pattern if isinstance(v, re.Pattern) else v) for op, v in pred.ops}


# -- paths and methods ------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"\{[^/{}]+\}|\*\*|\*|\?")


def compile_path(pattern: Any, fld: str) -> re.Pattern[str]:
    """A path glob or template: '{id}' and '*' match one segment, '**' any depth, '?' one character."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise fail(fld, f"must be a path starting with '/', e.g. '/payments/{{id}}/capture', got {pattern!r}")
    out, pos = [], 0
    for m in _PATH_TOKEN.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        token = m.group()
        out.append(".*" if token == "**" else "[^/]" if token == "?" else "[^/]+" if token[0] == "{" else "[^/]*")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + "/?$")


def parse_methods(spec: Any, fld: str) -> frozenset[str]:
    """A method or a list of methods, upper-cased and checked."""
    items = spec if isinstance(spec, list) else [spec]
    methods = set()
    for i, item in enumerate(items):
        at = f"{fld}[{i}]" if isinstance(spec, list) else fld
        if not isinstance(item, str) or item.upper() not in HTTP_METHODS:
            raise fail(at, unknown_name("HTTP method", str(item), HTTP_METHODS))
        methods.add(item.upper())
    if not methods:
        raise fail(fld, "must name at least one method")
    return frozenset(methods)

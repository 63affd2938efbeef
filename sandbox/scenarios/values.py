"""Templates (`{{ fake.email }}`, `{{ saved.x }}`, `{{ uuid }}`), field paths and matchers."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError  # type: ignore[import-untyped]
from jsonpath_ng.ext import parse as jsonpath_parse  # type: ignore[import-untyped]

TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
MISSING = object()
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

# matcher names usable as plain strings: `status: any_string`
NAMED: dict[str, Callable[[Any], bool]] = {
    "any_uuid": lambda v: isinstance(v, str) and bool(UUID.match(v)),
    "any_string": lambda v: isinstance(v, str),
    "any_nonempty_string": lambda v: isinstance(v, str) and bool(v),
    "any_int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "any_number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "any_bool": lambda v: isinstance(v, bool),
    "any_list": lambda v: isinstance(v, list),
    "any_object": lambda v: isinstance(v, dict),
    "any_datetime": lambda v: isinstance(v, str) and _is_datetime(v),
    "present": lambda v: v is not MISSING,
    "absent": lambda v: v is MISSING,
    "null": lambda v: v is None,
    "not_null": lambda v: v is not MISSING and v is not None,
}
# matcher mappings: `amount: {gt: 0}`; several keys must all hold
KEYED = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "regex", "len", "one_of",
         "startswith", "type")
TYPES: dict[str, Any] = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict,
         "null": type(None)}


def _is_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class TemplateError(Exception):
    """A template names something that does not exist (unknown saved value, Faker provider)."""


class Renderer:
    """Fills `{{ ... }}` in strings, lists and mappings from saved values, Faker and helpers."""

    def __init__(self, saved: dict[str, Any], seed: int | None = None) -> None:
        from faker import Faker  # imported late: faker's own pytest plugin must load first

        self.saved = saved
        self.fake = Faker("en_GB")
        if seed is not None:
            self.fake.seed_instance(seed)

    def value(self, expr: str) -> Any:
        """The value of one expression inside `{{ }}`."""
        head, _, rest = expr.partition(".")
        if expr == "uuid":
            return str(uuid.uuid4())
        if expr == "unique":
            return uuid.uuid4().hex[:12]
        if expr == "today":
            return dt.datetime.now(dt.UTC).date().isoformat()
        if expr == "now":
            return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        if head == "fake" and rest:
            provider = getattr(self.fake, rest, None)
            if provider is None or not callable(provider):
                raise TemplateError(f"unknown Faker provider 'fake.{rest}'")
            return provider()
        if head == "saved" and rest:
            name, *fields = rest.split(".")
            if name not in self.saved:
                raise TemplateError(f"no saved value '{name}' (saved so far: {', '.join(sorted(self.saved)) or 'none'})")
            value = self.saved[name]
            for f in fields:
                value = value[int(f)] if isinstance(value, list) else value[f]
            return value
        raise TemplateError(f"unknown template '{{{{ {expr} }}}}': use fake.NAME, saved.NAME, uuid, unique, today, now")

    def render(self, data: Any) -> Any:
        """A copy of data with every template filled; a string that is one template keeps the value's type."""
        if isinstance(data, str):
            whole = TEMPLATE.fullmatch(data.strip())
            if whole:
                return self.value(whole.group(1))
            return TEMPLATE.sub(lambda m: str(self.value(m.group(1))), data)
        if isinstance(data, list):
            return [self.render(v) for v in data]
        if isinstance(data, dict):
            return {self.render(k) if isinstance(k, str) else k: self.render(v) for k, v in data.items()}
        return data


def template_names(data: Any) -> list[str]:
    """Every expression used in templates inside data."""
    if isinstance(data, str):
        return [m.group(1) for m in TEMPLATE.finditer(data)]
    if isinstance(data, list):
        return [n for v in data for n in template_names(v)]
    if isinstance(data, dict):
        return [n for k, v in data.items() for n in template_names(k) + template_names(v)]
    return []


def check_path(path: str) -> str | None:
    """None when the field path is a valid JSONPath ($...), JSON pointer (/...) or dotted name; else why."""
    if path.startswith("/") or path in ("", "status") or path.startswith("header:"):
        return None
    try:
        jsonpath_parse(path if path.startswith("$") else f"$.{path}")
    except (JsonPathParserError, Exception) as exc:  # jsonpath-ng raises plain Exceptions for some input
        return f"not a valid JSONPath: {exc}"
    return None


def extract(doc: Any, path: str) -> Any:
    """The value at a JSONPath / JSON pointer / dotted path; MISSING when absent; a list for several matches."""
    if path in ("", "$"):
        return doc
    if path.startswith("/"):
        node = doc
        for raw in path[1:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and key.lstrip("-").isdigit() and -len(node) <= int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                return MISSING
        return node
    expr = jsonpath_parse(path if path.startswith("$") else f"$.{path}")
    found = [m.value for m in expr.find(doc)]
    if not found:
        return MISSING
    many = any(ch in path for ch in ("*", "..", ":"))
    return found if many or len(found) > 1 else found[0]


def is_matcher(expected: Any) -> bool:
    """A mapping made only of matcher keys (`{gt: 0, lt: 10}`)."""
    return isinstance(expected, Mapping) and bool(expected) and all(k in KEYED for k in expected)


def match(expected: Any, actual: Any) -> tuple[bool, str]:
    """(ok, reason): does actual satisfy expected (a literal, a named matcher or a matcher mapping)?"""
    if isinstance(expected, str) and expected in NAMED:
        ok = NAMED[expected](actual)
        return ok, "" if ok else f"expected {expected}, got {_show(actual)}"
    if is_matcher(expected):
        for key, arg in expected.items():
            ok, reason = _keyed(key, arg, actual)
            if not ok:
                return False, reason
        return True, ""
    if actual is MISSING:
        return False, f"expected {expected!r}, but the field is absent"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            ok, reason = match(v, actual.get(k, MISSING))
            if not ok:
                return False, f"{k}: {reason}"
        return True, ""
    ok = (expected == actual and type(expected) is type(actual)) or (
        isinstance(expected, int | float) and isinstance(actual, int | float)
        and not isinstance(actual, bool) and expected == actual)
    return ok, "" if ok else f"expected {expected!r}, got {_show(actual)}"


def _keyed(key: str, arg: Any, actual: Any) -> tuple[bool, str]:
    """One matcher mapping key."""
    if actual is MISSING and key != "ne":
        return False, f"expected {key} {arg!r}, but the field is absent"
    try:
        if key == "eq":
            return match(arg, actual)
        if key == "ne":
            ok = actual != arg
        elif key in ("gt", "gte", "lt", "lte"):
            ok = {"gt": actual > arg, "gte": actual >= arg, "lt": actual < arg, "lte": actual <= arg}[key]
        elif key == "contains":
            ok = (arg in actual) if not isinstance(actual, list) or not isinstance(arg, dict) else any(
                match(arg, item)[0] for item in actual)
        elif key == "not_contains":
            ok = arg not in actual
        elif key == "regex":
            ok = isinstance(actual, str) and re.search(str(arg), actual) is not None
        elif key == "len":
            return match(arg, len(actual)) if is_matcher(arg) else (len(actual) == arg,
                                                                   f"expected length {arg}, got {len(actual)}: {_show(actual)}")
        elif key == "one_of":
            ok = any(match(a, actual)[0] for a in arg)
        elif key == "startswith":
            ok = isinstance(actual, str) and actual.startswith(str(arg))
        else:  # type
            ok = isinstance(actual, TYPES[arg]) and not (arg in ("integer", "number") and isinstance(actual, bool))
    except (TypeError, KeyError) as exc:
        return False, f"cannot apply {key} {arg!r} to {_show(actual)}: {exc}"
    return ok, "" if ok else f"expected {key} {arg!r}, got {_show(actual)}"


def _show(value: Any) -> str:
    """A short repr for messages."""
    if value is MISSING:
        return "nothing (absent)"
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."

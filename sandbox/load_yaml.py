"""YAML with line marks for load-test files (timelines, SLO gates): errors read `file:line: field: reason`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from simulators.core.yamlmarks import LineLoader, MarkedDict, MarkedList

from .errors import SandboxError

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?"
                       r"\s*(?:(\d+(?:\.\d+)?)ms)?\s*$")


class LoadFileError(SandboxError):
    """A timeline or SLO file is invalid; the message starts with `file:line:`."""




def read_marked(path: str | Path, what: str) -> Any:
    """Parse a YAML file keeping line marks; unreadable or broken YAML raises LoadFileError with a line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise LoadFileError(f"{path}: cannot read the {what} file: {e.strerror}") from None
    try:
        return yaml.load(text, Loader=LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)  # where the broken node starts
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        context = f"{getattr(e, 'context', None)}, " if getattr(e, "context", None) else ""
        problem = getattr(e, "problem_mark", None)
        at = f" (line {problem.line + 1})" if problem and problem is not mark else ""
        raise LoadFileError(f"{where}: not valid YAML: {context}{getattr(e, 'problem', None) or e}{at}") from None


def line(node: Any, key: Any = None) -> int:
    """The line of a key in a marked mapping, an item of a marked list, or the node itself."""
    if key is not None and isinstance(node, MarkedDict) and key in node.key_lines:
        return node.key_lines[key]
    if isinstance(key, int) and isinstance(node, MarkedList) and key < len(node.item_lines):
        return node.item_lines[key]
    return getattr(node, "line", 1)


def plain(value: Any) -> Any:
    """Marked containers back to plain dicts and lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def parse_duration(value: Any) -> float:
    """Seconds from 90, 90.5, '90s', '2m', '1m30s', '1h', '500ms'; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"'{value}' is not a duration (examples: 30, 30s, 2m, 1m30s, 500ms)")
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000

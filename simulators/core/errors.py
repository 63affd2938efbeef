"""Errors of the simulator engine; every one can be shown to a person or sent as problem+json."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class SimulatorError(Exception):
    """Base class of every error the engine raises on purpose."""


class ContractError(SimulatorError):
    """A contract file cannot be used: names the file (and line), the JSON pointer inside it and the reason."""

    def __init__(self, file: str, pointer: str, reason: str) -> None:
        self.file, self.pointer, self.reason = file, pointer or "/", reason
        self.line = line_of_pointer(file, self.pointer)
        where = f"{file}:{self.line}" if self.line else file
        super().__init__(f"{where}: {self.pointer}: {reason}")


def line_of_pointer(file: str, pointer: str) -> int | None:
    """The 1-based line where a JSON pointer's node starts in a YAML/JSON file; None when not found."""
    if pointer in ("", "/") or not file.endswith((".yaml", ".yml", ".json")):
        return None
    try:
        import yaml

        with open(file, encoding="utf-8") as fh:
            node = yaml.compose(fh)
    except Exception:  # an unreadable or unparsable file has no line to point at
        return None
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            node = None
        if node is None:
            return None
    return int(node.start_mark.line) + 1 if node is not None else None


class ConfigError(SimulatorError):
    """A fault rule, profile, behaviour or provider state is malformed or unknown."""

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None) -> None:
        self.field, self.source = field, source
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class ProblemError(SimulatorError):
    """An HTTP error answered as application/problem+json (RFC 9457)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        type_: str = "about:blank",
        **extensions: Any,
    ) -> None:
        self.status, self.title, self.detail = status, title, detail
        self.errors, self.headers, self.type = errors, headers or {}, type_
        self.extensions = extensions
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """' Did you mean 'x'?' for the nearest choices, or '' when nothing is close."""
    close = difflib.get_close_matches(value, list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def unknown_name(kind: str, value: str, choices: Iterable[str]) -> str:
    """The message for an unknown name: what was given, the nearest names and every valid one."""
    ordered = sorted(choices)
    return f"unknown {kind} '{value}'.{did_you_mean(value, ordered)} Valid: {', '.join(ordered)}"

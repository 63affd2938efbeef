"""Read scenario YAML keeping a line mark for every node, so errors point at `file:line`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ScenarioError

SUFFIX = ".scenario.yaml"
DEFAULTS_KEYS = frozenset({"defaults"})


def path_text(parts: tuple[str | int, ...]) -> str:
    """('steps', 2, 'fault', 'type') -> 'steps[2].fault.type'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Document:
    """One YAML document of a scenario file: the data and the line of every node."""

    source: Path
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)
    text: str = ""

    def line_of(self, parts: tuple[str | int, ...]) -> int:
        """The 1-based line of a node, or of its nearest ancestor that has one."""
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), 1)

    def snippet(self, line: int, context: int = 2) -> str:
        """The lines around `line`, numbered, the line itself marked with '>'."""
        rows = self.text.splitlines()
        lo, hi = max(1, line - context), min(len(rows), line + context)
        return "\n".join(f"{'>' if n == line else ' '} {n:4d} | {rows[n - 1]}" for n in range(lo, hi + 1))

    def error(self, parts: tuple[str | int, ...], message: str, *, snippet: bool = True) -> ScenarioError:
        """`file:line: path: message` with the YAML snippet under it."""
        line = self.line_of(parts)
        where = path_text(parts)
        text = f"{self.source}:{line}: {where + ': ' if where else ''}{message}"
        if snippet and self.text:
            text += "\n" + self.snippet(line)
        return ScenarioError(text)


def _build(node: yaml.Node, parts: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int],
           constructor: yaml.constructor.SafeConstructor) -> Any:
    """Python data from a composed node, recording each node's line."""
    lines[parts] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise ScenarioError(f"line {key_node.start_mark.line + 1}: a mapping key must be a scalar")
            lines[(*parts, str(key))] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*parts, str(key)), lines, constructor)
            lines[(*parts, str(key))] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*parts, i), lines, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def parse_documents(text: str, source: Path) -> list[Document]:
    """Every document of a YAML text; a syntax error becomes `file:line: message`."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        doc = Document(source, None, {(): line}, text)
        raise doc.error((), f"not valid YAML: {exc.problem or exc}") from None
    docs = []
    for node in nodes:
        if node is None:
            continue
        constructor = yaml.constructor.SafeConstructor()
        lines: dict[tuple[str | int, ...], int] = {}
        data = _build(node, (), lines, constructor)
        docs.append(Document(source, data, lines, text))
    return docs


def read_documents(path: str | Path) -> list[Document]:
    """The documents of a scenario file (or an included fixture file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_documents(text, path)


@dataclass
class ScenarioFile:
    """A scenario file: an optional leading defaults document, then one scenario per document."""

    path: Path
    defaults: Document | None
    scenarios: list[Document]


def load_file(path: str | Path) -> ScenarioFile:
    """Split a file into its defaults document (`defaults:` at the top) and its scenarios."""
    docs = read_documents(path)
    defaults = None
    if docs and isinstance(docs[0].data, dict) and set(docs[0].data) <= DEFAULTS_KEYS and docs[0].data:
        defaults = docs.pop(0)
    if not docs:
        raise ScenarioError(f"{path}:1: the file holds no scenario (a document with name and steps)")
    return ScenarioFile(Path(path), defaults, docs)

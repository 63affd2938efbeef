"""YAML that remembers where things are: mappings and sequences carry the 1-based line of themselves, of
each key and of each item, so an error can say `file:line: field: reason` (profiles, timelines, SLO files)."""

from __future__ import annotations

from typing import Any

import yaml


class MarkedDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers its line and the line of each key."""

    line: int = 1
    key_lines: dict[Any, int]


class MarkedList(list):  # type: ignore[type-arg]
    """A sequence that remembers the line of each item."""

    line: int = 1
    item_lines: list[int]


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that records 1-based start lines of mappings, keys and sequence items."""


def _map(loader: LineLoader, node: yaml.MappingNode) -> Any:
    data = MarkedDict()
    data.line, data.key_lines = node.start_mark.line + 1, {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            data.key_lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1


def _seq(loader: LineLoader, node: yaml.SequenceNode) -> Any:
    data = MarkedList()
    data.line, data.item_lines = node.start_mark.line + 1, [n.start_mark.line + 1 for n in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


LineLoader.add_constructor("tag:yaml.org,2002:map", _map)
LineLoader.add_constructor("tag:yaml.org,2002:seq", _seq)

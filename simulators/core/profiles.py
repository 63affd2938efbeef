"""Fault profiles: named lists of fault rules in YAML, validated at load with file:line errors.

A profile file is {name, description, simulator?, rules: [...]}; a rule may carry `simulator: payment`
(or inherit the file's) so one profile can span several simulators; `load_profile_file(path,
simulator=...)` keeps the rules of one simulator (and those that name none).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, unknown_name
from .faults import config_message, validate_rule
from .yamlmarks import LineLoader, MarkedDict, MarkedList

PROFILE_DIR = str(Path(__file__).resolve().parent.parent / "profiles")
PROFILE_KEYS = ("name", "description", "simulator", "rules")
_SUFFIXES = (".yaml", ".yml")




def line_of(doc: Any, field: str | None) -> int:
    """The line of the deepest node a field path ('rules[0].effects[1].type') reaches in a loaded doc."""
    line = getattr(doc, "line", 1) or 1
    node = doc
    for token in re.findall(r"\[(\d+)\]|([^.\[\]]+)", field or ""):
        index, key = token
        if index and isinstance(node, MarkedList) and int(index) < len(node):
            line, node = node.item_lines[int(index)], node[int(index)]
        elif key and isinstance(node, MarkedDict) and key in node:
            line, node = node.key_lines.get(key, line), node[key]
        else:
            break
    return line


def _plain(value: Any) -> Any:
    """Marked YAML containers back to plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _error(path: str, doc: Any, field: str, message: str) -> ConfigError:
    return ConfigError(message, field=field, source=f"{path}:{line_of(doc, field)}")


def read_profile(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and check a profile file's shape; returns the marked document (rules not yet validated)."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=LineLoader)  # a SafeLoader subclass
    except OSError as e:
        raise ConfigError(f"cannot read profile: {e.strerror}", source=path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise ConfigError(f"not valid YAML: {getattr(e, 'problem', None) or e}", source=where) from None
    if not isinstance(doc, dict):
        raise ConfigError("a profile is a mapping with name, description and rules", source=f"{path}:1")
    for key in doc:
        if key not in PROFILE_KEYS:
            raise _error(path, doc, str(key), unknown_name("profile field", str(key), PROFILE_KEYS))
    for key in ("name", "description", "simulator"):
        if key in doc and not isinstance(doc[key], str):
            raise _error(path, doc, key, f"must be a string, got {doc[key]!r}")
    if not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise _error(path, doc, "rules", f"must be a non-empty list of fault rules, got {doc.get('rules')!r}")
    return doc


def load_profile_file(path: str | os.PathLike[str], simulator: str | None = None,
                      known_operations: set[str] | None = None) -> list[dict[str, Any]]:
    """Every rule of a profile, validated and normalized; only one simulator's when `simulator` is given.

    `known_operations` (that simulator's operationIds) is checked for the rules kept.
    """
    path = str(path)
    doc = read_profile(path)
    default_sim = doc.get("simulator")
    rules: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(doc["rules"]):
        at = f"rules[{i}]"
        sim = raw.get("simulator", default_sim) if isinstance(raw, dict) else None
        if sim is not None and not isinstance(sim, str):
            raise _error(path, doc, f"{at}.simulator", f"must be a simulator name, got {sim!r}")
        keep = simulator is None or sim is None or sim == simulator
        try:
            rule = validate_rule(_plain(raw), known_operations if keep and simulator is not None else None)
        except ConfigError as e:
            field = f"{at}.{e.field}" if e.field and e.field != "rule" else at
            raise _error(path, doc, field, config_message(e)) from None
        if rule["name"] in names and raw.get("name") is not None:
            raise _error(path, doc, f"{at}.name", f"'{rule['name']}' is already the name of rules[{names[rule['name']]}]")
        names.setdefault(rule["name"], i)
        if sim is not None:
            rule["simulator"] = sim
        if keep:
            rules.append(rule)
    return rules


def available_profiles(dirs: Sequence[str] | None = None) -> dict[str, str]:
    """{profile name: path} for every profile file in dirs (earlier dirs win)."""
    found: dict[str, str] = {}
    for directory in dirs or [PROFILE_DIR]:
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            stem, suffix = os.path.splitext(entry)
            if suffix in _SUFFIXES:
                found.setdefault(stem, os.path.join(directory, entry))
    return found


def find_profile(name: str, dirs: Sequence[str] | None = None) -> str:
    """The path of a named profile (or a path to a profile file); unknown names list the available ones."""
    if name.endswith(_SUFFIXES) and os.path.isfile(name):
        return name
    found = available_profiles(dirs)
    if name not in found:
        raise ConfigError(unknown_name("profile", name, found) if found else
                          f"unknown profile '{name}': no profiles in {', '.join(dirs or [PROFILE_DIR])}",
                          field="profile")
    return found[name]


def describe_profiles(dirs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Name, description and simulators of every available profile (for the CLI and dashboard)."""
    out = []
    for name, path in available_profiles(dirs).items():
        doc = read_profile(path)
        sims = {r.get("simulator", doc.get("simulator")) for r in doc["rules"] if isinstance(r, dict)}
        out.append({"name": name, "description": doc.get("description", ""), "path": path,
                    "simulators": sorted(s for s in sims if s)})
    return out

"""The scenario runner: YAML journeys under faults, collected and run by pytest (see docs/scenario-format.md)."""

from __future__ import annotations

from pathlib import Path

from .loader import load_file as load_file

SCHEMA_PATH = Path(__file__).with_name("schema.json")

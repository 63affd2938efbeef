"""The scenario runner: YAML journeys under faults, collected and run by pytest (see docs/scenario-format.md)."""

from __future__ import annotations

from .loader import load_file as load_file
from .validate import SCHEMA_PATH as SCHEMA_PATH

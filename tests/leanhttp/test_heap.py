"""settle_heap in a fresh interpreter: what exists at start-up is frozen, the young threshold is raised."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import gc, json
import flask  # a heap worth freezing
from leanhttp import settle_heap
before = gc.get_threshold()
settle_heap(12_345)
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_settle_heap_freezes_the_start_up_heap_and_raises_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout)
    assert got["after"] == [12_345, got["before"][1], got["before"][2]]
    assert got["frozen"] > 10_000

"""Garbage-collector settings for a long-running worker process, applied once its app is built.

Measured under the checkout bench (docs/performance.md): with CPython's default thresholds (700, 10, 10) each
simulator worker ran ~300 young and ~30 middle collections and 2-3 full ones in 15 s, the full ones walking
the whole heap of contracts, validators and Flask (~55,000 objects at start). Freezing the heap that exists
after start-up takes it out of every later collection; a larger young threshold makes the collections that
remain rare: a request frees almost everything it allocates by reference counting, so few objects survive
to be scanned.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle_heap(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Collect once, freeze what survives start-up, and raise the young-generation threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)

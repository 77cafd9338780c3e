"""Holding back CPython's full garbage collections while one run's lineage is built.

Extraction keeps every result it makes until the run's entities are built, beside a run record as large. CPython
starts a full collection each time the containers that survived the young collections have grown by a quarter, and a
full collection traverses every live container: over one large run, a dozen passes over an ever larger heap. So the
cost per activity run grew with the size of the run (a 60,000-run ForEach spent 3.5 of its 12 seconds in ten full
collections; a 6,000-run one 0.07 s in two). None of it is garbage. Young collections go on as usual, so short-lived
reference cycles (an exception and the frame that caught it) are still freed; the next full collection simply
comes after the section ends.

The thresholds are process-wide: nested and concurrent sections (a thread pool of function invocations) share one
pause, lifted when the last of them ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved = (0, 0, 0)


@contextmanager
def no_full_collections() -> Iterator[None]:
    """Within this block (or decorated function), the oldest generation is not collected."""
    global _depth, _saved  # noqa: PLW0603 - one pause shared by every thread of the process
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(_saved[0], _saved[1], 1 << 30)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)

"""Holding back CPython's full garbage collections while one run's lineage is built.

Extraction keeps every result it makes (one or more per activity run) until the run's entities are built, and the
run record it reads is as large. A full collection traverses every live container, and CPython starts one each time
the containers that survived the young collections grow by a quarter: over one large run that is a dozen passes over
an ever larger heap, so the cost per activity run grew with the size of the run (a 50,000-iteration ForEach spent
a third of its time there). None of that is garbage. Young collections go on as usual, so short-lived reference
cycles (an exception and the frame that caught it) are still freed; the full collection happens once afterwards.

The thresholds are process-wide: nested and concurrent sections (a thread pool of function invocations) share one
pause, restored when the last of them ends.
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

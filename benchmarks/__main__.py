"""``python -m benchmarks``: every performance figure in one run on one machine.

1. Extraction (``benchmarks/extraction.py``): activity runs per second and peak memory at 500, 5,000 and 50,000
   activity runs, and a 5,000-iteration ForEach (6,001 activity runs), each in a fresh process: once with runs
   paired with the Lookup's items in start order, once with each run matched to its item by its input.
2. End to end (``benchmarks/e2e.py``): 1,000 runs through Azurite and the local servers, cold and warm caches, with
   queue-drain time and Data Factory / Purview calls per run, then the same lineage pushed the naive way.

Arguments go to the end-to-end part (``--runs``, ``--naive-runs``, ``--repeat``, ``--threads`` ...).
"""

from __future__ import annotations

import os
import platform
import sys

from benchmarks import e2e, extraction

EXTRACTION_SIZES = ["500", "5000", "6001", "50000"]  # 6,001 activity runs: a ForEach of 5,000 iterations


def main(argv: list[str]) -> int:
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("== extraction (per core, one process) ==")
    extraction.main(EXTRACTION_SIZES)
    print()
    extraction.main(["--matched", *EXTRACTION_SIZES])
    print("\n== end to end: Azurite, local Data Factory and Purview, worker process ==")
    return e2e.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

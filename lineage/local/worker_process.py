"""``python -m lineage.local.worker_process``: the queue-triggered function in an OS process of its own.

The Functions host runs ``push_lineage`` in a worker process it can lose at any moment (a crash, scale-in, a
deployment). This is that process for the local stack: it builds the worker on the local endpoints, installs it for
``function_app``, and runs ``LocalHost.serve`` on the work queue until SIGTERM (it finishes the message in hand and
hands the rest of its batch back) or until it is killed, when the message it held is seen again once its lease ends.

Settings come from the environment like the Function App's (``AzureWebJobsStorage``, ``LINEAGE_QUEUE_NAME``,
``DATAFACTORY_ENDPOINT``, ``PURVIEW_ENDPOINT``, ``REQUESTS_CA_BUNDLE``, ``LINEAGE_*``). What became of every message
is appended to a ledger of JSON lines (``--ledger``), so whoever started the process can account for each run; the
process prints ``ready`` on stdout when it starts polling.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from lineage.azure.queues import Queues, queue_name
from lineage.local.credential import LocalCredential
from lineage.local.host import HostSettings, LocalHost
from lineage.service import wiring
from lineage.service.worker import Processed, Worker

Builder = Callable[[Mapping[str, str], Queues, float], Worker]


def build_local_worker(env: Mapping[str, str], queues: Queues, http_timeout_s: float) -> Worker:
    """The service's worker on the local endpoints, with a local credential and the given HTTP timeout."""
    return wiring.build_worker(LocalCredential(), env, queues=queues, http_timeout_s=http_timeout_s)


class Ledger:
    """One JSON line per processed message, appended and flushed at once (a kill loses at most a partial line)."""

    def __init__(self, path: Path) -> None:
        torn = False
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                torn = existing.read(1) != b"\n"
        self._file: IO[str] = path.open("a", encoding="utf-8", buffering=1)
        if torn:  # the last process died mid-line: end that line so ours stay whole
            self._file.write("\n")
        self._lock = threading.Lock()

    def __call__(self, processed: Processed) -> None:
        line = json.dumps({"t": time.time(), "pid": os.getpid(), "outcome": processed.outcome.value,
                           "runId": processed.run_id, "detail": processed.detail[:500]})
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()


def read_ledger_lines(text: str) -> list[dict[str, Any]]:
    """The ledger's complete lines (a process killed while writing leaves a partial line behind)."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def serve(argv: list[str] | None = None, build: Builder = build_local_worker) -> int:
    """Parse the options, build the worker with ``build`` and serve the work queue until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m lineage.local.worker_process", description=__doc__)
    parser.add_argument("--ledger", type=Path, help="append a JSON line per processed message to this file")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--visibility-timeout", type=int, default=30, help="seconds before a failed message retries")
    parser.add_argument("--lease", type=int, default=300, help="seconds a received message stays invisible")
    parser.add_argument("--http-timeout", type=float, default=30.0, help="seconds per Data Factory / Purview call")
    parser.add_argument("--pause-file", type=Path, help="poll nothing while this file exists (for timing a backlog)")
    parser.add_argument("--threads", type=int, default=1, help="invocations at once (the Functions Python worker "
                        "runs sync functions on a thread pool)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    import function_app  # noqa: PLC0415 - the app module lives at the project root, imported on use

    env = dict(os.environ)
    connection = env["AzureWebJobsStorage"]
    queues = Queues.connect(queue_name(), connection_string=connection)
    worker = build(env, queues, args.http_timeout)
    ledger = Ledger(args.ledger) if args.ledger else None
    if ledger is not None:
        worker.listeners.append(ledger)
    wiring.install_worker(worker)
    settings = HostSettings(max_dequeue_count=worker.settings.max_dequeue_count,
                            visibility_timeout_s=args.visibility_timeout, batch_size=args.batch_size,
                            lease_s=args.lease, threads=args.threads)
    host = LocalHost(queues, connection, settings=settings,
                     on_run_completed=function_app.on_run_completed.build().get_user_function(),
                     push_lineage=function_app.push_lineage.build().get_user_function())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    pause: Path | None = args.pause_file
    try:
        host.serve(stop, paused=lambda: pause is not None and pause.exists())
    finally:
        if ledger is not None:
            ledger.close()
    print(json.dumps({"invocations": host.stats.invocations, "failures": host.stats.failures,
                      "leasesLost": host.stats.leases_lost, "movedToPoison": host.stats.moved_to_poison}), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # function_app.py lives at the project root
    raise SystemExit(serve())

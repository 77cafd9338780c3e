"""``python -m lineage status``: did run X get its lineage, and if not, why? Read from the run ledger.

Data Factory's monitoring view shows a lineage status per activity run for its own integration; this is the same
answer for ours, per pipeline run: counts per outcome for a factory, pipeline and time window, the reason of every run
that was not pushed, and one run's whole story (events received, waits, attempts, what was written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lineage.service import ledger as runs
from lineage.service.ledger import Entry, Query, RunLedger
from lineage.service.wiring import SettingsError, connect_ledger


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               output_arguments: Callable[[argparse.ArgumentParser], None],
               moment: Callable[[str], datetime]) -> None:
    """The ``status`` command, with the CLI's output convention and its way of reading times."""
    status = commands.add_parser(
        "status", help="lineage status of each run: pushed, skipped, waiting or poisoned, and why",
        description="Read the run ledger (the table beside the app's queues: AzureWebJobsStorage__tableServiceUri, "
                    "or AzureWebJobsStorage locally; LINEAGE_LEDGER_TABLE): counts per outcome, the reason of every "
                    "run not pushed, or with --run one run's whole story.",
        epilog="examples:\n  python -m lineage status --since 1d\n"
               "  python -m lineage status --outcome poisoned --factory adf-prod -o json\n"
               "  python -m lineage status --run 2f5e0c1a-...",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--since", type=moment, metavar="WHEN",
                        help="runs whose status changed since then: an ISO time or date, or an age (90m, 12h, 1d)")
    status.add_argument("--outcome", choices=runs.OUTCOMES, help="only runs with this outcome")
    status.add_argument("--run", metavar="RUN_ID", help="one run's whole story")
    status.add_argument("--factory", metavar="ID_OR_NAME", help="only this factory (resource id, or name)")
    status.add_argument("--pipeline", metavar="NAME", help="only this pipeline")
    output_arguments(status)
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lineage.cli.main import _credential, _json, dumps  # noqa: PLC0415 - main imports this module

    ledger = connect_ledger(os.environ, _credential(args))
    if ledger is None:
        raise SettingsError("set AzureWebJobsStorage__tableServiceUri (identity) or AzureWebJobsStorage (local): "
                            "the run ledger is a table in the app's storage account")
    query = Query(since=args.since, outcome=args.outcome, run_id=args.run, factory=args.factory,
                  pipeline=args.pipeline)
    if args.run:
        return _story(ledger, query, _json(args), dumps)
    entries = sorted(ledger.find(query), key=lambda e: (e.last_change, e.factory, e.run_id))
    summary = summarize(entries)
    if _json(args):
        sys.stdout.write(dumps({**summary, "runs": [e.to_json() for e in entries]}))
        return 0
    window = f" since {args.since.isoformat(timespec='seconds')}" if args.since else ""
    print(f"{len(entries)} run(s){window}: " + ", ".join(f"{n} {o}" for o, n in summary["outcomes"].items()))
    for row in summary["pipelines"]:
        counts = ", ".join(f"{n} {o}" for o, n in row["outcomes"].items())
        print(f"  {row['factory'].rsplit('/', 1)[-1]}/{row['pipeline'] or '?'}: {counts}")
    unpushed = [e for e in entries if e.outcome != runs.PUSHED]
    if unpushed:
        print("\nnot pushed:")
    for entry in unpushed:
        print(f"  {entry.run_id}  {entry.outcome:8}  {entry.last_change.strftime('%Y-%m-%d %H:%M')}  "
              f"{entry.pipeline or '?'}: {_one_line(entry.reason) or '-'}")
    return 0


def summarize(entries: Sequence[Entry]) -> dict[str, Any]:
    """Counts per outcome (every outcome, zero included, so scripts can rely on the keys) and per pipeline."""
    outcomes = Counter(e.outcome for e in entries)
    by_pipeline: dict[tuple[str, str], Counter[str]] = {}
    for entry in entries:
        by_pipeline.setdefault((entry.factory, entry.pipeline), Counter())[entry.outcome] += 1
    return {
        "count": len(entries),
        "outcomes": {o: outcomes[o] for o in runs.OUTCOMES},
        "pipelines": [{"factory": f, "pipeline": p, "outcomes": dict(sorted(c.items()))}
                      for (f, p), c in sorted(by_pipeline.items())],
        "reasons": dict(Counter(_one_line(e.reason) for e in entries if e.outcome != runs.PUSHED).most_common()),
    }


def _story(ledger: RunLedger, query: Query, as_json: bool, dumps: Callable[[Any], str]) -> int:
    entries = list(ledger.find(query, story=True))
    if not entries:
        print(f"error: the run ledger has no run {query.run_id} (among the filters given)", file=sys.stderr)
        return 1
    if as_json:
        sys.stdout.write(dumps({"runs": [e.to_json(story=True) for e in entries]}))
        return 0
    for entry in entries:
        print(f"run {entry.run_id} of {entry.factory}, pipeline {entry.pipeline or '?'}")
        print(f"  {entry.outcome}" + (f": {entry.reason}" if entry.reason else ""))
        print(f"  first seen {entry.first_seen}, last change {entry.last_change.isoformat(timespec='seconds')}")
        print(f"  {entry.events} event(s), {entry.attempts} attempt(s), {entry.waits} wait(s); activities: "
              f"{entry.emitted} emitted, {entry.skipped} skipped; {entry.entities} entities written"
              + ("; definition drift" if entry.drift else "") + ("; partial" if entry.partial else ""))
        if entry.envelope:
            print(f"  poison envelope: {entry.envelope}")
        for line in entry.story:
            extra = "".join(f" {key} {line[key]}" for key in ("event", "attempt") if key in line)
            print(f"    {line.get('at', '?')}  {line.get('what', '?')}{extra}"
                  + (f": {line['detail']}" if line.get("detail") else ""))
    return 0


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."

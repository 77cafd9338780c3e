"""The command line: ``python -m lineage <command>``.

Exit codes: 0 done, 1 the input was rejected (the message says why), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from lineage import poison_queue
from lineage.config import ConfigError, LineageOptions
from lineage.entities import explain
from lineage.extract import extract
from lineage.mermaid import flowchart
from lineage.queues import Queues
from lineage.runrecord import RunRecord, RunRecordError
from lineage.service import SettingsError, connect_queues

EXIT_REJECTED = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (RunRecordError, ConfigError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REJECTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lineage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    explain_cmd = commands.add_parser(
        "explain",
        help="show the Purview entities and per-activity outcomes for run records (no network)",
        description="Extract lineage from run records and print what would be pushed to Purview.",
    )
    explain_cmd.add_argument("records", nargs="+", type=Path, metavar="RUN_RECORD.json")
    explain_cmd.add_argument("--format", choices=("json", "mermaid"), default="json",
                             help="json: entities and activity outcomes (default); mermaid: the lineage graph")
    explain_cmd.add_argument("--config", type=Path, help="lineage settings (JSON; see README)")
    explain_cmd.set_defaults(handler=_explain)

    poison = commands.add_parser(
        "poison", help="inspect, replay or purge the poison queue",
        description="Work on <queue>-poison of the storage account in AzureWebJobsStorage__queueServiceUri "
                    "(identity) or AzureWebJobsStorage (connection string); queue name from LINEAGE_QUEUE_NAME.")
    actions = poison.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="id, age, run and reason of each message (first 32)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_poison_list)
    show = actions.add_parser("show", help="one message in full, with the original message")
    show.add_argument("id")
    show.set_defaults(handler=_poison_show)
    replay = actions.add_parser("replay", help="put messages back on the work queue (after fixing the cause)")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", default=[], metavar="ID")
    target.add_argument("--all", action="store_true")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(handler=_poison_replay)
    purge = actions.add_parser("purge", help="delete messages")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--older-than", type=float, metavar="DAYS", help="only messages older than this")
    which.add_argument("--all", action="store_true")
    purge.add_argument("--json", action="store_true")
    purge.set_defaults(handler=_poison_purge)
    return parser


def _explain(args: argparse.Namespace) -> int:
    options = LineageOptions.load(args.config)
    documents = [explain_file(path, options) for path in args.records]
    for path, doc in zip(args.records, documents, strict=True):
        if args.format == "mermaid":
            if len(documents) > 1:
                sys.stdout.write(f"%% {path.name}\n")
            sys.stdout.write(flowchart(doc["entities"]))
        else:
            sys.stdout.write(dumps(doc if len(documents) == 1 else {"file": path.name, **doc}))
    return 0


def _queues() -> Queues:
    return connect_queues(os.environ)


def _poison_list(args: argparse.Namespace) -> int:
    queues = _queues()
    items = poison_queue.peek(queues)
    if args.json:
        sys.stdout.write(dumps({"count": poison_queue.count(queues), "messages": [i.to_json() for i in items]}))
        return 0
    total = poison_queue.count(queues)
    shown = f", showing {len(items)}" if total > len(items) else ""
    print(f"{total} message(s) in {queues.poison.queue_name}{shown}")
    for item in items:
        age = item.age()
        age_text = f"{age.days}d{age.seconds // 3600:02d}h" if age else "?"
        print(f"{item.id}  {age_text:>7}  run {item.envelope.run_id or '-':36}  "
              f"{item.envelope.error_class}: {item.envelope.reason[:100]}")
    return 0


def _poison_show(args: argparse.Namespace) -> int:
    for item in poison_queue.peek(_queues()):
        if item.id == args.id:
            sys.stdout.write(dumps(item.to_json()))
            return 0
    print(f"error: no message {args.id} among the first {poison_queue.PEEK_LIMIT} of the poison queue",
          file=sys.stderr)
    return EXIT_REJECTED


def _poison_replay(args: argparse.Namespace) -> int:
    done = poison_queue.replay(_queues(), None if args.all else set(args.ids))
    return _report("replayed", done, args)


def _poison_purge(args: argparse.Namespace) -> int:
    older = timedelta(days=args.older_than) if args.older_than is not None else None
    ids = set(args.ids) if args.ids else None
    done = poison_queue.purge(_queues(), ids, older)
    return _report("purged", done, args)


def _report(verb: str, done: list[poison_queue.PoisonItem], args: argparse.Namespace) -> int:
    if args.json:
        sys.stdout.write(dumps({verb: [i.id for i in done]}))
    else:
        print(f"{verb} {len(done)} message(s)")
    missing = set(getattr(args, "ids", []) or []) - {i.id for i in done}
    if missing:
        print(f"error: not found: {', '.join(sorted(missing))}", file=sys.stderr)
        return EXIT_REJECTED
    return 0


def explain_file(path: Path, options: LineageOptions) -> dict[str, Any]:
    """The explain document of one run-record file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunRecordError(f"{path}: not a readable JSON file ({exc})") from exc
    try:
        record = RunRecord.from_json(doc)
    except RunRecordError as exc:
        raise RunRecordError(f"{path}: {exc}") from exc
    return explain(extract(record, options), options.pipeline_factory_attribute)


def dumps(doc: Any) -> str:
    """Stable JSON (sorted keys, fixed indentation), so the same input always prints the same bytes."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

"""The command line: ``python -m lineage <command>``.

Exit codes: 0 done, 1 the input was rejected (the message says why), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lineage.config import ConfigError, LineageOptions
from lineage.entities import explain
from lineage.extract import extract
from lineage.mermaid import flowchart
from lineage.runrecord import RunRecord, RunRecordError

EXIT_REJECTED = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (RunRecordError, ConfigError) as exc:
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

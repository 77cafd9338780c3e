"""``python -m lineage.local``: run the whole service locally on a folder of run records and show what it wrote."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from lineage.local.adf_server import read_records
from lineage.local.stack import local_stack
from lineage.service.ledger import OUTCOMES, Query
from lineage.service.poison import read_poison
from lineage.service.worker import Outcome

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineage.local", description=__doc__)
    parser.add_argument("--runs", type=Path, default=ROOT / "samples", help="folder of run records (default: samples)")
    parser.add_argument("--serve", action="store_true",
                        help="keep the local Purview running afterwards to browse its lineage view (Ctrl-C stops)")
    args = parser.parse_args(argv)
    records, problems = read_records(args.runs)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if not records:
        print(f"no run records in {args.runs}", file=sys.stderr)
        return 1
    print(f"starting Azurite, the local Data Factory and Purview servers ({len(records)} runs in {args.runs})...")
    with local_stack(args.runs) as stack:
        started = time.perf_counter()
        for index, record in enumerate(records):
            stack.send_completed(record, schema="cloudevents" if index % 2 else "eventgrid")
        stack.host.drain(timeout_s=300)
        elapsed = time.perf_counter() - started
        outcomes = stack.worker.outcomes
        print(f"\nruns processed in {elapsed:.1f}s: " + ", ".join(
            f"{outcomes[o]} {o.value}" for o in Outcome if outcomes[o]))
        entities = stack.purview.entities()
        by_type = Counter(e["typeName"] for e in entities)
        print(f"entities in the local Purview: {len(entities)}")
        for type_name, count in sorted(by_type.items()):
            print(f"  {count:4d}  {type_name}")
        if stack.purview.validates_against_spec:
            print(f"requests checked against Purview's API spec: {len(stack.purview.validated)} valid, "
                  f"{len(stack.purview.invalid)} invalid")
        ledger = Counter(entry.outcome for entry in stack.ledger.find(Query()))
        print("lineage status (run ledger, `python -m lineage status`): " + (", ".join(
            f"{ledger[o]} {o}" for o in OUTCOMES if ledger[o]) or "no runs"))
        poison = [read_poison(str(m.content)) for m in stack.queues.poison.peek_messages(max_messages=32)]
        print(f"poison queue: {len(poison)} message(s)")
        for envelope in poison:
            print(f"  run {envelope.run_id or '-'}: {envelope.error_class}: {envelope.reason}")
        print("\nlineage graph (Mermaid):\n")
        print(stack.purview.mermaid())
        if args.serve:
            print(f"local Purview view: {stack.purview.url}/  (Ctrl-C to stop)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m lineage.local``: run the whole service locally on a folder of run records and show what it wrote."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from lineage.local.adf_server import read_records
from lineage.local.envfile import remove_env, write_env
from lineage.local.stack import LocalStack, local_stack
from lineage.service.ledger import OUTCOMES, Query
from lineage.service.poison import read_poison
from lineage.service.worker import Outcome, Processed

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".local" / "env"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineage.local", description=__doc__)
    parser.add_argument("--runs", type=Path, default=ROOT / "samples", help="folder of run records (default: samples)")
    parser.add_argument("--serve", action="store_true",
                        help="keep the stack running afterwards (Ctrl-C stops): the local Purview's lineage view, "
                             "and `python -m lineage --local COMMAND` on it through the settings in --env-file")
    parser.add_argument("--env-file", type=Path, default=ENV_FILE,
                        help="where --serve writes the settings the CLI's --local reads (default: .local/env)")
    args = parser.parse_args(argv)
    records, problems = read_records(args.runs)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if not records:
        print(f"no run records in {args.runs}", file=sys.stderr)
        return 1
    print(f"starting Azurite, the local Data Factory and Purview servers ({len(records)} runs in {args.runs})...")
    with local_stack(args.runs) as stack:
        stack.worker.listeners.append(_progress(len(records)))
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
            _serve(stack, [str(r["factory"]) for r in records], args.env_file)
    return 0


def _progress(total: int) -> Callable[[Processed], None]:
    """One line per run as the worker finishes it, the run's outcome and why (the page lists them from the run
    ledger)."""
    done = 0

    def told(processed: Processed) -> None:
        nonlocal done
        if processed.outcome is Outcome.WAITING:
            print(f"  waiting   run {processed.run_id}: {processed.detail}", flush=True)
            return
        done += 1
        counter = f"[{done}/{total}] " if done <= total else ""  # later runs: the ones the CLI queued
        print(f"  {counter}{processed.outcome.value:8} run {processed.run_id}: {processed.detail}", flush=True)

    return told


def _serve(stack: LocalStack, factories: list[str], env_file: Path) -> None:
    """Keep everything up: the page, and the queue listener, so runs the CLI queues or replays are processed."""
    settings = {**stack.cli_settings(factories), "LINEAGE_FUNCTION_APP_ID": stack.register_app(factories)}
    text = write_env(env_file, settings)
    print(f"\nlocal Purview view: {stack.purview.url}/")
    print(f"settings for the command line, in {env_file}:\n")
    print(text)
    print("use them with: .venv/bin/python -m lineage --local poison list   (or push, backfill, doctor, ...)")
    print("Ctrl-C stops the stack", flush=True)
    stop = threading.Event()
    listener = threading.Thread(target=stack.host.serve, args=(stop, 1.0), name="queue-listener",
                                daemon=True)
    listener.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        stop.set()
        listener.join(timeout=30)
        remove_env(env_file)


if __name__ == "__main__":
    raise SystemExit(main())
